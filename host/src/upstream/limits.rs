//! What keeps a pool's backends from being overrun: a limit of requests in flight per backend
//! (one per HTTP/1.1 connection, so also a limit of connections; and of HTTP/2 streams), a
//! bounded first-come-first-served queue for requests that find every slot taken, and the
//! retry budget that keeps retries to a share of recent requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Limits of a pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Open connections per backend (HTTP/1.1: one request each).
    pub max_connections: usize,
    /// Concurrent requests on a backend's HTTP/2 connection.
    pub max_streams: usize,
    /// Requests waiting for a slot, per pool; more are refused at once.
    pub queue_size: usize,
    /// Longest wait in the queue.
    pub queue_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_streams: 128,
            queue_size: 1024,
            queue_timeout: Duration::from_secs(5),
        }
    }
}

/// Retry settings of a pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retries {
    /// Retries per request, each on a backend not tried yet.
    pub max_retries: u32,
    /// Retry idempotent requests whose connection broke before the response head.
    pub on_reset: bool,
    /// Retry idempotent requests whose response head did not arrive in time.
    pub on_timeout: bool,
    /// Retry idempotent requests answered with one of these statuses.
    pub on_status: Vec<u16>,
    /// Retries allowed as a share of the pool's requests over the last 10 s, in percent.
    pub budget_percent: u32,
    /// Retries always allowed per second, whatever the share.
    pub budget_min_per_sec: u32,
    /// Largest request body kept for a replay; a larger body is never replayed.
    pub max_body_bytes: usize,
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            max_retries: 2,
            on_reset: true,
            on_timeout: false,
            on_status: Vec::new(),
            budget_percent: 20,
            budget_min_per_sec: 3,
            max_body_bytes: 64 * 1024,
        }
    }
}

/// A backend's slots: connections for HTTP/1.1, streams for HTTP/2.
#[derive(Debug)]
pub(crate) struct Slots {
    conns: Arc<Semaphore>,
    streams: Arc<Semaphore>,
}

/// Why a request got no slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The queue was full.
    QueueFull,
    /// The wait in the queue passed its timeout.
    QueueTimeout,
}

impl Slots {
    pub(crate) fn new(limits: &Limits) -> Self {
        let bound = |n: usize| n.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            conns: Arc::new(Semaphore::new(bound(limits.max_connections))),
            streams: Arc::new(Semaphore::new(bound(limits.max_streams))),
        }
    }

    /// Whether a request would get a slot at once.
    pub(crate) fn has_free(&self, h2: bool) -> bool {
        self.semaphore(h2).available_permits() > 0
    }

    fn semaphore(&self, h2: bool) -> &Arc<Semaphore> {
        if h2 { &self.streams } else { &self.conns }
    }

    /// A slot, at once if one is free, else after waiting in `queue` (in arrival order).
    pub(crate) async fn acquire(
        &self,
        h2: bool,
        queue: &Queue,
    ) -> Result<OwnedSemaphorePermit, Refused> {
        let semaphore = self.semaphore(h2);
        if let Ok(permit) = semaphore.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let _place = queue.enter()?;
        match tokio::time::timeout(queue.timeout, semaphore.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; a closed one is as good as a timeout.
            Ok(Err(_)) | Err(_) => Err(Refused::QueueTimeout),
        }
    }
}

/// A pool's queue of requests waiting for a slot.
#[derive(Debug)]
pub(crate) struct Queue {
    waiting: AtomicUsize,
    size: usize,
    pub(crate) timeout: Duration,
    refused: AtomicU64,
    timed_out: AtomicU64,
}

impl Queue {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            waiting: AtomicUsize::new(0),
            size: limits.queue_size,
            timeout: limits.queue_timeout,
            refused: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
        }
    }

    fn enter(&self) -> Result<Place<'_>, Refused> {
        let before = self.waiting.fetch_add(1, Ordering::AcqRel);
        if before >= self.size {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Refused::QueueFull);
        }
        Ok(Place(self))
    }

    pub(crate) fn count_timeout(&self) {
        self.timed_out.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests waiting now.
    pub(crate) fn len(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Requests refused because the queue was full, and requests that waited too long.
    pub(crate) fn refusals(&self) -> (u64, u64) {
        (
            self.refused.load(Ordering::Relaxed),
            self.timed_out.load(Ordering::Relaxed),
        )
    }
}

/// A request's place in the queue, given up when dropped.
struct Place<'a>(&'a Queue);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Seconds in the retry budget's window.
const WINDOW_SECS: u64 = 10;

