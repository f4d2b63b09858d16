//! An h2spec-class HTTP/2 conformance suite (RFC 9113, RFC 7541): each case writes raw frames
//! to weir and checks the answer, on an h2c listener (prior knowledge) and on an HTTPS listener
//! with ALPN `h2`. A group of cases is one test; its failure message is the whole result table.
//! `WEIR_H2_TABLE=1 cargo test -p weir-tests --test e2e h2_conformance:: -- --nocapture` prints
//! the tables. The cases are data: `framing` (RFC 9113 §3 to §6) and `semantics` (§8, HPACK,
//! weir's limits); this file runs them.
//!
//! Expectations follow h2spec: a connection error passes on `GOAWAY` with the code or on the
//! connection closing; a stream error passes on `RST_STREAM` with the code, or on the
//! connection error that RFC 9113 §5.4 allows in its place.

mod framing;
mod semantics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use weir_tests::Backend;
use weir_tests::h2raw::{Event, Frame, H2Conn, code_name, flag, frame, kind, ping, request_block};
use weir_tests::tls::{Pki, client_config};

use crate::support::{TestWeir, runtime_table};

/// Bound of one step (connect, handshake) and of waiting for one case's answer.
pub(crate) const STEP: Duration = Duration::from_secs(3);

/// What a case expects weir to do.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Expect {
    /// A connection error with this code: GOAWAY, or the connection closed.
    Conn(u32),
    /// A stream error on this stream with this code (or the connection error in its place).
    Stream(u32, u32),
    /// A response on this stream with this status.
    Status(u32, u16),
    /// A malformed request: a response with this status, or a stream error with this code.
    Refused(u32, u16, u32),
    /// A PING ACK with this payload.
    PingAck([u8; 8]),
    /// A SETTINGS frame with ACK.
    SettingsAck,
    /// Nothing wrong: the connection still answers a PING.
    Alive,
}

impl Expect {
    fn describe(self) -> String {
        match self {
            Self::Conn(c) => format!("GOAWAY {}", code_name(c)),
            Self::Stream(s, c) => format!("RST_STREAM({s}) {}", code_name(c)),
            Self::Status(s, st) => format!("HEADERS({s}) :status {st}"),
            Self::Refused(s, st, c) => format!("{st}, or RST_STREAM({s}) {}", code_name(c)),
            Self::PingAck(_) => "PING ACK, payload echoed".to_owned(),
            Self::SettingsAck => "SETTINGS ACK".to_owned(),
            Self::Alive => "ignored; PING still answered".to_owned(),
        }
    }
}

/// One conformance case.
pub(crate) struct Case {
    /// Section of RFC 9113 (or RFC 7541 as `hpack`) and a short title.
    pub(crate) name: &'static str,
    /// Whether the preface and SETTINGS exchange come first.
    pub(crate) handshake: bool,
    /// What the client writes (after the handshake).
    pub(crate) send: Vec<u8>,
    pub(crate) expect: Expect,
    /// A request path the backend must never see whole, with its declared body length.
    pub(crate) never_forwarded: Option<(&'static str, u64)>,
    /// What the `h2` crate does instead of `expect`, where it departs from the RFC in a way no
    /// setting changes; the case checks this, so a fixed crate shows up as a failure here.
    pub(crate) h2_answers: Option<Expect>,
}

impl Case {
    /// Records the `h2` crate's departure from the RFC's expectation.
    fn h2_answers(mut self, actual: Expect) -> Self {
        self.h2_answers = Some(actual);
        self
    }
}

pub(super) fn case(name: &'static str, send: Vec<u8>, expect: Expect) -> Case {
    Case {
        name,
        handshake: true,
        send,
        expect,
        never_forwarded: None,
        h2_answers: None,
    }
}

/// Where the suite connects: weir's h2c listener or its HTTPS listener.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    H2c(SocketAddr),
    Tls(SocketAddr, Arc<rustls::ClientConfig>),
}

impl Target {
    pub(crate) async fn connect(&self) -> std::io::Result<H2Conn> {
        self.connect_with(None).await
    }

    /// Connects with the client socket's receive buffer shrunk to `recv_buffer`.
    async fn connect_with(&self, recv_buffer: Option<u32>) -> std::io::Result<H2Conn> {
        match (self, recv_buffer) {
            (Self::H2c(addr), None) => H2Conn::h2c(*addr, STEP).await,
            (Self::H2c(addr), Some(size)) => H2Conn::h2c_with_buffer(*addr, size, STEP).await,
            (Self::Tls(addr, config), size) => {
                H2Conn::tls(*addr, "app.test", config.clone(), size, STEP).await
            }
        }
    }

