//! Active health checks: a task per pool that sends a probe request to each backend every
//! `interval` and records whether its status was in `expect` (see `health` for what the
//! verdicts do to traffic).
//!
//! Each probe opens its own connection, over the backend's own protocol and TLS (the code path
//! of requests: resolver, TCP, TLS with ALPN, HTTP/1.1 or HTTP/2 handshake), in a connection
//! pool of its own that is dropped with the probe. So a probe never takes a request's slot or
//! idle connection, never leaves a connection behind, and a backend whose listener is gone
//! fails its probe at once instead of answering on an old keep-alive connection. `timeout`
//! covers resolving, connecting and the response head; the body is not read.
//!
//! The task holds only a `Weak` reference to its pool: a pool replaced by a reload (or dropped
//! at shutdown) ends its checks, and the probes in flight are aborted. Probes of one pool's
//! backends are spread evenly over the interval from a random start, so a pool of many backends
//! (or many pools made by one reload) do not probe all at once.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use http::header::{HOST, HeaderValue, USER_AGENT};
use http::{Request, StatusCode};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::conn::{ConnPool, ConnectError, SendError};
use super::health::{self, Probed};
use super::{Backend, BackendPool, HealthCheck, TargetResolver, UpstreamBody, port_of};

/// Sent as `User-Agent`, so backends can tell probes from traffic in their logs.
const USER_AGENT_VALUE: &str = concat!("weir/", env!("CARGO_PKG_VERSION"), " health-check");

/// The shortest gap between two probes of one pool (many backends, short interval).
const MIN_STEP: Duration = Duration::from_millis(1);

/// Probes sent to one backend and how many failed, for the admin endpoint and metrics.
#[derive(Debug, Default)]
pub struct ProbeCounts {
    sent: AtomicU64,
    failed: AtomicU64,
}

impl ProbeCounts {
    /// Probes sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Probes that failed so far (bad status, timeout, connect or protocol error).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    fn count(&self, ok: bool) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Backend {
    /// Its active health checks' counts (zero when the pool has none).
    pub fn probes(&self) -> &ProbeCounts {
        &self.probes
    }
}

impl BackendPool {
    /// Starts the pool's active health checks, when it has `health_check` settings. Call once
    /// where a pool is created (not for a pool a reload carries over); later calls do nothing,
    /// so a pool never has two checkers. Needs a tokio runtime.
    pub fn start_checks(self: &Arc<Self>) {
        let Some(check) = self.settings.health_check.clone() else {
            return;
        };
        if self.backends.is_empty() || self.checks_started.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::debug!(
            pool = %self.settings.name,
            interval_ms = check.interval.as_millis() as u64,
            "health checks started"
        );
        tokio::spawn(run(
            Arc::downgrade(self),
            self.backends.len(),
            Arc::new(check),
        ));
    }
}

/// Why a probe failed.
#[derive(Debug)]
enum Failure {
    /// A status outside `expect`.
    Status(StatusCode),
    /// No response head within the timeout.
    Timeout(Duration),
    /// The name did not resolve, or TCP, TLS or the HTTP handshake failed.
    Connect(String),
    /// The connection broke or the backend spoke invalid HTTP.
    Failed(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(status) => write!(f, "status {}", status.as_u16()),
            Self::Timeout(after) => write!(f, "no response within {} ms", after.as_millis()),
            Self::Connect(reason) => write!(f, "cannot connect: {reason}"),
            Self::Failed(reason) => write!(f, "request failed: {reason}"),
        }
    }
}

/// The checker of one pool: every `interval / backends`, the next backend's probe starts.
async fn run(pool: Weak<BackendPool>, backends: usize, check: Arc<HealthCheck>) {
    let step = (check.interval / u32::try_from(backends).unwrap_or(u32::MAX)).max(MIN_STEP);
    // A random phase within one step, so that pools made together do not probe in lockstep.
    let phase = step.mul_f64((getrandom::u64().unwrap_or(0) % 1000) as f64 / 1000.0);
    let mut next = Instant::now() + phase;
    let mut probes = JoinSet::new();
    for turn in (0..backends).cycle() {
        tokio::time::sleep_until(next).await;
        // Reap finished probes; dropping the set when the pool is gone aborts the rest.
        while probes.try_join_next().is_some() {}
        let Some(pool) = pool.upgrade() else {
            return;
        };
        let target = Target {
            pool: pool.settings.name.clone(),
            backend: pool.backends[turn].clone(),
            resolver: pool.resolver.clone(),
            started: pool.started,
        };
        drop(pool);
        probes.spawn(probe_and_record(target, check.clone()));
        // After a stall (a suspended process), carry on from now rather than catching up.
        next = (next + step).max(Instant::now());
    }
}

