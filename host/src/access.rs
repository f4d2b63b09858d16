//! The access log: one [`AccessRecord`] per request and per tunnel, with the **decision trace**
//! (per filter hook: its verdict, the names of its edits, its time, its fault).
//!
//! The data path never writes a line itself: it hands the record to [`AccessLog::record`],
//! which puts it on a bounded queue (a short lock, never waiting for the writer). A writer
//! thread of its own, woken once per batch (at most [`BATCH_WAIT`] after a record came),
//! keeps the last [`RECENT`] records for the admin endpoint and writes each one, as a JSON line
//! or in the combined log format, to the output the binary installed with [`write_to`] (a
//! file or stdout), or else as a `weir::access` event of the diagnostic log. A record that
//! finds the queue full is dropped and counted (`weir_log_lines_dropped_total`).
//!
//! Nothing here reads a header value: a record holds the request target, addresses and names,
//! so no `Cookie`, `Authorization` or `Proxy-Authorization` value can reach it. Edits are named
//! (`set-header x-user`), never shown with their values.
//!
//! Depends on `metrics` and on two plain data types, `runtime::RequestId` and `tls::TlsFacts`.

mod format;

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use std::fmt;
use std::net::SocketAddr;
use std::time::SystemTime;

use http::uri::Authority;
use http::{Method, Uri};
use serde::Serialize;

use crate::runtime::RequestId;
use crate::tls::TlsFacts;

pub use format::{Target, rfc3339};

/// Records queued for the writer at most; past this, records are dropped (and counted).
pub const QUEUE: usize = 16_384;

/// Records the admin endpoint keeps, newest last.
pub const RECENT: usize = 100;

/// One request or tunnel, as logged. Plain data taken from the request without formatting
/// anything (addresses, ids, the time and the target are rendered by the writer thread): the
/// data path pays for copies of shared pointers, not for strings.
#[derive(Clone, Debug)]
pub struct AccessRecord {
    /// When the request arrived.
    pub time: SystemTime,
    /// `request`, `tunnel` (CONNECT) or `upgrade` (WebSocket).
    pub kind: &'static str,
    /// The request id (also in `x-weir-error` answers and diagnostic events).
    pub id: RequestId,
    /// The request's client: behind trusted proxies or a PROXY header, the one they name.
    pub client: SocketAddr,
    /// The TCP peer.
    pub peer: SocketAddr,
    /// The listener's name.
    pub listener: Arc<str>,
    /// The route's name (reverse proxy), `None` on a forward-proxy listener or without a route.
    pub route: Option<Arc<str>>,
    /// Request method.
    pub method: Method,
    /// The request target as received (logged without user info).
    pub target: Uri,
    /// `HTTP/1.1`, `HTTP/2.0`…
    pub version: &'static str,
    /// Status sent downstream.
    pub status: u16,
    /// Request body bytes read from the client (for a tunnel: bytes sent up).
    pub bytes_in: u64,
    /// Response body bytes sent to the client (for a tunnel: bytes sent down).
    pub bytes_out: u64,
    /// From the request's arrival to the last byte of its response (or the tunnel's end).
    pub duration_us: u64,
    /// From the request's arrival to the upstream response head, when one came.
    pub upstream_ttfb_us: Option<u64>,
    /// The backend or origin (`host:port`) the request went to last.
    pub upstream: Option<Authority>,
    /// Backends tried after the first.
    pub retries: u32,
    /// Config generation that served the request.
    pub generation: u64,
    /// The TLS session, on an HTTPS listener (its version and SNI are logged).
    pub tls: Option<Arc<TlsFacts>>,
    /// The `x-weir-error` kind when weir answered with an error itself; how a tunnel ended.
    pub error: Option<&'static str>,
    /// Every filter hook that ran or was skipped, in order.
    pub trace: Vec<TraceStep>,
}

impl Default for AccessRecord {
    fn default() -> Self {
        let nowhere = SocketAddr::from(([0, 0, 0, 0], 0));
        Self {
            time: SystemTime::UNIX_EPOCH,
            kind: "request",
            id: RequestId::fixed("none", 0),
            client: nowhere,
            peer: nowhere,
            listener: Arc::from(""),
            route: None,
            method: Method::GET,
            target: Uri::from_static("/"),
            version: "HTTP/1.1",
            status: 0,
            bytes_in: 0,
            bytes_out: 0,
            duration_us: 0,
            upstream_ttfb_us: None,
            upstream: None,
            retries: 0,
            generation: 0,
            tls: None,
            error: None,
            trace: Vec::new(),
        }
    }
}

