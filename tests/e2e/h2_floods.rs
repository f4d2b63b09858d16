//! HTTP/2 floods against weir's h2c and HTTPS listeners: PING and SETTINGS floods from a
//! client that never reads, a CONTINUATION flood, a rapid-reset (RST_STREAM) flood, and floods
//! of empty and of 1-byte DATA frames. Each must keep weir's memory bounded, end the flooding connection
//! where a limit applies, and leave a request on another connection answered while it runs.
//! `WEIR_H2_TABLE=1` (with `--nocapture`) prints what each flood wrote and how it ended. The
//! tests run on the current-thread runtime: weir, the flood and the other client share one
//! thread, so a flood cannot starve other tests of both cores.

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;
use weir_tests::h2raw::{
    Event, H2Conn, code, flag, frame, get, header_block, kind, ping, request_block, rst_stream,
    settings,
};
use weir_tests::peak_rss_bytes;

use crate::h2_conformance::{Expect, H2Weir, STEP, Target, observe};

/// Listener keys for the floods: a client that stops reading is dropped after one second.
const KEYS: &str = "send_timeout_ms = 1000";

/// The longest a flood writes. A never-reading client's flood ends when weir's send timeout
/// closes the connection, after weir has worked through the backlog in its receive buffer:
/// about 1.5 s on h2c and 5 s on TLS in a debug build (one TLS record per PING ACK).
const FLOOD_FOR: Duration = Duration::from_secs(15);

/// Growth of the process's peak memory a flood may cause (weir runs in the test process).
const MAX_GROWTH: u64 = 64 * 1024 * 1024;

/// How a flood ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// A write failed: weir closed the connection.
    Closed,
    /// weir sent GOAWAY with this code.
    GoAway(u32),
    /// Still open when the flood stopped.
    Open,
}

#[derive(Debug)]
struct Flooded {
    written: u64,
    elapsed: Duration,
    end: End,
}

/// Writes batches from `batch` until a write fails or `FLOOD_FOR` passes, never reading; then,
/// if `read_after`, reads until GOAWAY or the close (bounded by `STEP`). `started` fires after
/// the first batch.
async fn flood(
    conn: &mut H2Conn,
    mut batch: impl FnMut() -> Vec<u8>,
    read_after: bool,
    started: oneshot::Sender<()>,
) -> Flooded {
    let begin = Instant::now();
    let deadline = begin + FLOOD_FOR;
    let mut written = 0u64;
    let mut started = Some(started);
    let mut end = End::Open;
    for _ in 0..1_000_000 {
        let bytes = batch();
        match tokio::time::timeout_at(deadline, conn.send(&bytes)).await {
            Ok(Ok(())) => written += bytes.len() as u64,
            Ok(Err(_)) => {
                end = End::Closed;
                break;
            }
            Err(_) => break,
        }
        if let Some(tx) = started.take() {
            let _ = tx.send(());
        }
    }
    if let Some(tx) = started.take() {
        let _ = tx.send(());
    }
    let elapsed = begin.elapsed();
    if read_after {
        match conn
            .wait_for(Instant::now() + STEP, |f| f.kind == kind::GOAWAY)
            .await
        {
            Event::Frame(f) => end = End::GoAway(f.error_code().unwrap_or(u32::MAX)),
            Event::Closed => end = End::Closed,
            Event::TimedOut => {}
        }
    }
    Flooded {
        written,
        elapsed,
        end,
    }
}

/// One flood: a name, a function that makes the next batch, whether to read after it, and the
/// ends that count as bounded.
struct Attack {
    name: &'static str,
    /// Frames sent after the handshake, before the first batch.
    opening: Vec<u8>,
    batch: fn(&mut u32) -> Vec<u8>,
    read_after: bool,
    accept: fn(&End) -> bool,
}

/// Runs `attack` on both listeners; while it runs, a request on another connection must be
/// answered, and afterwards the peak memory may have grown by at most `MAX_GROWTH`.
async fn run(attack: Attack) {
    let h2 = H2Weir::start(KEYS).await;
    let mut report = Vec::new();
    for (label, target) in &h2.targets {
        let before = peak_rss_bytes();
        let mut conn = target.open(Some(4096)).await;
        conn.send(&attack.opening).await.expect("opening frames");
        let (tx, rx) = oneshot::channel();
        let batch = attack.batch;
        let read_after = attack.read_after;
        let task = tokio::spawn(async move {
            let mut state = 0u32;
            flood(&mut conn, move || batch(&mut state), read_after, tx).await
        });
        rx.await.expect("the flood started");
        let (answered, what) = other_client(target).await;
        let flooded = tokio::time::timeout(FLOOD_FOR + STEP * 2, task)
            .await
            .expect("the flood ends in time")
            .expect("the flood task did not panic");
        let growth = peak_rss_bytes().saturating_sub(before);
        report.push(format!(
            "{} on {label}: wrote {} KiB in {:?}, ended {:?}, peak memory +{} KiB, other client: {what}",
            attack.name,
            flooded.written / 1024,
            flooded.elapsed,
            flooded.end,
            growth / 1024
        ));
        assert!(answered, "{}", report.join("\n"));
        assert!((attack.accept)(&flooded.end), "{}", report.join("\n"));
        assert!(growth < MAX_GROWTH, "{}", report.join("\n"));
    }
    if std::env::var_os("WEIR_H2_TABLE").is_some() {
        #[allow(clippy::print_stderr, reason = "the numbers are the suite's report")]
        {
            eprintln!("{}", report.join("\n"));
        }
    }
    h2.weir.stop().await;
}

