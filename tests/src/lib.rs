//! Test support shared by weir's test suites: the paths of the wasm guests built from source by
//! `build.rs`, and real HTTP backends on loopback that record what they were sent.
//!
//! This library never depends on weir itself; the test targets do.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub mod h2raw;
pub mod raw;
pub mod tls;

/// Paths of the built guests, and `for_each_plugin!`.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

/// What a backend saw of one request.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query, without `?`.
    pub query: Option<String>,
    /// Header fields.
    pub headers: HeaderMap,
    /// HTTP version spoken to the backend.
    pub version: http::Version,
    /// Bytes of body received.
    pub body_len: u64,
}

impl SeenRequest {
    /// The first value of a header as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// How a backend answers.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// 200 with body `<name> <path>`, header `x-backend: <name>`, and two `Set-Cookie`s
    /// (`session=abc; Path=/` and `theme=dark; Path=/; Max-Age=60`).
    Echo,
    /// Like `Echo` after waiting this long (for upstream timeouts).
    Delay(Duration),
    /// 200 with a body of this many bytes, produced in 64 KiB chunks as the client reads.
    Stream(u64),
    /// Like `Echo`, except that requests for the switch's path get its current status.
    Health(HealthSwitch),
}

/// The status a `Behaviour::Health` backend answers on its health path, changed at run time.
#[derive(Clone, Debug)]
pub struct HealthSwitch {
    path: &'static str,
    status: Arc<AtomicU16>,
}

impl HealthSwitch {
    /// A switch for `path`, answering 200 until `set`.
    pub fn new(path: &'static str) -> Self {
        Self {
            path,
            status: Arc::new(AtomicU16::new(200)),
        }
    }

    /// Answers `status` on the health path from now on.
    pub fn set(&self, status: u16) {
        self.status.store(status, Ordering::Relaxed);
    }

    fn answer(&self, name: &str) -> Response<BackendBody> {
        let status = StatusCode::from_u16(self.status.load(Ordering::Relaxed))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Response::builder()
            .status(status)
            .header("x-backend", name)
            .body(Full::new(Bytes::from(format!("{name} health {status}"))).boxed())
            .expect("static response is valid")
    }
}

type BackendBody = BoxBody<Bytes, Infallible>;

/// A real HTTP/1.1 and h2c server on 127.0.0.1 that records every request.
#[derive(Clone, Debug)]
pub struct Backend {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    arrived: Arc<Notify>,
    connections: Arc<AtomicUsize>,
}

impl Backend {
    /// Starts an echoing backend.
    pub async fn start(name: &'static str) -> Self {
        Self::start_with(name, Behaviour::Echo).await
    }

    /// Starts a backend with the given behaviour.
    pub async fn start_with(name: &'static str, behaviour: Behaviour) -> Self {
        Self::start_inner(name, behaviour, None).await
    }

    /// Starts an echoing HTTPS backend (ALPN h2 and http/1.1) with this rustls configuration.
    pub async fn start_tls(name: &'static str, tls: Arc<rustls::ServerConfig>) -> Self {
        Self::start_inner(
            name,
            Behaviour::Echo,
            Some(tokio_rustls::TlsAcceptor::from(tls)),
        )
        .await
    }

    async fn start_inner(
        name: &'static str,
        behaviour: Behaviour,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("bound address");
        let backend = Self {
            addr,
            seen: Arc::default(),
            arrived: Arc::default(),
            connections: Arc::default(),
        };
        let state = backend.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                state.connections.fetch_add(1, Ordering::Relaxed);
                let state = state.clone();
                let behaviour = behaviour.clone();
                let service = service_fn(move |req| {
                    let state = state.clone();
                    let behaviour = behaviour.clone();
                    async move { Ok::<_, Infallible>(state.answer(name, &behaviour, req).await) }
                });
                let tls = tls.clone();
                tokio::spawn(async move {
                    let builder = auto::Builder::new(TokioExecutor::new());
                    match tls {
                        None => {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = builder
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            }
                        }
                    }
                });
            }
        });
        backend
    }

    /// Address to put in a pool.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The most recent request.
    pub fn last(&self) -> SeenRequest {
        self.requests().pop().expect("the backend saw no request")
    }

    /// How many TCP connections were accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// How many requests for `path` arrived.
    pub fn count_path(&self, path: &str) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Waits until at least `n` requests arrived (bounded by `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, async {
            while self.count() < n {
                self.arrived.notified().await;
            }
        })
        .await
        .is_ok()
    }

    async fn answer(
        &self,
        name: &str,
        behaviour: &Behaviour,
        req: Request<Incoming>,
    ) -> Response<BackendBody> {
        let (parts, mut body) = req.into_parts();
        let mut body_len = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                body_len += data.len() as u64;
            }
        }
        let seen = SeenRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers,
            version: parts.version,
            body_len,
        };
        let path = seen.path.clone();
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(seen);
        self.arrived.notify_waiters();
        match behaviour {
            Behaviour::Echo => echo(name, &path),
            Behaviour::Delay(delay) => {
                tokio::time::sleep(*delay).await;
                echo(name, &path)
            }
            Behaviour::Stream(total) => stream(*total),
            Behaviour::Health(switch) if path == switch.path => switch.answer(name),
            Behaviour::Health(_) => echo(name, &path),
        }
    }
}

fn echo(name: &str, path: &str) -> Response<BackendBody> {
    let body = Full::new(Bytes::from(format!("{name} {path}"))).boxed();
    Response::builder()
        .status(StatusCode::OK)
        .header("x-backend", name)
        .header("content-type", "text/plain")
        .header("set-cookie", "session=abc; Path=/")
        .header("set-cookie", "theme=dark; Path=/; Max-Age=60")
        .header("connection", "x-backend-private")
        .header("x-backend-private", "hop-by-hop")
        .body(body)
        .expect("static response is valid")
}

fn stream(total: u64) -> Response<BackendBody> {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-length", total.to_string())
        .body(BodyExt::boxed(ChunkBody::new(total)))
        .expect("static response is valid")
}

/// A body of `total` bytes produced lazily in 64 KiB frames: streaming tests use it so that
/// neither end ever holds the whole body.
#[derive(Debug)]
pub struct ChunkBody {
    remaining: u64,
    size: u64,
    chunk: Bytes,
}

impl ChunkBody {
    /// A body of `total` bytes.
    pub fn new(total: u64) -> Self {
        const CHUNK: u64 = 64 * 1024;
        Self {
            remaining: total,
            size: CHUNK,
            chunk: Bytes::from(vec![b'x'; CHUNK as usize]),
        }
    }
}

impl hyper::body::Body for ChunkBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return std::task::Poll::Ready(None);
        }
        let n = self.remaining.min(self.size);
        self.remaining -= n;
        let data = self.chunk.slice(..n as usize);
        std::task::Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.remaining)
    }
}

/// A loopback address where nothing listens (bound, then released).
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    listener.local_addr().expect("bound address")
}

/// Peak resident memory of this process (`VmHWM`), in bytes.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
