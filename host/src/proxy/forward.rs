//! Forward-proxy requests: absolute-form (`GET http://host/path`) from clients configured to use
//! weir as their proxy. The listener's chain sees the target host, path, headers, cookies and the
//! client's `Proxy-Authorization`; it may rewrite, deny, redirect or pick a named pool instead of
//! the origin. Origins are reached by [`OriginClient`] (DNS cache, target policy, keep-alive
//! per origin).

use std::sync::Arc;
use std::time::Duration;

use http::header::{HOST, PROXY_AUTHORIZATION};
use http::{HeaderValue, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::{ConnInfo, Destination, ProxyBody, ProxyError, ProxyState, exchange, headers};
use crate::filters::{FilterChain, RequestMeta};
use crate::upstream::OriginClient;

/// What a forward-proxy listener lets clients do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardPolicy {
    /// Ports CONNECT may reach.
    pub connect_ports: Vec<u16>,
    /// A tunnel with no bytes either way for this long is closed.
    pub tunnel_idle_timeout: Duration,
    /// TCP connect timeout for tunnels.
    pub connect_timeout: Duration,
}

/// A forward-proxy listener's part of the state.
#[derive(Debug)]
pub struct ForwardProxy {
    /// The listener's filter chain.
    pub chain: FilterChain,
    /// CONNECT and target policy.
    pub policy: ForwardPolicy,
    /// How origins are reached (kept across reloads while its settings are unchanged).
    pub origins: Arc<OriginClient>,
}

impl ForwardPolicy {
    /// Refuses a CONNECT port the listener does not allow.
    pub(super) fn check_port(&self, port: u16) -> Result<(), ProxyError> {
        if self.connect_ports.contains(&port) {
            return Ok(());
        }
        let allowed: Vec<String> = self.connect_ports.iter().map(u16::to_string).collect();
        Err(ProxyError::PortRefused {
            port,
            allowed: allowed.join(", "),
        })
    }
}

/// Serves one absolute-form request on a forward-proxy listener.
pub(super) async fn request(
    state: &ProxyState,
    proxy: &ForwardProxy,
    conn: &ConnInfo,
    id: &Arc<str>,
    request: Request<Incoming>,
) -> Result<(Response<ProxyBody>, Option<String>), ProxyError> {
    // HTTP/2 requests always carry :scheme and :authority; an HTTP/1 origin-form request
    // (`GET /path`) is addressed to the proxy itself, which serves nothing.
    let scheme = match request.uri().scheme_str() {
        Some("http") => "http",
        Some("https") => "https",
        _ => return Err(ProxyError::NotAbsolute),
    };
    let authority = request
        .uri()
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        .ok_or(ProxyError::NotAbsolute)?;
    let (mut parts, body) = request.into_parts();
    strip_keeping_credentials(&mut parts.headers);
    // RFC 9112 §3.2.2: the target URI's authority replaces any Host the client sent.
    parts.headers.insert(HOST, authority);
    let meta = RequestMeta {
        client: conn.client,
        scheme,
        id: id.clone(),
        tls: conn.tls.clone(),
    };
    exchange(
        state,
        &proxy.chain,
        Destination::Origin(&proxy.origins),
        meta,
        parts,
        body,
    )
    .await
}

/// Removes hop-by-hop fields but keeps `Proxy-Authorization` for the filters; the data path
/// removes it before anything goes upstream.
pub(super) fn strip_keeping_credentials(headers: &mut http::HeaderMap) {
    let credentials: Vec<HeaderValue> = headers
        .get_all(PROXY_AUTHORIZATION)
        .iter()
        .cloned()
        .collect();
    headers::strip_hop_by_hop(headers);
    for value in credentials {
        headers.append(PROXY_AUTHORIZATION, value);
    }
}

/// Sends a forward-proxy request to the origin `scheme://authority`.
pub(super) async fn send_origin(
    origins: &OriginClient,
    scheme: &str,
    authority: &str,
    mut parts: http::request::Parts,
    path_and_query: &str,
    body: Incoming,
) -> Result<(Response<Incoming>, String), ProxyError> {
    parts.uri = format!("{scheme}://{authority}{path_and_query}")
        .parse()
        .map_err(|_| ProxyError::Downstream("request target cannot be forwarded"))?;
    let response = origins
        .send(Request::from_parts(parts, body.boxed_unsync()))
        .await?;
    Ok((response, authority.to_owned()))
}
