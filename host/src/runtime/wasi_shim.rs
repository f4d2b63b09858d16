//! The WASI a filter gets: randomness, clocks and an empty environment, nothing else.
//!
//! A std Rust guest built for `wasm32-wasip2` imports a dozen `wasi:*` interfaces. weir defines
//! the harmless, non-blocking ones itself, under exactly the names (and versions) the component
//! imports, and turns every other import (filesystem, sockets, stdio, exit, polling) into a
//! function that traps when called. A filter therefore has no filesystem, network, environment
//! or stdio, and no WASI call can block a proxy thread.
//!
//! Why not `wasmtime-wasi`: its synchronous p2 host runs stream operations (including writing to
//! and dropping stderr) through `Handle::block_on`, which panics on a tokio worker thread, where
//! weir makes its hook calls. See `docs/design/001-wasi-shim.md`.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, LinkerInstance, ResourceType, Val};

use super::imports;
use super::store::HostState;

/// The WASI interfaces weir implements; every other import outside `weir:` traps when called.
const SHIMMED: &[&str] = &[
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:cli/environment",
];

/// Largest buffer a guest may ask for in one `get-random-bytes` call.
const MAX_RANDOM_BYTES: u64 = 1 << 20;

/// Stubs every import of `component` outside `weir:` with a trap, then defines the shim for the
/// `wasi:*` interfaces weir provides over those stubs. `weir:` imports are left alone: weir's own
/// definitions must cover them, or the load fails (see `imports`).
pub(crate) fn link(
    engine: &Engine,
    linker: &mut Linker<HostState>,
    component: &Component,
) -> wasmtime::Result<()> {
    let ty = component.component_type();
    for (name, item) in ty.imports(engine) {
        if !imports::is_weir(name) {
            stub(engine, &mut linker.root(), name, name, &item.ty)?;
        }
    }
    // The shims replace some of the stubs just defined.
    linker.allow_shadowing(true);
    let shimmed = define_shims(engine, linker, component);
    linker.allow_shadowing(false);
    shimmed
}

fn define_shims(
    engine: &Engine,
    linker: &mut Linker<HostState>,
    component: &Component,
) -> wasmtime::Result<()> {
    let ty = component.component_type();
    for (name, item) in ty.imports(engine) {
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        let base = name.split('@').next().unwrap_or(name);
        if !SHIMMED.contains(&base) {
            continue;
        }
        let functions: Vec<&str> = instance.exports(engine).map(|(n, _)| n).collect();
        let mut inst = linker.instance(name)?;
        match base {
            "wasi:random/random" => {
                define_random(&mut inst, &functions, "get-random-bytes", "get-random-u64")?;
            }
            "wasi:random/insecure" => define_random(
                &mut inst,
                &functions,
                "get-insecure-random-bytes",
                "get-insecure-random-u64",
            )?,
            "wasi:random/insecure-seed" => {
                if functions.contains(&"insecure-seed") {
                    inst.func_wrap("insecure-seed", |_, (): ()| {
                        Ok(((random_u64(), random_u64()),))
                    })?;
                }
            }
            "wasi:clocks/monotonic-clock" => define_monotonic_clock(&mut inst, &functions)?,
            "wasi:clocks/wall-clock" => define_wall_clock(&mut inst, &functions)?,
            _ => define_environment(&mut inst, &functions)?,
        }
    }
    Ok(())
}

/// Defines `item` (named `name` in `inst`, `path` in full) as something that traps when used:
/// a function that fails, a resource type no handle of which can be made, and recursively
/// the items of an instance. Modules and components cannot be stubbed and refuse the load.
fn stub(
    engine: &Engine,
    inst: &mut LinkerInstance<'_, HostState>,
    name: &str,
    path: &str,
    item: &ComponentItem,
) -> wasmtime::Result<()> {
    match item {
        ComponentItem::ComponentFunc(_) => {
            let path = path.to_owned();
            inst.func_new(name, move |_, _, _, _| {
                wasmtime::bail!("`{path}` is not available to filters")
            })
        }
        ComponentItem::Resource(_) => {
            inst.resource(name, ResourceType::host::<Unavailable>(), |_, _| Ok(()))
        }
        ComponentItem::ComponentInstance(instance) => {
            let mut nested = inst.instance(name)?;
            for (export, ext) in instance.exports(engine) {
                stub(
                    engine,
                    &mut nested,
                    export,
                    &format!("{path}#{export}"),
                    &ext.ty,
                )?;
            }
            Ok(())
        }
        ComponentItem::Type(_) => Ok(()),
        ComponentItem::CoreFunc(_) | ComponentItem::Module(_) | ComponentItem::Component(_) => {
            wasmtime::bail!("cannot provide the import `{path}`: only interfaces are supported")
        }
    }
}