/// What a probe needs of its pool, without keeping the pool alive.
struct Target {
    pool: Arc<str>,
    backend: Arc<Backend>,
    resolver: TargetResolver,
    /// The pool's clock for health states.
    started: std::time::Instant,
}

/// Probes one backend and records the result against its health, logging changes of state.
async fn probe_and_record(target: Target, check: Arc<HealthCheck>) {
    let Target {
        pool,
        backend,
        resolver,
        started,
    } = target;
    let result = probe(&backend, &resolver, &check).await;
    let ok = result.is_ok();
    backend.probes.count(ok);
    let health = backend.health();
    let now_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let ejected = matches!(
        health.state(now_ms),
        health::State::Ejected { .. } | health::State::Trial
    );
    let before = health.probed();
    let changed = health.record_probe(ok, check.healthy_threshold, check.unhealthy_threshold);
    match (&result, changed) {
        (Err(failure), Some(Probed::Unhealthy)) => tracing::warn!(
            pool = %pool,
            upstream.addr = %backend.authority,
            reason = %failure,
            failed_probes = check.unhealthy_threshold,
            "backend down: health check failed"
        ),
        // From unknown: the backend was taking traffic already, nothing changes for it.
        (Ok(status), Some(Probed::Healthy)) if before == Probed::Unknown => tracing::debug!(
            pool = %pool,
            upstream.addr = %backend.authority,
            http.status = status.as_u16(),
            "backend healthy: first health check passed"
        ),
        (Ok(status), Some(Probed::Healthy)) => tracing::info!(
            pool = %pool,
            upstream.addr = %backend.authority,
            http.status = status.as_u16(),
            good_probes = check.healthy_threshold,
            "backend up: health check passed"
        ),
        (Ok(status), None) if ejected => tracing::info!(
            pool = %pool,
            upstream.addr = %backend.authority,
            http.status = status.as_u16(),
            "backend back from ejection: health check passed"
        ),
        (Err(failure), _) => tracing::debug!(
            pool = %pool,
            upstream.addr = %backend.authority,
            reason = %failure,
            "health check failed"
        ),
        (Ok(_), _) => {}
    }
}

/// One probe: a fresh connection, the request, the response head, all within `timeout`.
async fn probe(
    backend: &Backend,
    resolver: &TargetResolver,
    check: &HealthCheck,
) -> Result<StatusCode, Failure> {
    let exchange = async {
        let https = backend.scheme == "https";
        let tls = backend.tls.as_ref();
        if https && tls.is_none() {
            return Err(Failure::Connect("no TLS client configuration".to_owned()));
        }
        let addrs = resolver
            .resolve(backend.authority.host(), port_of(&backend.authority, https))
            .await
            .map_err(|e| Failure::Connect(e.to_string()))?;
        // A pool of its own, keeping nothing idle: the connection closes when the probe ends.
        let conns = ConnPool::new(0, check.timeout, backend.conns.protocol());
        let conn = conns
            .connect(&addrs, tls, check.timeout)
            .await
            .map_err(|e| match e {
                ConnectError::Tcp(reason)
                | ConnectError::Tls(reason)
                | ConnectError::Handshake(reason) => Failure::Connect(reason),
            })?;
        let mut request = probe_request(backend, check);
        super::fit_to(&conn, &mut request, &backend.authority);
        let response = conn.send(request).await.map_err(|e| {
            let error = match e {
                SendError::NotSent(_, e) | SendError::Failed(e) => e,
            };
            Failure::Failed(super::error_chain(&error))
        })?;
        // The body is dropped unread: the connection is not reused.
        Ok(response.status())
    };
    let status = match tokio::time::timeout(check.timeout, exchange).await {
        Ok(result) => result?,
        Err(_) => return Err(Failure::Timeout(check.timeout)),
    };
    let code = status.as_u16();
    if check
        .expect
        .iter()
        .any(|(low, high)| (*low..=*high).contains(&code))
    {
        Ok(status)
    } else {
        Err(Failure::Status(status))
    }
}

