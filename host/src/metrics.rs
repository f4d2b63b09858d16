//! Process-wide metrics for the admin endpoint's `/metrics`, kept and encoded by the
//! `prometheus-client` crate (OpenMetrics text, which Prometheus reads).
//!
//! Two kinds of family live here:
//!
//! - **Recorded** ones ([`METRICS`]): counters and histograms the data path adds to as things
//!   happen (requests by route, status class and listener; latency; filter calls, their time
//!   and faults; TLS handshakes; downstream connections; tunnels; dropped log lines). Each
//!   record is an atomic add behind a read lock; they count for the whole process, across
//!   reloads.
//! - **Sampled** ones ([`Scrape`]): values read at scrape time from the state (upstream
//!   backends, queues, circuit breakers, plugin instances and counters, reloads), encoded
//!   through the same crate.
//!
//! A leaf: depends on nothing else in weir.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of the encoded metrics.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A histogram family whose histograms are made by a plain function.
type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabels {
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: Arc<str>,
    status_class: &'static str,
    listener: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: Arc<str>,
    listener: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookLabels {
    filter: Arc<str>,
    hook: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FaultLabels {
    filter: Arc<str>,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerLabels {
    listener: Arc<str>,
    worker: u32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    direction: &'static str,
}

/// What one finished request reports to the metrics.
#[derive(Clone, Copy, Debug)]
pub struct RequestSample<'a> {
    /// The route's name (`-` without one).
    pub route: &'a Arc<str>,
    /// The listener's name.
    pub listener: &'a Arc<str>,
    /// Status sent downstream.
    pub status: u16,
    /// Arrival to the last byte of the response.
    pub total: Duration,
    /// Arrival to the upstream response head, when one came.
    pub upstream: Option<Duration>,
}

/// The recorded families.
#[derive(Debug)]
pub struct Metrics {
    responses: Family<ClassLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Histograms<RouteLabels>,
    upstream_seconds: Histograms<RouteLabels>,
    filter_calls: Family<HookLabels, Counter>,
    filter_seconds: Histograms<HookLabels>,
    filter_faults: Family<FaultLabels, Counter>,
    tls_handshakes: Family<OutcomeLabels, Counter>,
    connections: Family<ListenerLabels, Counter>,
    connections_open: Family<ListenerLabels, Gauge>,
    worker_connections: Family<WorkerLabels, Counter>,
    tunnels_opened: Counter,
    tunnels_open: Gauge,
    tunnel_bytes: Family<DirectionLabels, Counter>,
    access_dropped: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            responses: Family::default(),
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency),
            upstream_seconds: Family::new_with_constructor(latency),
            filter_calls: Family::default(),
            filter_seconds: Family::new_with_constructor(hook_latency),
            filter_faults: Family::default(),
            tls_handshakes: Family::default(),
            connections: Family::default(),
            connections_open: Family::default(),
            worker_connections: Family::default(),
            tunnels_opened: Counter::default(),
            tunnels_open: Gauge::default(),
            tunnel_bytes: Family::default(),
            access_dropped: Counter::default(),
        }
    }
}

/// Request latency buckets: 0.5 ms to ~33 s.
fn latency() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0005, 2.0, 17,
    ))
}

/// Hook call buckets: 5 µs to ~330 ms.
fn hook_latency() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.000_005, 2.0, 17,
    ))
}

/// The process's recorded families.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn class_of(status: u16) -> &'static str {
    CLASSES[usize::from(status / 100).clamp(1, 5) - 1]
}

impl Metrics {
    /// Counts a response sent downstream, by status class.
    pub fn response(&self, status: u16) {
        self.responses
            .get_or_create(&ClassLabels {
                class: class_of(status),
            })
            .inc();
    }

    /// Counts a finished request by route, status class and listener, with its latency.
    pub fn request(&self, sample: RequestSample<'_>) {
        self.requests
            .get_or_create(&RequestLabels {
                route: sample.route.clone(),
                status_class: class_of(sample.status),
                listener: sample.listener.clone(),
            })
            .inc();
        let labels = RouteLabels {
            route: sample.route.clone(),
            listener: sample.listener.clone(),
        };
        self.request_seconds
            .get_or_create(&labels)
            .observe(sample.total.as_secs_f64());
        if let Some(upstream) = sample.upstream {
            self.upstream_seconds
                .get_or_create(&labels)
                .observe(upstream.as_secs_f64());
        }
    }

