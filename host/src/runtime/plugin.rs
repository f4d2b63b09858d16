//! A loaded plugin: its compiled component, the operator's settings for it, and its pool of warm
//! instances. Hook calls check an instance out, call it synchronously under a deadline, and check
//! it back in unless it faulted, reached its recycle limit or grew past its memory mark.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Linker, Resource};
use wasmtime::{Store, Trap, UpdateDeadline};

use super::bindings::stream::{Connection, StreamRouter, StreamRouterPre, Verdict};
use super::bindings::{Decision, HttpFilter, HttpFilterPre};
use super::budget::PluginLimits;
use super::cache::{CacheOutcome, ContentHash};
pub use super::imports::World;
use super::request::RequestView;
use super::response::ResponseView;
use super::snapshot::{self, InitFailure};
use super::store::{HostState, MemoryCapExceeded, PluginShared};
use super::{Runtime, imports, wasi_shim};

/// The WIT package and version this host implements.
pub const WIT_PACKAGE: &str = "weir:filter@0.1.0";

/// How instances are shared between requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// Warm instances are reused across requests (module state may persist).
    Pooled,
    /// Every hook call gets a fresh instance with `init` run, discarded afterwards.
    PerRequest,
    /// Every hook call gets a fresh instance of the plugin's post-`init` snapshot (taken once
    /// at load), discarded afterwards: per-request isolation without paying `init` per call.
    Reset,
}

/// The operator's settings for one filter.
#[derive(Clone, Debug)]
pub struct FilterSettings {
    /// Filter name (from the config), used in logs, errors and the journal.
    pub name: Arc<str>,
    /// Config handed to `init`, as JSON.
    pub config_json: String,
    /// Deadline for each `on-request` / `on-response` call.
    pub deadline: Duration,
    /// Deadline for `init`.
    pub init_deadline: Duration,
    /// Memory cap per instance.
    pub memory_limit_bytes: usize,
    /// Instance sharing.
    pub isolation: Isolation,
    /// Replace a pooled instance after this many calls.
    pub recycle_after_calls: u64,
    /// Warm instances kept idle at most.
    pub max_idle_instances: usize,
    /// What one hook call may make the host hold (edits, header bytes, local responses).
    pub limits: PluginLimits,
}

/// Why a plugin could not be loaded. Every variant names the filter.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("filter `{filter}`: cannot read plugin {path}")]
    Read {
        /// Filter name.
        filter: Arc<str>,
        /// Plugin path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid component for this engine.
    #[error("filter `{filter}`: {path} is not a loadable WebAssembly component: {reason}")]
    Compile {
        /// Filter name.
        filter: Arc<str>,
        /// Plugin path.
        path: String,
        /// wasmtime's explanation.
        reason: String,
    },
    /// The component targets neither world this host supports (`http-filter`,
    /// `stream-router`).
    #[error(
        "filter `{filter}`: plugin does not implement {WIT_PACKAGE} world `http-filter` or `stream-router`: {reason}"
    )]
    WrongWorld {
        /// Filter name.
        filter: Arc<str>,
        /// What did not match.
        reason: String,
    },
    /// `isolation = "reset"` could not snapshot the plugin's post-`init` state.
    #[error(
        "filter `{filter}`: isolation = \"reset\" cannot snapshot this plugin after `init`: {reason} (use \"per-request\" instead)"
    )]
    Snapshot {
        /// Filter name.
        filter: Arc<str>,
        /// What wizer or the snapshot run refused.
        reason: String,
    },
    /// The first instance could not be created or its `init` failed.
    #[error("filter `{filter}` cannot start an instance")]
    Init {
        /// Filter name.
        filter: Arc<str>,
        /// What went wrong.
        #[source]
        source: CallError,
    },
}

/// Why a call into a plugin failed. Any of these discards the instance.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The call ran past its deadline and was interrupted.
    #[error("deadline of {0:?} exceeded")]
    Deadline(Duration),
    /// The instance tried to grow its memory past the cap.
    #[error("memory cap of {0} bytes exceeded")]
    Memory(usize),
    /// The guest trapped (panic, unreachable, out-of-bounds access, called a denied import).
    #[error("trapped: {0}")]
    Trap(String),
    /// No instance could be created (instance limit reached, or the engine refused).
    #[error("cannot create an instance: {0}")]
    Instantiate(String),
    /// `init` returned an error for the given config.
    #[error("init rejected the config: {0}")]
    InitRejected(String),
}

