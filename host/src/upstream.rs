//! Upstream pools and the forward proxy's origins: backends, load balancing, health (passive
//! and active), limits with a queue, retries with a budget, weir's own connection pools on
//! hyper's connection-level API, and the distinct errors the proxy maps to 4xx and 5xx.
//!
//! An upstream exchange is two steps. `BackendPool::connect` chooses a healthy backend, takes
//! one of its slots (waiting in the pool's queue when all are busy) and hands back an open
//! connection (a pooled one, or a new one); a backend that cannot be reached counts against its
//! health and another is tried, which is always safe because nothing was sent yet. Then `send`
//! writes the request on that connection and waits for the response head.
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
mod egress;
mod hash;
pub mod health;
mod limits;
mod origin;
mod probe;
mod report;
mod stream;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http::uri::Authority;
use http::{Request, Response};
use rustls::pki_types::ServerName;

use crate::tls::UpstreamTls;

pub(crate) use body::UpstreamBody;
pub use body::{BodyTimeout, BoxError, DownstreamBodyError, ResponseBody};
pub use conn::{ConnPool, UpstreamProtocol};
use conn::{ConnectError, SendError, TlsTarget};
pub(crate) use conn::{Connection, UpgradeSender, connect_tcp};
pub use dns::{TargetError, TargetResolver};
pub use egress::{EgressPolicy, IpNet, NetError, Ports, Refusal};
pub use hash::{HashKey, KeyHash};
pub use health::{Health, HealthCheck, PassiveHealth};
pub use limits::{Limits, Retries};
pub use origin::{ForwardedFor, OriginClient, OriginSettings};
pub use probe::ProbeCounts;
pub use report::sample_pools;

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
    /// Passive health: ejection on failures.
    pub passive: PassiveHealth,
    /// Active health checks, when configured.
    pub health_check: Option<HealthCheck>,
    /// Connection limits and the queue.
    pub limits: Limits,
    /// Retries and their budget.
    pub retries: Retries,
    /// Longest gap between body bytes, both directions (none: no limit).
    pub body_idle_timeout: Option<Duration>,
    /// Longest time for a whole request, from the queue to the response body's end (none: no
    /// limit).
    pub request_timeout: Option<Duration>,
    /// HTTP version spoken to the backends.
    pub protocol: UpstreamProtocol,
    /// An upgraded connection (WebSocket) with no bytes either way for this long is closed.
    pub upgrade_idle_timeout: Duration,
}

impl PoolSettings {
    /// A pool of `backends` with every other setting at the config's default (a config test
    /// keeps the two equal).
    pub fn new(name: &str, backends: Vec<BackendAddr>) -> Self {
        Self {
            name: Arc::from(name),
            backends,
            balance: Balance::RoundRobin,
            hash_key: None,
            connect_timeout: Duration::from_secs(3),
            response_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(90),
            max_idle_per_backend: 64,
            tls: None,
            passive: PassiveHealth::default(),
            health_check: None,
            limits: Limits::default(),
            retries: Retries::default(),
            body_idle_timeout: Some(Duration::from_secs(60)),
            request_timeout: None,
            protocol: UpstreamProtocol::default(),
            upgrade_idle_timeout: Duration::from_secs(300),
        }
    }
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
    /// Passive and active health.
    health: Health,
    /// Request slots: connections (HTTP/1.1) and streams (HTTP/2).
    slots: limits::Slots,
    /// Its connections.
    conns: Arc<ConnPool>,
    /// TLS towards it, for `https://` backends.
    tls: Option<TlsTarget>,
    /// Active health checks sent to it.
    probes: ProbeCounts,
}

impl Backend {
    /// Its connection pool (open and idle connections).
    pub fn connections(&self) -> &ConnPool {
        &self.conns
    }

    /// Its health.
    pub fn health(&self) -> &Health {
        &self.health
    }
}

