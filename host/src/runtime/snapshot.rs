//! `isolation = "reset"`: a plugin's state right after `init`, captured once at load as a new
//! component, so that every hook call can start from a fresh instance of it without running
//! `init` again.
//!
//! wasmtime-wizer instruments the component with accessors for its memories and globals; weir
//! instantiates that with its own linker, runs `init` with the filter's config, reads the state
//! through the accessors, and wizer writes it back as the data segments and global initialisers
//! of a new component. Instantiating the snapshot maps its memory image copy-on-write (the pooling
//! allocator resets a slot's pages when it is reused), so a fresh post-`init` instance costs an
//! instantiation and nothing of `init`. Host-side state is not part of the snapshot: the plugin's
//! counters and its promise about `on-response` live in [`PluginShared`](super::store) and are
//! shared by every instance anyway.

use wasmtime::Store;
use wasmtime::component::{Component, Instance, Linker, WasmList};
use wasmtime_wizer::{ComponentInstanceState, Wizer};

use super::store::HostState;

/// The world's `init` export, called with the filter's config on a fresh instance.
pub(super) type Init<'a> =
    dyn FnOnce(&mut Store<HostState>, &Instance) -> wasmtime::Result<Result<(), String>> + 'a;

/// Runs `init` on an instrumented copy of `bytes` and returns the bytes of a component whose
/// instances start in the state `init` left. `store` is a fresh store for the plugin (limits
/// and deadline armed); `init` failures come back as [`InitFailure`].
pub(super) fn post_init_component(
    bytes: &[u8],
    linker: &Linker<HostState>,
    store: &mut Store<HostState>,
    init: Box<Init<'_>>,
) -> Result<Vec<u8>, InitFailure> {
    let wizer = Wizer::new();
    let (context, instrumented) = wizer
        .instrument_component(bytes)
        .map_err(|e| InitFailure::Unsupported(format!("{e:#}")))?;
    let component = Component::new(store.engine(), &instrumented)
        .map_err(|e| InitFailure::Unsupported(format!("the instrumented copy: {e:#}")))?;
    let instance = linker
        .instantiate(&mut *store, &component)
        .map_err(InitFailure::Call)?;
    init(&mut *store, &instance)
        .map_err(InitFailure::Call)?
        .map_err(InitFailure::Rejected)?;
    let mut state = Access {
        store,
        instance,
        error: None,
    };
    // Nothing in the accessors waits: the future completes on its first poll.
    let snapshot = super::plugin::run_to_completion(wizer.snapshot_component(&context, &mut state));
    if let Some(error) = state.error {
        return Err(InitFailure::Unsupported(error));
    }
    snapshot.map_err(|e| InitFailure::Unsupported(format!("{e:#}")))
}

/// Why a snapshot could not be made.
#[derive(Debug)]
pub(super) enum InitFailure {
    /// wizer cannot snapshot this component's shape (or reading its state failed).
    Unsupported(String),
    /// Instantiating or calling `init` failed (trap, deadline, memory cap).
    Call(wasmtime::Error),
    /// `init` returned an error for the config.
    Rejected(String),
}

/// Reads the instrumented instance's state through wizer's accessor functions.
struct Access<'a> {
    store: &'a mut Store<HostState>,
    instance: Instance,
    /// The first accessor failure: wizer's trait has no error channel, so it is kept here and
    /// refuses the snapshot afterwards.
    error: Option<String>,
}

impl Access<'_> {
    /// Calls `instance#func`, a `() -> R` accessor wizer added. A failure is recorded and
    /// `None` returned.
    fn call<R, T>(
        &mut self,
        instance: &str,
        func: &str,
        use_ret: impl FnOnce(&Store<HostState>, R) -> T,
    ) -> Option<T>
    where
        R: wasmtime::component::Lift + Send + Sync + 'static,
    {
        let result = (|| {
            let (_, outer) = self
                .instance
                .get_export(&mut *self.store, None, instance)
                .ok_or_else(|| format!("no accessor instance `{instance}`"))?;
            let (_, index) = self
                .instance
                .get_export(&mut *self.store, Some(&outer), func)
                .ok_or_else(|| format!("no accessor `{instance}#{func}`"))?;
            let typed = self
                .instance
                .get_typed_func::<(), (R,)>(&mut *self.store, index)
                .map_err(|e| format!("accessor `{func}`: {e:#}"))?;
            let (value,) = typed
                .call(&mut *self.store, ())
                .map_err(|e| format!("accessor `{func}`: {e:#}"))?;
            Ok::<_, String>(value)
        })();
        match result {
            Ok(value) => Some(use_ret(self.store, value)),
            Err(error) => {
                self.error.get_or_insert(error);
                None
            }
        }
    }
}

impl ComponentInstanceState for Access<'_> {
    async fn call_func_ret_list_u8(
        &mut self,
        instance: &str,
        func: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) {
        // On failure `contents` is not called; the recorded error refuses the snapshot.
        self.call(instance, func, |store, list: WasmList<u8>| {
            contents(list.as_le_slice(store));
        });
    }

    async fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> i32 {
        self.call(instance, func, |_, value: i32| value)
            .unwrap_or(0)
    }

    async fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> i64 {
        self.call(instance, func, |_, value: i64| value)
            .unwrap_or(0)
    }

    async fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> u32 {
        self.call(instance, func, |_, value: f32| value.to_bits())
            .unwrap_or(0)
    }

    async fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> u64 {
        self.call(instance, func, |_, value: f64| value.to_bits())
            .unwrap_or(0)
    }
}