/// The record as written: field names and renderings, borrowed.
#[derive(Serialize)]
struct Wire<'a> {
    #[serde(serialize_with = "display")]
    time: format::Rfc3339,
    kind: &'static str,
    #[serde(rename = "request.id", serialize_with = "display")]
    id: &'a RequestId,
    #[serde(rename = "client.addr", serialize_with = "display")]
    client: &'a SocketAddr,
    #[serde(rename = "peer.addr", serialize_with = "display")]
    peer: &'a SocketAddr,
    listener: &'a str,
    route: Option<&'a str>,
    #[serde(rename = "http.method")]
    method: &'a str,
    #[serde(rename = "http.target", serialize_with = "display")]
    target: format::Target<'a>,
    #[serde(rename = "http.version")]
    version: &'static str,
    #[serde(rename = "http.status")]
    status: u16,
    bytes_in: u64,
    bytes_out: u64,
    duration_us: u64,
    #[serde(rename = "upstream.ttfb_us")]
    upstream_ttfb_us: Option<u64>,
    #[serde(rename = "upstream.addr")]
    upstream: Option<&'a str>,
    #[serde(rename = "upstream.retries")]
    retries: u32,
    generation: u64,
    #[serde(rename = "tls.version")]
    tls_version: Option<&'a str>,
    #[serde(rename = "tls.sni")]
    tls_sni: Option<&'a str>,
    error: Option<&'static str>,
    trace: &'a [TraceStep],
}

impl Serialize for AccessRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let tls = self.tls.as_deref();
        Wire {
            time: format::Rfc3339(self.time),
            kind: self.kind,
            id: &self.id,
            client: &self.client,
            peer: &self.peer,
            listener: &self.listener,
            route: self.route.as_deref(),
            method: self.method.as_str(),
            target: format::Target(&self.target),
            version: self.version,
            status: self.status,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            duration_us: self.duration_us,
            upstream_ttfb_us: self.upstream_ttfb_us,
            upstream: self.upstream.as_ref().map(Authority::as_str),
            retries: self.retries,
            generation: self.generation,
            tls_version: tls.map(|t| t.version.as_str()),
            tls_sni: tls.and_then(|t| t.sni.as_deref()),
            error: self.error,
            trace: &self.trace,
        }
        .serialize(serializer)
    }
}

/// Serializes a value by its `Display`, without an intermediate string.
fn display<T: fmt::Display, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
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
        (true, Some(name)) => {
            // Sized once (`format!` would grow it).
            let mut shown = String::with_capacity(op.len() + 1 + name.len());
            shown.push_str(op);
            shown.push(' ');
            shown.push_str(name);
            shown
        }
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

/// How long the writer gathers records after the first one before it writes them: the most
/// a record waits before it reaches the output and `/traces`.
pub const BATCH_WAIT: std::time::Duration = std::time::Duration::from_millis(10);

/// Queued records past which the writer starts at once instead of waiting out [`BATCH_WAIT`].
const WAKE_AT: usize = QUEUE / 4;

/// The access log of one running weir, shared by every config generation.
///
/// Records are queued under a short lock and written in batches: the writer thread is woken
/// when a record finds the queue empty (and when it is a quarter full), then gathers for
/// [`BATCH_WAIT`] and takes the whole queue at once. Under load that is one wake-up per batch
/// instead of one per request: waking a thread per request cost a context switch on the
/// worker's core each time (measured: about a third of weir's CPU per request with no filter
/// on one core; docs/benchmarks.md, "Access log batching").
#[derive(Debug)]
pub struct AccessLog {
    shared: Arc<Shared>,
    writer: Option<std::thread::JoinHandle<()>>,
    recent: Arc<Mutex<VecDeque<Box<AccessRecord>>>>,
    dropped: AtomicU64,
}

/// What the data path and the writer share.
#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    /// The writer thread, to wake.
    writer: OnceLock<std::thread::Thread>,
}

