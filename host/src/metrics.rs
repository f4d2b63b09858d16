//! Process-wide traffic counters for the admin endpoint's `/metrics`: responses by status class,
//! TLS handshakes by outcome, CONNECT tunnels and upgraded connections, log lines dropped. Plain relaxed atomics, so
//! recording costs a few nanoseconds on the data path; they count for the whole process, across
//! reloads. Also the text of per-filter circuit-breaker metrics, whose counters live with each
//! breaker.

use std::fmt::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Responses sent downstream, by status class (index 0 = 1xx … 4 = 5xx).
    responses: [AtomicU64; 5],
    tls_ok: AtomicU64,
    tls_resumed: AtomicU64,
    tls_failed: AtomicU64,
    tunnels_opened: AtomicU64,
    tunnels_closed: AtomicU64,
    tunnel_bytes_up: AtomicU64,
    tunnel_bytes_down: AtomicU64,
}

/// The process's counters.
pub static METRICS: Metrics = Metrics {
    responses: [const { AtomicU64::new(0) }; 5],
    tls_ok: AtomicU64::new(0),
    tls_resumed: AtomicU64::new(0),
    tls_failed: AtomicU64::new(0),
    tunnels_opened: AtomicU64::new(0),
    tunnels_closed: AtomicU64::new(0),
    tunnel_bytes_up: AtomicU64::new(0),
    tunnel_bytes_down: AtomicU64::new(0),
};

