//! The HTTP data path: match a route, run the request hooks, forward to a backend of the chosen
//! pool, run the response hooks before the response head goes downstream, and stream bodies in
//! both directions without buffering them. On a forward-proxy listener the same steps run with
//! the listener's chain and the origin the client named (module `forward`), and CONNECT opens a
//! tunnel (module `tunnel`).
//!
//! Depends on `filters`, `runtime` and `upstream`; never on `server` or `config`.

mod error;
mod forward;
mod headers;
mod route;
mod tunnel;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http::header::HOST;
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, Empty, Full, combinators::UnsyncBoxBody};
use hyper::body::{Body, Incoming};

use crate::filters::{self, FilterChain, RequestMeta, RequestOutcome, ResponseOutcome};
use crate::runtime::RequestView;
use crate::tls::TlsFacts;
use crate::upstream::{BackendPool, OriginClient, UpstreamBody, UpstreamError};

pub use error::ProxyError;
pub use forward::{ForwardPolicy, ForwardProxy};
pub use route::{HostMatch, Route};

/// Body type sent downstream.
pub type ProxyBody = UnsyncBoxBody<Bytes, hyper::Error>;

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
    /// Peer address.
    pub client: SocketAddr,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The listener's name (selects its forward-proxy settings, if any).
    pub listener: Arc<str>,
    /// The TLS session, on an HTTPS listener.
    pub tls: Option<Arc<TlsFacts>>,
    /// When the process drains: tunnels, which outlive their HTTP connection, end then.
    pub drain: Drain,
}

/// The shutdown signal and grace period, for work that outlives an HTTP connection.
#[derive(Clone, Debug)]
pub struct Drain {
    stopped: tokio::sync::watch::Receiver<bool>,
    grace: std::time::Duration,
}

impl Drain {
    /// A drain that fires `grace` after `stopped` turns true.
    pub fn new(stopped: tokio::sync::watch::Receiver<bool>, grace: std::time::Duration) -> Self {
        Self { stopped, grace }
    }

    /// Resolves once shutdown has begun and the grace period has passed (never, if the
    /// sender is dropped without a shutdown).
    pub async fn wait(mut self) {
        if self.stopped.wait_for(|stopped| *stopped).await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(self.grace).await;
    }
}

/// Handles one downstream request. Never fails: every error becomes a response.
pub async fn handle(
    state: Arc<ProxyState>,
    conn: ConnInfo,
    request: Request<Incoming>,
) -> Response<ProxyBody> {
    let started = Instant::now();
    let id = next_request_id();
    let method = request.method().clone();
    let target = request.uri().path().to_owned();
    let (response, upstream) = match dispatch(&state, &conn, &id, request).await {
        Ok(done) => done,
        Err(error) => {
            tracing::debug!(request.id = %id, error = %error, "request failed");
            (error.to_response().map(full), None)
        }
    };
    crate::metrics::METRICS.response(response.status().as_u16());
    tracing::info!(
        target: "weir::access",
        {
        client.addr = %conn.client,
        "request.id" = %id,
        "http.method" = %method,
        "http.path" = %target,
        "http.status" = response.status().as_u16(),
        "upstream.addr" = upstream.as_deref().unwrap_or("-"),
        generation = state.generation,
        duration_us = started.elapsed().as_micros() as u64,
        },
        "request"
    );
    response
}

