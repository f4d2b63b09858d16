//! The health of one backend: passive ejection on the outcomes of real requests, the verdict of
//! active checks, and the back-off that decides when an ejected backend may be tried again.
//!
//! Passive health counts consecutive failures: connect errors (threshold
//! `eject_after_connect_errors`) and resets, timeouts and 5xx answers (threshold
//! `eject_after_failures`). Reaching a threshold ejects the backend for `eject_base_ms`, doubled
//! on each ejection that follows without a success in between, at most `eject_max_ms`. When
//! that time has passed the backend is *on trial*: exactly one request may go to it; its
//! success brings the backend back, its failure ejects it again for twice as long. A `503` or
//! `429` with `Retry-After` ejects a backend for the time it asks (capped), without counting
//! towards the back-off. The pool caps how many of its backends may be ejected at once.
//!
//! Active checks (module `probe`) mark a backend down after `unhealthy_threshold` failed probes
//! and up again after `healthy_threshold` good ones; a good probe also ends a passive ejection.
//! A backend that is down or ejected receives no request.
//!
//! Everything is a handful of atomics read on every request without a lock.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Passive-health settings of a pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassiveHealth {
    /// Consecutive connect errors that eject a backend (0: never).
    pub eject_after_connect_errors: u32,
    /// Consecutive resets, timeouts or 5xx answers that eject a backend (0: never).
    pub eject_after_failures: u32,
    /// First ejection's length; doubled for each one that follows without a success.
    pub eject_base: Duration,
    /// Longest ejection.
    pub eject_max: Duration,
    /// Largest share of the pool's backends ejected at once, in percent; one backend may always
    /// be ejected.
    pub max_ejected_percent: u32,
}

impl Default for PassiveHealth {
    fn default() -> Self {
        Self {
            eject_after_connect_errors: 1,
            eject_after_failures: 5,
            eject_base: Duration::from_secs(5),
            eject_max: Duration::from_secs(300),
            max_ejected_percent: 50,
        }
    }
}

/// Active health checks of a pool: a request sent to each backend every `interval`, over the
/// backend's own protocol and TLS, whose status must be in `expect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    /// Method of the probe request. Default: `GET`.
    pub method: http::Method,
    /// Path and query of the probe request.
    pub path: http::uri::PathAndQuery,
    /// `Host` of the probe request. Default: the backend's `host:port`.
    pub host: Option<String>,
    /// Statuses counted as healthy, as inclusive ranges. Default: 200–399.
    pub expect: Vec<(u16, u16)>,
    /// Time between probes of one backend.
    pub interval: std::time::Duration,
    /// Time allowed for a probe (connect and response head).
    pub timeout: std::time::Duration,
    /// Good probes in a row that bring a down backend back.
    pub healthy_threshold: u32,
    /// Failed probes in a row that mark a backend down.
    pub unhealthy_threshold: u32,
}

/// What happened to one request, as far as the backend's health is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A response head arrived with a status below 500.
    Success,
    /// No connection could be made (TCP, or the HTTP handshake).
    ConnectError,
    /// The connection broke before the response head arrived.
    Reset,
    /// The response head did not arrive in time.
    Timeout,
    /// The backend answered 5xx.
    ServerError,
    /// The backend asked not to be sent anything for this long (`Retry-After` on 503 / 429).
    RetryAfter(Duration),
}

/// Why a backend receives no traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Reason {
    /// Not ejected.
    None = 0,
    /// Consecutive connect errors.
    ConnectErrors = 1,
    /// Consecutive resets, timeouts or 5xx.
    Failures = 2,
    /// The backend's own `Retry-After`.
    RetryAfter = 3,
}

impl Reason {
    fn from_u8(value: u8) -> Self {
        match value {
            1 => Self::ConnectErrors,
            2 => Self::Failures,
            3 => Self::RetryAfter,
            _ => Self::None,
        }
    }

    /// The reason's name in the admin endpoint, metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ConnectErrors => "connect-errors",
            Self::Failures => "failures",
            Self::RetryAfter => "retry-after",
        }
    }
}

