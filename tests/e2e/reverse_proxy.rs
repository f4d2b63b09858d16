//! The reverse proxy without filters: forwarding, header rules, errors, balancing, h2c,
//! streaming.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use weir_tests::{Backend, Behaviour, closed_port, peak_rss_bytes};

use crate::support::{TIMEOUT, TestWeir, config, runtime_table};

#[tokio::test]
async fn forwards_path_and_query_and_adds_forwarding_headers() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&config(backend.addr(), &[], &[])).await;
    let request = weir
        .request("GET", "app.test", "/x/y?q=1&r=%20")
        .header("x-forwarded-for", "203.0.113.9")
        .body(Full::default())
        .unwrap();
    let res = weir.send(request).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body, "a /x/y");
    let seen = backend.last();
    assert_eq!(seen.path, "/x/y");
    assert_eq!(seen.query.as_deref(), Some("q=1&r=%20"));
    assert_eq!(seen.header("host"), "app.test");
    assert_eq!(seen.header("x-forwarded-for"), "203.0.113.9, 127.0.0.1");
    assert_eq!(seen.header("x-forwarded-proto"), "http");
    assert_eq!(seen.header("x-forwarded-host"), "app.test");
    assert_eq!(seen.header("via"), "1.1 weir");
    assert_eq!(res.header("via"), "1.1 weir");
}

#[tokio::test]
async fn hop_by_hop_headers_are_stripped_both_ways() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&config(backend.addr(), &[], &[])).await;
    let request = weir
        .request("GET", "app.test", "/")
        .header("connection", "x-private")
        .header("x-private", "secret")
        .header("proxy-authorization", "Basic c2VjcmV0")
        .header("te", "trailers")
        .header("x-kept", "1")
        .body(Full::default())
        .unwrap();
    let res = weir.send(request).await;
    let seen = backend.last();
    assert_eq!(seen.header("x-private"), "");
    assert_eq!(seen.header("proxy-authorization"), "");
    assert_eq!(seen.header("te"), "");
    assert_eq!(seen.header("x-kept"), "1");
    // The backend names `x-backend-private` in its Connection header.
    assert_eq!(res.header("x-backend-private"), "");
    assert_eq!(res.header("x-backend"), "a");
}

#[tokio::test]
async fn unmatched_route_gives_404_with_reason() {
    let backend = Backend::start("a").await;
    let toml = format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\n[[pool]]\nname = \"main\"\nbackends = [\"{}\"]\n[[route]]\nhost = \"only.test\"\npath_prefix = \"/api\"\npool = \"main\"\n",
        runtime_table(),
        backend.addr()
    );
    let weir = TestWeir::start(&toml).await;
    assert_eq!(weir.get("only.test", "/api/x").await.status, StatusCode::OK);
    let res = weir.get("other.test", "/api/x").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.header("x-weir-error"), "no-route");
    assert_eq!(
        weir.get("only.test", "/apix").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(backend.count(), 1);
}

#[tokio::test]
async fn a_pool_that_leads_back_to_weir_is_cut_as_a_loop() {
    // The listener's own address is its pool's backend: every hop adds `Via: 1.1 weir`.
    let addr = closed_port().await;
    let toml =
        config(addr, &[], &[]).replace("bind = \"127.0.0.1:0\"", &format!("bind = \"{addr}\""));
    let weir = TestWeir::start(&toml).await;
    assert_eq!(weir.addr, addr);
    let res = weir.get("app.test", "/spin").await;
    assert_eq!(res.status, StatusCode::LOOP_DETECTED, "{}", res.body);
    assert_eq!(res.header("x-weir-error"), "loop-detected");
    assert_eq!(
        res.body,
        format!(
            "weir: the request has passed through weir {} times: a forwarding loop\n",
            weir::proxy::MAX_WEIR_HOPS
        )
    );
    // One Via entry of another proxy's does not count; a legitimate chain of weirs is served.
    let origin = Backend::start("origin").await;
    let weir2 = TestWeir::start(&config(origin.addr(), &[], &[])).await;
    let chained = weir2
        .send(
            weir2
                .request("GET", "app.test", "/")
                .header("via", "1.1 edge, 1.1 weir, 1.1 weir")
                .body(Full::default())
                .unwrap(),
        )
        .await;
    assert_eq!(chained.status, StatusCode::OK);
    let seen = origin.requests();
    let via: Vec<&str> = seen[0]
        .headers
        .get_all("via")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(via.join(", "), "1.1 edge, 1.1 weir, 1.1 weir, 1.1 weir");
    weir2.stop().await;
    weir.stop().await;
}

