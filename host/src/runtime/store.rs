//! What a store holds for one plugin instance: the fields through which requests and
//! responses are lent to the guest, the memory limiter, and the host imports (`weir:filter/host`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use wasmtime::ResourceLimiter;
use wasmtime::component::Resource;

use super::bindings::Level;
use super::bindings::weir::filter::{host, types};
use super::budget::{CallBudget, PluginLimits};
use super::request::RequestView;
use super::response::ResponseView;

/// Most distinct counters one plugin may create; later names are ignored, so a plugin cannot
/// grow the host's memory through its counters.
const MAX_COUNTERS: usize = 64;
/// Longest counter name kept.
const MAX_COUNTER_NAME: usize = 64;
/// Log events a plugin may emit per second (per plugin, across its instances).
const LOG_EVENTS_PER_SECOND: u32 = 100;

/// State shared by every instance of one loaded plugin.
#[derive(Debug)]
pub(crate) struct PluginShared {
    /// The filter name from the config.
    pub name: Arc<str>,
    counters: Mutex<BTreeMap<String, u64>>,
    log_budget: Mutex<LogBudget>,
    epoch: Instant,
    /// Set when the plugin promised that its `on-response` does nothing (`on-response-unused`).
    pub(crate) response_hook_unused: AtomicBool,
}

#[derive(Debug)]
struct LogBudget {
    second: u64,
    used: u32,
    dropped: u64,
}

impl PluginShared {
    /// Creates the shared state for the filter `name`.
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            counters: Mutex::new(BTreeMap::new()),
            log_budget: Mutex::new(LogBudget {
                second: 0,
                used: 0,
                dropped: 0,
            }),
            epoch: Instant::now(),
            response_hook_unused: AtomicBool::new(false),
        }
    }

    /// A snapshot of the plugin's counters.
    pub(crate) fn counters(&self) -> BTreeMap<String, u64> {
        self.counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn add_to_counter(&self, name: String, delta: u64) {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = counters.get_mut(&name) {
            *value = value.saturating_add(delta);
        } else if counters.len() < MAX_COUNTERS && name.len() <= MAX_COUNTER_NAME {
            counters.insert(name, delta);
        }
    }

    /// Takes one log event from this second's budget; returns how many were dropped before it
    /// when a new second starts, so the drop can be reported once.
    fn take_log_budget(&self) -> Option<u64> {
        let second = self.epoch.elapsed().as_secs();
        let mut budget = self
            .log_budget
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if budget.second != second {
            let dropped = std::mem::take(&mut budget.dropped);
            budget.second = second;
            budget.used = 0;
            if dropped > 0 {
                tracing::warn!(target: "weir::plugin", { plugin.name = %self.name, dropped }, "plugin log events dropped by rate limit");
            }
        }
        if budget.used >= LOG_EVENTS_PER_SECOND {
            budget.dropped += 1;
            return None;
        }
        budget.used += 1;
        Some(budget.dropped)
    }
}

/// Per-store memory limiter: refuses growth past the filter's cap and remembers that it did, so
/// the resulting trap is reported as "memory cap exceeded".
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    pub(crate) max_bytes: usize,
    pub(crate) exceeded: bool,
    /// Largest linear memory size granted so far (wasm memories never shrink).
    pub(crate) peak_bytes: usize,
}

/// The error a refused memory growth traps with.
#[derive(Debug, thiserror::Error)]
#[error("memory cap of {cap} bytes exceeded (wanted {wanted})")]
pub struct MemoryCapExceeded {
    /// The cap.
    pub cap: usize,
    /// The size the guest asked for.
    pub wanted: usize,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exceeded = true;
            return Err(wasmtime::Error::new(MemoryCapExceeded {
                cap: self.max_bytes,
                wanted: desired,
            }));
        }
        self.peak_bytes = self.peak_bytes.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a filter needing more than this is broken.
        Ok(desired <= 1 << 20)
    }
}

/// The data of one plugin instance's store.
pub(crate) struct HostState {
    /// The request and response lent to the guest for the current hook call.
    pub(crate) lent: LentViews,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) plugin: Arc<PluginShared>,
    /// What the hook call in progress may still make the host hold.
    pub(crate) budget: CallBudget,
    /// The last error-level message this instance logged (the SDK logs panic messages there
    /// before trapping), so a trap report can say what the guest said.
    pub(crate) last_error: Option<String>,
    /// The current call's deadline, read by the epoch callback.
    pub(crate) call: CallClock,
}

/// A view the host lends to the guest for one hook call. The store holds it in a field of its
/// own instead of a resource table, so lending costs no allocation; the guest's handle is a
/// borrow whose number is never looked up.
pub(crate) trait Lent: Sized + Send + 'static {
    /// The view in `lent`, while a call has it on loan.
    fn lent(lent: &mut LentViews) -> Option<&mut Self>;

    /// The view a guest handle refers to, or a trap outside a hook call.
    fn of<'a>(lent: &'a mut LentViews, _handle: &Resource<Self>) -> wasmtime::Result<&'a mut Self> {
        Self::lent(lent).ok_or_else(|| wasmtime::Error::new(NotLent))
    }
}

