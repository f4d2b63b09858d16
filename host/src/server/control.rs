//! Reloading: a new config becomes a whole new state, built off the data path and swapped in
//! only if every part of it loads. Requests in flight keep the state they started with.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;
use std::path::PathBuf;

use tokio::sync::{Mutex, watch};

use crate::config::{self, Config, ConfigError};
use crate::proxy::ProxyState;
use crate::runtime::Runtime;

use super::listeners::{self, ListenerSet};
use super::{StartError, build_state};

/// Why a reload was refused. The old state keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A plugin of the new config did not load.
    #[error(transparent)]
    Load(#[from] StartError),
    /// The change needs a restart.
    #[error("{0} cannot change on reload; restart weir to apply it")]
    NotReloadable(&'static str),
}

/// Counts of reload outcomes.
#[derive(Clone, Debug, Default)]
pub struct ReloadStats {
    /// Reloads applied.
    pub applied: u64,
    /// Reloads refused.
    pub failed: u64,
    /// Why the last refused reload was refused.
    pub last_error: Option<String>,
}

/// Reloads the admin endpoint remembers, newest last.
pub const RELOAD_HISTORY: usize = 32;

/// One reload, applied or refused.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReloadEvent {
    /// When it ended, RFC 3339 UTC.
    pub time: String,
    /// `applied` or `refused`.
    pub outcome: &'static str,
    /// The generation serving afterwards.
    pub generation: u64,
    /// Why it was refused.
    pub error: Option<String>,
}

/// The handle through which triggers (SIGHUP, the admin endpoint, tests) reload weir.
pub struct Control {
    generation: watch::Sender<u64>,
    state: Arc<ArcSwap<ProxyState>>,
    runtime: Arc<Runtime>,
    listeners: Arc<ListenerSet>,
    config: Mutex<Config>,
    applied: AtomicU64,
    failed: AtomicU64,
    last_error: std::sync::Mutex<Option<String>>,
    history: std::sync::Mutex<std::collections::VecDeque<ReloadEvent>>,
    /// Whether weir says it is ready for traffic (false once draining).
    ready: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("generation", &self.state.load().generation)
            .finish_non_exhaustive()
    }
}

impl Control {
    /// Whether weir is ready for new traffic: serving, and neither stopping nor told to drain.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Says "not ready" from now on (a stop began, or an operator drains weir before stopping
    /// it): load balancers that probe readiness stop sending; requests are still served.
    pub fn set_draining(&self) {
        self.ready.store(false, Ordering::Release);
    }

    pub(super) fn new(
        state: Arc<ArcSwap<ProxyState>>,
        runtime: Arc<Runtime>,
        listeners: Arc<ListenerSet>,
        config: Config,
    ) -> Self {
        Self {
            generation: watch::channel(state.load().generation).0,
            state,
            runtime,
            listeners,
            config: Mutex::new(config),
            applied: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            last_error: std::sync::Mutex::new(None),
            history: std::sync::Mutex::new(std::collections::VecDeque::new()),
            ready: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// The state serving new requests.
    pub fn state(&self) -> Arc<ProxyState> {
        self.state.load_full()
    }

    /// A receiver that sees each new generation once it serves.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// The config file and every plugin file of the config in force.
    pub async fn watched_files(&self) -> Vec<PathBuf> {
        watched_files(&*self.config.lock().await)
    }

    /// Reload outcomes so far.
    pub fn stats(&self) -> ReloadStats {
        ReloadStats {
            applied: self.applied.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }

    /// The last [`RELOAD_HISTORY`] reloads, oldest first.
    pub fn history(&self) -> Vec<ReloadEvent> {
        self.history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    fn remember(&self, outcome: &'static str, error: Option<String>) {
        let event = ReloadEvent {
            time: crate::access::rfc3339(std::time::SystemTime::now()),
            outcome,
            generation: self.state.load().generation,
            error,
        };
        let mut history = self
            .history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if history.len() == RELOAD_HISTORY {
            history.pop_front();
        }
        history.push_back(event);
    }

    /// Re-reads the config file (quick mode: the same config) and reloads every plugin it names.
    pub async fn reload_from_source(&self) -> Result<u64, ReloadError> {
        // systemd learns of every reload, whatever started it, and that it ended either way.
        super::notify::reloading();
        let outcome = self.reload_from_source_inner().await;
        super::notify::ready();
        outcome
    }

    async fn reload_from_source_inner(&self) -> Result<u64, ReloadError> {
        let path = self.config.lock().await.path.clone();
        let next = match path {
            Some(path) => match config::load(&path) {
                Ok(config) => config,
                Err(e) => return Err(self.refuse(e.into())),
            },
            None => self.config.lock().await.clone(),
        };
        self.reload(next).await
    }

    /// Builds a whole new state from `next` and swaps it in; on any error the old state stays.
    /// Reloads are serialised; the data path is never blocked.
    pub async fn reload(&self, next: Config) -> Result<u64, ReloadError> {
        let mut current = self.config.lock().await;
        if next.runtime != current.runtime {
            return Err(self.refuse(ReloadError::NotReloadable("[runtime]")));
        }
        if next.admin != current.admin {
            return Err(self.refuse(ReloadError::NotReloadable("[admin]")));
        }
        if next.scheduling != current.scheduling {
            return Err(self.refuse(ReloadError::NotReloadable("[server] scheduler and workers")));
        }
        let started = Instant::now();
        // New addresses are bound before anything else, so a busy port refuses the reload
        // while the old state and its listeners keep serving.
        let new_listeners = match listeners::bind(
            &self.listeners.to_bind(&next.listeners),
            self.listeners.copies(),
        )
        .await
        {
            Ok(bound) => bound,
            Err(e) => return Err(self.refuse(e.into())),
        };
        let generation = self.state.load().generation + 1;
        let previous = self.state.load_full();
        let state = match build_state(&next, &self.runtime, generation, Some(&previous)).await {
            Ok(state) => state,
            Err(e) => return Err(self.refuse(e.into())),
        };
        self.state.store(Arc::new(state));
        self.listeners.apply(&next.listeners, new_listeners);
        *current = next;
        self.generation.send_replace(generation);
        self.applied.fetch_add(1, Ordering::Relaxed);
        self.remember("applied", None);
        tracing::info!(
            generation,
            took_ms = started.elapsed().as_millis() as u64,
            "reload applied"
        );
        Ok(generation)
    }

    fn refuse(&self, error: ReloadError) -> ReloadError {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let text = crate::upstream::error_chain(&error);
        tracing::error!(error = %text, "reload refused; the previous config keeps serving");
        self.remember("refused", Some(text.clone()));
        *self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(text);
        error
    }
}

/// The config file and every plugin file `config` names.
pub(super) fn watched_files(config: &Config) -> Vec<PathBuf> {
    config
        .path
        .iter()
        .cloned()
        .chain(config.filters.iter().map(|f| f.plugin.clone()))
        .collect()
}