#[tokio::test]
async fn refused_upstream_gives_502_with_reason() {
    let weir = TestWeir::start(&config(closed_port().await, &[], &[])).await;
    let res = weir.get("app.test", "/").await;
    assert_eq!(res.status, StatusCode::BAD_GATEWAY);
    assert_eq!(res.header("x-weir-error"), "upstream-connect");
    assert!(
        res.body.contains("cannot connect to upstream"),
        "{}",
        res.body
    );
}

#[tokio::test]
async fn slow_upstream_gives_504_with_reason() {
    let backend = Backend::start_with("slow", Behaviour::Delay(Duration::from_secs(5))).await;
    let toml = config(backend.addr(), &[], &[]).replace(
        "name = \"main\"",
        "name = \"main\"\nresponse_timeout_ms = 200",
    );
    let weir = TestWeir::start(&toml).await;
    let res = weir.get("app.test", "/").await;
    assert_eq!(res.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(res.header("x-weir-error"), "upstream-timeout");
}

#[tokio::test]
async fn round_robin_spreads_requests_by_weight() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let toml = format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\n[[pool]]\nname = \"main\"\nbackends = [{{ addr = \"{}\", weight = 3 }}, \"{}\"]\n[[route]]\npool = \"main\"\n",
        runtime_table(),
        a.addr(),
        b.addr()
    );
    let weir = TestWeir::start(&toml).await;
    for _ in 0..40 {
        assert_eq!(weir.get("app.test", "/").await.status, StatusCode::OK);
    }
    assert_eq!((a.count(), b.count()), (30, 10));
}

/// A pool whose first backend refuses connections and whose second is `live`.
async fn refused_then_live(live: &Backend) -> String {
    format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\n[[pool]]\nname = \"main\"\nbackends = [\"{}\", \"{}\"]\n[[route]]\npool = \"main\"\n",
        runtime_table(),
        closed_port().await,
        live.addr()
    )
}

#[tokio::test]
async fn refused_backend_is_skipped_and_bodyless_request_retried() {
    let live = Backend::start("live").await;
    let weir = TestWeir::start(&refused_then_live(&live).await).await;
    for _ in 0..6 {
        let res = weir.get("app.test", "/").await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        assert_eq!(res.header("x-backend"), "live");
    }
    assert_eq!(live.count(), 6);
}

#[tokio::test]
async fn h2c_prior_knowledge_is_proxied_to_http1_upstream() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&config(backend.addr(), &[], &[])).await;
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let request = http::Request::builder()
        .uri(format!("http://app.test:{}/h2/path", weir.addr.port()))
        .body(Full::default())
        .unwrap();
    // Connect to weir's address while keeping the authority app.test.
    let request = {
        let (mut parts, body) = request.into_parts();
        parts.uri = format!("http://{}/h2/path", weir.addr).parse().unwrap();
        http::Request::from_parts(parts, body)
    };
    let res = tokio::time::timeout(TIMEOUT, client.request(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.version(), http::Version::HTTP_2);
    assert_eq!(res.status(), StatusCode::OK);
    let seen = backend.last();
    assert_eq!(seen.path, "/h2/path");
    assert_eq!(seen.version, http::Version::HTTP_11);
    assert_eq!(seen.header("via"), "2 weir");
    assert_eq!(seen.header("host"), weir.addr.to_string());
}

