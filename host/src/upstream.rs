//! Upstream pools: backends, load balancing, passive health, keep-alive connection pools and the
//! distinct errors the proxy maps to 502 and 504.
//!
//! Balancing: `round-robin` follows a smooth weighted schedule (weights 5,1,1 give a,a,b,a,c,a,a
//! rather than a,a,a,a,a,b,c); `random` picks by weight; `least-requests` picks the backend with
//! the fewest requests in flight. A request with an affinity key (from a filter's
//! `select-backend`) uses rendezvous hashing instead, so a key keeps its backend while the pool
//! is unchanged and only the keys of a removed backend move.

mod balance;
mod connector;
mod dns;
mod origin;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::Authority;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

use crate::tls::UpstreamTls;

pub use dns::{TargetError, TargetResolver};
pub use origin::{OriginClient, OriginSettings};

/// Body type sent upstream.
pub(crate) type UpstreamBody = UnsyncBoxBody<Bytes, hyper::Error>;

/// How long a backend that refused a connection is skipped.
const DOWN_FOR: Duration = Duration::from_secs(5);

/// Load-balancing policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balance {
    /// Smooth weighted round robin.
    RoundRobin,
    /// Weighted random.
    Random,
    /// Fewest requests in flight.
    LeastRequests,
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
}

/// A pool of backends with its own connection pool.
pub struct BackendPool {
    settings: PoolSettings,
    backends: Vec<Backend>,
    schedule: Vec<usize>,
    next: AtomicUsize,
    client: Client<HttpsConnector<HttpConnector<TargetResolver>>, UpstreamBody>,
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
    /// No connection could be made.
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
}

impl BackendPool {
    /// Creates the pool and its connection pool. Needs a tokio runtime.
    pub fn new(settings: PoolSettings) -> Self {
        // Backend names resolve through the same cached resolver as the forward proxy; a pool's
        // backends are the operator's own, so every range is allowed.
        let mut http = HttpConnector::new_with_resolver(TargetResolver::new(true));
        http.set_connect_timeout(Some(settings.connect_timeout));
        let client = connector::client(
            http,
            settings.tls.as_ref(),
            settings.idle_timeout,
            settings.max_idle_per_backend,
        );
        let backends: Vec<Backend> = settings
            .backends
            .iter()
            .map(|b| Backend {
                authority: b.authority.clone(),
                scheme: if b.https { "https" } else { "http" },
                weight: b.weight,
                in_flight: AtomicUsize::new(0),
                down_until_ms: AtomicU64::new(0),
            })
            .collect();
        let weights: Vec<u32> = backends.iter().map(|b| b.weight).collect();
        Self {
            schedule: balance::smooth_schedule(&weights),
            backends,
            next: AtomicUsize::new(0),
            client,
            started: Instant::now(),
            settings,
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

    /// Chooses a backend, skipping ones marked down unless all are, and never `exclude`.
    pub(crate) fn select(&self, affinity_key: Option<&str>, exclude: Option<usize>) -> usize {
        let now = self.now_ms();
        let up = |i: usize| {
            Some(i) != exclude && self.backends[i].down_until_ms.load(Ordering::Relaxed) <= now
        };
        let candidates: Vec<usize> = (0..self.backends.len()).filter(|&i| up(i)).collect();
        let candidates = if candidates.is_empty() {
            (0..self.backends.len())
                .filter(|&i| Some(i) != exclude)
                .collect()
        } else {
            candidates
        };
        let Some(&first) = candidates.first() else {
            return 0;
        };
        if let Some(key) = affinity_key {
            return balance::rendezvous(key, &candidates, |i| {
                (self.backends[i].authority.as_str(), self.backends[i].weight)
            });
        }
        match self.settings.balance {
            Balance::RoundRobin => {
                // Walk the schedule until an eligible backend comes up.
                for _ in 0..self.schedule.len() {
                    let slot = self.next.fetch_add(1, Ordering::Relaxed) % self.schedule.len();
                    let i = self.schedule[slot];
                    if candidates.contains(&i) {
                        return i;
                    }
                }
                first
            }
            Balance::Random => balance::weighted_random(&candidates, |i| self.backends[i].weight),
            Balance::LeastRequests => candidates
                .iter()
                .copied()
                .min_by_key(|&i| self.backends[i].in_flight.load(Ordering::Relaxed))
                .unwrap_or(first),
        }
    }

    /// Sends a request to backend `index` (its URI must already point there).
    pub(crate) async fn send(
        &self,
        index: usize,
        request: http::Request<UpstreamBody>,
    ) -> Result<http::Response<Incoming>, UpstreamError> {
        let backend = &self.backends[index];
        let name = || backend.authority.to_string();
        backend.in_flight.fetch_add(1, Ordering::Relaxed);
        let _guard = InFlight(&backend.in_flight);
        let timeout = self.settings.response_timeout;
        match tokio::time::timeout(timeout, self.client.request(request)).await {
            Err(_) => Err(UpstreamError::Timeout {
                backend: name(),
                after: timeout,
            }),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) if e.is_connect() && connector::is_tls_failure(&e) => {
                // The backend answers but its certificate is refused: marking it down would not
                // help, and the reason matters more than a retry.
                Err(UpstreamError::Tls {
                    backend: name(),
                    reason: error_chain(&e),
                })
            }
            Ok(Err(e)) if e.is_connect() => {
                backend.down_until_ms.store(
                    self.now_ms() + DOWN_FOR.as_millis() as u64,
                    Ordering::Relaxed,
                );
                tracing::warn!(upstream.addr = %backend.authority, pool = %self.settings.name, "upstream refused a connection; skipped for 5s");
                Err(UpstreamError::Connect {
                    backend: name(),
                    reason: error_chain(&e),
                })
            }
            Ok(Err(e)) => Err(UpstreamError::Failed {
                backend: name(),
                reason: error_chain(&e),
            }),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
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
