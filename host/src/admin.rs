//! The local admin endpoint: health, loaded plugins, Prometheus metrics, and reload.
//!
//! - `GET /dashboard` → one self-contained HTML page (no external asset) that shows per-filter
//!   call rate, latency percentiles, faults and breakers, upstream backends, the reload history
//!   and the last decision traces, refreshed every 2 s from the endpoints below
//! - `GET /health` → `ok`
//! - `GET /plugins` → JSON: config generation and, per plugin, name, path, SHA-256, load time,
//!   whether loading compiled it, and its counters
//! - `GET /metrics` → Prometheus text format
//! - `GET /upstreams` → JSON: per pool, each backend's state (healthy, ejected for how long and
//!   why, on trial, down), connections, requests in flight; the queue and retries
//! - `GET /traces` → JSON: the last 100 access records, each with its decision trace
//! - `GET /reloads` → JSON: the last 32 reloads (time, outcome, generation, refusal reason)
//! - `POST /reload` → re-reads the config and reloads; JSON outcome (200 applied, 500 refused)
//!
//! - `GET /ready` → `ready` (200), or `draining` (503) once a stop began or after `POST /drain`
//! - `POST /drain` → not ready from now on; requests are still served until weir is stopped
//!
//! Bind it to loopback; with `[admin] token_file`, every request but `/health`, `/ready` and
//! `/dashboard` needs `Authorization: Bearer <token>` (the dashboard takes it from its URL's
//! fragment, `/dashboard#token=…`, which browsers never send).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::server::Control;

/// A running admin endpoint; dropping it stops it.
#[derive(Debug)]
pub struct AdminServer {
    /// Bound address.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `bind` and serves the admin endpoint for `control`, without authentication.
pub async fn serve(bind: SocketAddr, control: Arc<Control>) -> std::io::Result<AdminServer> {
    serve_with(bind, None, control).await
}

/// Binds `bind` and serves the admin endpoint for `control`; with a `token`, every request
/// but `/health` and `/ready` must carry `Authorization: Bearer <token>`.
pub async fn serve_with(
    bind: SocketAddr,
    token: Option<Arc<str>>,
    control: Arc<Control>,
) -> std::io::Result<AdminServer> {
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    tracing::info!(addr = %addr, "admin endpoint listening");
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (control, token) = (control.clone(), token.clone());
            let service = service_fn(move |req| {
                let (control, token) = (control.clone(), token.clone());
                async move {
                    let response = match refuse_unauthorised(token.as_deref(), &req) {
                        Some(refusal) => refusal,
                        None => answer(&control, req).await,
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(AdminServer { addr, task })
}

async fn answer(control: &Control, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/health") => text(StatusCode::OK, "ok\n".to_owned()),
        (&Method::GET, "/dashboard") => dashboard(),
        (&Method::GET, "/ready") => match control.is_ready() {
            true => text(StatusCode::OK, "ready\n".to_owned()),
            false => text(StatusCode::SERVICE_UNAVAILABLE, "draining\n".to_owned()),
        },
        (&Method::POST, "/drain") => {
            control.set_draining();
            tracing::info!("admin: draining (not ready); requests are still served");
            json(StatusCode::OK, serde_json::json!({"outcome": "draining"}))
        }
        (&Method::GET, "/plugins") => json(StatusCode::OK, plugins(control)),
        (&Method::GET, "/metrics") => {
            let mut response = text(StatusCode::OK, metrics(control));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            );
            response
        }
        (&Method::GET, "/upstreams") => json(StatusCode::OK, upstreams(control)),
        (&Method::GET, "/traces") => json(StatusCode::OK, traces(control)),
        (&Method::GET, "/reloads") => json(StatusCode::OK, reloads(control)),
        (&Method::POST, "/reload") => match control.reload_from_source().await {
            Ok(generation) => json(
                StatusCode::OK,
                serde_json::json!({"outcome": "applied", "generation": generation}),
            ),
            Err(e) => json(
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::json!({
                    "outcome": "refused",
                    "generation": control.state().generation,
                    "error": control.stats().last_error.unwrap_or_else(|| e.to_string()),
                }),
            ),
        },
        (
            _,
            "/health" | "/ready" | "/drain" | "/plugins" | "/metrics" | "/upstreams" | "/traces"
            | "/reloads" | "/reload" | "/dashboard",
        ) => text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed\n".to_owned(),
        ),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /dashboard, /health, /ready, /plugins, /metrics, /upstreams, /traces, /reloads, POST /reload or POST /drain\n".to_owned(),
        ),
    }
}

/// With a token, the 401 for a request that does not carry it (`/health` and `/ready` are open
/// to probes). The comparison takes the same time wherever the first difference is.
fn refuse_unauthorised(
    token: Option<&str>,
    req: &Request<Incoming>,
) -> Option<Response<Full<Bytes>>> {
    let token = token?;
    // The dashboard page holds no data: its own requests carry the token.
    if matches!(req.uri().path(), "/health" | "/ready" | "/dashboard") {
        return None;
    }
    let given = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let same = given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0;
    if same {
        return None;
    }
    let mut response = text(
        StatusCode::UNAUTHORIZED,
        "a bearer token is required\n".to_owned(),
    );
    response.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer"),
    );
    Some(response)
}