    /// Counts a hook call of a filter, its time, and its fault if it had one.
    pub fn filter_call(
        &self,
        filter: &Arc<str>,
        hook: &'static str,
        took: Duration,
        fault: Option<&'static str>,
    ) {
        let labels = HookLabels {
            filter: filter.clone(),
            hook,
        };
        self.filter_calls.get_or_create(&labels).inc();
        self.filter_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        if let Some(kind) = fault {
            self.filter_fault(filter, kind);
        }
    }

    /// Counts a filter fault of `kind` (`trap`, `deadline`, `memory`, `invalid_edit`,
    /// `invalid_verdict`, `instantiate`, `init`).
    pub fn filter_fault(&self, filter: &Arc<str>, kind: &'static str) {
        self.filter_faults
            .get_or_create(&FaultLabels {
                filter: filter.clone(),
                kind,
            })
            .inc();
    }

    /// Counts a downstream TLS handshake.
    pub fn tls_handshake(&self, ok: bool, resumed: bool) {
        let outcome = match (ok, resumed) {
            (false, _) => "failed",
            (true, true) => "resumed",
            (true, false) => "full",
        };
        self.tls_handshakes
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts a downstream connection accepted by `listener`; it is open until
    /// [`connection_closed`](Self::connection_closed).
    pub fn connection_opened(&self, listener: &Arc<str>) {
        let labels = ListenerLabels {
            listener: listener.clone(),
        };
        self.connections.get_or_create(&labels).inc();
        self.connections_open.get_or_create(&labels).inc();
    }

    /// Counts a downstream connection of `listener` accepted by worker thread `worker` (always
    /// 0 under work-stealing scheduling).
    pub fn connection_on_worker(&self, listener: &Arc<str>, worker: usize) {
        self.worker_connections
            .get_or_create(&WorkerLabels {
                listener: listener.clone(),
                worker: u32::try_from(worker).unwrap_or(u32::MAX),
            })
            .inc();
    }

    /// A downstream connection of `listener` closed.
    pub fn connection_closed(&self, listener: &Arc<str>) {
        self.connections_open
            .get_or_create(&ListenerLabels {
                listener: listener.clone(),
            })
            .dec();
    }

    /// Counts a tunnel that started splicing.
    pub fn tunnel_opened(&self) {
        self.tunnels_opened.inc();
        self.tunnels_open.inc();
    }

    /// Counts a tunnel that ended, with the bytes it carried each way.
    pub fn tunnel_closed(&self, up: u64, down: u64) {
        self.tunnels_open.dec();
        let bytes = |direction| {
            self.tunnel_bytes
                .get_or_create(&DirectionLabels { direction })
        };
        bytes("up").inc_by(up);
        bytes("down").inc_by(down);
    }

    /// Counts an access record dropped because the access log's queue was full.
    pub fn log_line_dropped(&self) {
        self.access_dropped.inc();
    }

    /// Registers every recorded family (sharing its values) in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "weir_responses",
            "Responses sent downstream, by status class.",
            self.responses.clone(),
        );
        registry.register(
            "weir_requests",
            "Requests by route, status class and listener (route `-`: none, or a forward-proxy listener).",
            self.requests.clone(),
        );
        registry.register_with_unit(
            "weir_request_duration",
            "From a request's arrival to the last byte of its response, by route and listener.",
            Unit::Seconds,
            self.request_seconds.clone(),
        );
        registry.register_with_unit(
            "weir_upstream_response",
            "From a request's arrival to the upstream's response head, by route and listener.",
            Unit::Seconds,
            self.upstream_seconds.clone(),
        );
        registry.register(
            "weir_filter_calls",
            "Hook calls of a filter, by hook (on_request, on_response).",
            self.filter_calls.clone(),
        );
        registry.register_with_unit(
            "weir_filter_call_duration",
            "Time of one hook call of a filter (instance checkout included), by hook.",
            Unit::Seconds,
            self.filter_seconds.clone(),
        );
        registry.register(
            "weir_filter_faults",
            "Filter faults by kind: trap, deadline, memory, invalid_edit, invalid_verdict, instantiate, init.",
            self.filter_faults.clone(),
        );
        registry.register(
            "weir_tls_handshakes",
            "Downstream TLS handshakes, by outcome (full, resumed, failed).",
            self.tls_handshakes.clone(),
        );
        registry.register(
            "weir_downstream_connections",
            "Downstream connections accepted, by listener.",
            self.connections.clone(),
        );
        registry.register(
            "weir_downstream_connections_open",
            "Downstream connections open now, by listener.",
            self.connections_open.clone(),
        );
        registry.register(
            "weir_worker_connections",
            "Downstream connections accepted, by listener and worker thread (per-core scheduling; worker 0 under work-stealing).",
            self.worker_connections.clone(),
        );
        registry.register(
            "weir_tunnels_opened",
            "CONNECT tunnels and upgraded connections (WebSocket) opened.",
            self.tunnels_opened.clone(),
        );
        registry.register(
            "weir_tunnels_open",
            "CONNECT tunnels and upgraded connections open now.",
            self.tunnels_open.clone(),
        );
        registry.register(
            "weir_tunnel_bytes",
            "Bytes carried by closed tunnels, by direction.",
            self.tunnel_bytes.clone(),
        );
        let dropped = Counter::<u64, AtomicU64>::default();
        let diagnostic = LOG_DROPS.get().map_or(0, |read| read());
        dropped.inc_by(self.access_dropped.get() + diagnostic);
        registry.register(
            "weir_log_lines_dropped",
            "Log lines (access and diagnostic) dropped because a log writer fell behind.",
            dropped,
        );
    }
}

