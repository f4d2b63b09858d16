//! A listener's bounds on hostile or broken clients, with raw clients on loopback: oversized
//! heads (431), targets (414), methods (400) and bodies (413, early and mid-stream), a
//! connection that sends nothing, one that stops reading, and one client holding too many
//! connections.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir_tests::{Backend, Behaviour};

use crate::support::{TestWeir, runtime_table};

/// One listener with `listener_keys`, one route with `route_keys`, over `backend`.
fn limits_config(backend: SocketAddr, listener_keys: &str, route_keys: &str) -> String {
    format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\n{listener_keys}\n\n[[pool]]\nname = \"main\"\nbackends = [\"{backend}\"]\n\n[[route]]\npath_prefix = \"/\"\npool = \"main\"\n{route_keys}\n",
        runtime_table()
    )
}

/// Sends `request` on a new connection and reads until the head of the answer is complete or
/// the connection ends; returns the head (lowercased) and how long it took.
async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> (String, Duration) {
    let mut stream = TcpStream::connect(addr).await.expect("connect to weir");
    let started = Instant::now();
    // The server may answer and close before it read everything: a failed write is fine.
    let _ = stream.write_all(request).await;
    let head = read_head(&mut stream).await;
    (head, started.elapsed())
}

async fn read_head(stream: &mut TcpStream) -> String {
    let (head, in_time) = weir_tests::raw::read_head(stream, Duration::from_secs(10)).await;
    assert!(in_time, "weir answered or closed in time");
    head
}

#[tokio::test]
async fn an_oversized_head_gets_431_and_never_reaches_the_backend() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&limits_config(backend.addr(), "", "")).await;
    // One 40 KiB value: past the default 32 KiB head.
    let big = "v".repeat(40 * 1024);
    let request = format!("GET / HTTP/1.1\r\nhost: app.test\r\nx-big: {big}\r\n\r\n");
    let (head, _) = raw_exchange(weir.addr, request.as_bytes()).await;
    assert!(head.starts_with("http/1.1 431"), "{head}");
    // 150 small fields: past the default 100.
    let mut request = String::from("GET / HTTP/1.1\r\nhost: app.test\r\n");
    for i in 0..150 {
        request.push_str(&format!("x-field-{i}: 1\r\n"));
    }
    request.push_str("\r\n");
    let (head, _) = raw_exchange(weir.addr, request.as_bytes()).await;
    assert!(head.starts_with("http/1.1 431"), "{head}");
    assert_eq!(backend.count(), 0);
    // Within the limits, the same listener serves.
    let (head, _) = raw_exchange(weir.addr, b"GET / HTTP/1.1\r\nhost: app.test\r\n\r\n").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
}

#[tokio::test]
async fn a_long_target_gets_414_and_a_long_method_400() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&limits_config(
        backend.addr(),
        "max_uri_bytes = 2048\nmax_header_bytes = 65536",
        "",
    ))
    .await;
    let path = format!("/{}", "p".repeat(4096));
    let request = format!("GET {path} HTTP/1.1\r\nhost: app.test\r\n\r\n");
    let (head, _) = raw_exchange(weir.addr, request.as_bytes()).await;
    assert!(head.starts_with("http/1.1 414"), "{head}");
    assert!(head.contains("x-weir-error: uri-too-long"), "{head}");
    let method = "M".repeat(64);
    let request = format!("{method} / HTTP/1.1\r\nhost: app.test\r\n\r\n");
    let (head, _) = raw_exchange(weir.addr, request.as_bytes()).await;
    assert!(head.starts_with("http/1.1 400"), "{head}");
    assert_eq!(backend.count(), 0);
}