/// Counts an instance as busy for as long as it lives (a cancelled call included).
struct Busy<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Busy<'a> {
    fn count(busy: &'a std::sync::atomic::AtomicUsize) -> Self {
        busy.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(busy)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

struct Warm {
    store: Store<HostState>,
    bindings: Bindings,
    calls: u64,
}

/// An instance's exports, by world.
enum Bindings {
    Filter(HttpFilter),
    Router(StreamRouter),
}

/// A pre-instantiated component, by world.
enum Pre {
    Filter(HttpFilterPre<HostState>),
    Router(StreamRouterPre<HostState>),
}

/// A loaded, initialised plugin ready to serve hook calls.
pub struct Plugin {
    settings: FilterSettings,
    shared: Arc<PluginShared>,
    pre: Pre,
    runtime: Arc<Runtime>,
    hash: ContentHash,
    cache_outcome: CacheOutcome,
    /// Warm instances, one shard per worker thread (`crate::worker`).
    idle: crate::worker::Sharded<Vec<Warm>>,
    /// Instances checked out for a call now.
    busy: std::sync::atomic::AtomicUsize,
    /// Whether a new instance must run `init` (false when `pre` is a post-`init` snapshot).
    runs_init: bool,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.settings.name)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// Loads the component at `path` (compiling it or taking it from the cache), checks that it
    /// targets the `http-filter` or the `stream-router` world, and creates a first instance with `init` run, so a bad
    /// config is refused at load time. Blocking: call off the data path.
    pub fn load(
        runtime: &Arc<Runtime>,
        path: &Path,
        settings: FilterSettings,
    ) -> Result<Self, LoadError> {
        let filter = settings.name.clone();
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            filter: filter.clone(),
            path: shown.clone(),
            source,
        })?;
        let engine = runtime.engine();
        let (component, hash, cache_outcome) = runtime
            .cache()
            .get_or_compile(engine, &bytes)
            .map_err(|e| LoadError::Compile {
                filter: filter.clone(),
                path: shown.clone(),
                reason: format!("{e:#}"),
            })?;
        let wrong_world = |reason: String| LoadError::WrongWorld {
            filter: filter.clone(),
            reason,
        };
        let world = imports::check_interfaces(engine, &component).map_err(&wrong_world)?;
        let mut linker = Linker::<HostState>::new(engine);
        match world {
            World::HttpFilter => {
                HttpFilter::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            }
            World::StreamRouter => {
                StreamRouter::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
                    &mut linker,
                    |s| s,
                )
            }
        }
        .map_err(|e| wrong_world(format!("{e:#}")))?;
        imports::check_weir_items(engine, &linker, &component).map_err(&wrong_world)?;
        wasi_shim::link(engine, &mut linker, &component)
            .map_err(|e| wrong_world(format!("{e:#}")))?;
        let shared = Arc::new(PluginShared::new(filter.clone()));
        let runs_init = settings.isolation != Isolation::Reset;
        let component = if runs_init {
            component
        } else {
            let mut store = new_store(runtime, &shared, &settings);
            let config = settings.config_json.as_str();
            let init: Box<snapshot::Init<'_>> = match world {
                World::HttpFilter => Box::new(|store, instance| {
                    HttpFilter::new(&mut *store, instance)?
                        .weir_filter_filter()
                        .call_init(store, config)
                }),
                World::StreamRouter => Box::new(|store, instance| {
                    StreamRouter::new(&mut *store, instance)?
                        .weir_filter_router()
                        .call_init(store, config)
                }),
            };
            let snapshot = snapshot::post_init_component(&bytes, &linker, &mut store, init)
                .map_err(|failure| match failure {
                    InitFailure::Unsupported(reason) => LoadError::Snapshot {
                        filter: filter.clone(),
                        reason,
                    },
                    InitFailure::Call(e) => LoadError::Init {
                        filter: filter.clone(),
                        source: classify(e, &store, settings.init_deadline),
                    },
                    InitFailure::Rejected(reason) => LoadError::Init {
                        filter: filter.clone(),
                        source: CallError::InitRejected(reason),
                    },
                })?;
            // Not through the component cache: a snapshot holds whatever `init` made, random
            // hash seeds included, so its bytes differ on every load and cached copies would
            // only accumulate.
            wasmtime::component::Component::new(engine, &snapshot).map_err(|e| {
                LoadError::Snapshot {
                    filter: filter.clone(),
                    reason: format!("the snapshot does not compile: {e:#}"),
                }
            })?
        };
        let pre = linker
            .instantiate_pre(&component)
            .and_then(|pre| match world {
                World::HttpFilter => HttpFilterPre::new(pre).map(Pre::Filter),
                World::StreamRouter => StreamRouterPre::new(pre).map(Pre::Router),
            });
        let pre = pre.map_err(|e| wrong_world(format!("{e:#}")))?;
        let plugin = Self {
            shared,
            settings,
            pre,
            runtime: runtime.clone(),
            hash,
            cache_outcome,
            idle: crate::worker::Sharded::new(),
            busy: std::sync::atomic::AtomicUsize::new(0),
            runs_init,
        };
        let first = plugin
            .instantiate()
            .map_err(|source| LoadError::Init { filter, source })?;
        if plugin.settings.isolation == Isolation::Pooled {
            plugin.idle.local().push(first);
        }
        Ok(plugin)
    }

    /// The runtime the plugin was loaded into.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The world the component targets.
    pub fn world(&self) -> World {
        match self.pre {
            Pre::Filter(_) => World::HttpFilter,
            Pre::Router(_) => World::StreamRouter,
        }
    }

    /// The filter's settings.
    pub fn settings(&self) -> &FilterSettings {
        &self.settings
    }

    /// SHA-256 of the component bytes.
    pub fn content_hash(&self) -> &str {
        &self.hash
    }

    /// Whether loading compiled the component or found it cached.
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.cache_outcome
    }

    /// The linear memory of the warm instance the next call would get (the largest size its
    /// memory grew to; wasm memories never shrink), or `None` when no warm instance is idle:
    /// none was kept after the last call (a fault, the recycle limit or the memory mark) or
    /// the plugin runs `isolation = "per-request"`. For tools: the conformance tool's
    /// memory-growth check.
    pub fn idle_memory_bytes(&self) -> Option<usize> {
        self.idle
            .local()
            .last()
            .map(|warm| warm.store.data().limiter.peak_bytes)
    }

    /// The plugin's counters (`host.counter-add`).
    pub fn counters(&self) -> std::collections::BTreeMap<String, u64> {
        self.shared.counters()
    }

    /// Runs `on-request` on the data path. The view always comes back, whatever the outcome.
    ///
    /// The call is asynchronous: every epoch tick the guest yields to the async runtime, so a
    /// hook that runs long (up to its deadline) holds no worker thread meanwhile, and other
    /// connections keep being served.
    pub async fn on_request(
        &self,
        view: RequestView,
    ) -> (RequestView, Result<Decision, CallError>) {
        self.call_on_request(view, Yielding::EveryTick).await
    }

    /// Runs `on-request` to completion on the calling thread (no yields): for tools and
    /// benches outside the data path, like the conformance tool.
    pub fn on_request_blocking(
        &self,
        view: RequestView,
    ) -> (RequestView, Result<Decision, CallError>) {
        run_to_completion(self.call_on_request(view, Yielding::Never))
    }

    /// Whether `on-response` must be called: false once the plugin promised that it does
    /// nothing there (the SDK does for filters that keep the default).
    pub fn runs_on_response(&self) -> bool {
        !self
            .shared
            .response_hook_unused
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `on-response` on the data path (yielding, like [`Plugin::on_request`]). The views
    /// always come back, whatever the outcome.
    pub async fn on_response(
        &self,
        request: RequestView,
        response: ResponseView,
    ) -> (RequestView, ResponseView, Result<Decision, CallError>) {
        self.call_on_response(request, response, Yielding::EveryTick)
            .await
    }

    /// Runs `on-response` to completion on the calling thread (no yields).
    pub fn on_response_blocking(
        &self,
        request: RequestView,
        response: ResponseView,
    ) -> (RequestView, ResponseView, Result<Decision, CallError>) {
        run_to_completion(self.call_on_response(request, response, Yielding::Never))
    }

    async fn call_on_request(
        &self,
        view: RequestView,
        yielding: Yielding,
    ) -> (RequestView, Result<Decision, CallError>) {
        let mut warm = match self.checkout(yielding) {
            Ok(warm) => warm,
            Err(e) => return (view, Err(e)),
        };
        let _busy = Busy::count(&self.busy);
        let Bindings::Filter(bindings) = &warm.bindings else {
            return (view, Err(not_a_filter()));
        };
        warm.store.data_mut().lent.request = Some(view);
        let outcome = bindings
            .weir_filter_filter()
            .call_on_request(&mut warm.store, Resource::new_borrow(REQUEST_HANDLE))
            .await;
        let Some(view) = warm.store.data_mut().lent.request.take() else {
            unreachable_lent()
        };
        let result = outcome.map_err(|e| classify(e, &warm.store, self.settings.deadline));
        self.checkin(warm, result.is_ok());
        (view, result)
    }

    async fn call_on_response(
        &self,
        request: RequestView,
        response: ResponseView,
        yielding: Yielding,
    ) -> (RequestView, ResponseView, Result<Decision, CallError>) {
        let mut warm = match self.checkout(yielding) {
            Ok(warm) => warm,
            Err(e) => return (request, response, Err(e)),
        };
        let _busy = Busy::count(&self.busy);
        let Bindings::Filter(bindings) = &warm.bindings else {
            return (request, response, Err(not_a_filter()));
        };
        let lent = &mut warm.store.data_mut().lent;
        lent.request = Some(request);
        lent.response = Some(response);
        let outcome = bindings
            .weir_filter_filter()
            .call_on_response(
                &mut warm.store,
                Resource::new_borrow(REQUEST_HANDLE),
                Resource::new_borrow(RESPONSE_HANDLE),
            )
            .await;
        let lent = &mut warm.store.data_mut().lent;
        let (Some(request), Some(response)) = (lent.request.take(), lent.response.take()) else {
            unreachable_lent()
        };
        let result = outcome.map_err(|e| classify(e, &warm.store, self.settings.deadline));
        self.checkin(warm, result.is_ok());
        (request, response, result)
    }

    /// Runs a stream router's `on-data` on the data path (yielding, like
    /// [`Plugin::on_request`]).
    pub async fn on_data(&self, conn: &Connection, data: &[u8]) -> Result<Verdict, CallError> {
        self.call_on_data(conn, data, Yielding::EveryTick).await
    }

    /// Runs `on-data` to completion on the calling thread (no yields): for tools.
    pub fn on_data_blocking(&self, conn: &Connection, data: &[u8]) -> Result<Verdict, CallError> {
        run_to_completion(self.call_on_data(conn, data, Yielding::Never))
    }

    async fn call_on_data(
        &self,
        conn: &Connection,
        data: &[u8],
        yielding: Yielding,
    ) -> Result<Verdict, CallError> {
        let mut warm = self.checkout(yielding)?;
        let Bindings::Router(bindings) = &warm.bindings else {
            return Err(not_a_filter());
        };
        let outcome = bindings
            .weir_filter_router()
            .call_on_data(&mut warm.store, conn, data)
            .await;
        let result = outcome.map_err(|e| classify(e, &warm.store, self.settings.deadline));
        self.checkin(warm, result.is_ok());
        result
    }

    /// A warm instance armed for one hook call: a pooled one, else a fresh one.
    fn checkout(&self, yielding: Yielding) -> Result<Warm, CallError> {
        let checked_out = match self.settings.isolation {
            // The worker's own shard; another worker's idle instance before a new one.
            Isolation::Pooled => {
                let own = self.idle.local().pop();
                own.or_else(|| self.idle.others().find_map(|mut idle| idle.pop()))
            }
            Isolation::PerRequest | Isolation::Reset => None,
        };
        let mut warm = match checked_out {
            Some(warm) => warm,
            None => self.instantiate()?,
        };
        arm_call(
            &mut warm.store,
            self.settings.deadline,
            self.tick(),
            yielding,
        );
        warm.store.data_mut().budget.reset();
        Ok(warm)
    }

    /// Returns an instance after a call, unless it faulted or is due for recycling.
    fn checkin(&self, mut warm: Warm, succeeded: bool) {
        warm.calls += 1;
        if succeeded && self.should_keep(&warm) {
            // `max_idle_instances` is shared out between the workers' shards.
            let cap = self.idle.share_of(self.settings.max_idle_instances);
            let mut idle = self.idle.local();
            if idle.len() < cap {
                idle.push(warm);
            }
        }
    }

    fn should_keep(&self, warm: &Warm) -> bool {
        let limiter = &warm.store.data().limiter;
        self.settings.isolation == Isolation::Pooled
            && warm.calls < self.settings.recycle_after_calls
            && limiter.peak_bytes <= self.settings.memory_limit_bytes / 2
    }

    fn instantiate(&self) -> Result<Warm, CallError> {
        let mut store = new_store(&self.runtime, &self.shared, &self.settings);
        let bindings = match &self.pre {
            Pre::Filter(pre) => pre.instantiate(&mut store).map(Bindings::Filter),
            Pre::Router(pre) => pre.instantiate(&mut store).map(Bindings::Router),
        }
        .map_err(|e| CallError::Instantiate(format!("{e:#}")))?;
        let mut warm = Warm {
            store,
            bindings,
            calls: 0,
        };
        if !self.runs_init {
            return Ok(warm);
        }
        let config = self.settings.config_json.as_str();
        let init = match &warm.bindings {
            Bindings::Filter(b) => b.weir_filter_filter().call_init(&mut warm.store, config),
            Bindings::Router(b) => b.weir_filter_router().call_init(&mut warm.store, config),
        };
        let init = init.map_err(|e| classify(e, &warm.store, self.settings.init_deadline))?;
        init.map_err(CallError::InitRejected)?;
        Ok(warm)
    }

    /// Instances in a call now, and warm ones pooled (idle).
    pub fn instances(&self) -> (usize, usize) {
        (
            self.busy.load(std::sync::atomic::Ordering::Relaxed),
            self.idle.all().map(|idle| idle.len()).sum(),
        )
    }

    fn tick(&self) -> Duration {
        self.runtime.settings().epoch_tick
    }
}