/// The verdict of active checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Probed {
    /// No check configured, or none finished yet: counted as healthy.
    Unknown = 0,
    /// Healthy by `healthy_threshold` good probes.
    Healthy = 1,
    /// Down by `unhealthy_threshold` failed probes.
    Unhealthy = 2,
}

impl Probed {
    /// The name in the admin endpoint and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }
}

/// A backend's health. Times are milliseconds since the pool's start.
#[derive(Debug, Default)]
pub struct Health {
    connect_errors: AtomicU32,
    failures: AtomicU32,
    ejected_until_ms: AtomicU64,
    /// Ejections in a row without a success in between: the back-off's exponent.
    ejections: AtomicU32,
    reason: AtomicU8,
    /// An ejected backend's trial request is in flight.
    trial: AtomicBool,
    probed: AtomicU8,
    probe_run: AtomicU32,
    /// Ejections so far (a counter for metrics).
    ejections_total: AtomicU64,
}

/// What a backend is now, for the admin endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Receives traffic.
    Healthy,
    /// Ejected by passive health until this time.
    Ejected {
        /// Milliseconds since the pool's start.
        until_ms: u64,
        /// Why.
        reason: Reason,
    },
    /// The ejection has passed; one trial request decides.
    Trial,
    /// Active checks failed.
    Down,
}

impl State {
    /// The state's name in the admin endpoint and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Ejected { .. } => "ejected",
            Self::Trial => "trial",
            Self::Down => "down",
        }
    }
}

impl Health {
    /// The backend's state at `now_ms`.
    pub fn state(&self, now_ms: u64) -> State {
        if self.probed() == Probed::Unhealthy {
            return State::Down;
        }
        let until_ms = self.ejected_until_ms.load(Ordering::Acquire);
        let reason = Reason::from_u8(self.reason.load(Ordering::Acquire));
        if reason == Reason::None {
            State::Healthy
        } else if now_ms < until_ms {
            State::Ejected { until_ms, reason }
        } else {
            State::Trial
        }
    }

    /// Whether the backend may be chosen at `now_ms`: healthy, or on trial with no trial
    /// request in flight.
    pub fn selectable(&self, now_ms: u64) -> bool {
        match self.state(now_ms) {
            State::Healthy => true,
            State::Trial => !self.trial.load(Ordering::Acquire),
            State::Ejected { .. } | State::Down => false,
        }
    }

    /// Claims the backend for one request at `now_ms`: always granted when healthy; on trial,
    /// granted to exactly one request until its outcome is recorded or the trial is abandoned.
    /// `Some(true)` when this request is the trial.
    pub fn claim(&self, now_ms: u64) -> Option<bool> {
        match self.state(now_ms) {
            State::Healthy => Some(false),
            State::Trial => self
                .trial
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
                .then_some(true),
            State::Ejected { .. } | State::Down => None,
        }
    }

    /// Gives up a trial claim whose request ended without an outcome (the client left, the
    /// queue refused it): the next request may try.
    pub fn abandon_trial(&self) {
        self.trial.store(false, Ordering::Release);
    }

    /// Whether the backend is ejected (not on trial) at `now_ms`: counted against the pool's cap.
    pub fn is_ejected(&self, now_ms: u64) -> bool {
        matches!(self.state(now_ms), State::Ejected { .. })
    }

