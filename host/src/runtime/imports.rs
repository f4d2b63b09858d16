//! What a component may import, checked at load: the `weir:` interfaces this host implements,
//! and in them only the functions and resources this host defines. A plugin built against a
//! newer contract (one more function in `weir:filter/host`, say) is refused here, naming what
//! it expects, instead of getting a stub that traps on its first call.
//!
//! Imports outside `weir:` (the WASI a std Rust guest pulls in) are [`wasi_shim`]'s concern.
//!
//! [`wasi_shim`]: super::wasi_shim

use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, ResourceType};

use super::store::HostState;

/// The `weir:` interfaces this host provides to filters, by exact name and version.
pub(crate) const PROVIDED: &[&str] = &["weir:filter/types@0.1.0", "weir:filter/host@0.1.0"];
/// The `weir:` interfaces this host provides to stream routers.
const PROVIDED_TO_ROUTERS: &[&str] = &["weir:filter/stream-types@0.1.0", "weir:filter/host@0.1.0"];

/// The interface a filter exports.
const FILTER_EXPORT: &str = "weir:filter/filter@0.1.0";
/// The interface a stream router exports.
const ROUTER_EXPORT: &str = "weir:filter/router@0.1.0";

/// The world a component targets, told by the interface it exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum World {
    /// `http-filter`: exports `weir:filter/filter`.
    HttpFilter,
    /// `stream-router`: exports `weir:filter/router`.
    StreamRouter,
}

impl World {
    /// The world's name in the WIT package.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HttpFilter => "http-filter",
            Self::StreamRouter => "stream-router",
        }
    }
}

impl std::fmt::Display for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an import belongs to weir's own namespace (never stubbed, always checked).
pub(crate) fn is_weir(name: &str) -> bool {
    name.starts_with("weir:")
}

/// Checks the interface names: `weir:` imports must be ones this host provides, and the
/// component must export the filter or the router interface (not both); returns which.
pub(crate) fn check_interfaces(engine: &Engine, component: &Component) -> Result<World, String> {
    let ty = component.component_type();
    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    let world = match (
        exports.contains(&FILTER_EXPORT),
        exports.contains(&ROUTER_EXPORT),
    ) {
        (true, false) => World::HttpFilter,
        (false, true) => World::StreamRouter,
        (true, true) => {
            return Err(format!(
                "it exports both `{FILTER_EXPORT}` and `{ROUTER_EXPORT}`; a component targets one world"
            ));
        }
        (false, false) => {
            return Err(format!(
                "it exports [{}] but neither `{FILTER_EXPORT}` (http-filter) nor `{ROUTER_EXPORT}` (stream-router)",
                exports.join(", ")
            ));
        }
    };
    let provided = match world {
        World::HttpFilter => PROVIDED,
        World::StreamRouter => PROVIDED_TO_ROUTERS,
    };
    for (name, _) in ty.imports(engine) {
        if is_weir(name) && !provided.contains(&name) {
            return Err(format!(
                "it imports `{name}`, which this host does not provide to a {world} (it provides {})",
                provided.join(", ")
            ));
        }
    }
    Ok(world)
}

/// Checks that every function and resource the component imports from a `weir:` interface is
/// defined in `weir`, a linker holding weir's own definitions and nothing else. Types of the
/// items that exist are checked by wasmtime when the component is pre-instantiated.
///
/// wasmtime has no public lookup of a linker's definitions, so this defines each imported item
/// on a throwaway copy: with shadowing off, defining a name fails exactly when it exists.
pub(crate) fn check_weir_items(
    engine: &Engine,
    weir: &Linker<HostState>,
    component: &Component,
) -> Result<(), String> {
    let mut probe = weir.clone();
    probe.allow_shadowing(false);
    let ty = component.component_type();
    let mut missing = Vec::new();
    for (interface, import) in ty.imports(engine) {
        if !is_weir(interface) {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = import.ty else {
            return Err(format!(
                "it imports `{interface}` as a single item, not as an interface"
            ));
        };
        let mut defined = probe
            .instance(interface)
            .map_err(|e| format!("cannot inspect `{interface}`: {e}"))?;
        for (item, export) in instance.exports(engine) {
            let absent = match export.ty {
                ComponentItem::ComponentFunc(_) => defined
                    .func_new(item, |_, _, _, _| {
                        wasmtime::bail!("probe definition, never called")
                    })
                    .is_ok(),
                ComponentItem::Resource(_) => defined
                    .resource(item, ResourceType::host::<()>(), |_, _| Ok(()))
                    .is_ok(),
                // Type definitions (records, enums, ...) are not linked items; wasmtime checks
                // them with the functions that use them.
                ComponentItem::Type(_) => false,
                _ => true,
            };
            if absent {
                missing.push(format!("`{interface}#{item}`"));
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "it imports {}, which this host does not provide",
        missing.join(", ")
    ))
}
