//! Where connections run: the caller's (work-stealing) runtime, or one single-threaded runtime
//! per worker thread (`[server] scheduler = "per-core"`).
//!
//! Per core, every listener has one socket per worker, all bound to the same address with
//! `SO_REUSEPORT`, so the kernel spreads new connections over the workers and a connection
//! stays on the thread that accepted it: its requests, its filter calls, the upstream
//! connections it opens and their tasks. Nothing is handed between threads on the data path,
//! and no task is ever stolen. Pools that are shared between workers (warm plugin instances,
//! idle upstream connections) keep one shard per worker (`crate::worker`), so two workers
//! never contend for a lock on the data path.

use std::num::NonZeroUsize;
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The per-core workers: one thread each, running a single-threaded runtime until dropped.
/// Dropping the stop senders ends each worker's runtime on its own thread; the threads are
/// detached, not joined (joining could block an async caller, and nothing waits for them).
pub(crate) struct Cores {
    handles: Vec<Handle>,
    stops: Vec<oneshot::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Cores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cores")
            .field("workers", &self.handles.len())
            .finish()
    }
}

impl Cores {
    /// Starts `count` worker threads, each with its own runtime (I/O and timers enabled).
    pub(crate) fn start(count: NonZeroUsize) -> std::io::Result<Self> {
        crate::worker::reserve_shards(count.get());
        let mut cores = Self {
            handles: Vec::with_capacity(count.get()),
            stops: Vec::with_capacity(count.get()),
            threads: Vec::with_capacity(count.get()),
        };
        for index in 0..count.get() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (stop, stopped) = oneshot::channel::<()>();
            cores.handles.push(runtime.handle().clone());
            cores.stops.push(stop);
            let thread = std::thread::Builder::new()
                .name(format!("weir-worker-{index}"))
                .spawn(move || {
                    crate::worker::set_current(index);
                    // The runtime runs its tasks while this waits; dropping the sender (the
                    // `Cores` dropped) ends it.
                    runtime.block_on(async {
                        let _ = stopped.await;
                    });
                    // Whatever is left (connections cut at a stop's deadline) is dropped.
                    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
                })?;
            cores.threads.push(thread);
        }
        Ok(cores)
    }

    /// The runtime of each worker, in worker order.
    pub(crate) fn handles(&self) -> &[Handle] {
        &self.handles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_worker_runs_its_tasks_on_its_own_thread_and_knows_its_index() {
        let cores = Cores::start(NonZeroUsize::new(3).expect("3")).expect("workers start");
        let (tx, rx) = std::sync::mpsc::channel();
        for handle in cores.handles() {
            let tx = tx.clone();
            handle.spawn(async move {
                let _ = tx.send((
                    crate::worker::current(),
                    std::thread::current().name().map(str::to_owned),
                ));
            });
        }
        drop(tx);
        let mut seen: Vec<_> = rx.iter().collect();
        seen.sort();
        assert_eq!(
            seen,
            vec![
                (0, Some("weir-worker-0".to_owned())),
                (1, Some("weir-worker-1".to_owned())),
                (2, Some("weir-worker-2".to_owned())),
            ]
        );
        assert_eq!(
            crate::worker::current(),
            0,
            "a thread that is not a worker is index 0"
        );
    }
}
