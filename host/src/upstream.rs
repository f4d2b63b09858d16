//! Upstream pools and the forward proxy's origins: backends, load balancing, passive health,
//! weir's own connection pools on hyper's connection-level API, and the distinct errors the
//! proxy maps to 400, 502 and 504.
//!
//! An upstream exchange is two steps. `BackendPool::connect` chooses a backend and hands back
//! an open connection (a pooled one, or a new one); a backend that cannot be reached is marked
//! down and one other backend is tried, which is always safe because nothing was sent yet.
//! Then `send` writes the request on that connection and waits for the response head.
//!
//! Balancing (`balance`): `round-robin` follows a smooth weighted schedule (weights 5,1,1 give
//! a,a,b,a,c,a,a rather than a,a,a,a,a,b,c); `random` picks by weight; `least-requests` picks
//! the lowest in-flight count per weight; `p2c` draws two backends by weight and takes the
//! less loaded; `consistent-hash` maps a key (`hash_key`) to a backend on a weighted Maglev
//! table. A request with an affinity key from a filter's `select-backend` uses that table on
//! any pool, so a key keeps its backend while the pool is unchanged. Without a key, a
//! `consistent-hash` pool falls back to round robin.

mod balance;
mod body;
mod conn;
mod dns;
mod hash;
mod origin;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http::uri::Authority;
use http::{Request, Response};
use rustls::pki_types::ServerName;

use crate::tls::UpstreamTls;

pub(crate) use body::UpstreamBody;
pub use body::{DownstreamBodyError, ResponseBody};
pub use conn::ConnPool;
use conn::{ConnectError, SendError, TlsTarget};
pub(crate) use conn::{Connection, connect_tcp};
pub use dns::{TargetError, TargetResolver};
pub use hash::{HashKey, KeyHash};
pub use origin::{OriginClient, OriginSettings};

/// How long a backend that refused a connection is skipped.
const DOWN_FOR: Duration = Duration::from_secs(5);

/// Load-balancing policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balance {
    /// Smooth weighted round robin.
    RoundRobin,
    /// Weighted random.
    Random,
    /// Fewest requests in flight per weight; ties broken at random by weight.
    LeastRequests,
    /// Power of two random choices: two backends drawn by weight, the less loaded one wins.
    P2c,
    /// Weighted Maglev consistent hashing on the pool's `hash_key`.
    ConsistentHash,
}

/// Settings for one pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSettings {
    /// Pool name.
    pub name: Arc<str>,
    /// Backends and their weights.
    pub backends: Vec<BackendAddr>,
    /// Policy.
    pub balance: Balance,
    /// Where `consistent-hash` takes each request's key from (only with that policy).
    pub hash_key: Option<HashKey>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Response-head timeout.
    pub response_timeout: Duration,
    /// Idle connection timeout.
    pub idle_timeout: Duration,
    /// Idle connections per backend.
    pub max_idle_per_backend: usize,
    /// TLS towards `https://` backends (present when the pool has one).
    pub tls: Option<UpstreamTls>,
}

/// Where a backend is and how much traffic it takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendAddr {
    /// `host:port`.
    pub authority: Authority,
    /// Whether weir speaks TLS to it (`https://`).
    pub https: bool,
    /// Relative weight (at least 1).
    pub weight: u32,
}

/// One backend.
#[derive(Debug)]
pub struct Backend {
    /// `host:port`.
    pub authority: Authority,
    /// `http` or `https`.
    pub scheme: &'static str,
    weight: u32,
    in_flight: AtomicUsize,
    /// Milliseconds since the pool's start until which the backend is skipped.
    down_until_ms: AtomicU64,
    /// Its connections.
    conns: Arc<ConnPool>,
    /// TLS towards it, for `https://` backends.
    tls: Option<TlsTarget>,
}

impl Backend {
    /// Its connection pool (open and idle connections).
    pub fn connections(&self) -> &ConnPool {
        &self.conns
    }
}

/// A pool of backends, each with its own connection pool.
pub struct BackendPool {
    settings: PoolSettings,
    backends: Vec<Backend>,
    schedule: Vec<usize>,
    next: AtomicUsize,
    /// The consistent-hash table, built when the first keyed request comes (at once for a
    /// `consistent-hash` pool).
    maglev: OnceLock<balance::Maglev>,
    resolver: TargetResolver,
    started: Instant,
}

impl std::fmt::Debug for BackendPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendPool")
            .field("name", &self.settings.name)
            .field("backends", &self.backends)
            .finish_non_exhaustive()
    }
}