/// A store for one instance of the filter: its limits, budget and epoch callback, armed for
/// `init` (or instantiation alone).
fn new_store(
    runtime: &Runtime,
    shared: &Arc<PluginShared>,
    settings: &FilterSettings,
) -> Store<HostState> {
    let state = HostState::new(shared.clone(), settings.memory_limit_bytes, settings.limits);
    let mut store = Store::new(runtime.engine(), state);
    store.limiter(|s| &mut s.limiter);
    store.epoch_deadline_callback(on_epoch_deadline);
    arm_call(
        &mut store,
        settings.init_deadline,
        runtime.settings().epoch_tick,
        Yielding::Never,
    );
    store
}

/// Whether a call gives its thread back to the async runtime while it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Yielding {
    /// Yield at every epoch tick until the deadline (hook calls on the data path).
    EveryTick,
    /// Run to completion or to the deadline (`init`, tools).
    Never,
}

/// Arms the store for one call. Yielding: the epoch callback runs at every tick and yields
/// until the deadline has passed. Not yielding: enough ticks to cover `deadline`, plus one
/// because the current tick may be about to end, then the callback interrupts.
fn arm_call(store: &mut Store<HostState>, deadline: Duration, tick: Duration, yielding: Yielding) {
    let call = &mut store.data_mut().call;
    call.deadline = Instant::now() + deadline;
    call.yielding = yielding == Yielding::EveryTick;
    let ticks = if call.yielding {
        1
    } else {
        let tick_nanos = tick.as_nanos().max(1);
        deadline.as_nanos().div_ceil(tick_nanos) + 1
    };
    store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
}

