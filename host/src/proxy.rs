//! The HTTP data path: match a route, run the request hooks, forward to a backend of the chosen
//! pool, run the response hooks before the response head goes downstream, and stream bodies in
//! both directions without buffering them. On a forward-proxy listener the same steps run with
//! the listener's chain and the origin the client named (module `forward`), and CONNECT opens a
//! tunnel (module `tunnel`). A WebSocket upgrade, over HTTP/1.1 or by HTTP/2 extended CONNECT,
//! is routed and filtered like any request and then spliced (module `upgrade`).
//!
//! Depends on `filters`, `runtime` and `upstream`; never on `server` or `config`.

mod drain;
mod error;
mod exchange;
mod forward;
mod headers;
mod log;
mod path;
mod route;
mod tunnel;
mod upgrade;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::{Body as _, Incoming};

use crate::filters::{self, RequestMeta};
use crate::runtime::{PathContext, RequestId};
use crate::tls::TlsFacts;
use crate::upstream::{BackendPool, BoxError};
use exchange::Destination;
use log::Seen;

pub use drain::{Drain, StopState, Stopper, TunnelGuard, Tunnels};
pub use error::{ProxyError, Side};
pub use forward::{ForwardPolicy, ForwardProxy};
pub use route::{HostMatch, Route};
pub(crate) use tunnel::{Spliced, splice_sized};

/// Body type sent downstream.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// Everything the data path needs, immutable for one config generation.
#[derive(Debug)]
pub struct ProxyState {
    /// Routes in config order.
    pub routes: Vec<Route>,
    /// Pools by name.
    pub pools: HashMap<Arc<str>, Arc<BackendPool>>,
    /// Config generation (increases on each reload).
    pub generation: u64,
    /// Every loaded plugin, in config order.
    pub plugins: Vec<LoadedPlugin>,
    /// Forward-proxy listeners, by listener name.
    pub forward: HashMap<Arc<str>, ForwardProxy>,
    /// The stream-router chains of `mode = "tcp"` listeners, by listener name.
    pub streams: HashMap<Arc<str>, crate::filters::RouterChain>,
    /// The path context of forward-proxy requests: what an encoded `/`, a backslash or an
    /// encoded control character in a path does (the server setting), no prefix.
    pub paths: Arc<crate::runtime::PathContext>,
    /// The access log (shared by every generation).
    pub access: Arc<crate::access::AccessLog>,
}

/// A plugin of the state, with what the admin endpoint shows about it.
#[derive(Debug)]
pub struct LoadedPlugin {
    /// Filter name.
    pub name: Arc<str>,
    /// Component file.
    pub path: std::path::PathBuf,
    /// The plugin (content hash, counters, settings).
    pub plugin: Arc<crate::runtime::Plugin>,
    /// When this generation loaded it.
    pub loaded_at: std::time::SystemTime,
}

/// Facts about the downstream connection.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// The client's address: the PROXY header's source on listeners that read one, else the
    /// peer.
    pub client: SocketAddr,
    /// The TCP peer (an L4 balancer, when a PROXY header named the client).
    pub peer: SocketAddr,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The listener's name (selects its forward-proxy settings, if any).
    pub listener: Arc<str>,
    /// The TLS session, on an HTTPS listener.
    pub tls: Option<Arc<TlsFacts>>,
    /// When the process drains: tunnels, which outlive their HTTP connection, end then.
    pub drain: Drain,
    /// The listener's bounds on one request.
    pub limits: RequestLimits,
    /// Proxies whose forwarding fields are believed.
    pub trusted_proxies: Arc<[crate::upstream::IpNet]>,
}

/// A listener's bounds on one request, checked before routing (target and method) and while
/// the body streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestLimits {
    /// Longest request target, in bytes (414).
    pub max_uri_bytes: usize,
    /// Longest method token, in bytes (400).
    pub max_method_bytes: usize,
    /// Largest request body unless the route sets its own (413).
    pub max_body_bytes: Option<u64>,
}

impl ConnInfo {
    /// What filters learn about a request besides its head.
    fn meta(&self, scheme: &'static str, id: RequestId) -> RequestMeta {
        RequestMeta {
            client: self.client,
            scheme,
            id,
            tls: self.tls.clone(),
        }
    }
}

/// Handles one downstream request. Never fails: every error becomes a response.
///
/// The phases, shared by reverse, forward and tunnel requests: **route** (here), then in
/// `exchange` **request hooks → choose backend → connect → send → response hooks**, and the
/// **log** line here.
pub async fn handle(
    state: Arc<ProxyState>,
    conn: ConnInfo,
    request: Request<Incoming>,
) -> Response<ProxyBody> {
    let started = Instant::now();
    let id = RequestId::next();
    let mut seen = Seen::new(&state, &conn, id, &request, started);
    let mut failure = None;
    let response = match serve(&state, &conn, id, request, &mut seen).await {
        Ok(response) => response,
        Err(error) => {
            tracing::debug!(request.id = %id, error = %error, side = error.side().as_str(), "request failed");
            failure = Some(error.kind());
            error.to_response().map(full)
        }
    };
    crate::metrics::METRICS.response(response.status().as_u16());
    seen.finish(response, failure, &state.access, &conn.listener)
}

/// A request that arrives with this many of weir's own `Via` entries is in a forwarding loop.
/// Legitimate chains of weirs (a forward proxy in front of a reverse proxy, say) stay far below
/// it; a loop is cut after this many hops, each holding one connection meanwhile.
pub const MAX_WEIR_HOPS: usize = 8;