/// Retries allowed as a share of recent requests: counts of requests and retries per second
/// over the last `WINDOW_SECS` seconds, without a lock.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    percent: u64,
    min_per_window: u64,
    started: Instant,
    buckets: [Bucket; WINDOW_SECS as usize],
    spent: AtomicU64,
    denied: AtomicU64,
}

#[derive(Debug, Default)]
struct Bucket {
    second: AtomicU64,
    requests: AtomicU32,
    retries: AtomicU32,
}

impl RetryBudget {
    pub(crate) fn new(retries: &Retries) -> Self {
        Self {
            percent: u64::from(retries.budget_percent),
            min_per_window: u64::from(retries.budget_min_per_sec) * WINDOW_SECS,
            started: Instant::now(),
            buckets: Default::default(),
            spent: AtomicU64::new(0),
            denied: AtomicU64::new(0),
        }
    }

    /// Counts a request (not a retry).
    pub(crate) fn count_request(&self) {
        self.bucket().requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one retry from the budget, if the window has room for it.
    pub(crate) fn try_retry(&self) -> bool {
        let now = self.second();
        let (mut requests, mut retries) = (0u64, 0u64);
        for bucket in &self.buckets {
            if now.saturating_sub(bucket.second.load(Ordering::Relaxed)) < WINDOW_SECS {
                requests += u64::from(bucket.requests.load(Ordering::Relaxed));
                retries += u64::from(bucket.retries.load(Ordering::Relaxed));
            }
        }
        let allowed = (requests * self.percent / 100).max(self.min_per_window);
        if retries >= allowed {
            self.denied.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.bucket().retries.fetch_add(1, Ordering::Relaxed);
        self.spent.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Retries made and retries the budget refused.
    pub(crate) fn totals(&self) -> (u64, u64) {
        (
            self.spent.load(Ordering::Relaxed),
            self.denied.load(Ordering::Relaxed),
        )
    }

    fn second(&self) -> u64 {
        // Offset by the window so that the buckets' initial zero reads as long past.
        self.started.elapsed().as_secs() + WINDOW_SECS
    }

    /// This second's bucket, emptied first if it still holds an old second's counts.
    fn bucket(&self) -> &Bucket {
        let now = self.second();
        let bucket = &self.buckets[(now % WINDOW_SECS) as usize];
        let seen = bucket.second.load(Ordering::Acquire);
        if seen != now
            && bucket
                .second
                .compare_exchange(seen, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            bucket.requests.store(0, Ordering::Relaxed);
            bucket.retries.store(0, Ordering::Relaxed);
        }
        bucket
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_allows_a_share_of_requests_and_a_floor() {
        let budget = RetryBudget::new(&Retries {
            budget_percent: 10,
            budget_min_per_sec: 0,
            ..Retries::default()
        });
        for _ in 0..100 {
            budget.count_request();
        }
        let granted = (0..50).filter(|_| budget.try_retry()).count();
        assert_eq!(granted, 10);
        assert_eq!(budget.totals(), (10, 40));

        let floor = RetryBudget::new(&Retries {
            budget_percent: 10,
            budget_min_per_sec: 1,
            ..Retries::default()
        });
        let granted = (0..50).filter(|_| floor.try_retry()).count();
        assert_eq!(granted, 10, "1 per second over a 10 s window");
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_a_long_wait_times_out() {
        let limits = Limits {
            max_connections: 1,
            max_streams: 1,
            queue_size: 1,
            queue_timeout: Duration::from_millis(50),
        };
        let (slots, queue) = (Slots::new(&limits), Queue::new(&limits));
        let held = slots.acquire(false, &queue).await.expect("free slot");
        // One waits; the next is refused at once.
        let (first, second) = tokio::join!(slots.acquire(false, &queue), async {
            tokio::task::yield_now().await;
            slots.acquire(false, &queue).await
        });
        assert_eq!(first.err(), Some(Refused::QueueTimeout));
        assert_eq!(second.err(), Some(Refused::QueueFull));
        drop(held);
        assert!(slots.acquire(false, &queue).await.is_ok());
    }
}