/// The epoch callback: a yielding call yields once per tick until its deadline; then, and for
/// calls that do not yield, the guest is interrupted (a trap the host reports as a deadline).
fn on_epoch_deadline(
    store: wasmtime::StoreContextMut<'_, HostState>,
) -> wasmtime::Result<UpdateDeadline> {
    let call = &store.data().call;
    if call.yielding && Instant::now() < call.deadline {
        // tokio's `yield_now` wakes the task only after the scheduler has polled the I/O
        // driver. A plain `Yield` wakes it at once, and tokio then checks sockets only every
        // 61 polls: with a few hooks looping a tick each, a waiting connection was served
        // ~60 ms late instead of ~2 ms (host/benches/busy.rs).
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::task::yield_now()),
        ))
    } else {
        Ok(UpdateDeadline::Interrupt)
    }
}

/// Drives a call that never yields on the calling thread. Such a future completes on its first
/// poll (nothing in a hook call waits for I/O); the loop only guards against a spurious
/// `Pending`.
pub(super) fn run_to_completion<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::yield_now();
    }
}

fn classify(error: wasmtime::Error, store: &Store<HostState>, deadline: Duration) -> CallError {
    let limiter = &store.data().limiter;
    if limiter.exceeded || error.downcast_ref::<MemoryCapExceeded>().is_some() {
        return CallError::Memory(limiter.max_bytes);
    }
    if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        return CallError::Deadline(deadline);
    }
    let mut text = match &store.data().last_error {
        Some(message) => format!("{message}\n{error:?}"),
        None => format!("{error:?}"),
    };
    if text.len() > 4096 {
        let whole = text.len();
        let mut end = 4096;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(&format!("… ({whole} bytes in all)"));
    }
    CallError::Trap(text)
}

/// A hook of the other world was called: chains are built from plugins of the right world, so
/// this is a host bug, reported as a fault rather than a panic.
#[cold]
fn not_a_filter() -> CallError {
    CallError::Trap("this plugin is not of the world this hook belongs to".into())
}

/// The handle numbers the guest gets for the lent request and response. They are never looked
/// up: the store holds one of each (see `store::Lent`).
const REQUEST_HANDLE: u32 = 0;
const RESPONSE_HANDLE: u32 = 1;

#[cold]
fn unreachable_lent() -> ! {
    // The views were put in the store's fields a few lines earlier, and host functions only
    // borrow them: nothing else can take them out.
    panic!("a view lent to the guest was not in the store after the call")
}
