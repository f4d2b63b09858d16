//! The HTTP data path: match a route, run the request hooks, forward to a backend of the chosen
//! pool, run the response hooks before the response head goes downstream, and stream bodies in
//! both directions without buffering them.
//!
//! Depends on `filters`, `runtime` and `upstream`; never on `server` or `config`.

mod error;
mod headers;
mod route;

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

use crate::filters::{self, RequestMeta, RequestOutcome, ResponseOutcome};
use crate::runtime::RequestView;
use crate::upstream::{BackendPool, UpstreamBody, UpstreamError};

pub use error::ProxyError;
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
#[derive(Clone, Copy, Debug)]
pub struct ConnInfo {
    /// Peer address.
    pub client: SocketAddr,
    /// `http` or `https`.
    pub scheme: &'static str,
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
    let (response, upstream) = match forward(&state, conn, &id, request).await {
        Ok(done) => done,
        Err(error) => {
            tracing::debug!(request.id = %id, error = %error, "request failed");
            (error.to_response().map(full), None)
        }
    };
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

async fn forward(
    state: &ProxyState,
    conn: ConnInfo,
    id: &Arc<str>,
    request: Request<Incoming>,
) -> Result<(Response<ProxyBody>, Option<String>), ProxyError> {
    let (mut parts, body) = request.into_parts();
    let original_host = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            parts
                .headers
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        });
    let host = original_host.as_deref().map(route::host_of);
    let route =
        route::find(&state.routes, host.as_deref(), parts.uri.path()).ok_or(ProxyError::NoRoute)?;
    headers::strip_hop_by_hop(&mut parts.headers);

    // Request hooks.
    let mut view: Option<RequestView> = None;
    if !route.chain.is_empty() {
        let meta = RequestMeta {
            client: conn.client,
            scheme: conn.scheme,
            id: id.clone(),
        };
        let built = filters::view_from_parts(&mut parts, &meta);
        match route.chain.run_request(built) {
            RequestOutcome::Forward(edited) => {
                tracing::debug!(request.id = %id, edits = ?edited.journal.entries(), refused = ?edited.journal.refusals(), backend = ?edited.backend, "request filters done");
                parts.headers = edited.headers.clone();
                view = Some(edited);
            }
            RequestOutcome::Respond { filter, response } => {
                let local = filters::into_http_response(response).map_err(|e| {
                    ProxyError::InvalidVerdict {
                        filter,
                        reason: e.to_string(),
                    }
                })?;
                return Ok((local.map(full), None));
            }
            RequestOutcome::Failed { filter, error } => {
                return Err(ProxyError::Filter {
                    filter,
                    source: error,
                });
            }
        }
    }
    let (pool, affinity) =
        match view.as_ref().and_then(|v| v.backend.as_ref()) {
            Some(choice) => {
                let pool = state.pools.get(choice.pool.as_str()).ok_or_else(|| {
                    ProxyError::UnknownPool {
                        pool: choice.pool.clone(),
                    }
                })?;
                (pool, choice.affinity_key.as_deref())
            }
            None => (&route.pool, None),
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
    let scheme = view.as_ref().map_or(conn.scheme, |v| {
        if v.scheme == "https" { "https" } else { "http" }
    });
    headers::add_forwarding(
        &mut parts.headers,
        conn.client.ip(),
        scheme,
        original_host.as_deref(),
        parts.version,
    );
    parts.version = http::Version::HTTP_11;

    let (upstream_response, backend) =
        send_upstream(pool, affinity, parts, &path_and_query, body).await?;

    // Response hooks.
    let (mut head, body) = upstream_response.into_parts();
    headers::strip_hop_by_hop(&mut head.headers);
    if let Some(request_view) = view {
        let response_view = filters::response_view(head.status, std::mem::take(&mut head.headers));
        match route.chain.run_response(request_view, response_view) {
            ResponseOutcome::Forward(edited) => {
                head.status = edited.status;
                head.headers = edited.headers;
            }
            ResponseOutcome::Respond { filter, response } => {
                let local = filters::into_http_response(response).map_err(|e| {
                    ProxyError::InvalidVerdict {
                        filter,
                        reason: e.to_string(),
                    }
                })?;
                return Ok((local.map(full), Some(backend)));
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
    parts.uri = format!("http://{}{path_and_query}", backend.authority)
        .parse()
        .map_err(|_| ProxyError::Downstream("request target cannot be forwarded"))?;
    Ok(Request::from_parts(parts, body))
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
