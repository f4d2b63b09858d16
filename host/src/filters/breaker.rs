//! The circuit breaker of a filter: after `after_faults` consecutive faults in one hook the
//! filter is taken out of service for a back-off (it is not called; its failure policy applies
//! to every request that needed it), then one trial call is let through. A success closes the
//! breaker; a fault opens it again for twice as long, up to `max_backoff`.
//!
//! Faults are counted per hook: a fail-open filter that faults in every `on-request` still
//! gets its (healthy) `on-response` called for the same requests, and those successes must not
//! hide the faults.
//!
//! The state is one atomic word (state and reopening time together) plus counters, so the hot
//! path costs one relaxed load while the breaker is closed, and no lock ever. Time is passed in
//! by the caller (milliseconds on any monotonic clock), so the state machine is tested without
//! sleeping.
//!
//! One breaker serves a filter in every chain that uses it: breakers are looked up by plugin
//! when a chain is built (see [`breaker_for`]) and live as long as a chain holds them.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use crate::metrics::BreakerSample;
use crate::runtime::Plugin;

/// The operator's breaker settings for one filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive faults that open the breaker; 0 turns the breaker off.
    pub after_faults: u32,
    /// How long the first opening lasts; each failed trial doubles it.
    pub backoff: Duration,
    /// The longest an opening lasts.
    pub max_backoff: Duration,
}

/// The hook a call was for: faults in a row are counted per hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hook {
    Request = 0,
    Response = 1,
}

/// What the breaker says about one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Closed: call the filter.
    Call,
    /// The back-off is over: call the filter once to see whether it recovered.
    Trial,
    /// Open (or a trial is running): do not call the filter.
    Refused,
}

/// The state a breaker is in, as metrics show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused until the back-off ends.
    Open,
    /// One trial call is running.
    HalfOpen,
}

const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const STATE_BITS: u32 = 2;

/// One filter's breaker.
#[derive(Debug)]
pub struct Breaker {
    filter: Arc<str>,
    settings: BreakerSettings,
    /// `reopen_at_ms << 2 | state`: one word, so a state change and its time are seen together.
    word: AtomicU64,
    /// Consecutive faults while closed, per hook.
    faults: [AtomicU32; 2],
    /// Openings since the breaker last closed (the back-off doubles with each).
    streak: AtomicU32,
    trips: AtomicU64,
    refused: AtomicU64,
}

