//! Listeners, the accept loop, per-connection limits, graceful shutdown, and the runtime state
//! (routes, chains, pools) built from a config and held behind an `ArcSwap`.

mod control;
mod file_watch;
mod guard;
mod listeners;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{Config, ListenerConfig};
use crate::proxy::ProxyState;
use crate::runtime::{LoadError, Runtime, RuntimeError};

use listeners::ListenerSet;

pub use control::{Control, ReloadError, ReloadStats};
pub use file_watch::WatchSettings;
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
    /// Loading was interrupted (the blocking task panicked or was cancelled).
    #[error("plugin loading was interrupted")]
    Interrupted,
}

/// A running weir: its listeners, its state and its shutdown switch.
pub struct Running {
    control: Arc<Control>,
    listeners: Arc<ListenerSet>,
    stop: watch::Sender<bool>,
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
    let state = build_state(&config, &runtime, 1, None).await?;
    let state = Arc::new(ArcSwap::from_pointee(state));
    let grace = config.shutdown_grace;
    let watch_files = config.watch.filter(|_| config.path.is_some());
    let (stop, stopped) = watch::channel(false);
    let listeners = Arc::new(ListenerSet::new(state.clone(), stopped.clone(), grace));
    let wanted: Vec<&ListenerConfig> = config.listeners.iter().collect();
    listeners.start(listeners::bind(&wanted).await?);
    let control = Arc::new(Control::new(state, runtime, listeners.clone(), config));
    let mut tasks = JoinSet::new();
    if let Some(settings) = watch_files {
        tasks.spawn(file_watch::run(
            control.clone(),
            settings,
            files_at_start,
            stopped,
        ));
    }
    Ok(Running {
        control,
        listeners,
        stop,
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

    /// Stops accepting, lets requests in flight finish (up to the grace period), then returns.
    pub async fn shutdown(mut self) {
        tracing::info!(grace_ms = self.grace.as_millis() as u64, "draining");
        let _ = self.stop.send(true);
        self.listeners.join().await;
        while self.tasks.join_next().await.is_some() {}
        tracing::info!("stopped");
    }
}
