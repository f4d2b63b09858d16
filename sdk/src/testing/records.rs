//! What the native [`host`](crate::host) functions record: log events and counter totals, per
//! thread (the test harness runs each test on its own thread, so tests do not see each other's).

use std::cell::RefCell;

use crate::host::Level;

thread_local! {
    static LOGS: RefCell<Vec<(Level, String)>> = const { RefCell::new(Vec::new()) };
    static COUNTERS: RefCell<Vec<(String, u64)>> = const { RefCell::new(Vec::new()) };
}

/// Records one `host::log` call.
#[cfg_attr(
    target_arch = "wasm32",
    expect(dead_code, reason = "on wasm32 `host::log` calls the host")
)]
pub(crate) fn record_log(level: Level, message: &str) {
    LOGS.with_borrow_mut(|logs| logs.push((level, message.to_owned())));
}

/// Records one `host::counter_add` call.
#[cfg_attr(
    target_arch = "wasm32",
    expect(dead_code, reason = "on wasm32 `host::counter_add` calls the host")
)]
pub(crate) fn record_counter(name: &str, delta: u64) {
    COUNTERS.with_borrow_mut(
        |counters| match counters.iter_mut().find(|(n, _)| n == name) {
            Some((_, total)) => *total = total.saturating_add(delta),
            None => counters.push((name.to_owned(), delta)),
        },
    );
}

/// The `host::log` calls made on this thread, oldest first (natively; empty on `wasm32`, where
/// the host receives them).
///
/// ```
/// use weir_sdk::{host::{self, Level}, testing};
///
/// host::log(Level::Warn, "rule skipped", &[]);
/// assert_eq!(testing::logs(), vec![(Level::Warn, "rule skipped".to_owned())]);
/// ```
pub fn logs() -> Vec<(Level, String)> {
    LOGS.with_borrow(Clone::clone)
}

/// The counter totals from `host::counter_add` on this thread, in order of first use (natively;
/// empty on `wasm32`).
///
/// ```
/// use weir_sdk::{host, testing};
///
/// host::counter_add("hits", 2);
/// host::counter_add("misses", 1);
/// host::counter_add("hits", 3);
/// assert_eq!(testing::counters(), vec![("hits".to_owned(), 5), ("misses".to_owned(), 1)]);
/// ```
pub fn counters() -> Vec<(String, u64)> {
    COUNTERS.with_borrow(Clone::clone)
}

/// Forgets the logs and counters recorded on this thread.
///
/// ```
/// use weir_sdk::{host, testing};
///
/// host::counter_add("hits", 1);
/// testing::clear_records();
/// assert!(testing::counters().is_empty() && testing::logs().is_empty());
/// ```
pub fn clear_records() {
    LOGS.with_borrow_mut(Vec::clear);
    COUNTERS.with_borrow_mut(Vec::clear);
}
