//! `weir dev`'s rebuild loop: build a plugin crate for `wasm32-wasip2`, then watch its sources
//! and build again after each change. Reloading is not done here: `weir run --config` already
//! watches the plugin files its config names and reloads a new build once it is complete, and a
//! failed build leaves the previous `.wasm` (and so the running plugin) in place.
//!
//! Watching polls sizes and modification times, like the server's config watcher: no platform
//! notification API, a few `stat` calls per interval for a plugin-sized crate.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

/// Most files looked at per poll; a crate with more (a vendored tree under `src/`?) is watched
/// only in part, which is logged once.
const MAX_WATCHED_FILES: usize = 10_000;

/// Why a build could not run at all (a failed compilation is not an error here: it is reported
/// by cargo on stderr and the loop waits for the next change).
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// The directory is not a crate.
    #[error("{0} has no Cargo.toml: give the plugin crate with --dir")]
    NotACrate(String),
    /// `cargo` could not be started.
    #[error("cannot run `cargo` (is Rust installed and on the PATH?)")]
    Cargo(#[source] std::io::Error),
}

/// Builds the crate in `dir` for `wasm32-wasip2` in release mode, into `dir/target` whatever
/// `CARGO_TARGET_DIR` says (the dev config names the `.wasm` there). Cargo's output goes to
/// this process's stderr. Returns whether the build succeeded.
pub fn build(dir: &Path) -> Result<bool, DevError> {
    if !dir.join("Cargo.toml").is_file() {
        return Err(DevError::NotACrate(dir.display().to_string()));
    }
    tracing::info!(dir = %dir.display(), "building the plugin");
    let status = Command::new("cargo")
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(dir.join("target"))
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(DevError::Cargo)?;
    if status.success() {
        tracing::info!("plugin built; weir reloads it once the file is quiet");
    } else {
        tracing::warn!(%status, "plugin build failed; the previous build keeps running");
    }
    Ok(status.success())
}

/// Rebuilds the crate in `dir` whenever a file under `src/` or `Cargo.toml` changes, checking
/// every `poll`, until `stop` is set. Runs on its own thread (builds block).
pub fn spawn_rebuilder(
    dir: PathBuf,
    poll: Duration,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("weir-dev-rebuild".to_owned())
        .spawn(move || {
            let mut seen = fingerprint(&dir);
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(poll);
                let now = fingerprint(&dir);
                if now == seen {
                    continue;
                }
                seen = now;
                if let Err(e) = build(&dir) {
                    tracing::error!(error = %e, "cannot rebuild the plugin");
                }
                // Changes made during the build are picked up by the next poll.
            }
        })
}

/// Size and modification time of `Cargo.toml` and of every file under `src/`, sorted by path.
pub fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut files = vec![dir.join("Cargo.toml")];
    let mut stack = vec![dir.join("src")];
    while let Some(next) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            if files.len() >= MAX_WATCHED_FILES {
                break;
            }
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    let mut out: Vec<_> = files
        .into_iter()
        .map(|path| {
            let meta = std::fs::metadata(&path).ok();
            let size = meta.as_ref().map_or(0, std::fs::Metadata::len);
            let modified = meta.and_then(|m| m.modified().ok());
            (path, size, modified)
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_changes_when_a_source_changes_and_not_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[package]\n").unwrap();
        std::fs::create_dir_all(dir.path().join("src/deep")).unwrap();
        std::fs::write(dir.path().join("src/lib.rs"), "// a").unwrap();
        let before = fingerprint(dir.path());
        assert_eq!(before.len(), 2);
        assert_eq!(fingerprint(dir.path()), before, "stable without changes");
        std::fs::write(dir.path().join("target-file"), "not watched").unwrap();
        assert_eq!(fingerprint(dir.path()), before, "only src/ and Cargo.toml");
        std::fs::write(dir.path().join("src/deep/new.rs"), "// new").unwrap();
        assert_ne!(fingerprint(dir.path()), before, "a new file under src/");
        let with_new = fingerprint(dir.path());
        std::fs::write(dir.path().join("src/lib.rs"), "// ab").unwrap();
        assert_ne!(fingerprint(dir.path()), with_new, "an edit (size change)");
    }

    #[test]
    fn building_outside_a_crate_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = build(dir.path()).unwrap_err();
        assert!(err.to_string().contains("has no Cargo.toml"), "{err}");
    }
}
