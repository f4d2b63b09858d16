//! Forward-proxy requests: absolute-form (`GET http://host/path`) from clients configured to use
//! weir as their proxy. The listener's chain sees the target host, path, headers, cookies and the
//! client's `Proxy-Authorization`; it may rewrite, deny, redirect or pick a named pool instead of
//! the origin. Origins are reached by [`OriginClient`] (DNS cache, target policy, keep-alive
//! per origin).

use std::sync::Arc;
use std::time::Duration;

use http::header::{HOST, PROXY_AUTHORIZATION};
use http::uri::Authority;
use http::{HeaderValue, Request};
use hyper::body::Incoming;

use super::{ConnInfo, ProxyError, headers};
use crate::filters::{self, FilterChain};
use crate::runtime::{RequestId, RequestView};
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

/// The head of an absolute-form request on a forward-proxy listener (route phase): the target
/// must name its scheme and authority; the authority becomes `Host`, and `Proxy-Authorization`
/// stays for the filters.
pub(super) fn request_head(
    conn: &ConnInfo,
    id: RequestId,
    request: Request<Incoming>,
) -> Result<(RequestView, Incoming), ProxyError> {
    // HTTP/2 requests always carry :scheme and :authority; an HTTP/1 origin-form request
    // (`GET /path`) is addressed to the proxy itself, which serves nothing.
    let scheme = match request.uri().scheme_str() {
        Some("http") => "http",
        Some("https") => "https",
        _ => return Err(ProxyError::NotAbsolute),
    };
    let (mut parts, body) = request.into_parts();
    let authority = parts.uri.authority().ok_or(ProxyError::NotAbsolute)?;
    refuse_userinfo(authority)?;
    // RFC 9112 §3.2.2: the target URI's authority replaces any Host the client sent.
    let host = match parts.headers.get(HOST) {
        Some(sent) if sent.as_bytes() == authority.as_str().as_bytes() => None,
        _ => Some(HeaderValue::from_str(authority.as_str()).map_err(|_| ProxyError::NotAbsolute)?),
    };
    strip_client_fields(&mut parts.headers);
    if let Some(host) = host {
        parts.headers.insert(HOST, host);
    }
    let head = filters::request_head(parts, &conn.meta(scheme, id));
    Ok((head, body))
}

/// RFC 9110 §4.2.4: a recipient should treat user info in an `http(s)` target as an error; it
/// is a classic way to make a URL read as one host and go to another.
pub(super) fn refuse_userinfo(authority: &Authority) -> Result<(), ProxyError> {
    if authority.as_str().contains('@') {
        return Err(ProxyError::Downstream("the target has user info"));
    }
    Ok(())
}

/// Removes what a forward listener's client must not pass on: hop-by-hop fields (keeping
/// `Proxy-Authorization` for the filters; the request-hooks phase removes it before anything
/// goes upstream) and the forwarding fields (`Forwarded`, `X-Forwarded-*`, `X-Real-IP`), which
/// from the first hop are claims, not facts. Filters see the request without them; what a
/// filter adds goes upstream, and `forwarded_for = "append"` adds the real peer after them.
pub(super) fn strip_client_fields(headers: &mut http::HeaderMap) {
    headers::strip_client_claims(headers);
    // Empty in the usual case: collecting nothing allocates nothing.
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