    /// A connection that has done the preface and SETTINGS exchange; `recv_buffer` as in
    /// [`H2Conn::tls`].
    pub(crate) async fn open(&self, recv_buffer: Option<u32>) -> H2Conn {
        let mut conn = self
            .connect_with(recv_buffer)
            .await
            .expect("connect to weir");
        conn.handshake(STEP).await.expect("HTTP/2 handshake");
        conn
    }
}

/// weir with an h2c listener and an HTTPS listener (ALPN `h2`) in front of one backend.
pub(crate) struct H2Weir {
    pub(crate) weir: TestWeir,
    pub(crate) backend: Backend,
    pub(crate) targets: [(&'static str, Target); 2],
    _dir: tempfile::TempDir,
}

impl H2Weir {
    /// Starts weir; `listener_keys` go into both `[[listener]]` tables.
    pub(crate) async fn start(listener_keys: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki::new(dir.path(), "h2");
        let cert = pki.server("app", &["app.test"]);
        let backend = Backend::start("origin").await;
        let toml = format!(
            "{}
[[listener]]
name = \"h2c\"
bind = \"127.0.0.1:0\"
protocol = \"h2c\"
{listener_keys}

[[listener]]
name = \"tls\"
bind = \"127.0.0.1:0\"
{listener_keys}
[listener.tls]
certificates = [{{ cert = {:?}, key = {:?} }}]

[[pool]]
name = \"main\"
backends = [\"{}\"]

[[route]]
pool = \"main\"
",
            runtime_table(),
            cert.cert.display().to_string(),
            cert.key.display().to_string(),
            backend.addr(),
        );
        let weir = TestWeir::start(&toml).await;
        let tls = client_config(pki.roots(), &["h2"], None);
        let targets = [
            ("h2c", Target::H2c(weir.addr_of("h2c"))),
            ("TLS", Target::Tls(weir.addr_of("tls"), tls)),
        ];
        Self {
            weir,
            backend,
            targets,
            _dir: dir,
        }
    }

    /// Runs every case on both listeners, then fails with the whole table if any case failed.
    async fn check(self, group: &str, cases: Vec<Case>) {
        let mut rows = Vec::new();
        let mut failed = 0;
        for case in &cases {
            let mut seen = Vec::new();
            for (_, target) in &self.targets {
                let (pass, what) = self.run(target, case).await;
                failed += usize::from(!pass);
                seen.push(match (pass, case.h2_answers.is_some()) {
                    (false, _) => format!("**FAIL**: {what}"),
                    (true, true) => format!("{what} (h2 crate)"),
                    (true, false) => what,
                });
            }
            rows.push(format!(
                "| {} | {} | {} | {} |",
                case.name,
                case.expect.describe(),
                seen[0],
                seen[1]
            ));
        }
        let table = format!(
            "| case | expected | h2c | TLS |\n|---|---|---|---|\n{}",
            rows.join("\n")
        );
        if std::env::var_os("WEIR_H2_TABLE").is_some() {
            #[allow(clippy::print_stderr, reason = "the table is the suite's report")]
            {
                eprintln!("{group}\n{table}\n");
            }
        }
        assert_eq!(failed, 0, "{group}: {failed} failed\n{table}");
        self.weir.stop().await;
    }

    async fn run(&self, target: &Target, case: &Case) -> (bool, String) {
        let mut conn = match target.connect().await {
            Ok(conn) => conn,
            Err(e) => return (false, format!("connect: {e}")),
        };
        if case.handshake
            && let Err(e) = conn.handshake(STEP).await
        {
            return (false, e);
        }
        // weir may close before it has read everything; what it answers is the result.
        let _ = conn.send_within(&case.send, STEP).await;
        let expect = case.h2_answers.unwrap_or(case.expect);
        let (mut pass, mut what) = observe(&mut conn, expect, Instant::now() + STEP).await;
        if let Some((path, len)) = case.never_forwarded {
            let whole = self
                .backend
                .requests()
                .iter()
                .any(|r| r.path == path && r.body_len == len);
            if whole {
                pass = false;
                what.push_str("; forwarded to the backend");
            }
        }
        (pass, what)
    }
}

/// Reads until the expectation is decided, bounded by `deadline`.
pub(crate) async fn observe(
    conn: &mut H2Conn,
    expect: Expect,
    deadline: Instant,
) -> (bool, String) {
    const ALIVE: [u8; 8] = *b"alive!!!";
    let expect = match expect {
        Expect::Alive => {
            if let Err(e) = conn.send(&ping(0, ALIVE)).await {
                return (false, format!("write failed: {e}"));
            }
            Expect::PingAck(ALIVE)
        }
        other => other,
    };
    let mut noted = Vec::new();
    for _ in 0..10_000 {
        let f = match conn.next_until(deadline).await {
            Event::Frame(f) => f,
            Event::Closed => {
                let pass = matches!(expect, Expect::Conn(_) | Expect::Stream(..));
                return (pass, with_noted(&noted, "closed"));
            }
            Event::TimedOut => return (false, with_noted(&noted, "no answer in time")),
        };
        if let Some(pass) = decide(expect, &f) {
            return (pass, with_noted(&noted, &f.to_string()));
        }
        if matches!(f.kind, kind::RST_STREAM | kind::HEADERS) {
            noted.push(f.to_string());
        }
    }
    (false, with_noted(&noted, "too many frames"))
}

/// Whether `f` decides the expectation (Some) or is to be skipped (None).
fn decide(expect: Expect, f: &Frame) -> Option<bool> {
    let goaway = f.kind == kind::GOAWAY;
    let on = |s: u32, k: u8| f.stream == s && f.kind == k;
    match expect {
        Expect::Conn(c) => goaway.then(|| f.error_code() == Some(c)),
        Expect::Stream(s, c) => {
            (goaway || on(s, kind::RST_STREAM)).then(|| f.error_code() == Some(c))
        }
        Expect::Status(s, st) => {
            (goaway || on(s, kind::RST_STREAM) || on(s, kind::HEADERS)).then(|| {
                f.kind == kind::HEADERS && weir_tests::h2raw::status_of(&f.payload) == Some(st)
            })
        }
        Expect::Refused(s, st, c) => (goaway || on(s, kind::RST_STREAM) || on(s, kind::HEADERS))
            .then(|| match f.kind {
                kind::HEADERS => weir_tests::h2raw::status_of(&f.payload) == Some(st),
                _ => f.error_code() == Some(c),
            }),
        Expect::PingAck(p) => (goaway || (f.kind == kind::PING && f.has(flag::ACK)))
            .then(|| f.kind == kind::PING && f.payload == p),
        Expect::SettingsAck => (goaway || (f.kind == kind::SETTINGS && f.has(flag::ACK)))
            .then_some(f.kind == kind::SETTINGS),
        Expect::Alive => unreachable!("Alive is turned into PingAck"),
    }
}

fn with_noted(noted: &[String], last: &str) -> String {
    if noted.is_empty() {
        last.to_owned()
    } else {
        format!("{} then {last}", noted.join(", "))
    }
}

// ---- helpers for the cases ------------------------------------------------------------------

pub(super) const PAYLOAD: [u8; 8] = *b"h2-suite";

/// HEADERS opening stream `s` for a `POST` whose body follows.
pub(super) fn post(s: u32, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    frame(
        kind::HEADERS,
        flag::END_HEADERS,
        s,
        &request_block("POST", path, extra),
    )
}

pub(super) fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

pub(super) fn with_end_stream(kind_: u8, s: u32, block: &[u8]) -> Vec<u8> {
    frame(kind_, flag::END_HEADERS | flag::END_STREAM, s, block)
}

/// Keys of both listeners: few concurrent streams, so 5.1.2 needs few frames.
const KEYS: &str = "h2_max_concurrent_streams = 8";

#[tokio::test]
async fn connection_preface_and_frame_format() {
    H2Weir::start(KEYS)
        .await
        .check(
            "preface and frame format",
            framing::preface_and_frame_cases(),
        )
        .await;
}

#[tokio::test]
async fn stream_states_and_identifiers() {
    H2Weir::start(KEYS)
        .await
        .check("stream states", framing::stream_cases())
        .await;
}

#[tokio::test]
async fn frame_definitions() {
    H2Weir::start(KEYS)
        .await
        .check("frame definitions", framing::frame_definition_cases())
        .await;
}

#[tokio::test]
async fn http_semantics_errors_never_reach_the_backend() {
    H2Weir::start(KEYS)
        .await
        .check("HTTP semantics", semantics::semantics_cases())
        .await;
}

#[tokio::test]
async fn hpack_decoding_errors() {
    H2Weir::start(KEYS)
        .await
        .check("HPACK", semantics::hpack_cases())
        .await;
}

#[tokio::test]
async fn listener_limits() {
    H2Weir::start(KEYS)
        .await
        .check("limits", semantics::limit_cases())
        .await;
}
