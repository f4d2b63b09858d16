//! Services weir offers every router: structured logging, a monotonic clock and per-plugin
//! counters (the `weir:filter/host` interface, shared with filters). Natively (in tests) log
//! lines are dropped, counters are kept per thread for [`testing::counters`], and the clock is
//! the process's.
//!
//! [`testing::counters`]: crate::testing::counters

/// Log severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warn.
    Warn,
    /// Error.
    Error,
}

/// Emits a log event (target `weir::plugin`, rate-limited by the host).
///
/// ```
/// weir_stream_sdk::host::log(weir_stream_sdk::host::Level::Info, "routed", &[("pool", "git")]);
/// ```
pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::log(level, message, fields);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (level, message, fields);
}

/// Adds `delta` to the plugin's counter `name` (exported in weir's metrics).
///
/// ```
/// weir_stream_sdk::host::counter_add("routed", 1);
/// assert_eq!(weir_stream_sdk::testing::counters(), vec![("routed".to_owned(), 1)]);
/// ```
pub fn counter_add(name: &str, delta: u64) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::counter_add(name, delta);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::add_counter(name, delta);
}

/// A monotonic clock in nanoseconds; only differences are meaningful.
///
/// ```
/// let a = weir_stream_sdk::host::monotonic_now();
/// assert!(weir_stream_sdk::host::monotonic_now() >= a);
/// ```
pub fn monotonic_now() -> u64 {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::monotonic_now();
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::sync::OnceLock;
        use std::time::Instant;
        static START: OnceLock<Instant> = OnceLock::new();
        let nanos = START.get_or_init(Instant::now).elapsed().as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX)
    }
}