impl Breaker {
    /// A closed breaker for `filter`.
    pub(crate) fn new(filter: Arc<str>, settings: BreakerSettings) -> Self {
        Self {
            filter,
            settings,
            word: AtomicU64::new(CLOSED),
            faults: [AtomicU32::new(0), AtomicU32::new(0)],
            streak: AtomicU32::new(0),
            trips: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Whether the filter may be called now (`now_ms` is read only while the breaker is open).
    pub(crate) fn admit(&self, now_ms: impl FnOnce() -> u64) -> Admission {
        if self.settings.after_faults == 0 {
            return Admission::Call;
        }
        let word = self.word.load(Ordering::Acquire);
        let state = word & state_mask();
        if state == CLOSED {
            return Admission::Call;
        }
        if state == OPEN && now_ms() >= word >> STATE_BITS {
            let trial = self
                .word
                .compare_exchange(word, HALF_OPEN, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
            if trial {
                tracing::debug!(plugin.name = %self.filter, "filter circuit breaker half-open; trial call");
                return Admission::Trial;
            }
        }
        self.refuse()
    }

    /// Records the outcome of a call the breaker admitted.
    pub(crate) fn record(
        &self,
        admission: Admission,
        hook: Hook,
        ok: bool,
        now_ms: impl FnOnce() -> u64,
    ) {
        let counter = &self.faults[hook as usize];
        match (admission, ok) {
            (Admission::Refused, _) => {}
            (Admission::Call, true) => {
                // Read first: a healthy filter leaves the counter's cache line alone.
                if counter.load(Ordering::Relaxed) != 0 {
                    counter.store(0, Ordering::Relaxed);
                }
            }
            (Admission::Call, false) => {
                let faults = counter.fetch_add(1, Ordering::Relaxed).saturating_add(1);
                if self.settings.after_faults > 0 && faults >= self.settings.after_faults {
                    self.open(CLOSED, now_ms(), faults);
                }
            }
            (Admission::Trial, true) => {
                self.reset_faults();
                self.streak.store(0, Ordering::Relaxed);
                self.word.store(CLOSED, Ordering::Release);
                tracing::warn!(plugin.name = %self.filter, "filter circuit breaker closed: the trial call succeeded");
            }
            (Admission::Trial, false) => self.open(HALF_OPEN, now_ms(), 1),
        }
    }

    /// The breaker as `/metrics` shows it.
    pub fn sample(&self) -> BreakerSample {
        BreakerSample {
            state: match self.word.load(Ordering::Relaxed) & state_mask() {
                CLOSED => BreakerState::Closed.metric(),
                OPEN => BreakerState::Open.metric(),
                _ => BreakerState::HalfOpen.metric(),
            },
            trips: self.trips.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }

    /// Opens the breaker from state `from`, unless another call already did.
    fn open(&self, from: u64, now_ms: u64, faults: u32) {
        let streak = self.streak.load(Ordering::Relaxed).saturating_add(1);
        let backoff = self.backoff(streak);
        let millis = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX);
        let reopen_at = now_ms.saturating_add(millis).min(u64::MAX >> STATE_BITS);
        let word = (reopen_at << STATE_BITS) | OPEN;
        let opened = self
            .word
            .compare_exchange(from, word, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok();
        if !opened {
            return;
        }
        self.streak.store(streak, Ordering::Relaxed);
        self.reset_faults();
        self.trips.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            plugin.name = %self.filter,
            faults,
            backoff_ms = millis,
            "filter circuit breaker opened: the filter is not called until the back-off ends"
        );
    }

    /// The back-off of the `streak`-th opening in a row: doubled each time, capped.
    fn backoff(&self, streak: u32) -> Duration {
        let factor = 1u32
            .checked_shl(streak.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.settings
            .backoff
            .saturating_mul(factor)
            .min(self.settings.max_backoff)
    }

    fn reset_faults(&self) {
        for counter in &self.faults {
            counter.store(0, Ordering::Relaxed);
        }
    }

    fn refuse(&self) -> Admission {
        self.refused.fetch_add(1, Ordering::Relaxed);
        Admission::Refused
    }
}

impl BreakerState {
    /// The gauge value: 0 closed, 1 open, 2 half-open.
    fn metric(self) -> u8 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::HalfOpen => 2,
        }
    }
}

const fn state_mask() -> u64 {
    (1 << STATE_BITS) - 1
}

/// Milliseconds on the process's monotonic clock.
pub(crate) fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let elapsed = START.get_or_init(Instant::now).elapsed();
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

type Registry = Vec<(Weak<Plugin>, Weak<Breaker>)>;

/// Breakers by plugin, so every chain using a filter shares its breaker. Touched only when a
/// chain is built and when metrics are read, never per request.
static REGISTRY: Mutex<Registry> = Mutex::new(Vec::new());

/// The breaker of `plugin`, created on first use.
pub(crate) fn breaker_for(plugin: &Arc<Plugin>, settings: BreakerSettings) -> Arc<Breaker> {
    let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    registry.retain(|(p, b)| p.strong_count() > 0 && b.strong_count() > 0);
    if let Some(breaker) = find(&registry, plugin) {
        return breaker;
    }
    let breaker = Arc::new(Breaker::new(plugin.settings().name.clone(), settings));
    registry.push((Arc::downgrade(plugin), Arc::downgrade(&breaker)));
    breaker
}

/// The breaker of `plugin`, if a chain uses it.
pub fn breaker_of(plugin: &Arc<Plugin>) -> Option<Arc<Breaker>> {
    let registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    find(&registry, plugin)
}

fn find(registry: &Registry, plugin: &Arc<Plugin>) -> Option<Arc<Breaker>> {
    registry
        .iter()
        .find(|(p, _)| std::ptr::eq(p.as_ptr(), Arc::as_ptr(plugin)))
        .and_then(|(_, b)| b.upgrade())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(after_faults: u32) -> Breaker {
        Breaker::new(
            Arc::from("f"),
            BreakerSettings {
                after_faults,
                backoff: Duration::from_millis(1000),
                max_backoff: Duration::from_millis(3000),
            },
        )
    }

    /// Makes one call at `now` with outcome `ok`; returns what the breaker said.
    fn call(b: &Breaker, now: u64, ok: bool) -> Admission {
        let admission = b.admit(|| now);
        b.record(admission, Hook::Request, ok, || now);
        admission
    }

    #[test]
    fn consecutive_faults_open_the_breaker_and_a_success_resets_the_count() {
        let b = breaker(3);
        call(&b, 0, false);
        call(&b, 0, false);
        call(&b, 0, true);
        call(&b, 0, false);
        call(&b, 0, false);
        assert_eq!(
            b.admit(|| 0),
            Admission::Call,
            "two in a row after a success"
        );
        call(&b, 0, false);
        assert_eq!(b.admit(|| 10), Admission::Refused);
        assert_eq!(b.sample().trips, 1);
        assert_eq!(b.sample().state, 1);
    }

    #[test]
    fn after_the_backoff_one_trial_is_let_through_and_its_success_closes() {
        let b = breaker(1);
        call(&b, 0, false);
        assert_eq!(b.admit(|| 999), Admission::Refused);
        assert_eq!(b.admit(|| 1000), Admission::Trial);
        assert_eq!(b.admit(|| 1000), Admission::Refused, "one trial at a time");
        assert_eq!(b.sample().state, 2);
        b.record(Admission::Trial, Hook::Request, true, || 1001);
        assert_eq!(b.admit(|| 1001), Admission::Call);
        assert_eq!(b.sample().state, 0);
        assert_eq!(b.sample().refused, 2);
    }

    #[test]
    fn a_failed_trial_doubles_the_backoff_up_to_the_cap_and_a_close_resets_it() {
        let b = breaker(1);
        call(&b, 0, false); // open until 1000
        assert_eq!(call(&b, 1000, false), Admission::Trial); // open until 3000
        assert_eq!(b.admit(|| 2999), Admission::Refused);
        assert_eq!(call(&b, 3000, false), Admission::Trial); // 4000 capped to 3000: until 6000
        assert_eq!(b.admit(|| 5999), Admission::Refused);
        assert_eq!(call(&b, 6000, true), Admission::Trial);
        assert_eq!(b.sample().trips, 3);
        call(&b, 6000, false); // a new streak: 1000 again
        assert_eq!(b.admit(|| 7000), Admission::Trial);
    }

    #[test]
    fn successes_in_the_other_hook_do_not_hide_faults() {
        let b = breaker(3);
        for _ in 0..3 {
            let admission = b.admit(|| 0);
            b.record(admission, Hook::Request, false, || 0);
            b.record(admission, Hook::Response, true, || 0);
        }
        assert_eq!(b.sample().trips, 1);
    }

    #[test]
    fn zero_faults_turns_the_breaker_off() {
        let b = breaker(0);
        for _ in 0..100 {
            assert_eq!(call(&b, 0, false), Admission::Call);
        }
        assert_eq!(b.sample().trips, 0);
    }

    #[test]
    fn a_late_fault_from_before_the_opening_does_not_reopen_or_close() {
        let b = breaker(1);
        call(&b, 0, false);
        // A call admitted while closed that fails after the opening.
        b.record(Admission::Call, Hook::Request, false, || 5);
        assert_eq!(b.sample().trips, 1);
        b.record(Admission::Call, Hook::Request, true, || 5);
        assert_eq!(b.admit(|| 500), Admission::Refused, "still open");
    }
}
