//! Which worker thread the caller runs on, and pools sharded by it.
//!
//! Under per-core scheduling (`[server] scheduler = "per-core"`, module `server::cores`) each
//! worker thread serves its own connections, and pools that outlive a request (warm plugin
//! instances, idle upstream connections) keep one shard per worker: a worker takes from and
//! gives back to its own shard, so two workers never wait for each other's lock on the data
//! path, and what a worker takes was most likely made on that worker (an upstream connection's
//! task runs on the runtime that opened it). Any other thread is worker 0.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

thread_local! {
    /// The worker index of this thread; 0 on a thread that is not a per-core worker.
    static CURRENT: Cell<usize> = const { Cell::new(0) };
}

/// Shards a pool made now keeps: the most workers any per-core scheduler asked for so far
/// (1 when none did).
static SHARDS: AtomicUsize = AtomicUsize::new(1);

/// The worker index of the calling thread (0 outside per-core workers).
pub(crate) fn current() -> usize {
    CURRENT.with(Cell::get)
}

/// Marks the calling thread as worker `index`.
pub(crate) fn set_current(index: usize) {
    CURRENT.with(|current| current.set(index));
}

/// Makes pools created from now on keep at least `workers` shards.
pub(crate) fn reserve_shards(workers: usize) {
    SHARDS.fetch_max(workers.max(1), Ordering::Relaxed);
}

/// A value per worker, each behind its own lock, on its own cache line (no false sharing
/// between workers).
pub(crate) struct Sharded<T> {
    shards: Box<[Padded<T>]>,
}

#[repr(align(128))]
struct Padded<T>(Mutex<T>);

impl<T: Default> Sharded<T> {
    /// One shard per worker of the schedulers started so far.
    pub(crate) fn new() -> Self {
        let shards = SHARDS.load(Ordering::Relaxed);
        Self {
            shards: (0..shards).map(|_| Padded(Mutex::default())).collect(),
        }
    }
}

impl<T> Sharded<T> {
    /// Each shard's part of a bound on the whole pool (`max_idle_instances`, say): the bound
    /// divided between the shards, rounded up; 0 stays 0 (keep nothing).
    pub(crate) fn share_of(&self, total: usize) -> usize {
        total.div_ceil(self.shards.len())
    }

    /// The calling worker's shard, locked (uncontended unless another thread borrows it).
    pub(crate) fn local(&self) -> MutexGuard<'_, T> {
        self.lock(current() % self.shards.len())
    }

    /// The shard of worker `index`, locked.
    pub(crate) fn at(&self, index: usize) -> MutexGuard<'_, T> {
        self.lock(index % self.shards.len())
    }

    /// Every shard in turn, locked one at a time, starting after the caller's: for stealing
    /// when the caller's own is empty, and for totals.
    pub(crate) fn others(&self) -> impl Iterator<Item = MutexGuard<'_, T>> {
        let own = current() % self.shards.len();
        (1..self.shards.len()).map(move |step| self.lock((own + step) % self.shards.len()))
    }

    /// Every shard in turn, locked one at a time.
    pub(crate) fn all(&self) -> impl Iterator<Item = MutexGuard<'_, T>> {
        (0..self.shards.len()).map(|i| self.lock(i))
    }

    fn lock(&self, index: usize) -> MutexGuard<'_, T> {
        self.shards[index]
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Sharded<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.all().map(|s| format!("{:?}", &*s)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_worker_uses_its_own_shard_and_can_reach_the_others() {
        reserve_shards(4);
        let pool: Sharded<Vec<usize>> = Sharded::new();
        assert!(pool.shards.len() >= 4);
        std::thread::scope(|scope| {
            for index in 0..4 {
                let pool = &pool;
                scope.spawn(move || {
                    set_current(index);
                    pool.local().push(index);
                });
            }
        });
        for index in 0..4 {
            assert_eq!(*pool.lock(index), vec![index]);
        }
        set_current(1);
        let others: Vec<Vec<usize>> = pool.others().map(|s| s.clone()).collect();
        assert_eq!(others.len(), pool.shards.len() - 1);
        assert!(
            !others.contains(&vec![1]),
            "its own shard is not among the others"
        );
        assert_eq!(pool.all().map(|s| s.len()).sum::<usize>(), 4);
        set_current(0);
        let shards = pool.shards.len();
        assert_eq!(
            pool.share_of(0),
            0,
            "a bound of 0 keeps nothing in any shard"
        );
        assert_eq!(pool.share_of(1), 1);
        assert_eq!(pool.share_of(shards * 16), 16);
        assert_eq!(pool.share_of(shards * 16 + 1), 17, "rounded up");
    }
}
