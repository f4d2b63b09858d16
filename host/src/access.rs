//! The access log: one [`AccessRecord`] per request and per tunnel, with the **decision trace**
//! (per filter hook: its verdict, the names of its edits, its time, its fault).
//!
//! The data path never writes a line itself: it hands the record to [`AccessLog::record`],
//! which puts it on a bounded channel (`try_send`, never waiting). A writer thread of its own
//! keeps the last [`RECENT`] records for the admin endpoint and writes each one, as a JSON line
//! or in the combined log format, to the output the binary installed with [`write_to`] (a
//! file or stdout), or else as a `weir::access` event of the diagnostic log. A record that
//! finds the channel full is dropped and counted (`weir_log_lines_dropped_total`).
//!
//! Nothing here reads a header value: a record holds the request target, addresses and names,
//! so no `Cookie`, `Authorization` or `Proxy-Authorization` value can reach it. Edits are named
//! (`set-header x-user`), never shown with their values.
//!
//! A leaf: depends on nothing else in weir but `metrics`.

mod format;

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use serde::Serialize;

pub use format::rfc3339;

/// Records queued for the writer at most; past this, records are dropped (and counted).
pub const QUEUE: usize = 16_384;

/// Records the admin endpoint keeps, newest last.
pub const RECENT: usize = 100;

/// One request or tunnel, as logged.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AccessRecord {
    /// When the request arrived, RFC 3339 UTC with milliseconds.
    pub time: String,
    /// `request`, `tunnel` (CONNECT) or `upgrade` (WebSocket).
    pub kind: &'static str,
    /// The request id (also in `x-weir-error` answers and diagnostic events).
    #[serde(rename = "request.id")]
    pub id: String,
    /// The request's client: behind trusted proxies or a PROXY header, the one they name.
    #[serde(rename = "client.addr")]
    pub client: String,
    /// The TCP peer.
    #[serde(rename = "peer.addr")]
    pub peer: String,
    /// The listener's name.
    pub listener: String,
    /// The route's name (reverse proxy), `null` on a forward-proxy listener or without a route.
    pub route: Option<String>,
    /// Request method.
    #[serde(rename = "http.method")]
    pub method: String,
    /// The request target as received: path and query, or `host:port` for CONNECT.
    #[serde(rename = "http.target")]
    pub target: String,
    /// `HTTP/1.1`, `HTTP/2.0`…
    #[serde(rename = "http.version")]
    pub version: &'static str,
    /// Status sent downstream.
    #[serde(rename = "http.status")]
    pub status: u16,
    /// Request body bytes read from the client (for a tunnel: bytes sent up).
    pub bytes_in: u64,
    /// Response body bytes sent to the client (for a tunnel: bytes sent down).
    pub bytes_out: u64,
    /// From the request's arrival to the last byte of its response (or the tunnel's end).
    pub duration_us: u64,
    /// From the request's arrival to the upstream response head, when one came.
    #[serde(rename = "upstream.ttfb_us")]
    pub upstream_ttfb_us: Option<u64>,
    /// The backend or origin (`host:port`) the request went to last.
    #[serde(rename = "upstream.addr")]
    pub upstream: Option<String>,
    /// Attempts after the first (another backend, for a retry).
    #[serde(rename = "upstream.retries")]
    pub retries: u32,
    /// Config generation that served the request.
    pub generation: u64,
    /// TLS version on an HTTPS listener.
    #[serde(rename = "tls.version")]
    pub tls_version: Option<String>,
    /// The SNI the client sent.
    #[serde(rename = "tls.sni")]
    pub tls_sni: Option<String>,
    /// The `x-weir-error` kind when weir answered with an error itself; how a tunnel ended.
    pub error: Option<&'static str>,
    /// Every filter hook that ran or was skipped, in order.
    pub trace: Vec<TraceStep>,
}

/// One filter hook in the decision trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceStep {
    /// The filter's name.
    #[serde(serialize_with = "as_str")]
    pub filter: Arc<str>,
    /// `on_request` or `on_response`.
    pub hook: &'static str,
    /// `continue`, `respond`, `fault` (see `fault`), `skipped` (fail-open, after a fault or
    /// while its breaker is open) or `unavailable` (fail-closed, breaker open).
    pub verdict: &'static str,
    /// The status of a `respond` verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The edits it made, by name (`set-header x-user`, `set-path`): never values.
    pub edits: Vec<String>,
    /// The edits the host refused, by name and reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
    /// Time spent in the hook call (instance checkout included).
    pub time_us: u64,
    /// `trap`, `deadline`, `memory`, `instantiate`, `init`, `invalid_verdict` or
    /// `breaker_open`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<&'static str>,
}

/// Serializes a shared name (serde's `rc` feature would rebuild every dependency for this).
fn as_str<S: serde::Serializer>(name: &Arc<str>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(name)
}

/// The edit's name from its journal line: the operation, and the header, cookie or pool it
/// names; never the value (`set-header x-user alice` → `set-header x-user`).
pub fn edit_name(line: &str) -> String {
    let mut words = line.split(' ');
    let op = words.next().unwrap_or_default();
    let named = op.ends_with("-header") || op.ends_with("cookie") || op == "select-backend";
    match (named, words.next()) {
        (true, Some(name)) => format!("{op} {name}"),
        _ => op.to_owned(),
    }
}

