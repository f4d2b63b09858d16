//! The hyper client both pools and the forward proxy use: keep-alive per origin, TLS by rustls
//! for `https://` (ALPN h2 and http/1.1), plain TCP for `http://`.

use std::time::Duration;

use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::ServerName;

use super::UpstreamBody;
use crate::tls::UpstreamTls;

/// A client over `http`, wrapped with TLS as `tls` says. Without `tls`, `https://` URIs are
/// refused (rustls has no roots to trust), which never happens for a pool without such
/// backends.
pub(super) fn client<R>(
    mut http: HttpConnector<R>,
    tls: Option<&UpstreamTls>,
    idle_timeout: Duration,
    max_idle: usize,
) -> Client<HttpsConnector<HttpConnector<R>>, UpstreamBody>
where
    R: tower_service::Service<Name> + Clone + Send + Sync + 'static,
    R::Response: Iterator<Item = std::net::SocketAddr> + Send,
    R::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    R::Future: Send,
{
    http.enforce_http(false);
    http.set_nodelay(true);
    let config = match tls {
        Some(tls) => tls.config.clone(),
        None => crate::tls::untrusting_client_config(),
    };
    let builder = HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http();
    let builder = match tls
        .and_then(|t| t.server_name.clone())
        .and_then(|n| ServerName::try_from(n).ok())
    {
        Some(name) => builder.with_server_name_resolver(FixedServerNameResolver::new(name)),
        None => builder,
    };
    let connector = builder.enable_all_versions().wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(idle_timeout)
        .pool_max_idle_per_host(max_idle)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(connector)
}

/// Whether a connect error came from the TLS handshake (rustls refused the peer or the
/// handshake broke), rather than from TCP.
pub(super) fn is_tls_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    // hyper-rustls wraps tokio-rustls' `io::Error` (itself wrapping the `rustls::Error`) in
    // another `io::Error`, and `io::Error::source` skips the wrapped error, so both the source
    // chain and each `io::Error`'s inner error are followed.
    let mut pending: Vec<&(dyn std::error::Error + 'static)> = vec![error];
    while let Some(e) = pending.pop() {
        if e.is::<rustls::Error>() {
            return true;
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            pending.push(inner);
        }
        if let Some(source) = e.source() {
            pending.push(source);
        }
    }
    false
}