/// A downstream connection, counted in [`METRICS`] as open until dropped.
#[derive(Debug)]
pub struct OpenConnection(Arc<str>);

impl OpenConnection {
    /// Counts a connection accepted by `listener`.
    pub fn count(listener: &Arc<str>) -> Self {
        METRICS.connection_opened(listener);
        Self(listener.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        METRICS.connection_closed(&self.0);
    }
}

/// How many diagnostic log lines the log writer dropped, when the binary installed one that
/// drops.
static LOG_DROPS: OnceLock<Box<dyn Fn() -> u64 + Send + Sync>> = OnceLock::new();

/// Tells `/metrics` how to read the diagnostic log writer's count of dropped lines (the first
/// call wins).
pub fn count_log_drops_with(dropped: impl Fn() -> u64 + Send + Sync + 'static) {
    let _ = LOG_DROPS.set(Box::new(dropped));
}

/// Labels of a sampled value, in order.
pub type Labels = Vec<(&'static str, String)>;

/// One scrape: a registry holding the recorded families and the values sampled for it.
#[derive(Default)]
pub struct Scrape {
    gauges: BTreeMap<&'static str, (&'static str, Family<Labels, Gauge>)>,
    counters: BTreeMap<&'static str, (&'static str, Family<Labels, Counter>)>,
}

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrape").finish_non_exhaustive()
    }
}

impl Scrape {
    /// Sets a sampled gauge.
    pub fn gauge(&mut self, name: &'static str, help: &'static str, labels: Labels, value: i64) {
        let (_, family) = self
            .gauges
            .entry(name)
            .or_insert_with(|| (help, Family::default()));
        family.get_or_create(&labels).set(value);
    }

    /// Sets a sampled counter; `name` without its `_total` suffix (the encoder adds it).
    pub fn counter(&mut self, name: &'static str, help: &'static str, labels: Labels, value: u64) {
        let (_, family) = self
            .counters
            .entry(name)
            .or_insert_with(|| (help, Family::default()));
        family.get_or_create(&labels).inc_by(value);
    }

