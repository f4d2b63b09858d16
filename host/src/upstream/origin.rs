//! The forward proxy's upstream: any origin a client names, reached by name through the
//! target resolver (TTL-honouring cache, private ranges refused unless allowed), with a
//! connection pool per origin (scheme, host and port).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::uri::Authority;
use http::{Request, Response};
use rustls::pki_types::ServerName;

use super::conn::{ConnPool, Connection, TlsTarget, UpgradeSender, UpstreamProtocol};
use super::dns::TargetResolver;
use super::{ResponseBody, UpstreamBody, UpstreamError, alpn_config, connect_error, port_of};
use crate::tls::{UpstreamTlsFiles, client_config};

/// Origins whose connection pools are kept at most; past it, pools without an idle
/// connection are forgotten first.
const MAX_ORIGINS: usize = 1024;

/// Settings of a forward listener's origin client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginSettings {
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Response-head timeout.
    pub response_timeout: Duration,
    /// Idle connection timeout.
    pub idle_timeout: Duration,
    /// Idle connections kept per origin.
    pub max_idle_per_origin: usize,
    /// Whether loopback, private and link-local targets may be reached.
    pub allow_private_targets: bool,
}

/// Sends requests to the origins clients name.
pub struct OriginClient {
    settings: OriginSettings,
    resolver: TargetResolver,
    /// `None` when the system has no trust store: `https://` origins are then refused.
    tls: Option<Arc<rustls::ClientConfig>>,
    pools: Mutex<HashMap<(bool, Authority), Arc<ConnPool>>>,
}

impl std::fmt::Debug for OriginClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl OriginClient {
    /// Creates the client. `https://` origins are verified against the system's trust store.
    pub fn new(settings: OriginSettings) -> Self {
        let tls = client_config(&UpstreamTlsFiles {
            verify: true,
            ..UpstreamTlsFiles::default()
        })
        .map_err(|e| {
            tracing::warn!(error = %e, "no system trust store: https:// origins will be refused");
        })
        .ok();
        Self {
            resolver: TargetResolver::new(settings.allow_private_targets),
            tls: tls
                .as_ref()
                .map(|tls| alpn_config(tls, UpstreamProtocol::Auto)),
            settings,
            pools: Mutex::new(HashMap::new()),
        }
    }

    /// The settings the client was built with.
    pub fn settings(&self) -> &OriginSettings {
        &self.settings
    }

    /// The resolver and target policy (CONNECT tunnels use it too).
    pub fn resolver(&self) -> &TargetResolver {
        &self.resolver
    }

    /// An open connection to `authority` (pooled, else new after resolving it under the
    /// target policy).
    pub(crate) async fn connect(
        &self,
        https: bool,
        authority: &Authority,
    ) -> Result<Connection, UpstreamError> {
        let pool = self.pool(https, authority);
        match pool.checkout() {
            Some(conn) => Ok(conn),
            // Boxed for the same reason as a pool's (see `BackendPool::connect_to`).
            None => Box::pin(self.connect_new(&pool, https, authority)).await,
        }
    }

    /// Sends `request` (origin-form URI, `Host` set) on `conn` to `authority`.
    pub(crate) async fn send(
        &self,
        https: bool,
        authority: &Authority,
        conn: Connection,
        request: Request<UpstreamBody>,
    ) -> Result<Response<ResponseBody>, UpstreamError> {
        super::send(
            conn,
            request,
            self.settings.response_timeout,
            authority,
            async || {
                let pool = self.pool(https, authority);
                self.connect_new(&pool, https, authority).await
            },
        )
        .await
    }

    /// A new dedicated HTTP/1.1 connection to `authority` for one upgrade request, resolved
    /// under the target policy like any other; never pooled.
    pub(crate) async fn connect_upgrade(
        &self,
        https: bool,
        authority: &Authority,
    ) -> Result<UpgradeSender, UpstreamError> {
        let tls = self.tls_target(https, authority)?;
        let addrs = self
            .resolver
            .resolve(authority.host(), port_of(authority, https))
            .await?;
        self.pool(https, authority)
            .connect_upgrade(&addrs, tls.as_ref(), self.settings.connect_timeout)
            .await
            .map_err(|e| connect_error(authority.to_string(), e))
    }

    async fn connect_new(
        &self,
        pool: &Arc<ConnPool>,
        https: bool,
        authority: &Authority,
    ) -> Result<Connection, UpstreamError> {
        let tls = self.tls_target(https, authority)?;
        // The policy applies to every address the name resolves to (IP literals included).
        let addrs = self
            .resolver
            .resolve(authority.host(), port_of(authority, https))
            .await?;
        pool.connect(&addrs, tls.as_ref(), self.settings.connect_timeout)
            .await
            .map_err(|e| connect_error(authority.to_string(), e))
    }

    fn tls_target(
        &self,
        https: bool,
        authority: &Authority,
    ) -> Result<Option<TlsTarget>, UpstreamError> {
        match (https, &self.tls) {
            (false, _) => Ok(None),
            (true, Some(config)) => Ok(Some(TlsTarget {
                config: config.clone(),
                server_name: server_name(authority)?,
            })),
            (true, None) => Err(UpstreamError::Tls {
                backend: authority.to_string(),
                reason: "no system trust store to verify the origin".into(),
            }),
        }
    }

    fn pool(&self, https: bool, authority: &Authority) -> Arc<ConnPool> {
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pool) = pools.get(&(https, authority.clone())) {
            return pool.clone();
        }
        if pools.len() >= MAX_ORIGINS {
            pools.retain(|_, pool| pool.idle_connections() > 0);
            if pools.len() >= MAX_ORIGINS {
                pools.clear();
            }
        }
        let pool = ConnPool::new(
            self.settings.max_idle_per_origin,
            self.settings.idle_timeout,
            UpstreamProtocol::Auto,
        );
        pools.insert((https, authority.clone()), pool.clone());
        pool
    }
}

fn server_name(authority: &Authority) -> Result<ServerName<'static>, UpstreamError> {
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|e| UpstreamError::Tls {
        backend: authority.to_string(),
        reason: e.to_string(),
    })
}