/// Why the upstream exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be made. Nothing was sent: safe to retry anywhere.
    #[error("cannot connect to upstream {backend}: {reason}")]
    Connect {
        /// Backend.
        backend: String,
        /// Cause.
        reason: String,
    },
    /// The response head did not arrive in time.
    #[error("upstream {backend} did not answer within {after:?}")]
    Timeout {
        /// Backend.
        backend: String,
        /// The timeout.
        after: Duration,
    },
    /// The TLS handshake with the upstream failed (e.g. its certificate was not trusted).
    #[error("TLS with upstream {backend} failed: {reason}")]
    Tls {
        /// Backend.
        backend: String,
        /// Cause, e.g. "invalid peer certificate: UnknownIssuer".
        reason: String,
    },
    /// The forward proxy's target cannot be reached: unresolvable, or refused by the policy.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The connection broke or the upstream spoke invalid HTTP.
    #[error("upstream {backend} failed: {reason}")]
    Failed {
        /// Backend.
        backend: String,
        /// Cause.
        reason: String,
    },
    /// The downstream request body broke while it was streamed upstream (the client's fault;
    /// the upstream connection is closed, never reused).
    #[error("the request body from the client failed: {reason}")]
    DownstreamBody {
        /// Cause, e.g. "invalid chunk size".
        reason: String,
    },
}

impl UpstreamError {
    /// Whether nothing of the request reached an upstream, so another backend may be tried
    /// whatever the method and body.
    pub fn is_retry_safe(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. } | Self::Tls { .. } | Self::Target(_)
        )
    }
}

impl BackendPool {
    /// Creates the pool and one connection pool per backend. Needs a tokio runtime.
    pub fn new(settings: PoolSettings) -> Self {
        let tls_config = settings.tls.as_ref().map(alpn_config);
        let backends: Vec<Backend> = settings
            .backends
            .iter()
            .map(|b| Backend {
                authority: b.authority.clone(),
                scheme: if b.https { "https" } else { "http" },
                weight: b.weight,
                in_flight: AtomicUsize::new(0),
                down_until_ms: AtomicU64::new(0),
                conns: ConnPool::new(settings.max_idle_per_backend, settings.idle_timeout),
                tls: match (&tls_config, b.https) {
                    (Some(config), true) => tls_target(
                        config,
                        settings.tls.as_ref().and_then(|t| t.server_name.as_deref()),
                        &b.authority,
                    ),
                    _ => None,
                },
            })
            .collect();
        let weights: Vec<u32> = backends.iter().map(|b| b.weight).collect();
        let pool = Self {
            schedule: balance::smooth_schedule(&weights),
            backends,
            next: AtomicUsize::new(0),
            maglev: OnceLock::new(),
            // Backend names resolve through the same cached resolver as the forward proxy; a
            // pool's backends are the operator's own, so every range is allowed.
            resolver: TargetResolver::new(true),
            started: Instant::now(),
            settings,
        };
        if pool.settings.balance == Balance::ConsistentHash {
            pool.maglev();
        }
        pool
    }

    /// The hash key of a request to this pool: the filter's affinity key if it gave one, else
    /// the pool's `hash_key` read from the request head (`None` if absent or unset).
    pub fn key_of(
        &self,
        affinity_key: Option<&str>,
        headers: &http::HeaderMap,
        client: std::net::SocketAddr,
    ) -> Option<KeyHash> {
        match (affinity_key, &self.settings.hash_key) {
            (Some(key), _) => Some(KeyHash::of(key.as_bytes())),
            (None, Some(source)) => {
                let key = source.of_request(headers, client);
                if key.is_none() {
                    tracing::debug!(pool = %self.settings.name, hash_key = %source, "request has no hash key; round robin");
                }
                key
            }
            (None, None) => None,
        }
    }

    /// The settings the pool was built with.
    pub fn settings(&self) -> &PoolSettings {
        &self.settings
    }

    /// Pool name.
    pub fn name(&self) -> &Arc<str> {
        &self.settings.name
    }

    /// The backends.
    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    /// Chooses a backend, skipping ones marked down unless all are, and never `exclude`. A
    /// request with a `key` goes by the consistent-hash table whatever the policy; one without
    /// follows the policy (round robin for `consistent-hash`).
    pub fn select(&self, key: Option<KeyHash>, exclude: Option<usize>) -> usize {
        let now = self.now_ms();
        let eligible = |i: usize| Some(i) != exclude;
        // Backends marked down are skipped, unless every eligible backend is down.
        let skip_down = (0..self.backends.len()).any(|i| eligible(i) && self.is_up(i, now));
        let candidate = |i: usize| eligible(i) && (!skip_down || self.is_up(i, now));
        let first = (0..self.backends.len())
            .find(|&i| candidate(i))
            .unwrap_or(0);
        self.choose(key, candidate).unwrap_or(first)
    }

