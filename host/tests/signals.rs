//! The real `weir` binary and its signals: `SIGQUIT` (graceful), `SIGTERM` (fast, cuts after
//! the grace period), escalation by a second signal, exit statuses, `SIGHUP` (reload), and the
//! `sd_notify` messages on a real datagram socket. Backends and clients are plain blocking
//! sockets on loopback; every wait is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A backend answering `GET /delay/<ms>` after that many milliseconds, with body `name`.
fn backend(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || answer(stream, name));
        }
    });
    addr
}

fn answer(mut stream: TcpStream, name: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let delay = head
        .split_whitespace()
        .nth(1)
        .and_then(|path| path.strip_prefix("/delay/"))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0);
    thread::sleep(Duration::from_millis(delay));
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{name}",
        name.len()
    );
}

/// A running weir process and the address of its listener.
struct Weir {
    child: Child,
    addr: SocketAddr,
    log: mpsc::Receiver<String>,
}

impl Weir {
    fn start(config: &std::path::Path, notify_socket: Option<&std::path::Path>) -> Self {
        Self::start_with(config, notify_socket, &[])
    }

    fn start_with(
        config: &std::path::Path,
        notify_socket: Option<&std::path::Path>,
        extra: &[&str],
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
        command
            .args(extra)
            .args(["run", "--config"])
            .arg(config)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match notify_socket {
            Some(path) => command.env("NOTIFY_SOCKET", path),
            None => command.env_remove("NOTIFY_SOCKET"),
        };
        let mut child = command.spawn().expect("weir starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, log) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(strip_ansi(&line)).is_err() {
                    return;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            let line = log
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("weir logs that it listens");
            if line.contains("listening") {
                let addr = line
                    .split_whitespace()
                    .find_map(|field| field.strip_prefix("addr="))
                    .expect("the listening line names its address");
                break addr.parse().expect("a socket address");
            }
        };
        Self { child, addr, log }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `limit`; its exit code.
    fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!("weir did not exit within {limit:?}");
    }

    /// Waits for a log line containing `text`, at most `limit`.
    fn wait_for_log(&self, text: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while let Ok(line) = self
            .log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if line.contains(text) {
                return true;
            }
        }
        false
    }
}

impl Drop for Weir {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `GET path` on a new connection; the answer's body, or `None` if the connection broke first.
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    get_in_background(addr, path).join().expect("client")
}

/// `GET path` on a new connection, on a thread; the answer's body, or `None` if the connection
/// broke first.
fn get_in_background(addr: SocketAddr, path: &str) -> thread::JoinHandle<Option<String>> {
    let path = path.to_owned();
    thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\ncookie: session=cookie-secret\r\nauthorization: Bearer auth-secret\r\n\r\n"
        )
        .ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        answer
            .starts_with("HTTP/1.1 200")
            .then(|| answer.rsplit("\r\n\r\n").next().unwrap_or("").to_owned())
    })
}

fn config(dir: &tempfile::TempDir, backend: SocketAddr, grace_ms: u64) -> std::path::PathBuf {
    let path = dir.path().join("weir.toml");
    write_config(&path, backend, grace_ms);
    path
}

fn write_config(path: &std::path::Path, backend: SocketAddr, grace_ms: u64) {
    std::fs::write(
        path,
        format!(
            "[server]\nshutdown_grace_ms = {grace_ms}\nwatch = false\n[[listener]]\nbind = \"127.0.0.1:0\"\n[[pool]]\nname = \"main\"\nbackends = [\"{backend}\"]\n[[route]]\npool = \"main\"\n"
        ),
    )
    .expect("write the config");
}

#[test]
fn sigquit_finishes_a_request_that_outlasts_the_grace_period_and_exits_0() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut weir = Weir::start(&config(&dir, backend("a"), 200), None);
    let request = get_in_background(weir.addr, "/delay/1500");
    thread::sleep(Duration::from_millis(300));
    weir.signal("QUIT");
    assert_eq!(request.join().expect("client").as_deref(), Some("a"));
    assert_eq!(weir.exit_code(Duration::from_secs(10)), Some(0));
}

#[test]
fn sigterm_cuts_what_is_left_after_the_grace_period_and_exits_3() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut weir = Weir::start(&config(&dir, backend("a"), 300), None);
    let request = get_in_background(weir.addr, "/delay/8000");
    thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    weir.signal("TERM");
    assert_eq!(weir.exit_code(Duration::from_secs(5)), Some(3));
    assert!(signalled.elapsed() < Duration::from_secs(3));
    assert_eq!(request.join().expect("client"), None, "the request was cut");
}

#[test]
fn a_second_signal_turns_a_graceful_stop_into_a_fast_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut weir = Weir::start(&config(&dir, backend("a"), 300), None);
    let _request = get_in_background(weir.addr, "/delay/8000");
    thread::sleep(Duration::from_millis(300));
    weir.signal("QUIT");
    assert!(weir.wait_for_log("graceful stop", Duration::from_secs(5)));
    // Graceful: still waiting for the request well past the grace period.
    thread::sleep(Duration::from_millis(800));
    assert!(
        weir.child.try_wait().expect("wait").is_none(),
        "still draining"
    );
    weir.signal("TERM");
    assert_eq!(weir.exit_code(Duration::from_secs(5)), Some(3));
}