    /// Records a request's outcome. Returns the ejection's length and reason when this outcome
    /// ejects the backend; `may_eject` says whether the pool's cap leaves room for one more.
    pub fn record(
        &self,
        outcome: Outcome,
        settings: &PassiveHealth,
        now_ms: u64,
        may_eject: impl FnOnce() -> bool,
    ) -> Option<(Duration, Reason)> {
        let (counter, threshold, reason) = match outcome {
            Outcome::Success => {
                self.connect_errors.store(0, Ordering::Relaxed);
                self.failures.store(0, Ordering::Relaxed);
                if self.reason.load(Ordering::Acquire) != Reason::None as u8
                    && now_ms >= self.ejected_until_ms.load(Ordering::Acquire)
                {
                    // The trial succeeded: the backend is back.
                    self.ejections.store(0, Ordering::Relaxed);
                    self.reason.store(Reason::None as u8, Ordering::Release);
                }
                self.trial.store(false, Ordering::Release);
                return None;
            }
            Outcome::RetryAfter(wait) => {
                let wait = wait.min(settings.eject_max);
                if wait.is_zero() || !may_eject() {
                    self.trial.store(false, Ordering::Release);
                    return None;
                }
                self.eject(now_ms, wait, Reason::RetryAfter);
                return Some((wait, Reason::RetryAfter));
            }
            Outcome::ConnectError => (
                &self.connect_errors,
                settings.eject_after_connect_errors,
                Reason::ConnectErrors,
            ),
            Outcome::Reset | Outcome::Timeout | Outcome::ServerError => (
                &self.failures,
                settings.eject_after_failures,
                Reason::Failures,
            ),
        };
        let in_a_row = counter.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        // A failed trial ejects again at once, whatever the count.
        let on_trial = self.trial.swap(false, Ordering::AcqRel);
        if threshold == 0 || (in_a_row < threshold && !on_trial) || !may_eject() {
            return None;
        }
        let exponent = self.ejections.fetch_add(1, Ordering::Relaxed).min(20);
        let length = settings
            .eject_base
            .saturating_mul(1u32 << exponent)
            .min(settings.eject_max);
        counter.store(0, Ordering::Relaxed);
        self.eject(now_ms, length, reason);
        Some((length, reason))
    }

    fn eject(&self, now_ms: u64, length: Duration, reason: Reason) {
        let length_ms = u64::try_from(length.as_millis()).unwrap_or(u64::MAX);
        self.ejected_until_ms
            .store(now_ms.saturating_add(length_ms), Ordering::Release);
        self.reason.store(reason as u8, Ordering::Release);
        self.trial.store(false, Ordering::Release);
        self.ejections_total.fetch_add(1, Ordering::Relaxed);
    }

    /// Records an active probe's result against the thresholds. Returns the new verdict when it
    /// changed. A good probe also ends a passive ejection.
    pub fn record_probe(
        &self,
        ok: bool,
        healthy_threshold: u32,
        unhealthy_threshold: u32,
    ) -> Option<Probed> {
        let current = self.probed();
        // `probe_run` counts consecutive probes with the same result; the sign is the state.
        let wanted = if ok {
            Probed::Healthy
        } else {
            Probed::Unhealthy
        };
        if current == wanted {
            self.probe_run.store(0, Ordering::Relaxed);
        } else {
            let run = self.probe_run.fetch_add(1, Ordering::Relaxed) + 1;
            let threshold = if ok {
                healthy_threshold
            } else {
                unhealthy_threshold
            };
            // From unknown, one good probe is enough: the backend was already taking traffic.
            if run >= threshold.max(1) || (ok && current == Probed::Unknown) {
                self.probe_run.store(0, Ordering::Relaxed);
                self.probed.store(wanted as u8, Ordering::Release);
            }
        }
        if ok && self.reason.load(Ordering::Acquire) != Reason::None as u8 {
            self.ejections.store(0, Ordering::Relaxed);
            self.connect_errors.store(0, Ordering::Relaxed);
            self.failures.store(0, Ordering::Relaxed);
            self.reason.store(Reason::None as u8, Ordering::Release);
            self.trial.store(false, Ordering::Release);
        }
        let now = self.probed();
        (now != current).then_some(now)
    }

    /// The active checks' verdict.
    pub fn probed(&self) -> Probed {
        match self.probed.load(Ordering::Acquire) {
            1 => Probed::Healthy,
            2 => Probed::Unhealthy,
            _ => Probed::Unknown,
        }
    }

    /// Ejections so far.
    pub fn ejections_total(&self) -> u64 {
        self.ejections_total.load(Ordering::Relaxed)
    }