/// A GET on a new connection to the same listener; whether it got 200 in time.
async fn other_client(target: &Target) -> (bool, String) {
    let mut conn = target.open(None).await;
    conn.send(&get(1, "/other"))
        .await
        .expect("send the request");
    observe(&mut conn, Expect::Status(1, 200), Instant::now() + STEP).await
}

/// 4 096 frames of `one` per batch.
fn repeat(one: &[u8]) -> Vec<u8> {
    one.repeat(4096)
}

#[tokio::test]
async fn a_ping_flood_from_a_client_that_never_reads_is_closed() {
    run(Attack {
        name: "PING flood",
        opening: Vec::new(),
        batch: |_| repeat(&ping(0, *b"floodfld")),
        read_after: false,
        // Weir stops reading while its PING ACKs wait, then the send timeout closes it.
        accept: |end| *end == End::Closed,
    })
    .await;
}

#[tokio::test]
async fn a_settings_flood_from_a_client_that_never_reads_is_closed() {
    run(Attack {
        name: "SETTINGS flood",
        opening: Vec::new(),
        batch: |_| repeat(&settings(&[(0x3, 100)])),
        read_after: false,
        accept: |end| *end == End::Closed,
    })
    .await;
}

#[tokio::test]
async fn a_continuation_flood_ends_in_goaway() {
    let field = header_block(&[("x-flood", "abcdefghijklmnopqrstuvwxyz")]);
    let mut opening = request_block("GET", "/continuation", &[]);
    opening.extend_from_slice(&field);
    run(Attack {
        name: "CONTINUATION flood",
        opening: frame(kind::HEADERS, flag::END_STREAM, 1, &opening),
        batch: |_| {
            let field = header_block(&[("x-flood", "abcdefghijklmnopqrstuvwxyz")]);
            repeat(&frame(kind::CONTINUATION, 0, 1, &field))
        },
        read_after: true,
        // The h2 crate counts CONTINUATION frames against the header list limit.
        accept: |end| matches!(end, End::GoAway(code::ENHANCE_YOUR_CALM) | End::Closed),
    })
    .await;
}

#[tokio::test]
async fn a_rapid_reset_flood_ends_in_goaway() {
    run(Attack {
        name: "RST_STREAM flood",
        opening: Vec::new(),
        batch: |next: &mut u32| {
            let mut out = Vec::new();
            for _ in 0..256 {
                let id = 1 + 2 * *next;
                *next = next.saturating_add(1);
                out.extend_from_slice(&get(id, "/reset"));
                out.extend_from_slice(&rst_stream(id, code::CANCEL));
            }
            out
        },
        read_after: true,
        // max_pending_accept_reset_streams (20) in server/listeners.rs.
        accept: |end| matches!(end, End::GoAway(code::ENHANCE_YOUR_CALM) | End::Closed),
    })
    .await;
}

#[tokio::test]
async fn an_empty_data_flood_ends_in_goaway() {
    run(Attack {
        name: "empty DATA flood",
        opening: frame(
            kind::HEADERS,
            flag::END_HEADERS,
            1,
            &request_block("POST", "/empty", &[]),
        ),
        batch: |_| repeat(&frame(kind::DATA, 0, 1, &[])),
        read_after: true,
        // The h2 crate bounds DATA frames that carry (almost) nothing on an open stream.
        accept: |end| matches!(end, End::GoAway(code::ENHANCE_YOUR_CALM) | End::Closed),
    })
    .await;
}

#[tokio::test]
async fn a_one_byte_data_flood_ends_in_goaway() {
    run(Attack {
        name: "1-byte DATA flood",
        opening: frame(
            kind::HEADERS,
            flag::END_HEADERS,
            1,
            &request_block("POST", "/tiny", &[]),
        ),
        batch: |_| repeat(&frame(kind::DATA, 0, 1, b"x")),
        read_after: true,
        accept: |end| matches!(end, End::GoAway(code::ENHANCE_YOUR_CALM) | End::Closed),
    })
    .await;
}