#[test]
fn sighup_reloads_the_config_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (backend("a"), backend("b"));
    let path = config(&dir, a, 1000);
    let mut weir = Weir::start(&path, None);
    assert_eq!(get(weir.addr, "/").as_deref(), Some("a"));
    write_config(&path, b, 1000);
    weir.signal("HUP");
    assert!(weir.wait_for_log("reload applied", Duration::from_secs(10)));
    assert_eq!(get(weir.addr, "/").as_deref(), Some("b"));
    weir.signal("TERM");
    assert_eq!(weir.exit_code(Duration::from_secs(10)), Some(0));
}

#[test]
fn systemd_hears_ready_reloading_and_stopping() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut weir = Weir::start(&config(&dir, backend("a"), 1000), Some(&socket_path));
    let next = || {
        let mut buf = [0u8; 256];
        let n = socket.recv(&mut buf).expect("a notification in time");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(next(), "READY=1");
    weir.signal("HUP");
    let reloading = next();
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading}"
    );
    assert_eq!(next(), "READY=1");
    weir.signal("TERM");
    assert_eq!(next(), "STOPPING=1");
    assert_eq!(weir.exit_code(Duration::from_secs(10)), Some(0));
}

#[test]
fn the_access_log_goes_to_stdout_in_the_combined_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut weir = Weir::start_with(
        &config(&dir, backend("a"), 1000),
        None,
        &["--access-log", "-", "--access-log-format", "combined"],
    );
    let mut stdout = BufReader::new(weir.child.stdout.take().expect("piped stdout"));
    assert_eq!(get(weir.addr, "/combined?x=1").as_deref(), Some("a"));
    let (tx, line) = mpsc::channel();
    thread::spawn(move || {
        let mut first = String::new();
        let _ = stdout.read_line(&mut first);
        let _ = tx.send(first);
    });
    let line = line
        .recv_timeout(Duration::from_secs(10))
        .expect("a line on stdout");
    // `127.0.0.1 - - [07/Dec/2026:05:16:19 +0000] "GET /combined?x=1 HTTP/1.1" 200 1 "-" "-"`
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(
        line.trim_end()
            .ends_with("] \"GET /combined?x=1 HTTP/1.1\" 200 1 \"-\" \"-\""),
        "{line}"
    );
    assert!(!line.contains("secret"), "{line}");
    weir.signal("TERM");
    assert_eq!(weir.exit_code(Duration::from_secs(10)), Some(0));
}

/// Waits until `path` holds `lines` lines, at most 10 s; its lines.
fn wait_for_lines(path: &std::path::Path, lines: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let found: Vec<String> = text.lines().map(str::to_owned).collect();
        if found.len() >= lines || Instant::now() > deadline {
            return found;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_access_log_file_is_json_lines_and_sigusr1_reopens_it_after_rotation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("access.log");
    let mut weir = Weir::start_with(
        &config(&dir, backend("a"), 1000),
        None,
        &["--access-log", log.to_str().expect("utf-8 path")],
    );
    assert_eq!(get(weir.addr, "/first").as_deref(), Some("a"));
    let lines = wait_for_lines(&log, 1);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let record: serde_json::Value = serde_json::from_str(&lines[0]).expect("a JSON line");
    assert_eq!(record["kind"], "request");
    assert_eq!(record["http.target"], "/first");
    assert_eq!(record["http.status"], 200);
    assert_eq!(record["listener"], "127.0.0.1:0");
    assert!(record["error"].is_null(), "{record}");
    assert!(record["trace"].as_array().is_some(), "{record}");
    for field in [
        "time",
        "client.addr",
        "peer.addr",
        "request.id",
        "route",
        "upstream.addr",
        "upstream.ttfb_us",
        "bytes_out",
        "duration_us",
        "generation",
    ] {
        assert!(!record[field].is_null(), "{field} in {record}");
    }
    // Rotation: rename, then SIGUSR1; the next request goes to a new file at the same path.
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&log, &rotated).expect("rotate");
    weir.signal("USR1");
    assert!(weir.wait_for_log("access log reopened", Duration::from_secs(10)));
    assert_eq!(get(weir.addr, "/second").as_deref(), Some("a"));
    let lines = wait_for_lines(&log, 1);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("\"http.target\":\"/second\""),
        "{lines:?}"
    );
    assert_eq!(wait_for_lines(&rotated, 1).len(), 1);
    // Credentials the requests carried never reach the log.
    for file in [&log, &rotated] {
        let text = std::fs::read_to_string(file).expect("log");
        assert!(
            !text.contains("cookie-secret") && !text.contains("auth-secret"),
            "{text}"
        );
    }
    weir.signal("TERM");
    assert_eq!(weir.exit_code(Duration::from_secs(10)), Some(0));
}
