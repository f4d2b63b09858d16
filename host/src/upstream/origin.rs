//! The forward proxy's upstream: any origin a client names, reached by name through the
//! target resolver (TTL-honouring cache, private ranges refused unless allowed), with
//! keep-alive connections reused per origin (scheme, host and port).

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

use super::dns::{TargetError, TargetResolver};
use super::{UpstreamBody, UpstreamError, connector, error_chain};
use crate::tls::{UpstreamTlsFiles, client_config};

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
    client: Client<HttpsConnector<HttpConnector<TargetResolver>>, UpstreamBody>,
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
        let resolver = TargetResolver::new(settings.allow_private_targets);
        let mut http = HttpConnector::new_with_resolver(resolver.clone());
        http.set_connect_timeout(Some(settings.connect_timeout));
        let tls = client_config(&UpstreamTlsFiles {
            verify: true,
            ..UpstreamTlsFiles::default()
        })
        .map_err(|e| {
            tracing::warn!(error = %e, "no system trust store: https:// origins will be refused");
        })
        .ok();
        let client = connector::client(
            http,
            tls.as_ref(),
            settings.idle_timeout,
            settings.max_idle_per_origin,
        );
        Self {
            settings,
            resolver,
            client,
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

    /// Sends a request whose URI is absolute (`http://host:port/path`).
    pub(crate) async fn send(
        &self,
        request: http::Request<UpstreamBody>,
    ) -> Result<http::Response<Incoming>, UpstreamError> {
        let origin: Arc<str> = request
            .uri()
            .authority()
            .map_or_else(|| Arc::from("-"), |a| Arc::from(a.as_str()));
        // IP literals never reach the resolver, so the policy is applied here.
        if let Some(host) = request.uri().host()
            && let Ok(ip) = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
            && !self.resolver.permits(ip)
        {
            return Err(UpstreamError::Target(TargetError::Private {
                host: host.to_owned(),
                addr: ip,
            }));
        }
        let timeout = self.settings.response_timeout;
        match tokio::time::timeout(timeout, self.client.request(request)).await {
            Err(_) => Err(UpstreamError::Timeout {
                backend: origin.to_string(),
                after: timeout,
            }),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(match target_error(&e) {
                Some(target) => UpstreamError::Target(target),
                None if e.is_connect() && connector::is_tls_failure(&e) => UpstreamError::Tls {
                    backend: origin.to_string(),
                    reason: error_chain(&e),
                },
                None if e.is_connect() => UpstreamError::Connect {
                    backend: origin.to_string(),
                    reason: error_chain(&e),
                },
                None => UpstreamError::Failed {
                    backend: origin.to_string(),
                    reason: error_chain(&e),
                },
            }),
        }
    }
}

/// The resolver's refusal, if that is what stopped the connection.
fn target_error(error: &(dyn std::error::Error + 'static)) -> Option<TargetError> {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(target) = e.downcast_ref::<TargetError>() {
            return Some(target.clone());
        }
        source = e.source();
    }
    None
}
