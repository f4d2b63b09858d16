//! The wasm runtime: one wasmtime [`Engine`] per process (pooling allocator, epoch interruption),
//! compiled-component caching, warm instance pools and hook calls with a deadline and a memory
//! cap. This module owns the host side of the WIT contract.
//!
//! It must not depend on any other weir module: callers hand it plain settings and views.

pub mod bindings;
mod budget;
mod cache;
mod context;
mod cookie;
mod fields;
mod imports;
mod journal;
mod path;
mod plugin;
mod request;
mod response;
mod snapshot;
mod store;
pub(crate) mod validate;
mod wasi_shim;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use bindings::stream::{Connection, Route, Upstream, Verdict};
pub use bindings::{Decision, EditError, Header, LocalResponse};
pub use budget::PluginLimits;
pub use cache::{CacheOutcome, ContentHash};
pub use context::FilterContexts;
pub use journal::{Journal, JournalEntry};
pub use path::{EncodedSeparators, PathContext};
pub(crate) use path::{RawTarget, normalise_target};
pub use plugin::{CallError, FilterSettings, Isolation, LoadError, Plugin, WIT_PACKAGE, World};
pub use request::{BackendChoice, RequestId, RequestView};

/// The cookies of a request view, as the plugin's `cookies()` would return them.
pub(crate) fn request_cookies(view: &RequestView) -> Vec<(String, String)> {
    view.cookie_pairs()
}
pub use response::ResponseView;
pub use store::MemoryCapExceeded;

use cache::ComponentCache;

/// A store's host state with `view` lent to it and a fresh call budget, for the fuzz targets
/// that call the host functions a guest calls.
#[cfg(any(fuzzing, test))]
pub(crate) fn fuzz_state(view: RequestView, limits: PluginLimits) -> store::HostState {
    let shared = Arc::new(store::PluginShared::new(Arc::from("fuzz")));
    let mut state = store::HostState::new(shared, 16 << 20, limits);
    state.lent.request = Some(view);
    state.budget.reset();
    state
}

/// The view lent by [`fuzz_state`], after the calls.
#[cfg(any(fuzzing, test))]
pub(crate) fn fuzz_take(mut state: store::HostState) -> RequestView {
    match state.lent.request.take() {
        Some(view) => view,
        None => panic!("the lent view left the store"),
    }
}

/// Process-wide runtime settings (the `[runtime]` config table). Not reloadable: the engine
/// outlives every config generation so compiled components stay valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineSettings {
    /// Most plugin instances alive at once, across all filters.
    pub max_instances: u32,
    /// Largest linear memory any instance may have; per-filter caps must not exceed it.
    pub max_memory_bytes: usize,
    /// How often the epoch advances; hook deadlines are counted in these ticks.
    pub epoch_tick: Duration,
    /// Directory for compiled components, or `None` to keep them in memory only.
    pub cache_dir: Option<PathBuf>,
}

/// Errors creating the engine.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// wasmtime refused the configuration.
    #[error("cannot create the wasm engine: {0}")]
    Engine(String),
    /// The epoch ticker thread could not start.
    #[error("cannot start the epoch ticker thread")]
    Ticker(#[source] std::io::Error),
}

/// The shared wasm runtime.
pub struct Runtime {
    engine: Engine,
    cache: ComponentCache,
    settings: EngineSettings,
    stop_ticker: Arc<AtomicBool>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Creates the engine and starts the epoch ticker.
    pub fn new(settings: EngineSettings) -> Result<Arc<Self>, RuntimeError> {
        let engine = Engine::new(&engine_config(&settings))
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let stop_ticker = Arc::new(AtomicBool::new(false));
        start_ticker(engine.clone(), settings.epoch_tick, stop_ticker.clone())?;
        Ok(Arc::new(Self {
            cache: ComponentCache::new(&engine, settings.cache_dir.clone()),
            engine,
            settings,
            stop_ticker,
        }))
    }

    /// The settings the engine was built with.
    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn cache(&self) -> &ComponentCache {
        &self.cache
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

fn engine_config(settings: &EngineSettings) -> Config {
    let mut pool = PoolingAllocationConfig::default();
    let instances = settings.max_instances.max(1);
    // A Rust component built for wasm32-wasip2 holds a handful of core instances (the program,
    // the WASI adapter, shims) and up to two memories and a few tables; these ceilings leave room.
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(16))
        .max_core_instances_per_component(64)
        .total_memories(instances.saturating_mul(2))
        .max_memories_per_component(4)
        .total_tables(instances.saturating_mul(4))
        .max_tables_per_component(16)
        .max_memory_size(settings.max_memory_bytes)
        // One fiber stack per hook call in flight; an instance runs one call at a time.
        .total_stacks(instances);
    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .epoch_interruption(true)
        .cranelift_opt_level(wasmtime::OptLevel::Speed);
    config
}

fn start_ticker(engine: Engine, tick: Duration, stop: Arc<AtomicBool>) -> Result<(), RuntimeError> {
    std::thread::Builder::new()
        .name("weir-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                engine.increment_epoch();
            }
        })
        .map(drop)
        .map_err(RuntimeError::Ticker)
}
