//! Compiled components, cached by content: once per process in memory, and on disk across runs.
//!
//! The key is the SHA-256 of the component bytes plus the engine's compatibility hash (wasmtime
//! version and compilation settings), so a cached artefact is only ever loaded by an engine that
//! could have produced it. Compiling a component takes ~100 ms and more; loading the cached form
//! takes well under a millisecond.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The SHA-256 of a component's bytes, as lowercase hex.
pub type ContentHash = String;

/// Compiled-component cache.
pub(crate) struct ComponentCache {
    dir: Option<PathBuf>,
    compat: String,
    memory: Mutex<HashMap<ContentHash, Component>>,
}

/// Where a component came from, for logs and benchmarks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Already compiled in this process.
    Memory,
    /// Loaded from the on-disk cache.
    Disk,
    /// Compiled now.
    Compiled,
}

impl ComponentCache {
    pub(crate) fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self {
            dir,
            compat: format!("{:016x}", hasher.finish()),
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// Returns the compiled form of `bytes`, compiling only on a miss in both caches.
    pub(crate) fn get_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, ContentHash, CacheOutcome)> {
        let hash = hex(&Sha256::digest(bytes));
        if let Some(component) = self.lock().get(&hash) {
            return Ok((component.clone(), hash, CacheOutcome::Memory));
        }
        let (component, outcome) = match self.load_from_disk(engine, &hash) {
            Some(component) => (component, CacheOutcome::Disk),
            None => (
                self.compile_and_store(engine, bytes, &hash)?,
                CacheOutcome::Compiled,
            ),
        };
        self.lock().insert(hash.clone(), component.clone());
        Ok((component, hash, outcome))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ContentHash, Component>> {
        self.memory.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn path_for(&self, hash: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|dir| dir.join(format!("{hash}-{}.cwasm", self.compat)))
    }

    fn load_from_disk(&self, engine: &Engine, hash: &str) -> Option<Component> {
        let path = self.path_for(hash)?;
        if !path.is_file() {
            return None;
        }
        #[allow(
            unsafe_code,
            reason = "loading precompiled code is unsafe by nature; see SAFETY"
        )]
        // SAFETY: the file is only ever written by `compile_and_store` below, from
        // `Engine::precompile_component` of an engine with the same compatibility hash (part of
        // the file name), and written to a temporary file then renamed, so it is never partial.
        // The cache directory belongs to the operator running weir, like the binary itself.
        let loaded = unsafe { Component::deserialize_file(engine, &path) };
        match loaded {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unusable cached component");
                None
            }
        }
    }

    fn compile_and_store(
        &self,
        engine: &Engine,
        bytes: &[u8],
        hash: &str,
    ) -> wasmtime::Result<Component> {
        let Some(path) = self.path_for(hash) else {
            return Component::from_binary(engine, bytes);
        };
        let serialized = engine.precompile_component(bytes)?;
        if let Err(e) = write_atomically(&path, &serialized) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write component cache");
        }
        #[allow(
            unsafe_code,
            reason = "loading precompiled code is unsafe by nature; see SAFETY"
        )]
        // SAFETY: `serialized` was produced just now by this engine's `precompile_component`.
        unsafe {
            Component::deserialize(engine, &serialized)
        }
    }
}

fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile_in(dir)?;
    tmp.1.write_all(data)?;
    tmp.1.sync_all()?;
    std::fs::rename(&tmp.0, path)
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let unique = format!(
        ".tmp-{}-{:x}",
        std::process::id(),
        getrandom::u64().unwrap_or_default()
    );
    let path = dir.join(unique);
    let file = std::fs::File::create_new(&path)?;
    Ok((path, file))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