    /// The recorded and sampled families in OpenMetrics text.
    pub fn encode(self) -> String {
        let mut registry = Registry::default();
        METRICS.register(&mut registry);
        for (name, (help, family)) in self.gauges {
            registry.register(name, help, family);
        }
        for (name, (help, family)) in self.counters {
            registry.register(name, help, family);
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
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

/// Samples the breakers of the filters, by name.
pub fn sample_breakers<'a>(
    scrape: &mut Scrape,
    breakers: impl Iterator<Item = (&'a str, BreakerSample)>,
) {
    for (name, sample) in breakers {
        let labels = || vec![("filter", name.to_owned())];
        scrape.gauge(
            "weir_filter_breaker_state",
            "A filter's circuit breaker: 0 closed, 1 open, 2 half-open.",
            labels(),
            i64::from(sample.state),
        );
        scrape.counter(
            "weir_filter_breaker_trips",
            "Times a filter's circuit breaker opened.",
            labels(),
            sample.trips,
        );
        scrape.counter(
            "weir_filter_breaker_refused",
            "Hook calls not made because a filter's circuit breaker was open.",
            labels(),
            sample.refused,
        );
    }
}

/// The number of a sampled value that is a count of things.
pub fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Reads a relaxed atomic, for samples.
pub fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(metrics: &Metrics, scrape: Scrape) -> String {
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        for (name, (help, family)) in scrape.gauges {
            registry.register(name, help, family);
        }
        for (name, (help, family)) in scrape.counters {
            registry.register(name, help, family);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    #[test]
    fn recorded_families_encode_as_openmetrics_text() {
        let metrics = Metrics::default();
        metrics.response(204);
        metrics.response(503);
        metrics.response(99);
        metrics.tls_handshake(true, true);
        metrics.tunnel_opened();
        metrics.tunnel_opened();
        metrics.tunnel_closed(10, 20);
        let (route, listener): (Arc<str>, Arc<str>) = (Arc::from("app"), Arc::from("main"));
        metrics.request(RequestSample {
            route: &route,
            listener: &listener,
            status: 404,
            total: Duration::from_millis(3),
            upstream: Some(Duration::from_millis(2)),
        });
        let filter: Arc<str> = Arc::from("auth");
        metrics.filter_call(
            &filter,
            "on_request",
            Duration::from_micros(8),
            Some("trap"),
        );
        let out = encoded(&metrics, Scrape::default());
        for line in [
            "weir_responses_total{class=\"1xx\"} 1",
            "weir_responses_total{class=\"2xx\"} 1",
            "weir_responses_total{class=\"5xx\"} 1",
            "weir_tls_handshakes_total{outcome=\"resumed\"} 1",
            "weir_tunnels_open 1",
            "weir_tunnel_bytes_total{direction=\"down\"} 20",
            "weir_requests_total{route=\"app\",status_class=\"4xx\",listener=\"main\"} 1",
            "weir_request_duration_seconds_count{route=\"app\",listener=\"main\"} 1",
            "weir_upstream_response_seconds_count{route=\"app\",listener=\"main\"} 1",
            "weir_filter_calls_total{filter=\"auth\",hook=\"on_request\"} 1",
            "weir_filter_call_duration_seconds_bucket{le=\"0.00001\",filter=\"auth\",hook=\"on_request\"} 1",
            "weir_filter_faults_total{filter=\"auth\",kind=\"trap\"} 1",
            "# EOF",
        ] {
            assert!(out.contains(line), "{line} in\n{out}");
        }
    }

    #[test]
    fn sampled_breakers_encode_per_filter() {
        let mut scrape = Scrape::default();
        let sample = BreakerSample {
            state: 1,
            trips: 2,
            refused: 7,
        };
        sample_breakers(&mut scrape, [("auth", sample)].into_iter());
        let out = encoded(&Metrics::default(), scrape);
        for line in [
            "weir_filter_breaker_state{filter=\"auth\"} 1",
            "weir_filter_breaker_trips_total{filter=\"auth\"} 2",
            "weir_filter_breaker_refused_total{filter=\"auth\"} 7",
        ] {
            assert!(out.contains(line), "{line} in\n{out}");
        }
    }
}