    /// Consecutive failures counted now (connect errors, other failures).
    pub fn failures_in_a_row(&self) -> (u32, u32) {
        (
            self.connect_errors.load(Ordering::Relaxed),
            self.failures.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PassiveHealth {
        PassiveHealth {
            eject_after_connect_errors: 1,
            eject_after_failures: 3,
            eject_base: Duration::from_millis(100),
            eject_max: Duration::from_millis(350),
            max_ejected_percent: 50,
        }
    }

    #[test]
    fn consecutive_failures_eject_and_a_success_resets_the_count() {
        let health = Health::default();
        let s = settings();
        assert_eq!(health.record(Outcome::ServerError, &s, 0, || true), None);
        assert_eq!(health.record(Outcome::Reset, &s, 0, || true), None);
        assert_eq!(health.record(Outcome::Success, &s, 0, || true), None);
        assert_eq!(health.record(Outcome::Timeout, &s, 0, || true), None);
        assert_eq!(health.record(Outcome::Timeout, &s, 0, || true), None);
        assert_eq!(
            health.record(Outcome::Timeout, &s, 10, || true),
            Some((Duration::from_millis(100), Reason::Failures))
        );
        assert_eq!(
            health.state(50),
            State::Ejected {
                until_ms: 110,
                reason: Reason::Failures
            }
        );
        assert!(!health.selectable(50));
    }

    #[test]
    fn one_trial_request_after_the_back_off_decides() {
        let health = Health::default();
        let s = settings();
        health.record(Outcome::ConnectError, &s, 0, || true);
        assert_eq!(health.state(100), State::Trial);
        assert!(health.selectable(100));
        assert_eq!(
            health.claim(100),
            Some(true),
            "the first request is the trial"
        );
        assert_eq!(health.claim(100), None, "only one trial at a time");
        assert!(!health.selectable(100));
        // The trial fails: ejected again, twice as long.
        assert_eq!(
            health.record(Outcome::ConnectError, &s, 100, || true),
            Some((Duration::from_millis(200), Reason::ConnectErrors))
        );
        // And again: capped at the maximum.
        assert_eq!(health.claim(300), Some(true));
        assert_eq!(
            health.record(Outcome::Reset, &s, 300, || true),
            Some((Duration::from_millis(350), Reason::Failures)),
            "a failed trial ejects whatever the failure count"
        );
        assert_eq!(health.claim(650), Some(true));
        assert_eq!(health.record(Outcome::Success, &s, 650, || true), None);
        assert_eq!(health.state(650), State::Healthy);
        // The back-off starts over.
        assert_eq!(
            health.record(Outcome::ConnectError, &s, 700, || true),
            Some((Duration::from_millis(100), Reason::ConnectErrors))
        );
    }

    #[test]
    fn the_pool_cap_prevents_an_ejection() {
        let health = Health::default();
        assert_eq!(
            health.record(Outcome::ConnectError, &settings(), 0, || false),
            None
        );
        assert_eq!(health.state(0), State::Healthy);
    }

    #[test]
    fn retry_after_ejects_for_the_time_asked_within_the_maximum() {
        let health = Health::default();
        let s = settings();
        assert_eq!(
            health.record(Outcome::RetryAfter(Duration::from_secs(60)), &s, 0, || true),
            Some((Duration::from_millis(350), Reason::RetryAfter))
        );
        assert!(health.is_ejected(349));
        assert!(!health.is_ejected(350));
    }

    #[test]
    fn probes_mark_down_and_up_by_thresholds_and_end_ejections() {
        let health = Health::default();
        assert_eq!(health.record_probe(false, 2, 2), None);
        assert_eq!(health.record_probe(false, 2, 2), Some(Probed::Unhealthy));
        assert_eq!(health.state(0), State::Down);
        assert_eq!(health.claim(0), None);
        assert_eq!(health.record_probe(true, 2, 2), None);
        assert_eq!(health.record_probe(true, 2, 2), Some(Probed::Healthy));
        health.record(Outcome::ConnectError, &settings(), 0, || true);
        assert!(health.is_ejected(1));
        health.record_probe(true, 2, 2);
        assert_eq!(health.state(1), State::Healthy);
    }
}
