//! Listeners, the accept loop, per-connection limits, graceful shutdown, and the runtime state
//! (routes, chains, pools) built from a config and held behind an `ArcSwap`.

mod control;
mod cores;
mod file_watch;
mod guard;
mod listeners;
pub mod notify;
pub(crate) mod proxy_protocol;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{Config, ListenerConfig, Scheduler};
use crate::proxy::{Drain, ProxyState, StopState, Stopper, Tunnels};
use crate::runtime::{LoadError, Runtime, RuntimeError};

use listeners::ListenerSet;

pub use crate::config::WatchSettings;
pub use control::{Control, RELOAD_HISTORY, ReloadError, ReloadEvent, ReloadStats};
pub use state::build_state;

/// Why weir could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The wasm engine could not be created.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A plugin could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A listener could not bind.
    #[error("listener `{name}`: cannot bind {addr}")]
    Bind {
        /// Listener name.
        name: String,
        /// Address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A chain names a plugin of the other world (a stream router in a route, say).
    #[error("`{key}` names filter `{filter}`, a {world} plugin; it needs a {wanted} plugin")]
    World {
        /// Key path of the chain.
        key: String,
        /// Filter name.
        filter: Arc<str>,
        /// The plugin's world.
        world: crate::runtime::World,
        /// The world the chain needs.
        wanted: crate::runtime::World,
    },
    /// The per-core worker threads could not be started.
    #[error("cannot start {workers} worker threads")]
    Workers {
        /// How many were asked for.
        workers: usize,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Loading was interrupted (the blocking task panicked or was cancelled).
    #[error("plugin loading was interrupted")]
    Interrupted,
}

/// A running weir: its listeners, its state and its stop switch.
pub struct Running {
    control: Arc<Control>,
    listeners: Arc<ListenerSet>,
    stop: Arc<watch::Sender<StopState>>,
    stopped: watch::Receiver<StopState>,
    tunnels: Arc<Tunnels>,
    tasks: JoinSet<()>,
    grace: Duration,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addrs", &self.addrs())
            .finish_non_exhaustive()
    }
}

/// Loads every plugin, binds every listener and starts serving.
pub async fn start(config: Config) -> Result<Running, StartError> {
    // Taken before any plugin is read, so a change made while loading is seen by the watcher.
    let files_at_start = file_watch::fingerprint(control::watched_files(&config));
    let runtime = Runtime::new(config.runtime.clone())?;
    // Before any pool is built: pools keep one shard per worker.
    let cores = match config.scheduling.scheduler {
        Scheduler::WorkStealing => None,
        Scheduler::PerCore => {
            let workers = config.scheduling.threads();
            let cores = cores::Cores::start(workers).map_err(|source| StartError::Workers {
                workers: workers.get(),
                source,
            })?;
            Some(Arc::new(cores))
        }
    };
    let state = build_state(&config, &runtime, 1, None).await?;
    let state = Arc::new(ArcSwap::from_pointee(state));
    let grace = config.shutdown_grace;
    let watch_files = config.watch.filter(|_| config.path.is_some());
    let (stop, stopped) = watch::channel(StopState::Serving);
    let tunnels = Arc::new(Tunnels::default());
    let listeners = Arc::new(ListenerSet::new(
        state.clone(),
        stopped.clone(),
        tunnels.clone(),
        grace,
        cores,
    ));
    let wanted: Vec<&ListenerConfig> = config.listeners.iter().collect();
    listeners.start(listeners::bind(&wanted, listeners.copies()).await?);
    let control = Arc::new(Control::new(state, runtime, listeners.clone(), config));
    let mut tasks = JoinSet::new();
    if let Some(settings) = watch_files {
        tasks.spawn(file_watch::run(
            control.clone(),
            settings,
            files_at_start,
            stopped.clone(),
        ));
    }
    Ok(Running {
        control,
        listeners,
        stop: Arc::new(stop),
        stopped,
        tunnels,
        tasks,
        grace,
    })
}

impl Running {
    /// The bound address of each listener, by name, in config order.
    pub fn addrs(&self) -> Vec<(String, SocketAddr)> {
        self.listeners.addrs()
    }

    /// The bound address of the listener called `name`.
    pub fn addr_of(&self, name: &str) -> Option<SocketAddr> {
        self.addrs()
            .into_iter()
            .find(|(listener, _)| listener == name)
            .map(|(_, addr)| addr)
    }

    /// The state serving new requests.
    pub fn state(&self) -> Arc<ProxyState> {
        self.control.state()
    }

    /// The reload handle.
    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    /// Starts and escalates the stop (from signals, say) while [`stopped`](Self::stopped)
    /// waits for it.
    pub fn stopper(&self) -> Stopper {
        Stopper::new(self.stop.clone(), self.grace)
    }

    /// Waits until a stop began with [`stopper`](Self::stopper) has ended: every listener
    /// closed, every connection and tunnel finished or cut at the stop's deadline. Returns
    /// whether everything finished (false: some connections or tunnels were cut).
    pub async fn stopped(mut self) -> bool {
        let mut state = self.stopped.clone();
        let _ = state.wait_for(|s| *s != StopState::Serving).await;
        self.control.set_draining();
        tracing::info!("draining");
        let mut complete = self.listeners.join().await;
        // Tunnels outlive their HTTP connections; they end by themselves or at the deadline,
        // when their own drain closes them.
        let tunnels = self.tunnels.clone();
        let drain = Drain::new(self.stopped.clone(), tunnels.clone());
        tokio::select! {
            () = tunnels.all_closed() => {}
            () = drain.wait() => {
                complete = false;
                // They close themselves now; give them a moment to log.
                let _ = tokio::time::timeout(Duration::from_secs(1), tunnels.all_closed()).await;
            }
        }
        while self.tasks.join_next().await.is_some() {}
        tracing::info!(complete, "stopped");
        complete
    }

    /// A fast stop: stops accepting, lets requests and tunnels in flight finish up to the
    /// grace period, closes the rest, then returns whether everything finished.
    pub async fn shutdown(self) -> bool {
        tracing::info!(grace_ms = self.grace.as_millis() as u64, "stopping");
        self.stopper().fast();
        self.stopped().await
    }
}