impl Metrics {
    /// Counts a response sent downstream.
    pub fn response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a downstream TLS handshake.
    pub fn tls_handshake(&self, ok: bool, resumed: bool) {
        let counter = match (ok, resumed) {
            (false, _) => &self.tls_failed,
            (true, true) => &self.tls_resumed,
            (true, false) => &self.tls_ok,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a tunnel that started splicing.
    pub fn tunnel_opened(&self) {
        self.tunnels_opened.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a tunnel that ended, with the bytes it carried each way.
    pub fn tunnel_closed(&self, up: u64, down: u64) {
        self.tunnels_closed.fetch_add(1, Ordering::Relaxed);
        self.tunnel_bytes_up.fetch_add(up, Ordering::Relaxed);
        self.tunnel_bytes_down.fetch_add(down, Ordering::Relaxed);
    }

    /// The counters in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        out.push_str("# HELP weir_responses_total Responses sent downstream, by status class.\n# TYPE weir_responses_total counter\n");
        for (i, counter) in self.responses.iter().enumerate() {
            let _ = writeln!(
                out,
                "weir_responses_total{{class=\"{}xx\"}} {}",
                i + 1,
                get(counter)
            );
        }
        out.push_str("# HELP weir_tls_handshakes_total Downstream TLS handshakes, by outcome.\n# TYPE weir_tls_handshakes_total counter\n");
        for (outcome, counter) in [
            ("full", &self.tls_ok),
            ("resumed", &self.tls_resumed),
            ("failed", &self.tls_failed),
        ] {
            let _ = writeln!(
                out,
                "weir_tls_handshakes_total{{outcome=\"{outcome}\"}} {}",
                get(counter)
            );
        }
        let (opened, closed) = (get(&self.tunnels_opened), get(&self.tunnels_closed));
        out.push_str("# HELP weir_tunnels_opened_total CONNECT tunnels and upgraded connections (WebSocket) opened.\n# TYPE weir_tunnels_opened_total counter\n");
        let _ = writeln!(out, "weir_tunnels_opened_total {opened}");
        out.push_str(
            "# HELP weir_tunnels_open CONNECT tunnels and upgraded connections open now.\n# TYPE weir_tunnels_open gauge\n",
        );
        let _ = writeln!(out, "weir_tunnels_open {}", opened.saturating_sub(closed));
        out.push_str("# HELP weir_tunnel_bytes_total Bytes carried by closed tunnels, by direction.\n# TYPE weir_tunnel_bytes_total counter\n");
        let _ = writeln!(
            out,
            "weir_tunnel_bytes_total{{direction=\"up\"}} {}",
            get(&self.tunnel_bytes_up)
        );
        let _ = writeln!(
            out,
            "weir_tunnel_bytes_total{{direction=\"down\"}} {}",
            get(&self.tunnel_bytes_down)
        );
        if let Some(dropped) = LOG_DROPS.get() {
            out.push_str("# HELP weir_log_lines_dropped_total Log lines (access and diagnostic) dropped because the log writer fell behind.\n# TYPE weir_log_lines_dropped_total counter\n");
            let _ = writeln!(out, "weir_log_lines_dropped_total {}", dropped());
        }
    }
}

/// How many log lines the log writer dropped, when the binary installed one that drops.
static LOG_DROPS: OnceLock<Box<dyn Fn() -> u64 + Send + Sync>> = OnceLock::new();

/// Tells `/metrics` how to read the log writer's count of dropped lines (the first call wins).
pub fn count_log_drops_with(dropped: impl Fn() -> u64 + Send + Sync + 'static) {
    let _ = LOG_DROPS.set(Box::new(dropped));
}

/// One filter's circuit breaker, as read for `/metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerSample {
    /// 0 closed, 1 open, 2 half-open.
    pub state: u8,
    /// Times the breaker opened.
    pub trips: u64,
    /// Calls refused while it was open.
    pub refused: u64,
}

/// Renders the breakers of the filters, by name, in Prometheus text format. `label` escapes
/// a label value.
pub fn render_breakers<'a>(
    out: &mut String,
    breakers: impl Iterator<Item = (&'a str, BreakerSample)>,
    label: impl Fn(&str) -> String,
) {
    let breakers: Vec<(String, BreakerSample)> = breakers
        .map(|(name, sample)| (label(name), sample))
        .collect();
    out.push_str("# HELP weir_filter_breaker_state A filter's circuit breaker: 0 closed, 1 open, 2 half-open.\n# TYPE weir_filter_breaker_state gauge\n");
    for (name, sample) in &breakers {
        let _ = writeln!(
            out,
            "weir_filter_breaker_state{{filter=\"{name}\"}} {}",
            sample.state
        );
    }
    out.push_str("# HELP weir_filter_breaker_trips_total Times a filter's circuit breaker opened.\n# TYPE weir_filter_breaker_trips_total counter\n");
    for (name, sample) in &breakers {
        let _ = writeln!(
            out,
            "weir_filter_breaker_trips_total{{filter=\"{name}\"}} {}",
            sample.trips
        );
    }
    out.push_str("# HELP weir_filter_breaker_refused_total Hook calls not made because a filter's circuit breaker was open.\n# TYPE weir_filter_breaker_refused_total counter\n");
    for (name, sample) in &breakers {
        let _ = writeln!(
            out,
            "weir_filter_breaker_refused_total{{filter=\"{name}\"}} {}",
            sample.refused
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_as_prometheus_text() {
        let metrics = Metrics::default();
        metrics.response(204);
        metrics.response(503);
        metrics.response(99);
        metrics.tls_handshake(true, true);
        metrics.tunnel_opened();
        metrics.tunnel_opened();
        metrics.tunnel_closed(10, 20);
        let mut out = String::new();
        metrics.render(&mut out);
        for line in [
            "weir_responses_total{class=\"1xx\"} 1",
            "weir_responses_total{class=\"2xx\"} 1",
            "weir_responses_total{class=\"5xx\"} 1",
            "weir_tls_handshakes_total{outcome=\"resumed\"} 1",
            "weir_tunnels_open 1",
            "weir_tunnel_bytes_total{direction=\"down\"} 20",
        ] {
            assert!(out.contains(line), "{line} in\n{out}");
        }
    }

    #[test]
    fn dropped_log_lines_are_rendered_once_a_counter_is_installed() {
        count_log_drops_with(|| 7);
        let mut out = String::new();
        Metrics::default().render(&mut out);
        assert!(out.contains("weir_log_lines_dropped_total 7"), "{out}");
    }

    #[test]
    fn breakers_render_per_filter() {
        let mut out = String::new();
        let sample = BreakerSample {
            state: 1,
            trips: 2,
            refused: 7,
        };
        render_breakers(&mut out, [("auth", sample)].into_iter(), str::to_owned);
        for line in [
            "weir_filter_breaker_state{filter=\"auth\"} 1",
            "weir_filter_breaker_trips_total{filter=\"auth\"} 2",
            "weir_filter_breaker_refused_total{filter=\"auth\"} 7",
        ] {
            assert!(out.contains(line), "{line} in\n{out}");
        }
    }
}