fn plugins(control: &Control) -> serde_json::Value {
    let state = control.state();
    let plugins: Vec<serde_json::Value> = state
        .plugins
        .iter()
        .map(|p| {
            serde_json::json!({
                "name": &*p.name,
                "path": p.path.display().to_string(),
                "sha256": p.plugin.content_hash(),
                "world": p.plugin.world().as_str(),
                "loaded_at_unix_ms": p.loaded_at.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
                "compiled": format!("{:?}", p.plugin.cache_outcome()).to_lowercase(),
                "counters": p.plugin.counters(),
            })
        })
        .collect();
    serde_json::json!({ "generation": state.generation, "plugins": plugins })
}

/// The last access records (oldest first), each with its decision trace.
fn traces(control: &Control) -> serde_json::Value {
    let state = control.state();
    let records = state.access.recent();
    serde_json::json!({
        "generation": state.generation,
        "dropped": state.access.dropped(),
        "records": records,
    })
}

/// The reloads (oldest first), with why each refused one was refused.
fn reloads(control: &Control) -> serde_json::Value {
    let stats = control.stats();
    serde_json::json!({
        "generation": control.state().generation,
        "applied": stats.applied,
        "refused": stats.failed,
        "history": control.history(),
    })
}

/// Every pool's backends and their state, sorted by pool name.
fn upstreams(control: &Control) -> serde_json::Value {
    let state = control.state();
    let mut pools: Vec<_> = state.pools.values().collect();
    pools.sort_by(|a, b| a.name().cmp(b.name()));
    let pools: Vec<serde_json::Value> = pools.iter().map(|p| p.report()).collect();
    serde_json::json!({ "generation": state.generation, "pools": pools })
}

fn metrics(control: &Control) -> String {
    use crate::metrics::{Scrape, count};
    let state = control.state();
    let stats = control.stats();
    let mut scrape = Scrape::default();
    scrape.gauge(
        "weir_config_generation",
        "Config generation serving new requests.",
        Vec::new(),
        i64::try_from(state.generation).unwrap_or(i64::MAX),
    );
    for (outcome, n) in [("applied", stats.applied), ("refused", stats.failed)] {
        scrape.counter(
            "weir_reloads",
            "Reloads by outcome (applied, refused).",
            vec![("outcome", outcome.to_owned())],
            n,
        );
    }
    for p in &state.plugins {
        for (name, value) in p.plugin.counters() {
            scrape.counter(
                "weir_plugin_counter",
                "Counters plugins add to with host.counter-add.",
                vec![("plugin", p.name.to_string()), ("name", name)],
                value,
            );
        }
        let (busy, pooled) = p.plugin.instances();
        for (state, n) in [("busy", busy), ("pooled", pooled)] {
            scrape.gauge(
                "weir_filter_instances",
                "A filter's instances: in a hook call now (busy), warm and idle (pooled).",
                vec![("filter", p.name.to_string()), ("state", state.to_owned())],
                count(n),
            );
        }
    }
    let breakers: Vec<(&str, crate::metrics::BreakerSample)> = state
        .plugins
        .iter()
        .filter_map(|p| Some((&*p.name, crate::filters::breaker_of(&p.plugin)?.sample())))
        .collect();
    crate::metrics::sample_breakers(&mut scrape, breakers.into_iter());
    let mut pools: Vec<&crate::upstream::BackendPool> =
        state.pools.values().map(|p| &**p).collect();
    pools.sort_by(|a, b| a.name().cmp(b.name()));
    crate::upstream::sample_pools(pools.into_iter(), &mut scrape);
    scrape.encode()
}

/// The dashboard: one self-contained page that reads the other endpoints every 2 s.
const DASHBOARD: &str = include_str!("admin/dashboard.html");

fn dashboard() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(DASHBOARD.as_bytes())));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Only its own inline script and style, and requests to this endpoint.
    headers.insert(
        http::header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{value:#}\n"))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
