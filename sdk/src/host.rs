//! Small services the host offers every plugin: logging, a monotonic clock and counters.
//!
//! On `wasm32` each function calls the WIT `host` import. Natively there is no host: [`log`] and
//! [`counter_add`] are recorded for the current thread (read them back with
//! [`testing::logs`](crate::testing::logs) and [`testing::counters`](crate::testing::counters)),
//! and [`monotonic_now`] reads [`std::time::Instant`].

/// Log severity (mirrors the WIT `level`).
///
/// ```
/// use weir_sdk::host::Level;
///
/// assert!(Level::Warn > Level::Info);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Very verbose detail.
    Trace,
    /// Detail for debugging.
    Debug,
    /// Something worth knowing happened.
    Info,
    /// Degraded but handled.
    Warn,
    /// The operator must act.
    Error,
}

/// Emits a structured log event (target `weir::plugin`, rate-limited by the host). Never log
/// secrets such as cookie or authorization values.
///
/// ```
/// use weir_sdk::host::{self, Level};
/// use weir_sdk::testing;
///
/// host::log(Level::Info, "config loaded", &[("rules", "3")]);
/// assert_eq!(testing::logs(), vec![(Level::Info, "config loaded".to_owned())]);
/// ```
pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::log(level, message, fields);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = fields;
        crate::testing::record_log(level, message);
    }
}

/// A monotonic clock in nanoseconds; only differences between two readings are meaningful.
///
/// ```
/// use weir_sdk::host;
///
/// let start = host::monotonic_now();
/// assert!(host::monotonic_now() >= start);
/// ```
pub fn monotonic_now() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        crate::bindings::monotonic_now()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::sync::OnceLock;
        use std::time::Instant;

        static EPOCH: OnceLock<Instant> = OnceLock::new();
        let elapsed = EPOCH.get_or_init(Instant::now).elapsed().as_nanos();
        u64::try_from(elapsed).unwrap_or(u64::MAX)
    }
}

/// Adds `delta` to a named per-plugin counter, exported in the host's metrics.
///
/// ```
/// use weir_sdk::{host, testing};
///
/// host::counter_add("denied", 1);
/// host::counter_add("denied", 2);
/// assert_eq!(testing::counters(), vec![("denied".to_owned(), 3)]);
/// ```
pub fn counter_add(name: &str, delta: u64) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::counter_add(name, delta);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::record_counter(name, delta);
}
