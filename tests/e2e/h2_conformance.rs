//! An h2spec-class HTTP/2 conformance suite (RFC 9113, RFC 7541): each case writes raw frames
//! to weir and checks the answer, on an h2c listener (prior knowledge) and on an HTTPS listener
//! with ALPN `h2`. A group of cases is one test; its failure message is the whole result table.
//! `WEIR_H2_TABLE=1 cargo test -p weir-tests --test e2e h2_conformance::` prints the tables.
//!
//! Expectations follow h2spec: a connection error passes on `GOAWAY` with the code or on the
//! connection closing; a stream error passes on `RST_STREAM` with the code, or on the
//! connection error that RFC 9113 §5.4 allows in its place.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use weir_tests::Backend;
use weir_tests::h2raw::{
    Event, Frame, H2Conn, PREFACE, code, code_name, flag, frame, get, header_block, integer, kind,
    ping, priority, request_block, rst_stream, setting, settings, window_update,
};
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

fn case(name: &'static str, send: Vec<u8>, expect: Expect) -> Case {
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

// ---- the cases -------------------------------------------------------------------------------

const PAYLOAD: [u8; 8] = *b"h2-suite";

/// HEADERS opening stream `s` for a `POST` whose body follows.
fn post(s: u32, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    frame(
        kind::HEADERS,
        flag::END_HEADERS,
        s,
        &request_block("POST", path, extra),
    )
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn with_end_stream(kind_: u8, s: u32, block: &[u8]) -> Vec<u8> {
    frame(kind_, flag::END_HEADERS | flag::END_STREAM, s, block)
}

fn preface_and_frame_cases() -> Vec<Case> {
    use Expect::{Alive, Conn, PingAck, Status, Stream};
    let mut reserved_bit_ping = ping(0, PAYLOAD);
    reserved_bit_ping[5] |= 0x80;
    let big_block = header_block(&[
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "app.test"),
        (":path", "/"),
        ("x-big", &"a".repeat(16_400)),
    ]);
    vec![
        Case {
            name: "3.4/1 invalid connection preface",
            handshake: false,
            send: b"INVALID CONNECTION PREFACE\r\n\r\n".to_vec(),
            expect: Conn(code::PROTOCOL_ERROR),
            never_forwarded: None,
            h2_answers: None,
        },
        Case {
            name: "3.4/2 preface followed by PING instead of SETTINGS",
            handshake: false,
            send: cat(&[PREFACE.to_vec(), ping(0, PAYLOAD)]),
            expect: Conn(code::PROTOCOL_ERROR),
            never_forwarded: None,
            // The crate does not insist on SETTINGS first: it answers the PING and waits.
            h2_answers: Some(PingAck(PAYLOAD)),
        },
        case(
            "4.1/1 unknown frame type",
            frame(0x16, 0, 0, b"ignored!"),
            Alive,
        ),
        case(
            "4.1/2 undefined flags on PING",
            ping(0xfe, PAYLOAD),
            PingAck(PAYLOAD),
        ),
        case(
            "4.1/3 reserved bit set in the stream field",
            reserved_bit_ping,
            PingAck(PAYLOAD),
        ),
        case(
            "4.2/1 DATA of exactly 2^14 octets",
            cat(&[
                post(1, "/", &[]),
                frame(kind::DATA, flag::END_STREAM, 1, &[b'x'; 16_384]),
            ]),
            Status(1, 200),
        ),
        case(
            "4.2/2 DATA larger than SETTINGS_MAX_FRAME_SIZE",
            cat(&[
                post(1, "/", &[]),
                frame(kind::DATA, flag::END_STREAM, 1, &[b'x'; 16_385]),
            ]),
            Stream(1, code::FRAME_SIZE_ERROR),
        ),
        case(
            "4.2/3 HEADERS larger than SETTINGS_MAX_FRAME_SIZE",
            with_end_stream(kind::HEADERS, 1, &big_block),
            Conn(code::FRAME_SIZE_ERROR),
        ),
        case(
            "5.5/1 unknown frame type inside a header block",
            cat(&[
                frame(
                    kind::HEADERS,
                    flag::END_STREAM,
                    1,
                    &request_block("GET", "/", &[]),
                ),
                frame(0x16, 0, 1, b"ignored!"),
                frame(kind::CONTINUATION, flag::END_HEADERS, 1, &[]),
            ]),
            Conn(code::PROTOCOL_ERROR),
        ),
    ]
}

fn stream_cases() -> Vec<Case> {
    use Expect::{Conn, Status, Stream};
    // Nine streams left open (no END_STREAM), one past h2_max_concurrent_streams = 8.
    let too_many: Vec<Vec<u8>> = (0..9).map(|i| post(1 + 2 * i, "/open", &[])).collect();
    vec![
        case(
            "5.1/1 DATA on an idle stream",
            frame(kind::DATA, 0, 1, b"data"),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "5.1/2 RST_STREAM on an idle stream",
            rst_stream(1, code::CANCEL),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "5.1/3 WINDOW_UPDATE on an idle stream",
            window_update(1, 100),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "5.1/4 CONTINUATION on an idle stream",
            frame(
                kind::CONTINUATION,
                flag::END_HEADERS,
                1,
                &request_block("GET", "/", &[]),
            ),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "5.1/5 DATA on a half-closed (remote) stream",
            cat(&[get(1, "/"), frame(kind::DATA, flag::END_STREAM, 1, b"data")]),
            Stream(1, code::STREAM_CLOSED),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "5.1/6 HEADERS on a half-closed (remote) stream",
            cat(&[get(1, "/"), get(1, "/")]),
            Stream(1, code::STREAM_CLOSED),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "5.1/7 DATA on a stream the client reset",
            cat(&[
                post(1, "/", &[]),
                rst_stream(1, code::CANCEL),
                frame(kind::DATA, 0, 1, b"data"),
            ]),
            Stream(1, code::STREAM_CLOSED),
        ),
        case(
            "5.3.1/1 PRIORITY making a stream depend on itself",
            cat(&[post(1, "/", &[]), priority(1, 1, 16)]),
            Stream(1, code::PROTOCOL_ERROR),
        ),
        case(
            "5.1.1/1 even-numbered stream identifier",
            get(2, "/"),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "5.1.1/2 stream identifier lower than a previous one",
            cat(&[get(5, "/"), get(3, "/")]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "5.1.2/1 streams past SETTINGS_MAX_CONCURRENT_STREAMS",
            too_many.concat(),
            Stream(17, code::REFUSED_STREAM),
        ),
        case("5.1/8 a valid GET is answered", get(1, "/"), Status(1, 200)),
    ]
}

fn frame_definition_cases() -> Vec<Case> {
    use Expect::{Alive, Conn, PingAck, Stream};
    let mut padded_data = vec![10u8];
    padded_data.extend_from_slice(b"short");
    let mut padded_headers = vec![200u8];
    padded_headers.extend_from_slice(&request_block("GET", "/", &[]));
    let mut self_dependent = 1u32.to_be_bytes().to_vec();
    self_dependent.push(16);
    self_dependent.extend_from_slice(&request_block("GET", "/", &[]));
    let block = request_block("GET", "/", &[]);
    let (first, rest) = block.split_at(10);
    vec![
        case(
            "6.1/1 DATA on stream 0",
            frame(kind::DATA, 0, 0, b"data"),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.1/2 DATA with a pad length past the payload",
            cat(&[
                post(1, "/", &[]),
                frame(kind::DATA, flag::PADDED | flag::END_STREAM, 1, &padded_data),
            ]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.2/1 HEADERS on stream 0",
            with_end_stream(kind::HEADERS, 0, &block),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.2/2 HEADERS with a pad length past the payload",
            frame(
                kind::HEADERS,
                flag::END_HEADERS | flag::END_STREAM | flag::PADDED,
                1,
                &padded_headers,
            ),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.2/3 HEADERS depending on its own stream",
            frame(
                kind::HEADERS,
                flag::END_HEADERS | flag::END_STREAM | flag::PRIORITY,
                1,
                &self_dependent,
            ),
            Stream(1, code::PROTOCOL_ERROR),
        ),
        case(
            "6.2/4 HEADERS without END_HEADERS, then PRIORITY",
            cat(&[
                frame(kind::HEADERS, flag::END_STREAM, 1, first),
                priority(1, 0, 16),
            ]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.3/1 PRIORITY on stream 0",
            priority(0, 1, 16),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.3/2 PRIORITY of length 4",
            frame(kind::PRIORITY, 0, 1, &[0, 0, 0, 3]),
            Stream(1, code::FRAME_SIZE_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "6.3/3 PRIORITY on an idle stream",
            priority(3, 0, 16),
            Alive,
        ),
        case(
            "6.4/1 RST_STREAM on stream 0",
            rst_stream(0, code::CANCEL),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.4/2 RST_STREAM of length 3",
            cat(&[post(1, "/", &[]), frame(kind::RST_STREAM, 0, 1, &[0, 0, 8])]),
            Conn(code::FRAME_SIZE_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "6.5/1 SETTINGS ACK with a payload",
            frame(kind::SETTINGS, flag::ACK, 0, &[0, 2, 0, 0, 0, 0]),
            Conn(code::FRAME_SIZE_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "6.5/2 SETTINGS on a stream",
            frame(kind::SETTINGS, 0, 1, &[0, 2, 0, 0, 0, 0]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.5/3 SETTINGS of length 5",
            frame(kind::SETTINGS, 0, 0, &[0, 2, 0, 0, 0]),
            Conn(code::FRAME_SIZE_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "6.5.2/1 SETTINGS_ENABLE_PUSH = 2",
            settings(&[(setting::ENABLE_PUSH, 2)]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.5.2/2 SETTINGS_INITIAL_WINDOW_SIZE = 2^31",
            settings(&[(setting::INITIAL_WINDOW_SIZE, 1 << 31)]),
            Conn(code::FLOW_CONTROL_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "6.5.2/3 SETTINGS_MAX_FRAME_SIZE = 16383",
            settings(&[(setting::MAX_FRAME_SIZE, 16_383)]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.5.2/4 SETTINGS_MAX_FRAME_SIZE = 2^24",
            settings(&[(setting::MAX_FRAME_SIZE, 1 << 24)]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.5.2/5 unknown SETTINGS identifier",
            settings(&[(0xff, 1)]),
            Alive,
        ),
        // Without the handshake, so the first ACK is for this SETTINGS frame.
        Case {
            name: "6.5.3/1 SETTINGS is acknowledged",
            handshake: false,
            send: cat(&[
                PREFACE.to_vec(),
                settings(&[(setting::INITIAL_WINDOW_SIZE, 100_000)]),
            ]),
            expect: Expect::SettingsAck,
            never_forwarded: None,
            h2_answers: None,
        },
        case("6.7/1 PING", ping(0, PAYLOAD), PingAck(PAYLOAD)),
        case(
            "6.7/2 PING on a stream",
            frame(kind::PING, 0, 1, &PAYLOAD),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.7/3 PING of length 7",
            frame(kind::PING, 0, 0, &PAYLOAD[..7]),
            Conn(code::FRAME_SIZE_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "6.8/1 GOAWAY on a stream",
            frame(kind::GOAWAY, 0, 1, &[0, 0, 0, 0, 0, 0, 0, 0]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.9/1 WINDOW_UPDATE of 0 on the connection",
            window_update(0, 0),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.9/2 WINDOW_UPDATE of 0 on a stream",
            cat(&[post(1, "/", &[]), window_update(1, 0)]),
            Stream(1, code::PROTOCOL_ERROR),
        ),
        case(
            "6.9/3 WINDOW_UPDATE of length 3",
            frame(kind::WINDOW_UPDATE, 0, 0, &[0, 0, 1]),
            Conn(code::FRAME_SIZE_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "6.9.1/1 connection window past 2^31-1",
            cat(&[window_update(0, 0x7fff_ffff), window_update(0, 0x7fff_ffff)]),
            Conn(code::FLOW_CONTROL_ERROR),
        ),
        case(
            "6.9.1/2 stream window past 2^31-1",
            cat(&[
                post(1, "/", &[]),
                window_update(1, 0x7fff_ffff),
                window_update(1, 0x7fff_ffff),
            ]),
            Stream(1, code::FLOW_CONTROL_ERROR),
        ),
        case(
            "6.9.2/1 SETTINGS_INITIAL_WINDOW_SIZE pushing a stream window past 2^31-1",
            cat(&[
                post(1, "/", &[]),
                window_update(1, 0x7fff_ffff - 65_535),
                settings(&[(setting::INITIAL_WINDOW_SIZE, 65_536)]),
            ]),
            Conn(code::FLOW_CONTROL_ERROR),
        ),
        case(
            "6.10/1 CONTINUATION completes a header block",
            cat(&[
                frame(kind::HEADERS, flag::END_STREAM, 1, first),
                frame(kind::CONTINUATION, flag::END_HEADERS, 1, rest),
            ]),
            Expect::Status(1, 200),
        ),
        case(
            "6.10/2 CONTINUATION after END_HEADERS",
            cat(&[
                post(1, "/", &[]),
                frame(
                    kind::CONTINUATION,
                    flag::END_HEADERS,
                    1,
                    &header_block(&[("x-a", "b")]),
                ),
            ]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.10/3 CONTINUATION on stream 0",
            cat(&[
                frame(kind::HEADERS, flag::END_STREAM, 1, first),
                frame(kind::CONTINUATION, flag::END_HEADERS, 0, rest),
            ]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.10/4 DATA between HEADERS and CONTINUATION",
            cat(&[
                frame(kind::HEADERS, 0, 1, first),
                frame(kind::DATA, 0, 1, b"data"),
                frame(kind::CONTINUATION, flag::END_HEADERS, 1, rest),
            ]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.10/5 CONTINUATION on another stream",
            cat(&[
                frame(kind::HEADERS, flag::END_STREAM, 1, first),
                frame(kind::CONTINUATION, flag::END_HEADERS, 3, rest),
            ]),
            Conn(code::PROTOCOL_ERROR),
        ),
    ]
}

/// A whole request on stream 1 whose header block is these fields, which break a rule of
/// RFC 9113 §8; the backend must never see it.
fn malformed(name: &'static str, path: &'static str, fields: &[(&str, &str)]) -> Case {
    Case {
        name,
        handshake: true,
        send: with_end_stream(kind::HEADERS, 1, &header_block(fields)),
        expect: Expect::Refused(1, 400, code::PROTOCOL_ERROR),
        never_forwarded: Some((path, 0)),
        h2_answers: None,
    }
}

fn semantics_cases() -> Vec<Case> {
    let m = |path| {
        [
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "app.test"),
            (":path", path),
        ]
    };
    let with = |path: &'static str, extra: (&'static str, &'static str)| {
        let mut fields = m(path).to_vec();
        fields.push(extra);
        fields
    };
    let short_body = cat(&[
        post(1, "/cl-short", &[("content-length", "10")]),
        frame(kind::DATA, flag::END_STREAM, 1, b"abc"),
    ]);
    let long_body = cat(&[
        post(1, "/cl-long", &[("content-length", "3")]),
        frame(kind::DATA, flag::END_STREAM, 1, b"abcdefghij"),
    ]);
    vec![
        malformed(
            "8.2.1/1 uppercase field name",
            "/upper",
            &with("/upper", ("X-Upper", "a")),
        ),
        malformed(
            "8.2.2/1 connection-specific field `connection`",
            "/conn",
            &with("/conn", ("connection", "keep-alive")),
        ),
        malformed(
            "8.2.2/2 `te` other than trailers",
            "/te",
            &with("/te", ("te", "gzip")),
        ),
        malformed(
            "8.3/1 unknown pseudo-header",
            "/unknown",
            &with("/unknown", (":foo", "bar")),
        ),
        malformed(
            "8.3/2 response pseudo-header in a request",
            "/status",
            &with("/status", (":status", "200")),
        ),
        malformed(
            "8.3/3 pseudo-header after a regular field",
            "/after",
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "app.test"),
                ("x-a", "b"),
                (":path", "/after"),
            ],
        ),
        malformed(
            "8.3.1/1 duplicate :method",
            "/dup",
            &[
                (":method", "GET"),
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "app.test"),
                (":path", "/dup"),
            ],
        ),
        malformed(
            "8.3.1/2 missing :method",
            "/nomethod",
            &[
                (":scheme", "https"),
                (":authority", "app.test"),
                (":path", "/nomethod"),
            ],
        ),
        malformed(
            "8.3.1/3 missing :scheme",
            "/noscheme",
            &[
                (":method", "GET"),
                (":authority", "app.test"),
                (":path", "/noscheme"),
            ],
        ),
        malformed(
            "8.3.1/4 missing :path",
            "/",
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "app.test"),
            ],
        ),
        malformed(
            "8.3.1/5 empty :path",
            "",
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "app.test"),
                (":path", ""),
            ],
        ),
        malformed(
            "8.3.1/6 :authority and Host name different origins",
            "/two-hosts",
            &with("/two-hosts", ("host", "other.test")),
        ),
        malformed(
            "8.5/1 CONNECT with :scheme and :path",
            "/connect-path",
            &[
                (":method", "CONNECT"),
                (":scheme", "https"),
                (":authority", "app.test:443"),
                (":path", "/connect-path"),
            ],
        ),
        case(
            "8.2.2/3 `te: trailers` is allowed",
            with_end_stream(
                kind::HEADERS,
                1,
                &header_block(&with("/te-trailers", ("te", "trailers"))),
            ),
            Expect::Status(1, 200),
        ),
        Case {
            name: "8.1.1/1 content-length larger than the DATA",
            handshake: true,
            send: short_body,
            expect: Expect::Refused(1, 400, code::PROTOCOL_ERROR),
            never_forwarded: Some(("/cl-short", 10)),
            h2_answers: None,
        },
        Case {
            name: "8.1.1/2 content-length smaller than the DATA",
            handshake: true,
            send: long_body,
            expect: Expect::Refused(1, 400, code::PROTOCOL_ERROR),
            never_forwarded: Some(("/cl-long", 3)),
            h2_answers: None,
        },
        case(
            "8.1/1 trailers without END_STREAM",
            cat(&[
                post(1, "/", &[]),
                frame(kind::DATA, 0, 1, b"data"),
                frame(
                    kind::HEADERS,
                    flag::END_HEADERS,
                    1,
                    &header_block(&[("x-trailer", "a")]),
                ),
            ]),
            Expect::Stream(1, code::PROTOCOL_ERROR),
        ),
    ]
}

fn hpack_cases() -> Vec<Case> {
    use Expect::Conn;
    let mut size_update = Vec::new();
    integer(&mut size_update, 0x20, 5, 4097);
    size_update.extend_from_slice(&request_block("GET", "/", &[]));
    let mut late_update = request_block("GET", "/", &[]);
    integer(&mut late_update, 0x20, 5, 0);
    let mut truncated = request_block("GET", "/", &[]);
    truncated.extend_from_slice(&[0x00, 0x05, b'x']);
    vec![
        case(
            "hpack 2.3.3/1 indexed field past both tables",
            with_end_stream(kind::HEADERS, 1, &[0x80 | 70]),
            Conn(code::COMPRESSION_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "hpack 2.3.3/2 literal with a name index past both tables",
            with_end_stream(kind::HEADERS, 1, &[0x40 | 0x3f, 0x20, 0x01, b'a']),
            Conn(code::COMPRESSION_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "hpack 4.2/1 table size update above SETTINGS_HEADER_TABLE_SIZE",
            with_end_stream(kind::HEADERS, 1, &size_update),
            Conn(code::COMPRESSION_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "hpack 4.2/2 table size update after a field",
            with_end_stream(kind::HEADERS, 1, &late_update),
            Conn(code::COMPRESSION_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "hpack 5.2/1 string longer than the block",
            with_end_stream(kind::HEADERS, 1, &truncated),
            Conn(code::COMPRESSION_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
    ]
}

/// weir's own HTTP/2 limits (listener keys), in the same form.
fn limit_cases() -> Vec<Case> {
    let field = |name: &'static str| header_block(&[(name, &"a".repeat(12_000))]);
    let mut head = request_block("GET", "/big-head", &[]);
    head.extend_from_slice(&field("x-a"));
    vec![Case {
        name: "limit/1 header list over max_header_bytes (32 KiB)",
        handshake: true,
        send: cat(&[
            frame(kind::HEADERS, flag::END_STREAM, 1, &head),
            frame(kind::CONTINUATION, 0, 1, &field("x-b")),
            frame(kind::CONTINUATION, flag::END_HEADERS, 1, &field("x-c")),
        ]),
        expect: Expect::Status(1, 431),
        never_forwarded: Some(("/big-head", 0)),
        h2_answers: None,
    }]
}

/// Keys of both listeners: few concurrent streams, so 5.1.2 needs few frames.
const KEYS: &str = "h2_max_concurrent_streams = 8";

#[tokio::test]
async fn connection_preface_and_frame_format() {
    H2Weir::start(KEYS)
        .await
        .check("preface and frame format", preface_and_frame_cases())
        .await;
}

#[tokio::test]
async fn stream_states_and_identifiers() {
    H2Weir::start(KEYS)
        .await
        .check("stream states", stream_cases())
        .await;
}

#[tokio::test]
async fn frame_definitions() {
    H2Weir::start(KEYS)
        .await
        .check("frame definitions", frame_definition_cases())
        .await;
}

#[tokio::test]
async fn http_semantics_errors_never_reach_the_backend() {
    H2Weir::start(KEYS)
        .await
        .check("HTTP semantics", semantics_cases())
        .await;
}

#[tokio::test]
async fn hpack_decoding_errors() {
    H2Weir::start(KEYS)
        .await
        .check("HPACK", hpack_cases())
        .await;
}

#[tokio::test]
async fn listener_limits() {
    H2Weir::start(KEYS)
        .await
        .check("limits", limit_cases())
        .await;
}