/// Where a request goes unless a filter selects a pool.
enum Destination<'a> {
    /// The route's pool.
    Pool(&'a BackendPool),
    /// The origin in the request (forward proxy).
    Origin(&'a OriginClient),
}

/// A request that arrives with this many of weir's own `Via` entries is in a forwarding loop.
/// Legitimate chains of weirs (a forward proxy in front of a reverse proxy, say) stay far below
/// it; a loop is cut after this many hops, each holding one connection meanwhile.
pub const MAX_WEIR_HOPS: usize = 8;

async fn dispatch(
    state: &ProxyState,
    conn: &ConnInfo,
    id: &Arc<str>,
    request: Request<Incoming>,
) -> Result<(Response<ProxyBody>, Option<String>), ProxyError> {
    let hops = headers::weir_hops(request.headers());
    if hops >= MAX_WEIR_HOPS {
        return Err(ProxyError::LoopDetected { hops });
    }
    let is_connect = request.method() == http::Method::CONNECT;
    match state.forward.get(&conn.listener) {
        Some(proxy) if is_connect => tunnel::open(state, proxy, conn, id, request).await,
        Some(proxy) => forward::request(state, proxy, conn, id, request).await,
        None if is_connect => Err(ProxyError::ConnectNotAllowed),
        None => {
            let host = original_host(request.uri(), request.headers());
            let host = host.as_deref().map(route::host_of);
            let route = route::find(&state.routes, host.as_deref(), request.uri().path())
                .ok_or(ProxyError::NoRoute)?;
            let (mut parts, body) = request.into_parts();
            headers::strip_hop_by_hop(&mut parts.headers);
            let meta = RequestMeta {
                client: conn.client,
                scheme: conn.scheme,
                id: id.clone(),
                tls: conn.tls.clone(),
            };
            exchange(
                state,
                &route.chain,
                Destination::Pool(&route.pool),
                meta,
                parts,
                body,
            )
            .await
        }
    }
}

/// The authority the client asked for: from an absolute URI, else the `Host` header.
fn original_host(uri: &http::Uri, headers: &http::HeaderMap) -> Option<String> {
    uri.authority().map(|a| a.as_str().to_owned()).or_else(|| {
        headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    })
}

/// Runs the request hooks, sends the request where they (or `default`) say, runs the response
/// hooks. `parts` has its hop-by-hop fields removed already.
async fn exchange(
    state: &ProxyState,
    chain: &FilterChain,
    default: Destination<'_>,
    meta: RequestMeta,
    mut parts: http::request::Parts,
    body: Incoming,
) -> Result<(Response<ProxyBody>, Option<String>), ProxyError> {
    let id = meta.id.clone();
    let original_host = original_host(&parts.uri, &parts.headers);
    // Request hooks.
    let mut view: Option<RequestView> = None;
    let scheme = meta.scheme;
    let client = meta.client;
    // Decided once: a filter may promise mid-request that its `on-response` does nothing, and
    // the request head is only kept for the response hooks when they will run.
    let response_hooks = chain.runs_on_response();
    if !chain.is_empty() {
        let built = filters::view_from_parts(&mut parts, &meta);
        match chain.run_request(built) {
            RequestOutcome::Forward(mut edited) => {
                tracing::debug!(request.id = %id, edits = ?edited.journal.entries(), refused = ?edited.journal.refusals(), backend = ?edited.backend, "request filters done");
                parts.headers = if response_hooks {
                    edited.headers.clone()
                } else {
                    std::mem::take(&mut edited.headers)
                };
                // Credentials for the proxy are for filters to check, never for the upstream.
                parts.headers.remove(http::header::PROXY_AUTHORIZATION);
                view = Some(edited);
            }
            RequestOutcome::Respond { filter, response } => {
                return Ok((local_answer(filter, response)?, None));
            }
            RequestOutcome::Failed { filter, error } => {
                return Err(ProxyError::Filter {
                    filter,
                    source: error,
                });
            }
        }
    }
    parts.headers.remove(http::header::PROXY_AUTHORIZATION);
    let (destination, affinity) =
        match view.as_ref().and_then(|v| v.backend.as_ref()) {
            Some(choice) => {
                let pool = state.pools.get(choice.pool.as_str()).ok_or_else(|| {
                    ProxyError::UnknownPool {
                        pool: choice.pool.clone(),
                    }
                })?;
                (Destination::Pool(pool), choice.affinity_key.as_deref())
            }
            None => (default, None),
        };
    let (path_and_query, authority) = match &view {
        Some(v) => (
            match &v.query {
                Some(q) => format!("{}?{q}", v.path),
                None => v.path.clone(),
            },
            v.authority.clone(),
        ),
        None => (
            parts
                .uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned()),
            original_host.clone(),
        ),
    };
    if let Some(authority) = authority
        .as_deref()
        .and_then(|a| HeaderValue::from_str(a).ok())
    {
        parts.headers.insert(HOST, authority);
    }
    let scheme = view.as_ref().map_or(
        scheme,
        |v| {
            if v.scheme == "https" { "https" } else { "http" }
        },
    );
    let downstream_version = parts.version;
    parts.version = http::Version::HTTP_11;
    let (upstream_response, backend) = match destination {
        Destination::Pool(pool) => {
            headers::add_forwarding(
                &mut parts.headers,
                client.ip(),
                scheme,
                original_host.as_deref(),
                downstream_version,
            );
            send_upstream(pool, affinity, parts, &path_and_query, body).await?
        }
        Destination::Origin(origins) => {
            let authority = authority.ok_or(ProxyError::NotAbsolute)?;
            headers::append_via(&mut parts.headers, downstream_version);
            forward::send_origin(origins, scheme, &authority, parts, &path_and_query, body).await?
        }
    };

    // Response hooks.
    let (mut head, body) = upstream_response.into_parts();
    headers::strip_hop_by_hop(&mut head.headers);
    if let Some(request_view) = view.filter(|_| response_hooks) {
        let response_view = filters::response_view(head.status, std::mem::take(&mut head.headers));
        match chain.run_response(request_view, response_view) {
            ResponseOutcome::Forward(edited) => {
                head.status = edited.status;
                head.headers = edited.headers;
            }
            ResponseOutcome::Respond { filter, response } => {
                return Ok((local_answer(filter, response)?, Some(backend)));
            }
            ResponseOutcome::Failed { filter, error } => {
                return Err(ProxyError::Filter {
                    filter,
                    source: error,
                });
            }
        }
    }
    headers::append_via(&mut head.headers, head.version);
    head.version = http::Version::HTTP_11;
    Ok((
        Response::from_parts(head, body.boxed_unsync()),
        Some(backend),
    ))
}