#[tokio::test]
async fn large_bodies_stream_both_ways_with_flat_memory() {
    const SIZE: u64 = 256 * 1024 * 1024;
    let backend = Backend::start_with("big", Behaviour::Stream(SIZE)).await;
    let weir = TestWeir::start(&config(backend.addr(), &[], &[])).await;
    let before = peak_rss_bytes();

    // Download: the backend produces 256 MiB as it is read.
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let uri = format!("http://{}/download", weir.addr);
    let res = tokio::time::timeout(TIMEOUT, client.get(uri.parse().unwrap()))
        .await
        .unwrap()
        .unwrap();
    let mut body = res.into_body();
    let mut received = 0u64;
    while let Some(frame) = tokio::time::timeout(TIMEOUT, body.frame()).await.unwrap() {
        received += frame.unwrap().data_ref().map_or(0, |d| d.len() as u64);
    }
    assert_eq!(received, SIZE);

    // Upload: 256 MiB produced lazily by the client.
    let upload = weir_tests::ChunkBody::new(SIZE);
    let client = Client::builder(TokioExecutor::new()).build_http::<weir_tests::ChunkBody>();
    let request = http::Request::post(format!("http://{}/upload", weir.addr))
        .body(upload)
        .unwrap();
    let res = tokio::time::timeout(TIMEOUT, client.request(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(backend.wait_for(2, TIMEOUT).await);
    assert_eq!(backend.last().body_len, SIZE);

    let growth = peak_rss_bytes().saturating_sub(before);
    assert!(
        growth < 64 * 1024 * 1024,
        "peak memory grew by {growth} bytes while streaming 2 x 256 MiB"
    );
}

#[tokio::test]
async fn equal_routes_are_resolved_in_file_order() {
    let first = Backend::start("first").await;
    let second = Backend::start("second").await;
    let toml = format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\n[[pool]]\nname = \"one\"\nbackends = [\"{}\"]\n[[pool]]\nname = \"two\"\nbackends = [\"{}\"]\n[[route]]\npath_prefix = \"/api\"\npool = \"one\"\n[[route]]\npath_prefix = \"/api\"\npool = \"two\"\n[[route]]\nhost = \"*.test\"\npath_prefix = \"/\"\npool = \"two\"\n",
        runtime_table(),
        first.addr(),
        second.addr()
    );
    let weir = TestWeir::start(&toml).await;
    assert_eq!(
        weir.get("x.other", "/api/1").await.header("x-backend"),
        "first"
    );
    // A matching host outranks a longer path prefix without a host.
    assert_eq!(
        weir.get("x.test", "/api/1").await.header("x-backend"),
        "second"
    );
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish() {
    let backend = Backend::start_with("slow", Behaviour::Delay(Duration::from_millis(500))).await;
    let weir = TestWeir::start(&config(backend.addr(), &[], &[])).await;
    let addr = weir.addr;
    let in_flight = tokio::spawn(async move {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let res = client
            .get(format!("http://{addr}/slow").parse().unwrap())
            .await
            .unwrap();
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, body)
    });
    assert!(
        backend.wait_for(1, TIMEOUT).await,
        "request reached the backend"
    );
    weir.stop().await;
    let (status, body) = tokio::time::timeout(TIMEOUT, in_flight)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "slow /slow");
    let refused = tokio::net::TcpStream::connect(addr).await;
    assert!(refused.is_err(), "the listener is closed after shutdown");
}

#[tokio::test]
async fn upstream_connections_are_kept_alive_and_reused() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&config(backend.addr(), &[], &[])).await;
    for _ in 0..20 {
        assert_eq!(weir.get("app.test", "/").await.status, StatusCode::OK);
    }
    assert_eq!(backend.count(), 20);
    assert_eq!(
        backend.connections(),
        1,
        "sequential requests share one upstream connection"
    );
}

#[tokio::test]
async fn a_request_with_a_body_moves_to_another_backend_when_the_first_refuses() {
    // Connecting comes before sending: a refused connection means nothing was sent, so even a
    // POST with a body is safe to send elsewhere, and no copy of it was needed.
    let live = Backend::start("live").await;
    let weir = TestWeir::start(&refused_then_live(&live).await).await;
    for _ in 0..4 {
        let request = weir
            .request("POST", "app.test", "/upload")
            .body(Full::new(Bytes::from_static(b"0123456789")))
            .unwrap();
        let res = weir.send(request).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        assert_eq!(res.header("x-backend"), "live");
    }
    let seen = live.requests();
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().all(|r| r.method == "POST" && r.body_len == 10));
}

/// A raw HTTP/1.1 backend that answers each request on a connection and then closes it, without
/// saying `Connection: close`: every pooled connection it leaves behind is dead.
async fn closing_backend() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn connections_the_upstream_closed_while_idle_are_replaced_without_errors() {
    let (addr, accepted) = closing_backend().await;
    let weir = TestWeir::start(&config(addr, &[], &[])).await;
    for i in 0..10 {
        let res = weir.get("app.test", "/").await;
        assert_eq!(res.status, StatusCode::OK, "request {i}: {}", res.body);
        assert_eq!(res.body, "ok");
    }
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::Relaxed),
        10,
        "each request needed a new connection"
    );
}

