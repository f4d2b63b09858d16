//! What a pool shows operators: each backend's state (healthy, ejected until when and why, on
//! trial, down by active checks), its connections and requests in flight, and the pool's queue
//! and retries, as JSON for the admin endpoint and as Prometheus text for `/metrics`.

use std::fmt::Write as _;
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

/// Every pool's gauges and counters in Prometheus text format.
pub fn render_pools<'a>(pools: impl Iterator<Item = &'a BackendPool> + Clone, out: &mut String) {
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(
        out,
        "weir_upstream_backend_up",
        "gauge",
        "1 when the backend may receive requests (healthy or on trial), 0 when ejected or down.",
    );
    for pool in pools.clone() {
        let now = pool.now_ms();
        for b in &pool.backends {
            let up = matches!(b.health.state(now), State::Healthy | State::Trial);
            let _ = writeln!(
                out,
                "weir_upstream_backend_up{{pool=\"{}\",backend=\"{}\",state=\"{}\"}} {}",
                pool.name(),
                b.authority,
                b.health.state(now).as_str(),
                u8::from(up)
            );
        }
    }
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
    for (name, help, read) in gauges {
        family(out, name, "gauge", help);
        for pool in pools.clone() {
            for b in &pool.backends {
                let _ = writeln!(
                    out,
                    "{name}{{pool=\"{}\",backend=\"{}\"}} {}",
                    pool.name(),
                    b.authority,
                    read(b)
                );
            }
        }
    }
    family(
        out,
        "weir_upstream_ejections_total",
        "counter",
        "Passive ejections of the backend.",
    );
    for pool in pools.clone() {
        for b in &pool.backends {
            let _ = writeln!(
                out,
                "weir_upstream_ejections_total{{pool=\"{}\",backend=\"{}\"}} {}",
                pool.name(),
                b.authority,
                b.health.ejections_total()
            );
        }
    }
    family(
        out,
        "weir_upstream_probes_total",
        "counter",
        "Active health-check probes of the backend, by result (ok, failed).",
    );
    for pool in pools.clone() {
        for b in &pool.backends {
            let (sent, failed) = (b.probes.sent(), b.probes.failed());
            let _ = writeln!(
                out,
                "weir_upstream_probes_total{{pool=\"{0}\",backend=\"{1}\",result=\"ok\"}} {2}\nweir_upstream_probes_total{{pool=\"{0}\",backend=\"{1}\",result=\"failed\"}} {failed}",
                pool.name(),
                b.authority,
                sent.saturating_sub(failed)
            );
        }
    }
    family(
        out,
        "weir_upstream_queue_length",
        "gauge",
        "Requests waiting for a backend slot.",
    );
    for pool in pools.clone() {
        let _ = writeln!(
            out,
            "weir_upstream_queue_length{{pool=\"{}\"}} {}",
            pool.name(),
            pool.queued()
        );
    }
    family(
        out,
        "weir_upstream_queue_refused_total",
        "counter",
        "Requests refused by the queue, by reason (full, timeout).",
    );
    for pool in pools.clone() {
        let (full, timeout) = pool.queue_refusals();
        let _ = writeln!(
            out,
            "weir_upstream_queue_refused_total{{pool=\"{}\",reason=\"full\"}} {full}\nweir_upstream_queue_refused_total{{pool=\"{}\",reason=\"timeout\"}} {timeout}",
            pool.name(),
            pool.name()
        );
    }
    family(
        out,
        "weir_upstream_retries_total",
        "counter",
        "Retries on another backend, by outcome (sent, or denied by the retry budget).",
    );
    for pool in pools {
        let (sent, denied) = pool.retry_totals();
        let _ = writeln!(
            out,
            "weir_upstream_retries_total{{pool=\"{}\",outcome=\"sent\"}} {sent}\nweir_upstream_retries_total{{pool=\"{}\",outcome=\"denied\"}} {denied}",
            pool.name(),
            pool.name()
        );
    }
}