/// A pool of backends, each with its own connection pool.
pub struct BackendPool {
    settings: PoolSettings,
    backends: Vec<Arc<Backend>>,
    queue: limits::Queue,
    budget: limits::RetryBudget,
    schedule: Vec<usize>,
    next: AtomicUsize,
    /// The consistent-hash table, built on the first request with a key.
    maglev: OnceLock<balance::Maglev>,
    resolver: TargetResolver,
    started: Instant,
    /// Whether `start_checks` ran: a pool has one checker at most.
    checks_started: AtomicBool,
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
    /// The request body went past the route's limit while it streamed (the upstream
    /// connection is closed, never reused).
    #[error("the request body is larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: u64,
    },
    /// No backend of the pool may receive traffic: every one is ejected or down.
    #[error("no usable backend in pool {pool}: every backend is ejected or down")]
    NoBackend {
        /// Pool.
        pool: Arc<str>,
        /// When the first ejection ends.
        retry_after: Duration,
    },
    /// Every slot of the chosen backend was taken and the queue was full.
    #[error("pool {pool} is saturated: its queue is full")]
    QueueFull {
        /// Pool.
        pool: Arc<str>,
    },
    /// The request waited in the queue for longer than the pool allows.
    #[error("pool {pool} is saturated: no connection freed up within {after:?}")]
    QueueTimeout {
        /// Pool.
        pool: Arc<str>,
        /// The queue timeout.
        after: Duration,
    },
    /// The request's total time (`request_timeout_ms`) ran out before the response head.
    #[error("the request did not complete within {after:?}")]
    TotalTimeout {
        /// The total timeout.
        after: Duration,
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

    /// How long a client should wait before trying again, for the refusals that know it.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::NoBackend { retry_after, .. } => Some(*retry_after),
            Self::QueueFull { .. } | Self::QueueTimeout { .. } => Some(Duration::from_secs(1)),
            _ => None,
        }
    }
}

