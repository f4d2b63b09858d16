//! Reload on file change: polls the config file and every plugin file it names, and reloads
//! once the files have stopped changing for the debounce period, so a file written in several
//! steps is loaded once, complete. Polling (size and modification time) needs no platform
//! notification API and costs a few `stat` calls per interval.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;

use super::Control;
use crate::config::WatchSettings;
use crate::proxy::StopState;

/// Size and modification time of each watched file.
pub(super) type Fingerprint = Vec<(PathBuf, Option<(u64, SystemTime)>)>;

/// Runs until `stopped` changes. `seen` is the files' state when the running config was read.
pub(super) async fn run(
    control: Arc<Control>,
    settings: WatchSettings,
    mut seen: Fingerprint,
    mut stopped: watch::Receiver<StopState>,
) {
    let mut changed_at: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            () = tokio::time::sleep(settings.interval) => {}
            _ = stopped.changed() => return,
        }
        let now = fingerprint(control.watched_files().await);
        if now != seen {
            // Still being written: restart the quiet period.
            seen = now;
            changed_at = Some(tokio::time::Instant::now());
            continue;
        }
        let Some(at) = changed_at else { continue };
        if at.elapsed() < settings.debounce {
            continue;
        }
        changed_at = None;
        tracing::info!("watched files changed: reloading");
        let before = seen.clone();
        // The outcome (applied or refused, and why) is logged by the reload itself.
        let _ = control.reload_from_source().await;
        let files = control.watched_files().await;
        // Compare later polls with the state the reload read, so a change made during the
        // reload triggers another one; a new set of files starts from what is there now.
        seen = if before.iter().map(|(p, _)| p).eq(files.iter()) {
            before
        } else {
            fingerprint(files)
        };
    }
}

/// The files' current state.
pub(super) fn fingerprint(files: Vec<PathBuf>) -> Fingerprint {
    files
        .into_iter()
        .map(|path| {
            let meta = std::fs::metadata(&path).ok();
            let stamp = meta.and_then(|m| Some((m.len(), m.modified().ok()?)));
            (path, stamp)
        })
        .collect()
}