/// How records are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AccessFormat {
    /// One JSON object per line, every field.
    #[default]
    Json,
    /// The combined log format (Apache/nginx), for tools that read it; no decision trace.
    Combined,
}

type Output = Mutex<Box<dyn Write + Send>>;

/// Where records go in this process, installed once by the binary.
static OUTPUT: OnceLock<(Output, AccessFormat)> = OnceLock::new();

/// Sends every access record of this process to `output` in `format` (the first call wins;
/// without one, records are `weir::access` events of the diagnostic log).
pub fn write_to(output: Box<dyn Write + Send>, format: AccessFormat) {
    let _ = OUTPUT.set((Mutex::new(output), format));
}

/// The access log of one running weir, shared by every config generation.
#[derive(Debug)]
pub struct AccessLog {
    queue: SyncSender<Box<AccessRecord>>,
    recent: Arc<Mutex<VecDeque<Arc<AccessRecord>>>>,
    dropped: AtomicU64,
}

impl AccessLog {
    /// Starts the writer thread.
    pub fn start() -> Arc<Self> {
        let (queue, records) = sync_channel(QUEUE);
        let recent = Arc::new(Mutex::new(VecDeque::with_capacity(RECENT)));
        let kept = recent.clone();
        let spawned = std::thread::Builder::new()
            .name("weir-access".to_owned())
            .spawn(move || write_records(&records, &kept));
        if let Err(e) = spawned {
            // Records then find the channel closed and are counted as dropped.
            tracing::error!(error = %e, "cannot start the access log writer");
        }
        Arc::new(Self {
            queue,
            recent,
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues a record without waiting; a full queue drops it (counted).
    pub fn record(&self, record: Box<AccessRecord>) {
        match self.queue.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                crate::metrics::METRICS.log_line_dropped();
            }
        }
    }

    /// The last [`RECENT`] records written, oldest first.
    pub fn recent(&self) -> Vec<Arc<AccessRecord>> {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The writer thread: until every sender is gone, keeps and writes each record; flushes the
/// output whenever the queue is empty.
fn write_records(
    records: &Receiver<Box<AccessRecord>>,
    recent: &Mutex<VecDeque<Arc<AccessRecord>>>,
) {
    let mut line = String::new();
    while let Ok(record) = records.recv() {
        let mut next = Some(record);
        while let Some(record) = next.take() {
            write_one(&record, &mut line);
            let mut kept = recent.lock().unwrap_or_else(PoisonError::into_inner);
            if kept.len() == RECENT {
                kept.pop_front();
            }
            kept.push_back(Arc::from(record));
            drop(kept);
            next = records.try_recv().ok();
        }
        if let Some((output, _)) = OUTPUT.get() {
            let _ = output
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .flush();
        }
    }
}

fn write_one(record: &AccessRecord, line: &mut String) {
    let Some((output, format)) = OUTPUT.get() else {
        if !tracing::enabled!(target: "weir::access", tracing::Level::INFO) {
            return;
        }
        let json = serde_json::to_string(&record.trace).unwrap_or_default();
        tracing::info!(
            target: "weir::access",
            {
            "request.id" = %record.id,
            "client.addr" = %record.client,
            "peer.addr" = %record.peer,
            listener = %record.listener,
            route = record.route.as_deref().unwrap_or("-"),
            "http.method" = %record.method,
            "http.target" = %record.target,
            "http.status" = record.status,
            "upstream.addr" = record.upstream.as_deref().unwrap_or("-"),
            "upstream.retries" = record.retries,
            bytes_in = record.bytes_in,
            bytes_out = record.bytes_out,
            duration_us = record.duration_us,
            error = record.error.unwrap_or("-"),
            trace = %json,
            },
            "{}", record.kind
        );
        return;
    };
    line.clear();
    match format {
        AccessFormat::Json => match serde_json::to_string(record) {
            Ok(json) => line.push_str(&json),
            Err(_) => return,
        },
        AccessFormat::Combined => format::combined(record, line),
    }
    line.push('\n');
    let _ = output
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_names_never_carry_values() {
        for (line, name) in [
            ("set-header x-user alice", "set-header x-user"),
            ("append-header x-a 1", "append-header x-a"),
            ("remove-header x-a", "remove-header x-a"),
            ("set-cookie session <12 bytes>", "set-cookie session"),
            ("remove-set-cookie sid (1)", "remove-set-cookie sid"),
            ("set-path /secret/token", "set-path"),
            ("set-query a=secret", "set-query"),
            ("set-authority internal:8080", "set-authority"),
            ("select-backend beta affinity=8", "select-backend beta"),
            ("set-status 404", "set-status"),
        ] {
            assert_eq!(edit_name(line), name, "{line}");
        }
    }

    #[test]
    fn the_writer_keeps_the_last_records_in_order() {
        let log = AccessLog::start();
        for status in 0..(RECENT as u16 + 5) {
            log.record(Box::new(AccessRecord {
                status,
                ..AccessRecord::default()
            }));
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while log.recent().last().map(|r| r.status) != Some(RECENT as u16 + 4)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let recent = log.recent();
        assert_eq!(recent.len(), RECENT);
        assert_eq!(recent[0].status, 5);
        assert_eq!(log.dropped(), 0);
    }
}