impl BackendPool {
    /// Creates the pool and one connection pool per backend. Needs a tokio runtime.
    pub fn new(settings: PoolSettings) -> Self {
        let tls_config = settings
            .tls
            .as_ref()
            .map(|tls| alpn_config(tls, settings.protocol));
        let backends: Vec<Arc<Backend>> = settings
            .backends
            .iter()
            .map(|b| {
                Arc::new(Backend {
                    authority: b.authority.clone(),
                    scheme: if b.https { "https" } else { "http" },
                    weight: b.weight,
                    in_flight: AtomicUsize::new(0),
                    health: Health::default(),
                    slots: limits::Slots::new(&settings.limits),
                    conns: ConnPool::new(
                        settings.max_idle_per_backend,
                        settings.idle_timeout,
                        settings.protocol,
                    ),
                    tls: match (&tls_config, b.https) {
                        (Some(config), true) => tls_target(
                            config,
                            settings.tls.as_ref().and_then(|t| t.server_name.as_deref()),
                            &b.authority,
                        ),
                        _ => None,
                    },
                    probes: ProbeCounts::default(),
                })
            })
            .collect();
        let weights: Vec<u32> = backends.iter().map(|b| b.weight).collect();
        let pool = Self {
            schedule: balance::smooth_schedule(&weights),
            backends,
            queue: limits::Queue::new(&settings.limits),
            budget: limits::RetryBudget::new(&settings.retries),
            next: AtomicUsize::new(0),
            // Backend names resolve through the same cached resolver as the forward proxy; a
            // pool's backends are the operator's own, so every range is allowed.
            resolver: TargetResolver::new(true),
            started: Instant::now(),
            checks_started: AtomicBool::new(false),
            maglev: OnceLock::new(),
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
    pub fn backends(&self) -> &[Arc<Backend>] {
        &self.backends
    }

    /// Requests waiting in the queue now.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Requests refused because the queue was full, and requests that waited too long.
    pub fn queue_refusals(&self) -> (u64, u64) {
        self.queue.refusals()
    }

    /// Retries made, and retries the budget refused.
    pub fn retry_totals(&self) -> (u64, u64) {
        self.budget.totals()
    }

    /// Milliseconds since the pool was created: the clock of its backends' health.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The policy's choice among the backends for which `usable` holds.
    pub(crate) fn select(
        &self,
        key: Option<KeyHash>,
        usable: impl Fn(usize) -> bool,
    ) -> Option<usize> {
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

    /// Chooses a healthy backend not tried yet and claims it: without a key, one with a free
    /// slot if there is one. `None` when no backend may be chosen.
    fn choose(&self, key: Option<KeyHash>, tried: &Tried, now_ms: u64) -> Option<(usize, bool)> {
        let mut refused = Tried::default();
        // Each pass either claims a backend or rules one out.
        for _ in 0..=self.backends.len() {
            let usable = |i: usize| {
                !tried.contains(i)
                    && !refused.contains(i)
                    && self.backends[i].health.selectable(now_ms)
            };
            let free = |i: usize| {
                usable(i) && {
                    let backend = &self.backends[i];
                    backend.slots.has_free(backend.conns.has_h2())
                }
            };
            // A key keeps its backend even when that one is busy: affinity beats waiting.
            let index = match key {
                Some(_) => self.select(key, usable)?,
                None => match self.select(None, free) {
                    Some(i) => i,
                    None => self.select(None, usable)?,
                },
            };
            match self.backends[index].health.claim(now_ms) {
                Some(trial) => return Some((index, trial)),
                None => refused.insert(index),
            }
        }
        None
    }

    /// A healthy backend by the pool's policy (or the key's hash), without claiming a slot (a
    /// tunnel holds none): the pool's choice, or why there is none.
    pub fn pick(&self, key: Option<KeyHash>) -> Result<usize, UpstreamError> {
        let now = self.now_ms();
        self.select(key, |i| self.backends[i].health.selectable(now))
            .ok_or_else(|| self.no_backend(now))
    }

    /// Counts a request against the retry budget's window. Call once per request.
    pub(crate) fn count_request(&self) {
        self.budget.count_request();
    }

    /// Phase **connect** for a pool: chooses a healthy backend not in `tried`, waits for one of
    /// its slots (in the queue, when all are taken) and returns an open connection to it. A
    /// backend that cannot be reached counts against its health and another is tried, within
    /// the pool's retries and budget: nothing was sent, so this is safe for every request.
    /// With `retry`, the request was sent before and failed: its next backend takes a token
    /// from the budget too, and an empty budget answers as if no backend were left. With
    /// `egress` (a forward listener's policy), every connection, new or pooled, is to an
    /// address the policy allows.
    pub(crate) async fn connect(
        &self,
        key: Option<KeyHash>,
        tried: &mut Tried,
        retry: bool,
        egress: Option<&EgressPolicy>,
    ) -> Result<Attempt, UpstreamError> {
        let connecting = Connecting {
            upgrade: false,
            retry,
            egress,
        };
        match self.connect_with(key, tried, connecting).await? {
            (index, Opened::Pooled(conn), lease) => Ok(Attempt { index, conn, lease }),
            (index, Opened::Upgrade(_), _) => Err(self.mismatch(index)),
        }
    }

    /// Phase **connect** for an upgrade (WebSocket): like [`connect`](Self::connect), but on a
    /// new dedicated HTTP/1.1 connection. The lease holds the backend's connection slot for as
    /// long as the upgraded connection lives.
    pub(crate) async fn connect_for_upgrade(
        &self,
        key: Option<KeyHash>,
        egress: Option<&EgressPolicy>,
    ) -> Result<(usize, UpgradeSender, Lease), UpstreamError> {
        let mut tried = Tried::default();
        let connecting = Connecting {
            upgrade: true,
            retry: false,
            egress,
        };
        match self.connect_with(key, &mut tried, connecting).await? {
            (index, Opened::Upgrade(sender), lease) => Ok((index, sender, lease)),
            (index, Opened::Pooled(_), _) => Err(self.mismatch(index)),
        }
    }

    /// `connect_with` opened the other kind of connection than asked (it never does).
    fn mismatch(&self, index: usize) -> UpstreamError {
        UpstreamError::Failed {
            backend: self.backends[index].authority.to_string(),
            reason: "internal: the wrong kind of connection was opened".into(),
        }
    }

    /// Chooses, waits for a slot and opens a connection (a dedicated one for an upgrade),
    /// trying other backends after connect errors.
    async fn connect_with(
        &self,
        key: Option<KeyHash>,
        tried: &mut Tried,
        connecting: Connecting<'_>,
    ) -> Result<(usize, Opened, Lease), UpstreamError> {
        let Connecting {
            upgrade,
            retry,
            egress,
        } = connecting;
        let mut last_error = None;
        let mut retrying = retry;
        loop {
            let now = self.now_ms();
            // A retry takes its token only when there is a backend left to retry on.
            if std::mem::take(&mut retrying) {
                let any_left = (0..self.backends.len())
                    .any(|i| !tried.contains(i) && self.backends[i].health.selectable(now));
                if !any_left || !self.budget.try_retry() {
                    return Err(last_error.unwrap_or_else(|| self.no_backend(now)));
                }
            }
            let Some((index, trial)) = self.choose(key, tried, now) else {
                return Err(last_error.unwrap_or_else(|| self.no_backend(now)));
            };
            tried.insert(index);
            let backend = &self.backends[index];
            let claim = Claim {
                backend: backend.clone(),
                trial,
            };
            let permit = match backend
                .slots
                .acquire(backend.conns.has_h2(), &self.queue)
                .await
            {
                Ok(permit) => permit,
                Err(limits::Refused::QueueFull) => {
                    return Err(UpstreamError::QueueFull {
                        pool: self.settings.name.clone(),
                    });
                }
                Err(limits::Refused::QueueTimeout) => {
                    self.queue.count_timeout();
                    return Err(UpstreamError::QueueTimeout {
                        pool: self.settings.name.clone(),
                        after: self.queue.timeout,
                    });
                }
            };
            let lease = Lease::new(claim, permit);
            let opened = if upgrade {
                self.connect_upgrade(index, egress)
                    .await
                    .map(Opened::Upgrade)
            } else {
                self.connect_to(index, egress).await.map(Opened::Pooled)
            };
            match opened {
                Ok(opened) => return Ok((index, opened, lease)),
                Err(e) => {
                    if matches!(e, UpstreamError::Connect { .. }) {
                        self.record(index, health::Outcome::ConnectError);
                    }
                    drop(lease);
                    let retries_left = tried.len() <= self.settings.retries.max_retries as usize;
                    if !e.is_retry_safe() || !retries_left {
                        return Err(e);
                    }
                    tracing::debug!(pool = %self.settings.name, error = %e, "connect failed; trying another backend if the budget allows");
                    retrying = true;
                    last_error = Some(e);
                }
            }
        }
    }

    /// The refusal for a pool with no usable backend, saying when the first ejection ends.
    fn no_backend(&self, now_ms: u64) -> UpstreamError {
        let retry_after = self
            .backends
            .iter()
            .filter_map(|b| match b.health.state(now_ms) {
                health::State::Ejected { until_ms, .. } => Some(until_ms.saturating_sub(now_ms)),
                _ => None,
            })
            .min()
            .map_or(Duration::from_secs(1), Duration::from_millis);
        UpstreamError::NoBackend {
            pool: self.settings.name.clone(),
            retry_after,
        }
    }

    /// An open connection to backend `index`: a pooled one, else a new one. With `egress`, a
    /// pooled connection is used only if its address is allowed (a pool may serve reverse and
    /// forward listeners alike), and a new one connects only to allowed addresses.
    pub(crate) async fn connect_to(
        &self,
        index: usize,
        egress: Option<&EgressPolicy>,
    ) -> Result<Connection, UpstreamError> {
        let backend = &self.backends[index];
        match backend.conns.checkout() {
            Some(conn) => match egress.map(|policy| policy.judge(conn.peer().ip())) {
                Some(Err(why)) => Err(TargetError::Refused {
                    host: backend.authority.host().to_owned(),
                    addr: conn.peer().ip(),
                    why,
                }
                .into()),
                _ => Ok(conn),
            },
            // Boxed: connecting (TCP, TLS, handshake) is a large future that keep-alive makes
            // rare, and the request future that embeds it is held per downstream connection.
            None => Box::pin(self.connect_new(index, egress)).await,
        }
    }

    async fn connect_new(
        &self,
        index: usize,
        egress: Option<&EgressPolicy>,
    ) -> Result<Connection, UpstreamError> {
        let backend = &self.backends[index];
        let addrs = self.addresses(index, egress).await?;
        backend
            .conns
            .connect(&addrs, backend.tls.as_ref(), self.settings.connect_timeout)
            .await
            .map_err(|e| connect_error(backend.authority.to_string(), e))
    }

    /// A new dedicated HTTP/1.1 connection to backend `index` for one upgrade request (never
    /// pooled, whatever the pool's protocol).
    async fn connect_upgrade(
        &self,
        index: usize,
        egress: Option<&EgressPolicy>,
    ) -> Result<UpgradeSender, UpstreamError> {
        let backend = &self.backends[index];
        let addrs = self.addresses(index, egress).await?;
        backend
            .conns
            .connect_upgrade(&addrs, backend.tls.as_ref(), self.settings.connect_timeout)
            .await
            .map_err(|e| connect_error(backend.authority.to_string(), e))
    }

    /// The addresses of backend `index`, after checking that an `https://` backend has a TLS
    /// configuration. A name that does not resolve is as unreachable as a refused connection.
    /// With `egress`, only the addresses it allows, from this one lookup (nothing resolves
    /// the name again before connecting); none allowed is the policy's refusal.
    async fn addresses(
        &self,
        index: usize,
        egress: Option<&EgressPolicy>,
    ) -> Result<Vec<std::net::SocketAddr>, UpstreamError> {
        let backend = &self.backends[index];
        let name = || backend.authority.to_string();
        if backend.scheme == "https" && backend.tls.is_none() {
            return Err(UpstreamError::Tls {
                backend: name(),
                reason: "no TLS client configuration for this pool".into(),
            });
        }
        let port = port_of(&backend.authority, backend.scheme == "https");
        let mut addrs = self
            .resolver
            .resolve(backend.authority.host(), port)
            .await
            .map_err(|e| connect_error(name(), ConnectError::Tcp(e.to_string())))?;
        let Some(policy) = egress else {
            return Ok(addrs);
        };
        let mut refused = None;
        addrs.retain(|addr| match policy.judge(addr.ip()) {
            Ok(()) => true,
            Err(why) => {
                refused.get_or_insert((addr.ip(), why));
                false
            }
        });
        match refused {
            Some((addr, why)) if addrs.is_empty() => Err(TargetError::Refused {
                host: backend.authority.host().to_owned(),
                addr,
                why,
            }
            .into()),
            _ => Ok(addrs),
        }
    }

    /// Phase **send** for a pool: writes `request` (origin-form URI, `Host` set) on the
    /// attempt's connection and waits for the response head, within the pool's response
    /// timeout and the request's `deadline`. The outcome counts towards the backend's health;
    /// the response body holds the backend's slot until it is done. If a pooled connection
    /// turns out closed before the request was written, the request goes on a new connection.
    pub(crate) async fn send(
        &self,
        attempt: Attempt,
        request: Request<UpstreamBody>,
        deadline: Option<tokio::time::Instant>,
        egress: Option<&EgressPolicy>,
    ) -> Result<Response<ResponseBody>, UpstreamError> {
        let Attempt {
            index,
            conn,
            mut lease,
        } = attempt;
        lease.on(conn.closing());
        let backend = &self.backends[index];
        let mut timeout = self.settings.response_timeout;
        if let Some(deadline) = deadline {
            timeout = timeout.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        }
        let result = send(conn, request, timeout, &backend.authority, async || {
            self.connect_new(index, egress).await
        })
        .await;
        let outcome = match &result {
            Ok(response) => response_outcome(response),
            Err(UpstreamError::Timeout { .. }) => Some(health::Outcome::Timeout),
            Err(UpstreamError::Failed { .. }) => Some(health::Outcome::Reset),
            Err(UpstreamError::Connect { .. }) => Some(health::Outcome::ConnectError),
            // The client's body or weir's own TLS settings: nothing said about the backend.
            Err(_) => None,
        };
        match outcome {
            Some(outcome) => self.record(index, outcome),
            None => backend.health.abandon_trial(),
        }
        let idle = self.settings.body_idle_timeout;
        result.map(|response| response.map(|body| body.timed(idle, deadline).holding(lease)))
    }

    /// Records an outcome against backend `index`'s health, within the pool's ejection cap.
    fn record(&self, index: usize, outcome: health::Outcome) {
        let now = self.now_ms();
        let passive = &self.settings.passive;
        let may_eject = || {
            let ejected = self
                .backends
                .iter()
                .filter(|b| b.health.is_ejected(now))
                .count();
            let cap = (self.backends.len() * passive.max_ejected_percent as usize / 100).max(1);
            ejected < cap
        };
        let backend = &self.backends[index];
        if let Some((length, reason)) = backend.health.record(outcome, passive, now, may_eject) {
            tracing::warn!(
                pool = %self.settings.name,
                upstream.addr = %backend.authority,
                reason = reason.as_str(),
                ejected_ms = length.as_millis() as u64,
                "backend ejected"
            );
        }
    }
}

/// What a response head says about its backend's health.
fn response_outcome(response: &Response<ResponseBody>) -> Option<health::Outcome> {
    let status = response.status();
    if (status == http::StatusCode::SERVICE_UNAVAILABLE
        || status == http::StatusCode::TOO_MANY_REQUESTS)
        && let Some(wait) = retry_after(response.headers())
    {
        return Some(health::Outcome::RetryAfter(wait));
    }
    Some(if status.is_server_error() {
        health::Outcome::ServerError
    } else {
        health::Outcome::Success
    })
}

/// A `Retry-After` given in seconds (an HTTP date is not followed: it needs clocks to agree).
pub(crate) fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A connection opened by `connect_with`.
enum Opened {
    Pooled(Connection),
    Upgrade(UpgradeSender),
}

/// What `connect_with` opens, and under which policy.
#[derive(Clone, Copy)]
struct Connecting<'a> {
    /// A dedicated HTTP/1.1 connection for an upgrade, rather than a pooled one.
    upgrade: bool,
    /// The request was sent before: the next backend takes a retry-budget token.
    retry: bool,
    /// A forward listener's egress policy, applied to every address connected.
    egress: Option<&'a EgressPolicy>,
}

/// Backends already tried for one request.
#[derive(Debug, Default)]
pub(crate) struct Tried {
    mask: u128,
    more: Vec<usize>,
}

impl Tried {
    fn contains(&self, index: usize) -> bool {
        match u32::try_from(index) {
            Ok(bit) if bit < 128 => self.mask & (1 << bit) != 0,
            _ => self.more.contains(&index),
        }
    }

    fn insert(&mut self, index: usize) {
        match u32::try_from(index) {
            Ok(bit) if bit < 128 => self.mask |= 1 << bit,
            _ => self.more.push(index),
        }
    }

    /// How many backends were tried.
    pub(crate) fn len(&self) -> usize {
        self.mask.count_ones() as usize + self.more.len()
    }
}

/// One attempt of a request: the backend chosen, its slot, and an open connection.
pub(crate) struct Attempt {
    /// The backend's index in its pool.
    pub(crate) index: usize,
    pub(crate) conn: Connection,
    lease: Lease,
}

/// A backend claimed for one request; a trial claim not settled by an outcome is given up.
struct Claim {
    backend: Arc<Backend>,
    trial: bool,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.trial {
            self.backend.health.abandon_trial();
        }
    }
}

/// A request's hold on a backend: its slot and its count of requests in flight, until the
/// response body is done.
pub(crate) struct Lease {
    claim: Claim,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// The HTTP/1.1 connection the request went on: if the request is abandoned, the slot
    /// stays with the connection until it has closed.
    connection: Option<Arc<conn::Closing>>,
    finished: bool,
}

impl Lease {
    fn new(claim: Claim, permit: tokio::sync::OwnedSemaphorePermit) -> Self {
        claim.backend.in_flight.fetch_add(1, Ordering::Relaxed);
        Self {
            claim,
            permit: Some(permit),
            connection: None,
            finished: false,
        }
    }