    /// The policy's choice among the backends for which `usable` holds.
    fn choose(&self, key: Option<KeyHash>, usable: impl Fn(usize) -> bool) -> Option<usize> {
        let n = self.backends.len();
        let weight = |i: usize| self.backends[i].weight;
        let in_flight = |i: usize| self.backends[i].in_flight.load(Ordering::Relaxed);
        if let Some(key) = key {
            return self.maglev().pick(key, usable);
        }
        match self.settings.balance {
            Balance::RoundRobin | Balance::ConsistentHash => {
                balance::round_robin(&self.schedule, &self.next, usable)
            }
            Balance::Random => balance::weighted_random(n, weight, usable, None),
            Balance::LeastRequests => balance::least_requests(n, weight, in_flight, usable),
            Balance::P2c => balance::p2c(n, weight, in_flight, usable),
        }
    }

    fn maglev(&self) -> &balance::Maglev {
        self.maglev.get_or_init(|| {
            let backends: Vec<(&str, u32)> = self
                .backends
                .iter()
                .map(|b| (b.authority.as_str(), b.weight))
                .collect();
            balance::Maglev::new(&backends)
        })
    }

    /// Chooses a backend and returns an open connection to it. A backend that cannot be
    /// reached is marked down and one other backend is tried: nothing was sent, so this is
    /// safe for every request.
    pub(crate) async fn connect(
        &self,
        key: Option<KeyHash>,
    ) -> Result<(usize, Connection), UpstreamError> {
        let first = self.select(key, None);
        match self.connect_to(first).await {
            Ok(conn) => Ok((first, conn)),
            Err(e) if e.is_retry_safe() && self.backends.len() > 1 => {
                let second = self.select(key, Some(first));
                let conn = self.connect_to(second).await?;
                Ok((second, conn))
            }
            Err(e) => Err(e),
        }
    }

    /// An open connection to backend `index`: a pooled one, else a new one.
    pub(crate) async fn connect_to(&self, index: usize) -> Result<Connection, UpstreamError> {
        let backend = &self.backends[index];
        match backend.conns.checkout() {
            Some(conn) => Ok(conn),
            // Boxed: connecting (TCP, TLS, handshake) is a large future that keep-alive makes
            // rare, and the request future that embeds it is held per downstream connection.
            None => Box::pin(self.connect_new(index)).await,
        }
    }

    async fn connect_new(&self, index: usize) -> Result<Connection, UpstreamError> {
        let backend = &self.backends[index];
        let name = || backend.authority.to_string();
        if backend.scheme == "https" && backend.tls.is_none() {
            return Err(UpstreamError::Tls {
                backend: name(),
                reason: "no TLS client configuration for this pool".into(),
            });
        }
        let port = port_of(&backend.authority, backend.scheme == "https");
        // A name that does not resolve is as unreachable as a refused connection.
        let connected = match self.resolver.resolve(backend.authority.host(), port).await {
            Ok(addrs) => {
                let timeout = self.settings.connect_timeout;
                backend
                    .conns
                    .connect(&addrs, backend.tls.as_ref(), timeout)
                    .await
            }
            Err(e) => Err(ConnectError::Tcp(e.to_string())),
        };
        connected.map_err(|e| {
            let error = connect_error(name(), e);
            // A refused certificate is not cured by skipping the backend: only unreachable
            // backends are marked down.
            if matches!(error, UpstreamError::Connect { .. }) {
                backend.down_until_ms.store(
                    self.now_ms() + DOWN_FOR.as_millis() as u64,
                    Ordering::Relaxed,
                );
                tracing::warn!(upstream.addr = %backend.authority, pool = %self.settings.name, "upstream refused a connection; skipped for 5s");
            }
            error
        })
    }

    /// Sends `request` (origin-form URI, `Host` set) to backend `index` on `conn` and waits for
    /// the response head, at most the pool's response timeout. If a pooled connection turns
    /// out closed before the request was written, the request goes on a new connection.
    pub(crate) async fn send(
        &self,
        index: usize,
        conn: Connection,
        request: Request<UpstreamBody>,
    ) -> Result<Response<ResponseBody>, UpstreamError> {
        let backend = &self.backends[index];
        backend.in_flight.fetch_add(1, Ordering::Relaxed);
        let _guard = InFlight(&backend.in_flight);
        send(
            conn,
            request,
            self.settings.response_timeout,
            &backend.authority,
            async || self.connect_new(index).await,
        )
        .await
    }

