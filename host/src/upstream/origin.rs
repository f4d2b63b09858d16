//! The forward proxy's upstream: any origin a client names on a port of `allow_ports`, reached
//! through the target resolver (TTL-honouring cache, the egress policy applied to every
//! resolved address, connections made only to the addresses it allowed), with a connection
//! pool per origin (scheme, host and port). A change of policy makes a new client, so no
//! pooled connection outlives the policy it was judged under.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::uri::Authority;
use http::{Request, Response};
use rustls::pki_types::ServerName;

use super::conn::{ConnPool, Connection, TlsTarget, UpgradeSender, UpstreamProtocol};
use super::dns::{TargetError, TargetResolver};
use super::egress::{EgressPolicy, Ports};
use super::{
    BackendPool, ResponseBody, UpstreamBody, UpstreamError, alpn_config, connect_error, port_of,
};
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
    /// Which addresses may be connected to.
    pub egress: Arc<EgressPolicy>,
    /// Ports absolute-form requests and upgrades may reach.
    pub allow_ports: Ports,
    /// What origins learn of the client.
    pub forwarded_for: ForwardedFor,
}

/// `forwarded_for`: whether a forward listener tells origins the client's address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedFor {
    /// Origins learn nothing (the client-sent fields are removed anyway).
    #[default]
    None,
    /// `X-Forwarded-For` and `Forwarded: for=` carry the client's address.
    Append,
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
            resolver: TargetResolver::with_policy(settings.egress.clone()),
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
        self.check_port(https, authority)?;
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
        self.check_port(https, authority)?;
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

    /// Checks a pool that a filter selected on the forward listener against the listener's
    /// policy: every backend's port must be in `allow_ports` and every address of every
    /// backend allowed, since the pool, not the request, chooses the backend and the address.
    /// Backends named by IP address (the usual case) are judged on exactly the address the
    /// pool connects to; a name is resolved through the same cache the pool resolves it with,
    /// and the exchange judges the connection's own address again once the pool hands it over.
    pub(crate) async fn admit_pool(&self, pool: &BackendPool) -> Result<(), UpstreamError> {
        for backend in pool.backends() {
            let https = backend.scheme == "https";
            self.check_port(https, &backend.authority)?;
            self.resolver.admit_all(backend.authority.host()).await?;
        }
        Ok(())
    }

    /// Refuses a target port outside `allow_ports`.
    fn check_port(&self, https: bool, authority: &Authority) -> Result<(), TargetError> {
        let port = port_of(authority, https);
        if self.settings.allow_ports.contains(port) {
            Ok(())
        } else {
            Err(TargetError::Port {
                port,
                allowed: self.settings.allow_ports.to_string(),
            })
        }
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