#[tokio::test]
async fn a_body_over_the_route_limit_gets_413_early_or_when_it_grows_past_it() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&limits_config(
        backend.addr(),
        "max_body_bytes = 1000000",
        "max_body_bytes = 1000",
    ))
    .await;
    // Announced too large: refused before anything is read or sent upstream.
    let (head, took) = raw_exchange(
        weir.addr,
        b"POST /up HTTP/1.1\r\nhost: app.test\r\ncontent-length: 5000\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("http/1.1 413"), "{head}");
    assert!(head.contains("x-weir-error: body-too-large"), "{head}");
    assert!(took < Duration::from_secs(2));
    assert_eq!(backend.count(), 0);
    // Chunked, so unannounced: cut when it passes the limit, and still answered 413.
    let chunk = "x".repeat(600);
    let request = format!(
        "POST /up HTTP/1.1\r\nhost: app.test\r\ntransfer-encoding: chunked\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n"
    );
    let (head, _) = raw_exchange(weir.addr, request.as_bytes()).await;
    assert!(head.starts_with("http/1.1 413"), "{head}");
    // Within the limit, it passes.
    let request =
        format!("POST /up HTTP/1.1\r\nhost: app.test\r\ncontent-length: 600\r\n\r\n{chunk}");
    let (head, _) = raw_exchange(weir.addr, request.as_bytes()).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(backend.last().body_len, 600);
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_first_byte_timeout() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&limits_config(
        backend.addr(),
        "first_byte_timeout_ms = 300",
        "",
    ))
    .await;
    let mut silent = TcpStream::connect(weir.addr).await.expect("connect");
    let started = Instant::now();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut byte)).await;
    let took = started.elapsed();
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "closed by weir: {read:?}"
    );
    assert!(took >= Duration::from_millis(250), "{took:?}");
    // A client that talks is served on the same listener, whatever the timer.
    let (head, _) = raw_exchange(weir.addr, b"GET / HTTP/1.1\r\nhost: app.test\r\n\r\n").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_after_the_send_timeout() {
    const TOTAL: u64 = 64 * 1024 * 1024;
    let backend = Backend::start_with("a", Behaviour::Stream(TOTAL)).await;
    let weir = TestWeir::start(&limits_config(backend.addr(), "send_timeout_ms = 300", "")).await;
    let mut stalled = TcpStream::connect(weir.addr).await.expect("connect");
    stalled
        .write_all(b"GET /big HTTP/1.1\r\nhost: app.test\r\n\r\n")
        .await
        .expect("write");
    // Read nothing for a while: weir's writes fill the socket buffers and then wait.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // What is left to read ends well before the 64 MiB, because weir gave up.
    let mut received = 0u64;
    let mut chunk = vec![0u8; 64 * 1024];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stalled.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received += n as u64,
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the connection ended");
    assert!(
        received < TOTAL / 2,
        "weir stopped sending: {received} bytes"
    );
}

#[tokio::test]
async fn connections_past_the_per_client_limit_are_closed_at_once() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&limits_config(
        backend.addr(),
        "max_connections_per_client = 2",
        "",
    ))
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(weir.addr).await.expect("connect");
        stream
            .write_all(b"GET / HTTP/1.1\r\nhost: app.test\r\n\r\n")
            .await
            .expect("write");
        let head = read_head(&mut stream).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        held.push(stream);
    }
    let mut third = TcpStream::connect(weir.addr).await.expect("connect");
    let _ = third
        .write_all(b"GET / HTTP/1.1\r\nhost: app.test\r\n\r\n")
        .await;
    assert_eq!(read_head(&mut third).await, "", "closed without an answer");
    // When one closes, a new connection is admitted.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (head, _) = raw_exchange(weir.addr, b"GET / HTTP/1.1\r\nhost: app.test\r\n\r\n").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&limits_config(
        backend.addr(),
        "header_timeout_ms = 300\nkeep_alive_timeout_ms = 1500",
        "",
    ))
    .await;
    let request = b"GET / HTTP/1.1\r\nhost: app.test\r\n\r\n";
    let mut client = weir_tests::raw::RawClient::connect(weir.addr, Duration::from_secs(5))
        .await
        .expect("connect");
    assert_eq!(client.request(request).await.expect("first request"), 200);
    // Idle for longer than the head timeout: that timer counts only a head begun, so the
    // connection is still there for a second request.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(client.request(request).await.expect("second request"), 200);
    let idle = Instant::now();
    assert!(
        client.closed_within(Duration::from_secs(10)).await,
        "weir closed the idle connection"
    );
    let took = idle.elapsed();
    assert!(
        took >= Duration::from_millis(1300) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(backend.count(), 2);
}

#[tokio::test]
async fn a_head_begun_and_not_finished_is_cut_by_the_head_timeout_not_the_keep_alive() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&limits_config(
        backend.addr(),
        "header_timeout_ms = 300\nkeep_alive_timeout_ms = 60000",
        "",
    ))
    .await;
    let mut slow = TcpStream::connect(weir.addr).await.expect("connect");
    slow.write_all(b"GET / HTTP/1.1\r\nhost: app")
        .await
        .expect("write");
    let started = Instant::now();
    let mut byte = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match slow.read(&mut byte).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(read.is_ok(), "weir closed the connection");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(backend.count(), 0);
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_the_keep_alive_timeout() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&limits_config(
        backend.addr(),
        "header_timeout_ms = 300\nkeep_alive_timeout_ms = 1500",
        "",
    ))
    .await;
    let stream = TcpStream::connect(weir.addr).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2c with prior knowledge");
    let driver = tokio::spawn(connection);
    for _ in 0..2 {
        let request = http::Request::get(format!("http://{}/", weir.addr))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .expect("request");
        let response = sender.send_request(request).await.expect("response");
        assert_eq!(response.status(), http::StatusCode::OK);
        drop(response);
        // Idle past the head timeout, which HTTP/2 does not use between requests.
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    let idle = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(10), driver).await;
    assert!(ended.is_ok(), "weir closed the idle HTTP/2 connection");
    let took = idle.elapsed();
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert_eq!(backend.count(), 2);
}