    fn is_up(&self, index: usize, now_ms: u64) -> bool {
        self.backends[index].down_until_ms.load(Ordering::Relaxed) <= now_ms
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Sends `request` on `conn` within `timeout`; a request that a closed pooled connection gave
/// back unsent is sent once more on the connection `reconnect` opens.
pub(crate) async fn send(
    conn: Connection,
    request: Request<UpstreamBody>,
    timeout: Duration,
    name: &Authority,
    reconnect: impl AsyncFnOnce() -> Result<Connection, UpstreamError>,
) -> Result<Response<ResponseBody>, UpstreamError> {
    let exchange = async {
        let reused = conn.reused;
        let mut request = request;
        fit_to(&conn, &mut request, name);
        match conn.send(request).await {
            Ok(response) => Ok(response),
            Err(SendError::NotSent(request, _)) if reused => {
                tracing::debug!(upstream.addr = %name, "pooled connection was closed; sending on a new one");
                let conn = Box::pin(reconnect()).await?;
                let mut request = *request;
                fit_to(&conn, &mut request, name);
                conn.send(request).await.map_err(|e| send_error(name, e))
            }
            Err(e) => Err(send_error(name, e)),
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(UpstreamError::Timeout {
            backend: name.to_string(),
            after: timeout,
        }),
    }
}

/// HTTP/2 carries the target as `:scheme`, `:authority` and `:path`: an origin-form request
/// becomes absolute there, its `Host` moving into `:authority` (RFC 9113 §8.3.1).
fn fit_to(conn: &Connection, request: &mut Request<UpstreamBody>, name: &Authority) {
    if !conn.is_h2() || request.uri().scheme().is_some() {
        return;
    }
    let authority = request
        .headers_mut()
        .remove(http::header::HOST)
        .and_then(|host| Authority::try_from(host.as_bytes()).ok())
        .unwrap_or_else(|| name.clone());
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(http::uri::Scheme::HTTPS);
    parts.authority = Some(authority);
    parts.path_and_query = request.uri().path_and_query().cloned();
    if let Ok(uri) = http::Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    *request.version_mut() = http::Version::HTTP_2;
}

fn send_error(name: &Authority, error: SendError) -> UpstreamError {
    let error = match error {
        SendError::NotSent(_, e) | SendError::Failed(e) => e,
    };
    match find_source::<DownstreamBodyError>(&error) {
        Some(body) => UpstreamError::DownstreamBody {
            reason: error_chain(&body.0),
        },
        None => UpstreamError::Failed {
            backend: name.to_string(),
            reason: error_chain(&error),
        },
    }
}

fn connect_error(backend: String, error: ConnectError) -> UpstreamError {
    match error {
        ConnectError::Tls(reason) => UpstreamError::Tls { backend, reason },
        ConnectError::Tcp(reason) | ConnectError::Handshake(reason) => {
            UpstreamError::Connect { backend, reason }
        }
    }
}

/// The first error of type `E` in `error`'s source chain.
fn find_source<'e, E: std::error::Error + 'static>(
    error: &'e (dyn std::error::Error + 'static),
) -> Option<&'e E> {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        source = e.source();
    }
    None
}

/// The port of `authority`, or the scheme's default.
fn port_of(authority: &Authority, https: bool) -> u16 {
    authority.port_u16().unwrap_or(if https { 443 } else { 80 })
}

/// A client configuration offering HTTP/2 and HTTP/1.1 by ALPN.
fn alpn_config(tls: &UpstreamTls) -> Arc<rustls::ClientConfig> {
    let mut config = tls.config.clone();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// The TLS target of one backend: the pool's SNI override, else the backend's host.
fn tls_target(
    config: &Arc<rustls::ClientConfig>,
    server_name: Option<&str>,
    authority: &Authority,
) -> Option<TlsTarget> {
    let host = server_name.unwrap_or_else(|| authority.host());
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match ServerName::try_from(host.to_owned()) {
        Ok(server_name) => Some(TlsTarget {
            config: config.clone(),
            server_name,
        }),
        Err(e) => {
            tracing::warn!(upstream.addr = %authority, error = %e, "not a TLS server name; backend unreachable");
            None
        }
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An error and its sources, joined with `: `.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