/// The probe request: origin-form, with `Host` (the configured one, else the backend's).
fn probe_request(backend: &Backend, check: &HealthCheck) -> Request<UpstreamBody> {
    let mut request = Request::new(UpstreamBody::replay(bytes::Bytes::new()));
    *request.method_mut() = check.method.clone();
    *request.uri_mut() = http::Uri::from(check.path.clone());
    let host = check
        .host
        .as_deref()
        .and_then(|h| HeaderValue::from_str(h).ok())
        .or_else(|| HeaderValue::from_str(backend.authority.as_str()).ok());
    if let Some(host) = host {
        request.headers_mut().insert(HOST, host);
    }
    request
        .headers_mut()
        .insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    request
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use weir_tests::{Behaviour, HealthSwitch, closed_port};

    use super::*;
    use crate::upstream::{BackendAddr, PoolSettings};

    fn check(expect: Vec<(u16, u16)>) -> HealthCheck {
        HealthCheck {
            method: http::Method::GET,
            path: http::uri::PathAndQuery::from_static("/healthz"),
            host: None,
            expect,
            interval: Duration::from_millis(500),
            timeout: Duration::from_millis(300),
            healthy_threshold: 1,
            unhealthy_threshold: 1,
        }
    }

    /// A pool of one backend at `addr`, with no checker running.
    fn pool_of(addr: SocketAddr) -> BackendPool {
        let backends = vec![BackendAddr {
            authority: addr.to_string().parse().unwrap(),
            https: false,
            weight: 1,
        }];
        BackendPool::new(PoolSettings {
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            max_idle_per_backend: 8,
            body_idle_timeout: None,
            upgrade_idle_timeout: Duration::from_secs(1),
            ..PoolSettings::new("p", backends)
        })
    }

    async fn probe_of(addr: SocketAddr, check: &HealthCheck) -> Result<StatusCode, Failure> {
        let pool = pool_of(addr);
        probe(&pool.backends[0], &pool.resolver, check).await
    }

    #[tokio::test]
    async fn a_probe_passes_only_on_an_expected_status() {
        let switch = HealthSwitch::new("/healthz");
        let backend = weir_tests::Backend::start_with("b", Behaviour::Health(switch.clone())).await;
        let pool = pool_of(backend.addr());
        let backend_of_pool = &pool.backends[0];
        switch.set(204);
        let ok = probe(backend_of_pool, &pool.resolver, &check(vec![(200, 299)])).await;
        assert_eq!(ok.unwrap(), StatusCode::NO_CONTENT);
        switch.set(503);
        let expect = check(vec![(200, 299), (404, 404)]);
        let failed = probe(backend_of_pool, &pool.resolver, &expect).await;
        assert!(
            matches!(failed, Err(Failure::Status(s)) if s == 503),
            "{failed:?}"
        );
        let seen = backend.last();
        assert_eq!(seen.path, "/healthz");
        assert_eq!(seen.header("host"), backend.addr().to_string());
        assert_eq!(backend.connections(), 2, "each probe on a fresh connection");
        let conns = backend_of_pool.connections();
        assert_eq!(
            (conns.open_connections(), conns.idle_connections()),
            (0, 0),
            "probes leave nothing in the request pool"
        );
    }

    #[tokio::test]
    async fn a_closed_port_and_a_silent_backend_fail_the_probe_with_their_reason() {
        let closed = probe_of(closed_port().await, &check(vec![(200, 399)])).await;
        assert!(matches!(closed, Err(Failure::Connect(_))), "{closed:?}");
        // Accepted by the kernel, never answered.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let timed_out = probe_of(silent.local_addr().unwrap(), &check(vec![(200, 399)])).await;
        assert!(
            matches!(timed_out, Err(Failure::Timeout(_))),
            "{timed_out:?}"
        );
        assert_eq!(
            timed_out.unwrap_err().to_string(),
            "no response within 300 ms"
        );
    }
}