/// Sends the request to a backend of `pool`. A request without a body whose connection was
/// refused is retried once on another backend: nothing reached the first one.
async fn send_upstream(
    pool: &BackendPool,
    affinity: Option<&str>,
    parts: http::request::Parts,
    path_and_query: &str,
    body: Incoming,
) -> Result<(Response<Incoming>, String), ProxyError> {
    let retryable = body.is_end_stream() && pool.backends().len() > 1;
    let first = pool.select(affinity, None);
    let template = retryable.then(|| (parts.method.clone(), parts.headers.clone(), parts.version));
    let request = upstream_request(pool, first, parts, path_and_query, body.boxed_unsync())?;
    match pool.send(first, request).await {
        Ok(response) => Ok((response, pool.backends()[first].authority.to_string())),
        Err(UpstreamError::Connect { .. }) if template.is_some() => {
            let Some((method, headers, version)) = template else {
                return Err(ProxyError::Downstream("retry template missing"));
            };
            let second = pool.select(affinity, Some(first));
            let mut retry = Request::new(());
            *retry.method_mut() = method;
            *retry.headers_mut() = headers;
            *retry.version_mut() = version;
            let (parts, ()) = retry.into_parts();
            let empty = Empty::<Bytes>::new()
                .map_err(|never| match never {})
                .boxed_unsync();
            let request = upstream_request(pool, second, parts, path_and_query, empty)?;
            let response = pool.send(second, request).await?;
            Ok((response, pool.backends()[second].authority.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

fn upstream_request(
    pool: &BackendPool,
    index: usize,
    mut parts: http::request::Parts,
    path_and_query: &str,
    body: UpstreamBody,
) -> Result<Request<UpstreamBody>, ProxyError> {
    let backend = &pool.backends()[index];
    parts.uri = format!("{}://{}{path_and_query}", backend.scheme, backend.authority)
        .parse()
        .map_err(|_| ProxyError::Downstream("request target cannot be forwarded"))?;
    Ok(Request::from_parts(parts, body))
}

/// The response a filter's `respond` verdict asks for, or why weir refuses to send it.
fn local_answer(
    filter: Arc<str>,
    response: crate::runtime::LocalResponse,
) -> Result<Response<ProxyBody>, ProxyError> {
    filters::into_http_response(response)
        .map(|local| local.map(full))
        .map_err(|e| ProxyError::InvalidVerdict {
            filter,
            reason: e.to_string(),
        })
}

fn full(body: Bytes) -> ProxyBody {
    Full::new(body)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Request ids: a random per-process prefix and a counter, unique within the process and
/// unlikely to collide across restarts.
fn next_request_id() -> Arc<str> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let prefix = PREFIX.get_or_init(|| getrandom::u32().unwrap_or(0));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Arc::from(format!("{prefix:08x}-{n:x}"))
}
