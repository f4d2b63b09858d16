//! What a pool shows operators: each backend's state (healthy, ejected until when and why, on
//! trial, down by active checks), its connections and requests in flight, and the pool's queue
//! and retries, as JSON for the admin endpoint and as samples for `/metrics`.

use crate::metrics::Scrape;
use std::sync::atomic::Ordering;

use super::BackendPool;
use super::health::State;

impl BackendPool {
    /// The pool's state as JSON (admin endpoint `GET /upstreams`).
    pub fn report(&self) -> serde_json::Value {
        let now = self.now_ms();
        let backends: Vec<serde_json::Value> = self
            .backends
            .iter()
            .map(|b| {
                let state = b.health.state(now);
                let (connect_errors, failures) = b.health.failures_in_a_row();
                let mut entry = serde_json::json!({
                    "address": b.authority.as_str(),
                    "scheme": b.scheme,
                    "weight": b.weight,
                    "state": state.as_str(),
                    "probed": b.health.probed().as_str(),
                    "open_connections": b.conns.open_connections(),
                    "idle_connections": b.conns.idle_connections(),
                    "in_flight": b.in_flight.load(Ordering::Relaxed),
                    "connect_errors_in_a_row": connect_errors,
                    "failures_in_a_row": failures,
                    "ejections_total": b.health.ejections_total(),
                    "probes_total": b.probes.sent(),
                    "probes_failed_total": b.probes.failed(),
                });
                if let State::Ejected { until_ms, reason } = state {
                    entry["ejected_for_ms"] = until_ms.saturating_sub(now).into();
                    entry["ejected_because"] = reason.as_str().into();
                }
                entry
            })
            .collect();
        let (retries, retries_denied) = self.retry_totals();
        let (queue_full, queue_timeouts) = self.queue_refusals();
        serde_json::json!({
            "name": &*self.settings.name,
            "balance": format!("{:?}", self.settings.balance),
            "queued": self.queued(),
            "queue_full_total": queue_full,
            "queue_timeouts_total": queue_timeouts,
            "retries_total": retries,
            "retries_denied_by_budget_total": retries_denied,
            "backends": backends,
        })
    }
}

/// A per-backend gauge: name, help, and how to read it.
type Gauge = (&'static str, &'static str, fn(&super::Backend) -> u64);

/// Samples every pool's gauges and counters for `/metrics`.
pub fn sample_pools<'a>(pools: impl Iterator<Item = &'a BackendPool> + Clone, scrape: &mut Scrape) {
    let gauges: [Gauge; 3] = [
        (
            "weir_upstream_connections_open",
            "Open connections to the backend (idle and busy).",
            |b| b.conns.open_connections() as u64,
        ),
        (
            "weir_upstream_connections_idle",
            "Idle keep-alive connections to the backend.",
            |b| b.conns.idle_connections() as u64,
        ),
        (
            "weir_upstream_requests_in_flight",
            "Requests holding a slot of the backend.",
            |b| b.in_flight.load(Ordering::Relaxed) as u64,
        ),
    ];
    for pool in pools {
        let now = pool.now_ms();
        let name = || pool.name().to_string();
        for b in &pool.backends {
            let backend = || vec![("pool", name()), ("backend", b.authority.to_string())];
            let state = b.health.state(now);
            let mut labels = backend();
            labels.push(("state", state.as_str().to_owned()));
            scrape.gauge(
                "weir_upstream_backend_up",
                "1 when the backend may receive requests (healthy or on trial), 0 when ejected or down.",
                labels,
                i64::from(matches!(state, State::Healthy | State::Trial)),
            );
            for (gauge, help, read) in gauges {
                scrape.gauge(
                    gauge,
                    help,
                    backend(),
                    i64::try_from(read(b)).unwrap_or(i64::MAX),
                );
            }
            scrape.counter(
                "weir_upstream_ejections",
                "Passive ejections of the backend.",
                backend(),
                b.health.ejections_total(),
            );
            let (sent, failed) = (b.probes.sent(), b.probes.failed());
            for (result, n) in [("ok", sent.saturating_sub(failed)), ("failed", failed)] {
                let mut labels = backend();
                labels.push(("result", result.to_owned()));
                scrape.counter(
                    "weir_upstream_probes",
                    "Active health-check probes of the backend, by result (ok, failed).",
                    labels,
                    n,
                );
            }
        }
        scrape.gauge(
            "weir_upstream_queue_length",
            "Requests waiting for a backend slot.",
            vec![("pool", name())],
            crate::metrics::count(pool.queued()),
        );
        let (full, timeout) = pool.queue_refusals();
        for (reason, n) in [("full", full), ("timeout", timeout)] {
            scrape.counter(
                "weir_upstream_queue_refused",
                "Requests refused by the queue, by reason (full, timeout).",
                vec![("pool", name()), ("reason", reason.to_owned())],
                n,
            );
        }
        let (sent, denied) = pool.retry_totals();
        for (outcome, n) in [("sent", sent), ("denied", denied)] {
            scrape.counter(
                "weir_upstream_retries",
                "Retries on another backend, by outcome (sent, or denied by the retry budget).",
                vec![("pool", name()), ("outcome", outcome.to_owned())],
                n,
            );
        }
    }
}