/// The route phase: which chain runs and where the request goes unless a filter says
/// otherwise; then the exchange.
async fn serve(
    state: &ProxyState,
    conn: &ConnInfo,
    id: RequestId,
    mut request: Request<Incoming>,
    seen: &mut Seen,
) -> Result<Response<ProxyBody>, ProxyError> {
    if request.method().as_str().len() > conn.limits.max_method_bytes {
        return Err(ProxyError::Downstream(
            "the method is longer than the listener's max_method_bytes",
        ));
    }
    if target_len(request.uri()) > conn.limits.max_uri_bytes {
        return Err(ProxyError::UriTooLong {
            limit: conn.limits.max_uri_bytes,
        });
    }
    headers::check_host(&request)?;
    let hops = headers::weir_hops(request.headers());
    if hops >= MAX_WEIR_HOPS {
        return Err(ProxyError::LoopDetected { hops });
    }
    let forward = state.forward.get(&conn.listener);
    // Before the CONNECT check: an extended CONNECT for WebSocket is a GET from here on.
    let origin_idle = forward.map_or(upgrade::REVERSE_ORIGIN_IDLE, |proxy| {
        proxy.policy.tunnel_idle_timeout
    });
    let upgrade = upgrade::detect(&mut request, &conn.drain, origin_idle)?;
    if request.method() == http::Method::CONNECT {
        let proxy = forward.ok_or(ProxyError::ConnectNotAllowed)?;
        // Boxed: every connection keeps room for this future while idle (hyper holds one
        // request future per connection), and the tunnel path is rare and large.
        return Box::pin(tunnel::open(state, proxy, conn, id, request, seen)).await;
    }
    path::normalise(&mut request, state.paths.separators)?;
    let (chain, destination, mut head, body, max_body) = match forward {
        Some(proxy) => {
            let (mut head, body) = forward::request_head(conn, id, request)?;
            PathContext::attach(&mut head.path_context, &state.paths);
            (
                &proxy.chain,
                Destination::Origin(&proxy.origins),
                head,
                body,
                conn.limits.max_body_bytes,
            )
        }
        None => {
            let host = route::request_host(request.uri(), request.headers());
            let route = route::find(&state.routes, host, request.uri().path())
                .ok_or(ProxyError::NoRoute)?;
            seen.route = Some(route.name.clone());
            let (mut parts, body) = request.into_parts();
            headers::strip_hop_by_hop(&mut parts.headers);
            let mut meta = conn.meta(conn.scheme, id);
            meta.client =
                headers::real_client(&mut parts.headers, conn.client, &conn.trusted_proxies);
            seen.client = meta.client;
            let mut head = filters::request_head(parts, &meta);
            PathContext::attach(&mut head.path_context, &route.paths);
            let max_body = route.max_body_bytes.or(conn.limits.max_body_bytes);
            (
                &route.chain,
                Destination::Pool(&route.pool),
                head,
                body,
                max_body,
            )
        }
    };
    // A body announced larger than allowed is refused before any filter or backend sees it;
    // one that turns out larger while it streams is cut there (`UpstreamBody`).
    if let Some(limit) = max_body
        && body.size_hint().lower() > limit
    {
        return Err(ProxyError::BodyTooLarge { limit });
    }
    if upgrade.is_some() {
        // The hop-by-hop stripping removed them; filters see the upgrade as it goes upstream.
        upgrade::mark(&mut head.headers);
    }
    let body = exchange::RequestBody {
        body,
        max_body,
        counted: seen.bytes_in.clone(),
    };
    let hop = conn.client.ip();
    exchange::run(state, chain, destination, head, body, hop, upgrade, seen).await
}

/// The length of the request target as received (path and query, or the absolute URI).
fn target_len(uri: &http::Uri) -> usize {
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => {
            scheme.len()
                + 3
                + authority.as_str().len()
                + uri.path_and_query().map_or(0, |p| p.as_str().len())
        }
        (None, Some(authority)) => authority.as_str().len(),
        _ => uri.path_and_query().map_or(0, |p| p.as_str().len()),
    }
}

fn full(body: Bytes) -> ProxyBody {
    Full::new(body)
        .map_err(|never| match never {})
        .boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `F` returns, without calling it.
    fn future_size<F, A, B, C, Fut>(_: &F) -> usize
    where
        F: Fn(A, B, C) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    #[test]
    fn the_request_future_stays_small_because_every_connection_holds_one() {
        // hyper keeps room for one request future per downstream connection for as long as the
        // connection lives, idle or not; the listener boxes it (one allocation per request
        // instead of this size per idle keep-alive connection), so this is now the size of
        // that allocation, still worth keeping small. Rare or large parts (tunnels, new upstream connections, filter hooks) are boxed.
        // Measured 6.3 KB in a debug build (12.9 KB before the boxing), less in release; 8.4 KB
        // since the pool's retry loop, which keeps the last failure while it tries another
        // backend, and timed request and response bodies (370 bytes per connection, 3.6 MB for
        // 10,000 idle connections: a box per request would cost more); 9.2 KB with the body
        // limit, path context, trusted-proxy client and the log's facts. The next growth
        // should box the retry loop's rare parts instead of raising this again.
        let size = future_size(&handle);
        assert!(size <= 10 * 1024, "the request future grew to {size} bytes");
    }
}