#[derive(Debug, Default)]
struct Queue {
    #[allow(
        clippy::vec_box,
        reason = "records come boxed from the data path and are kept boxed in `recent`: moved, never copied"
    )]
    records: Vec<Box<AccessRecord>>,
    /// Set when the log is dropped: the writer writes what is queued and ends.
    closing: bool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(&self) {
        if let Some(writer) = self.writer.get() {
            writer.unpark();
        }
    }
}

impl AccessLog {
    /// Starts the writer thread.
    pub fn start() -> Arc<Self> {
        let shared = Arc::new(Shared::default());
        let recent = Arc::new(Mutex::new(VecDeque::with_capacity(RECENT)));
        let (queue, kept) = (shared.clone(), recent.clone());
        let spawned = std::thread::Builder::new()
            .name("weir-access".to_owned())
            .spawn(move || write_records(&queue, &kept));
        let writer = match spawned {
            Ok(writer) => {
                let _ = shared.writer.set(writer.thread().clone());
                Some(writer)
            }
            Err(e) => {
                // Records then pile up to the queue's bound and are counted as dropped.
                tracing::error!(error = %e, "cannot start the access log writer");
                None
            }
        };
        Arc::new(Self {
            shared,
            writer,
            recent,
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues a record without waiting for the writer; a full queue drops it (counted).
    pub fn record(&self, record: Box<AccessRecord>) {
        let mut queue = self.shared.lock();
        let queued = queue.records.len();
        if queued >= QUEUE {
            drop(queue);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            crate::metrics::METRICS.log_line_dropped();
            return;
        }
        queue.records.push(record);
        drop(queue);
        if queued == 0 || queued + 1 == WAKE_AT {
            self.shared.wake();
        }
    }

    /// The last [`RECENT`] records written, oldest first (copies: the admin endpoint asks
    /// rarely, the writer keeps them without a second allocation).
    pub fn recent(&self) -> Vec<AccessRecord> {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|record| (**record).clone())
            .collect()
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for AccessLog {
    /// Writes what is still queued before the log goes (at the end of `weir run`, say).
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.wake();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The writer thread: waits for a first record, gathers for [`BATCH_WAIT`], then writes and
/// keeps the whole batch and flushes the output; ends once the log is closing and nothing is
/// queued.
fn write_records(shared: &Shared, recent: &Mutex<VecDeque<Box<AccessRecord>>>) {
    let mut line = String::new();
    let mut batch: Vec<Box<AccessRecord>> = Vec::new();
    loop {
        // Parked until a record comes (or the log closes).
        loop {
            let queue = shared.lock();
            if !queue.records.is_empty() || queue.closing {
                break;
            }
            drop(queue);
            std::thread::park();
        }
        let deadline = std::time::Instant::now() + BATCH_WAIT;
        loop {
            let now = std::time::Instant::now();
            if now >= deadline {
                break;
            }
            let queue = shared.lock();
            if queue.records.len() >= WAKE_AT || queue.closing {
                break;
            }
            drop(queue);
            std::thread::park_timeout(deadline - now);
        }
        let closing = {
            let mut queue = shared.lock();
            std::mem::swap(&mut queue.records, &mut batch);
            queue.closing && queue.records.is_empty()
        };
        for record in &batch {
            write_one(record, &mut line);
        }
        {
            let mut kept = recent.lock().unwrap_or_else(PoisonError::into_inner);
            for record in batch.drain(..) {
                if kept.len() == RECENT {
                    kept.pop_front();
                }
                kept.push_back(record);
            }
        }
        if let Some((output, _)) = OUTPUT.get() {
            let _ = output
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .flush();
        }
        if closing {
            return;
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
            listener = &*record.listener,
            route = record.route.as_deref().unwrap_or("-"),
            "http.method" = %record.method,
            "http.target" = %format::Target(&record.target),
            "http.status" = record.status,
            "upstream.addr" = record.upstream.as_ref().map_or("-", Authority::as_str),
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
    fn records_still_queued_are_written_when_the_log_is_dropped() {
        let log = AccessLog::start();
        let kept = log.recent.clone();
        for status in 0..10 {
            log.record(Box::new(AccessRecord {
                status,
                ..AccessRecord::default()
            }));
        }
        // At once: well within the writer's batch wait.
        drop(log);
        let statuses: Vec<u16> = kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|record| record.status)
            .collect();
        assert_eq!(statuses, (0..10).collect::<Vec<u16>>());
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
