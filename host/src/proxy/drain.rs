//! How weir stops: the stop state every listener, connection and tunnel watches, and the count
//! of tunnels (CONNECT and upgraded connections) that outlive their HTTP connection.
//!
//! A stop is either **graceful** (no deadline: everything in flight finishes, however long) or
//! **fast** (a deadline `shutdown_grace_ms` away, after which what is left is closed). A stop
//! only ever gets faster: graceful → fast → now.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// Where the process is in stopping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopState {
    /// Serving.
    Serving,
    /// Not accepting; work in flight ends by the deadline (none: whenever it finishes).
    Draining {
        /// When what is left is closed.
        deadline: Option<Instant>,
    },
}

/// The stop signal, for work that outlives an HTTP connection.
#[derive(Clone, Debug)]
pub struct Drain {
    stopped: watch::Receiver<StopState>,
    tunnels: Arc<Tunnels>,
}

impl Drain {
    /// A drain that follows `stopped` and counts its tunnels in `tunnels`.
    pub fn new(stopped: watch::Receiver<StopState>, tunnels: Arc<Tunnels>) -> Self {
        Self { stopped, tunnels }
    }

    /// Resolves when a stop's deadline has passed: never while serving or draining
    /// gracefully, unless the stop escalates (or if the sender is dropped without a stop).
    pub async fn wait(mut self) {
        loop {
            let state = *self.stopped.borrow_and_update();
            match state {
                StopState::Draining {
                    deadline: Some(deadline),
                } => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => return,
                        changed = self.stopped.changed() => {
                            if changed.is_err() {
                                tokio::time::sleep_until(deadline).await;
                                return;
                            }
                        }
                    }
                }
                _ => {
                    if self.stopped.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    }

    /// Counts a tunnel as open until the guard is dropped, so that a stop waits for it.
    pub fn track(&self) -> TunnelGuard {
        self.tunnels.open.fetch_add(1, Ordering::AcqRel);
        TunnelGuard(self.tunnels.clone())
    }
}

/// Tunnels open now.
#[derive(Debug, Default)]
pub struct Tunnels {
    open: AtomicUsize,
    closed: Notify,
}

impl Tunnels {
    /// Tunnels open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Resolves when no tunnel is open.
    pub async fn all_closed(&self) {
        loop {
            let closed = self.closed.notified();
            if self.open() == 0 {
                return;
            }
            closed.await;
        }
    }
}

/// One open tunnel.
#[derive(Debug)]
pub struct TunnelGuard(Arc<Tunnels>);

impl Drop for TunnelGuard {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.closed.notify_waiters();
        }
    }
}

/// Starts and escalates a stop.
#[derive(Clone, Debug)]
pub struct Stopper {
    state: Arc<watch::Sender<StopState>>,
    grace: std::time::Duration,
}

impl Stopper {
    /// A stopper over `state`; a fast stop closes what is left after `grace`.
    pub fn new(state: Arc<watch::Sender<StopState>>, grace: std::time::Duration) -> Self {
        Self { state, grace }
    }

    /// Stops accepting; everything in flight may finish, however long it takes.
    pub fn graceful(&self) {
        self.state.send_if_modified(|state| match state {
            StopState::Serving => {
                *state = StopState::Draining { deadline: None };
                true
            }
            StopState::Draining { .. } => false,
        });
    }

    /// Stops accepting; what is still in flight after the grace period is closed. Never makes
    /// a running stop slower.
    pub fn fast(&self) {
        self.until(Instant::now() + self.grace);
    }

    /// Closes everything now.
    pub fn now(&self) {
        self.until(Instant::now());
    }

    /// The next step after the current one: serving or graceful → fast, fast → now. Returns
    /// the step taken, for the log.
    pub fn escalate(&self) -> &'static str {
        // Copied out: the watch's read guard must be gone before the state is written.
        let current = *self.state.borrow();
        match current {
            StopState::Serving | StopState::Draining { deadline: None } => {
                self.fast();
                "fast"
            }
            StopState::Draining { deadline: Some(_) } => {
                self.now();
                "now"
            }
        }
    }

    fn until(&self, at: Instant) {
        self.state.send_if_modified(|state| {
            let sooner = match state {
                StopState::Draining {
                    deadline: Some(current),
                } => at < *current,
                _ => true,
            };
            if sooner {
                *state = StopState::Draining { deadline: Some(at) };
            }
            sooner
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_graceful_drain_waits_until_it_escalates() {
        let (tx, rx) = watch::channel(StopState::Serving);
        let stopper = Stopper::new(Arc::new(tx), Duration::from_millis(50));
        let drain = Drain::new(rx, Arc::default());
        let waiting = tokio::spawn(drain.wait());
        stopper.graceful();
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(!waiting.is_finished(), "graceful: no deadline");
        assert_eq!(stopper.escalate(), "fast");
        tokio::time::timeout(Duration::from_secs(2), waiting)
            .await
            .expect("the fast deadline passed")
            .expect("task");
        assert_eq!(stopper.escalate(), "now");
    }

    #[tokio::test]
    async fn tunnels_are_counted_until_their_guards_drop() {
        let (_tx, rx) = watch::channel(StopState::Serving);
        let tunnels = Arc::new(Tunnels::default());
        let drain = Drain::new(rx, tunnels.clone());
        let (a, b) = (drain.track(), drain.track());
        assert_eq!(tunnels.open(), 2);
        let all = tokio::spawn({
            let tunnels = tunnels.clone();
            async move { tunnels.all_closed().await }
        });
        drop(a);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!all.is_finished());
        drop(b);
        tokio::time::timeout(Duration::from_secs(2), all)
            .await
            .expect("all closed")
            .expect("task");
    }
}