    /// The request goes on this connection.
    fn on(&mut self, connection: Option<Arc<conn::Closing>>) {
        self.connection = connection;
    }

    /// The request ended cleanly and its connection is idle: the slot is free at once.
    pub(crate) fn finished(&mut self) {
        self.finished = true;
    }
}

impl Lease {
    /// The backend's `host:port`, for logs.
    pub(crate) fn backend_name(&self) -> &str {
        self.claim.backend.authority.as_str()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.claim.backend.in_flight.fetch_sub(1, Ordering::Relaxed);
        if !self.finished
            && let (Some(connection), Some(permit)) = (&self.connection, self.permit.take())
        {
            connection.hold(permit);
        }
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("backend", &self.claim.backend.authority)
            .finish_non_exhaustive()
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
    parts.scheme = Some(conn.scheme());
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
        Some(DownstreamBodyError::TooLarge(limit)) => UpstreamError::BodyTooLarge { limit: *limit },
        Some(body) => UpstreamError::DownstreamBody {
            reason: error_chain(body),
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

/// A client configuration offering by ALPN what `protocol` allows.
fn alpn_config(tls: &UpstreamTls, protocol: UpstreamProtocol) -> Arc<rustls::ClientConfig> {
    let mut config = tls.config.clone();
    config.alpn_protocols = protocol.alpn();
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