/// What a hook call lends to the guest.
#[derive(Debug, Default)]
pub(crate) struct LentViews {
    /// The request, during `on-request` and `on-response`.
    pub(crate) request: Option<RequestView>,
    /// The response, during `on-response`.
    pub(crate) response: Option<ResponseView>,
}

impl Lent for RequestView {
    fn lent(lent: &mut LentViews) -> Option<&mut Self> {
        lent.request.as_mut()
    }
}

impl Lent for ResponseView {
    fn lent(lent: &mut LentViews) -> Option<&mut Self> {
        lent.response.as_mut()
    }
}

/// A guest used a handle outside the call it was lent for: a broken invariant, so a trap.
#[derive(Debug, thiserror::Error)]
#[error("no request or response is lent to the guest outside a hook call")]
pub(crate) struct NotLent;

impl HostState {
    /// The view a guest handle refers to during a hook call.
    pub(crate) fn view<V: Lent>(&mut self, handle: &Resource<V>) -> wasmtime::Result<&mut V> {
        V::of(&mut self.lent, handle)
    }
}

/// When the current call must end, and whether it yields to the async runtime until then.
#[derive(Debug)]
pub(crate) struct CallClock {
    pub(crate) deadline: Instant,
    pub(crate) yielding: bool,
}

impl HostState {
    pub(crate) fn new(
        plugin: Arc<PluginShared>,
        max_memory_bytes: usize,
        limits: PluginLimits,
    ) -> Self {
        Self {
            lent: LentViews::default(),
            limiter: MemoryLimiter {
                max_bytes: max_memory_bytes,
                exceeded: false,
                peak_bytes: 0,
            },
            plugin,
            budget: CallBudget::new(limits),
            last_error: None,
            call: CallClock {
                deadline: Instant::now(),
                yielding: false,
            },
        }
    }
}

impl types::Host for HostState {}

impl super::bindings::stream::weir::filter::stream_types::Host for HostState {}

impl host::Host for HostState {
    fn log(
        &mut self,
        level: Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        if level == Level::Error {
            self.last_error = Some(clip(&message, 512));
        }
        if self.plugin.take_log_budget().is_none() {
            return Ok(());
        }
        let name = &self.plugin.name;
        let message = clip(&message, 1024);
        let fields = fields
            .iter()
            .take(16)
            .map(|(k, v)| format!("{}={}", clip(k, 64), clip(v, 256)))
            .collect::<Vec<_>>()
            .join(" ");
        match level {
            Level::Trace => {
                tracing::trace!(target: "weir::plugin", { plugin.name = %name, fields }, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "weir::plugin", { plugin.name = %name, fields }, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "weir::plugin", { plugin.name = %name, fields }, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "weir::plugin", { plugin.name = %name, fields }, "{message}")
            }
            Level::Error => {
                tracing::error!(target: "weir::plugin", { plugin.name = %name, fields }, "{message}")
            }
        }
        Ok(())
    }

    fn monotonic_now(&mut self) -> wasmtime::Result<u64> {
        let nanos = self.plugin.epoch.elapsed().as_nanos();
        Ok(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    fn counter_add(&mut self, name: String, delta: u64) -> wasmtime::Result<()> {
        self.plugin.add_to_counter(name, delta);
        Ok(())
    }

    fn on_response_unused(&mut self) -> wasmtime::Result<()> {
        self.plugin
            .response_hook_unused
            .store(true, Ordering::Relaxed);
        Ok(())
    }
}

/// Cuts untrusted text to `max` bytes on a character boundary and escapes control characters.
fn clip(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_bounded_in_number_and_name_length() {
        let shared = PluginShared::new(Arc::from("p"));
        for i in 0..100 {
            shared.add_to_counter(format!("c{i}"), 1);
        }
        shared.add_to_counter("c0".into(), u64::MAX);
        shared.add_to_counter("x".repeat(65), 1);
        let counters = shared.counters();
        assert_eq!(counters.len(), MAX_COUNTERS);
        assert_eq!(counters["c0"], u64::MAX, "saturates instead of overflowing");
    }

    #[test]
    fn log_budget_drops_past_the_rate() {
        let shared = PluginShared::new(Arc::from("p"));
        let allowed = (0..LOG_EVENTS_PER_SECOND * 2)
            .filter(|_| shared.take_log_budget().is_some())
            .count();
        // The second may roll over during the loop; at most two seconds' worth get through.
        assert!(allowed >= LOG_EVENTS_PER_SECOND as usize);
        assert!(
            allowed < (LOG_EVENTS_PER_SECOND * 2) as usize || shared.epoch.elapsed().as_secs() > 0
        );
    }

    #[test]
    fn memory_limiter_refuses_and_remembers() {
        let mut limiter = MemoryLimiter {
            max_bytes: 1 << 20,
            exceeded: false,
            peak_bytes: 0,
        };
        assert!(limiter.memory_growing(0, 1 << 20, None).unwrap());
        assert_eq!(limiter.peak_bytes, 1 << 20);
        let err = limiter.memory_growing(1 << 20, 2 << 20, None).unwrap_err();
        assert!(err.downcast_ref::<MemoryCapExceeded>().is_some());
        assert!(limiter.exceeded);
    }

    #[test]
    fn clip_escapes_and_cuts_on_char_boundary() {
        assert_eq!(clip("a\nb", 10), "a\\nb");
        assert_eq!(clip("éé", 3), "é");
    }
}