#[tokio::test]
async fn a_request_body_that_breaks_its_framing_is_a_400_blamed_on_the_client() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&config(backend.addr(), &[], &[])).await;
    let mut stream = tokio::net::TcpStream::connect(weir.addr).await.unwrap();
    // The chunk carries more data than its size says: invalid chunked framing (RFC 9112 §7.1).
    stream
        .write_all(
            b"POST /upload HTTP/1.1\r\nhost: app.test\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhelloEXTRA\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut answer))
        .await
        .expect("weir answers and closes");
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 400"), "{answer}");
    assert!(
        answer.contains("x-weir-error: bad-request-body"),
        "{answer}"
    );
}

/// Sends raw bytes to weir and returns its answer, lowercased, once weir closes or answers.
async fn raw_exchange(weir: &TestWeir, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(weir.addr)
        .await
        .expect("connect to weir");
    stream.write_all(request).await.expect("send");
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(TIMEOUT, stream.read(&mut answer))
        .await
        .expect("weir answers in time")
        .expect("read");
    String::from_utf8_lossy(&answer[..n]).to_ascii_lowercase()
}

#[tokio::test]
async fn ambiguous_or_missing_host_fields_are_refused_with_400() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&config(backend.addr(), &[], &[])).await;
    for request in [
        &b"GET / HTTP/1.1\r\nhost: a.test\r\nhost: b.test\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost: a.test/admin\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost: a b.test\r\n\r\n",
    ] {
        let answer = raw_exchange(&weir, request).await;
        assert!(
            answer.starts_with("http/1.1 400"),
            "{}: {answer}",
            String::from_utf8_lossy(request)
        );
        assert!(answer.contains("x-weir-error: bad-request"), "{answer}");
    }
    assert_eq!(backend.count(), 0, "none of them reached the backend");
    // HTTP/1.0 may omit Host.
    let answer = raw_exchange(&weir, b"GET / HTTP/1.0\r\n\r\n").await;
    assert!(
        answer.starts_with("http/1.0 200") || answer.starts_with("http/1.1 200"),
        "{answer}"
    );
    assert_eq!(backend.count(), 1);
}

#[tokio::test]
async fn a_broken_request_body_never_reaches_the_backend_as_a_complete_request() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A raw backend that keeps every byte it receives until weir closes the connection.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = listener.local_addr().unwrap();
    let received = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.expect("weir connects");
        let mut bytes = Vec::new();
        let ended = tokio::time::timeout(TIMEOUT, conn.read_to_end(&mut bytes)).await;
        (bytes, ended.is_ok())
    });
    let weir = TestWeir::start(&config(backend, &[], &[])).await;
    let mut stream = tokio::net::TcpStream::connect(weir.addr).await.unwrap();
    // The second chunk's size line is not hex: the body breaks after "hello" was forwarded.
    stream
        .write_all(
            b"POST /upload HTTP/1.1\r\nhost: app.test\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 400"), "{answer}");
    let (bytes, closed) = received.await.unwrap();
    let seen = String::from_utf8_lossy(&bytes);
    assert!(closed, "weir closed the upstream connection");
    // The backend saw the request start, and never the chunk that would end it: to any
    // HTTP/1.1 server this is a truncated request on a dead connection, not one to act on.
    assert!(seen.starts_with("POST /upload HTTP/1.1\r\n"), "{seen}");
    assert!(!seen.contains("world"), "{seen}");
    assert!(!seen.ends_with("0\r\n\r\n"), "{seen}");
}

#[tokio::test]
async fn an_absolute_form_target_replaces_the_host_field_for_the_backend() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&config(backend.addr(), &[], &[])).await;
    let mut client = weir_tests::raw::RawClient::connect(weir.addr, TIMEOUT)
        .await
        .expect("connect");
    let status = client
        .request(b"GET http://app.test/page HTTP/1.1\r\nhost: other.test\r\n\r\n")
        .await
        .expect("an answer");
    assert_eq!(status, 200);
    let seen = backend.last();
    assert_eq!(seen.path, "/page");
    // RFC 9112 section 3.2.2: the target's authority wins over the client's Host.
    assert_eq!(seen.header("host"), "app.test");
}