/// The host type behind every stubbed resource: no value of it is ever created.
struct Unavailable;

fn define_random(
    inst: &mut LinkerInstance<'_, HostState>,
    functions: &[&str],
    bytes_name: &str,
    u64_name: &str,
) -> wasmtime::Result<()> {
    if functions.contains(&bytes_name) {
        inst.func_wrap(bytes_name, |_, (len,): (u64,)| {
            if len > MAX_RANDOM_BYTES {
                wasmtime::bail!(
                    "get-random-bytes asked for {len} bytes (limit {MAX_RANDOM_BYTES})"
                );
            }
            let len = usize::try_from(len)?;
            let mut buf = vec![0; len];
            getrandom::fill(&mut buf).map_err(|e| wasmtime::format_err!("no randomness: {e}"))?;
            Ok((buf,))
        })?;
    }
    if functions.contains(&u64_name) {
        inst.func_wrap(u64_name, |_, (): ()| Ok((random_u64(),)))?;
    }
    Ok(())
}

fn define_monotonic_clock(
    inst: &mut LinkerInstance<'_, HostState>,
    functions: &[&str],
) -> wasmtime::Result<()> {
    if functions.contains(&"now") {
        inst.func_wrap("now", |_, (): ()| {
            let nanos = process_start().elapsed().as_nanos();
            Ok((u64::try_from(nanos).unwrap_or(u64::MAX),))
        })?;
    }
    if functions.contains(&"resolution") {
        inst.func_wrap("resolution", |_, (): ()| Ok((1u64,)))?;
    }
    Ok(())
}

fn define_wall_clock(
    inst: &mut LinkerInstance<'_, HostState>,
    functions: &[&str],
) -> wasmtime::Result<()> {
    // `datetime` is a record; the dynamic `Val` API avoids a hand-written ComponentType impl.
    fn datetime(seconds: u64, nanoseconds: u32) -> Val {
        Val::Record(vec![
            ("seconds".to_owned(), Val::U64(seconds)),
            ("nanoseconds".to_owned(), Val::U32(nanoseconds)),
        ])
    }
    if functions.contains(&"now") {
        inst.func_new("now", |_, _, _, results| {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            if let Some(slot) = results.first_mut() {
                *slot = datetime(now.as_secs(), now.subsec_nanos());
            }
            Ok(())
        })?;
    }
    if functions.contains(&"resolution") {
        inst.func_new("resolution", |_, _, _, results| {
            if let Some(slot) = results.first_mut() {
                *slot = datetime(0, 1);
            }
            Ok(())
        })?;
    }
    Ok(())
}

fn define_environment(
    inst: &mut LinkerInstance<'_, HostState>,
    functions: &[&str],
) -> wasmtime::Result<()> {
    if functions.contains(&"get-environment") {
        inst.func_wrap("get-environment", |_, (): ()| {
            Ok((Vec::<(String, String)>::new(),))
        })?;
    }
    if functions.contains(&"get-arguments") {
        inst.func_wrap("get-arguments", |_, (): ()| Ok((Vec::<String>::new(),)))?;
    }
    if functions.contains(&"initial-cwd") {
        inst.func_wrap("initial-cwd", |_, (): ()| Ok((None::<String>,)))?;
    }
    Ok(())
}

fn random_u64() -> u64 {
    // getrandom only fails when the OS has no entropy source, which a proxy cannot run without;
    // fall back to a clock-derived value rather than trapping the guest.
    getrandom::u64().unwrap_or_else(|_| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        nanos.as_nanos() as u64 ^ 0x9e37_79b9_7f4a_7c15
    })
}

fn process_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}
