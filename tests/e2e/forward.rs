//! The forward proxy: absolute-form requests through the listener's chain to the origin, CONNECT
//! tunnels with a real TLS handshake inside, and the target policy (ports, private ranges;
//! `egress.rs` covers the egress policy in depth).

use std::net::SocketAddr;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir_tests::tls::{Pki, client_config, https_over, server_config};
use weir_tests::{Backend, guests};

use crate::support::{TIMEOUT, TestWeir, filter, runtime_table};

/// A forward-proxy listener with `forward_keys` in `[listener.forward]`, the headers plugin
/// (setting `x-proxied: yes`) in its chain, and `extra` tables after it.
fn forward_config(forward_keys: &str, extra: &str) -> String {
    format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\nmode = \"forward\"\n[listener.forward]\nfilters = [\"mark\"]\n{forward_keys}\n{}\n{extra}\n",
        runtime_table(),
        filter(
            "mark",
            guests::HEADERS,
            r#"{"request": {"set": {"x-proxied": "yes"}}}"#
        ),
    )
}

/// Sends absolute-form requests on one connection to the proxy, as `curl -x` does.
struct ProxyClient {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
}

impl ProxyClient {
    async fn connect(proxy: SocketAddr) -> Self {
        let tcp = TcpStream::connect(proxy).await.expect("connect to weir");
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .expect("h1 handshake");
        tokio::spawn(conn);
        Self { sender }
    }

    /// `GET <url>` with extra headers; returns status, `x-weir-error` and body.
    async fn get(&mut self, url: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
        let mut request = Request::builder().uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Empty::new()).expect("request");
        let response = tokio::time::timeout(TIMEOUT, self.sender.send_request(request))
            .await
            .expect("answer in time")
            .expect("answer");
        let status = response.status().as_u16();
        let error = response
            .headers()
            .get("x-weir-error")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, error, String::from_utf8_lossy(&body).into_owned())
    }
}

#[tokio::test]
async fn absolute_form_requests_are_filtered_and_reuse_the_origin_connection() {
    let origin = Backend::start("origin").await;
    let weir = TestWeir::start(&forward_config(
        "allow_private_targets = true\nallow_ports = [\"1024-65535\"]",
        "",
    ))
    .await;
    let mut client = ProxyClient::connect(weir.addr).await;
    for path in ["/one", "/two?x=1"] {
        // By name, so the resolver and its cache are on the path.
        let url = format!("http://localhost:{}{path}", origin.addr().port());
        let (status, _, body) = client
            .get(
                &url,
                &[
                    ("proxy-authorization", "Basic dXNlcjpwYXNz"),
                    ("host", "ignored.test"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let seen = origin.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (seen[0].path.as_str(), seen[1].query.as_deref()),
        ("/one", Some("x=1"))
    );
    for request in &seen {
        assert_eq!(request.header("x-proxied"), "yes", "the chain ran");
        assert_eq!(
            request.header("proxy-authorization"),
            "",
            "credentials stay at the proxy"
        );
        assert_eq!(
            request.header("host"),
            format!("localhost:{}", origin.addr().port())
        );
        assert_eq!(request.header("via"), "1.1 weir");
    }
    assert_eq!(origin.connections(), 1, "keep-alive per origin");
    weir.stop().await;
}

#[tokio::test]
async fn private_targets_are_refused_by_default() {
    let origin = Backend::start("origin").await;
    // Every port open: the refusals are the address policy's (tests/e2e/egress.rs has more).
    let weir = TestWeir::start(&forward_config("allow_ports = [\"1-65535\"]", "")).await;
    let mut client = ProxyClient::connect(weir.addr).await;
    let port = origin.addr().port();
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://[::1]:{port}/"),
    ] {
        let (status, error, body) = client.get(&url, &[]).await;
        assert_eq!(
            (status, error.as_str()),
            (403, "target-refused"),
            "{url}: {body}"
        );
    }
    assert_eq!(origin.count(), 0);
    let (status, error, _) = client.get("/not-absolute", &[("host", "x.test")]).await;
    assert_eq!((status, error.as_str()), (400, "not-absolute"));
    weir.stop().await;
}

/// Opens a CONNECT tunnel: returns the status line's code and the stream after the head.
async fn connect(proxy: SocketAddr, target: &str, headers: &str) -> (u16, String, TcpStream) {
    connect_as(proxy, target, target, headers).await
}

/// `CONNECT target` whose `Host` field says `host`.
async fn connect_as(
    proxy: SocketAddr,
    target: &str,
    host: &str,
    headers: &str,
) -> (u16, String, TcpStream) {
    let mut tcp = TcpStream::connect(proxy).await.expect("connect to weir");
    let head = format!("CONNECT {target} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n");
    tcp.write_all(head.as_bytes()).await.expect("send CONNECT");
    let mut response = Vec::new();
    let mut byte = [0u8; 1];
    while !response.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(TIMEOUT, tcp.read(&mut byte))
            .await
            .expect("answer in time")
            .expect("read");
        assert!(n == 1, "weir closed before answering CONNECT");
        response.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text, tcp)
}

/// A TLS origin for `localhost` (certificates under a fresh temp dir, which the caller keeps
/// alive) and a forward proxy that may tunnel to its loopback port.
async fn tls_origin_and_proxy(name: &str) -> (tempfile::TempDir, Pki, Backend, TestWeir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = Pki::new(dir.path(), name);
    let cert = pki.server("origin", &["localhost"]);
    let origin = Backend::start_tls("tls-origin", server_config(&cert)).await;
    let port = origin.addr().port();
    let weir = TestWeir::start(&forward_config(
        &format!("allow_private_targets = true\nconnect_ports = [{port}]"),
        "",
    ))
    .await;
    (dir, pki, origin, weir)
}

#[tokio::test]
async fn connect_tunnels_a_real_tls_handshake() {
    let (_dir, pki, origin, weir) = tls_origin_and_proxy("tunnel").await;
    let port = origin.addr().port();
    let (status, head, stream) = connect(weir.addr, &format!("localhost:{port}"), "").await;
    assert_eq!(status, 200, "{head}");
    let config = client_config(pki.roots(), &["http/1.1"], None);
    let got = https_over(stream, "localhost", config, "/inside")
        .await
        .unwrap();
    assert_eq!((got.status, got.body.as_str()), (200, "tls-origin /inside"));
    assert_eq!(
        origin.last().header("x-proxied"),
        "",
        "the tunnel carries bytes; filters do not edit inside it"
    );
    weir.stop().await;
}

#[tokio::test]
async fn connect_over_http2_tunnels_a_real_tls_handshake() {
    let (_dir, pki, origin, weir) = tls_origin_and_proxy("h2-tunnel").await;
    let port = origin.addr().port();
    // HTTP/2 to the proxy (prior knowledge); each CONNECT is one stream of the connection.
    let tcp = TcpStream::connect(weir.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    for path in ["/first-stream", "/second-stream"] {
        let request = Request::builder()
            .method(http::Method::CONNECT)
            .uri(format!("localhost:{port}"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = tokio::time::timeout(TIMEOUT, sender.send_request(request))
            .await
            .expect("answer in time")
            .expect("answer");
        assert_eq!(response.status(), 200);
        let stream = hyper::upgrade::on(response).await.expect("tunnel stream");
        let config = client_config(pki.roots(), &["http/1.1"], None);
        let got = https_over(TokioIo::new(stream), "localhost", config, path)
            .await
            .unwrap();
        assert_eq!((got.status, got.body), (200, format!("tls-origin {path}")));
    }
    // Refusals are ordinary responses on the stream.
    let request = Request::builder()
        .method(http::Method::CONNECT)
        .uri("localhost:25")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.expect("answer");
    assert_eq!(response.status(), 403);
    assert_eq!(origin.connections(), 2);
    weir.stop().await;
}

#[tokio::test]
async fn connect_refuses_a_disallowed_port_and_a_private_target() {
    let origin = Backend::start("origin").await;
    let port = origin.addr().port();
    let weir = TestWeir::start(&forward_config(
        &format!("connect_ports = [443, {port}]"),
        "",
    ))
    .await;
    let (status, head, _) = connect(weir.addr, "localhost:25", "").await;
    assert_eq!(status, 403, "{head}");
    assert!(head.contains("x-weir-error: port-refused"), "{head}");
    let (status, head, _) = connect(weir.addr, &format!("127.0.0.1:{port}"), "").await;
    assert_eq!(status, 403, "{head}");
    assert!(head.contains("x-weir-error: target-refused"), "{head}");
    assert_eq!(origin.connections(), 0);
    weir.stop().await;
}

#[tokio::test]
async fn filters_deny_or_redirect_a_tunnel() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "redirect");
    let cert = pki.server("origin", &["localhost"]);
    let origin = Backend::start_tls("pool-origin", server_config(&cert)).await;
    let extra = format!(
        "{}\n{}\n[[pool]]\nname = \"inspect\"\nbackends = [\"{}\"]\n",
        filter("deny", guests::DENY, r#"{"block_hosts": ["blocked.test"]}"#),
        filter(
            "router",
            guests::ROUTER,
            r#"{"routes": [{"header": {"name": "x-route", "value": "inspect"}, "pool": "inspect"}]}"#
        ),
        origin.addr()
    );
    // The pool's backend is on loopback: the listener's policy covers a pool a filter selects,
    // so it must open that address and port (tests/e2e/egress.rs shows the refusal).
    let keys = format!(
        "allow_networks = [\"127.0.0.1/32\"]\nconnect_ports = [443, {}]",
        origin.addr().port()
    );
    let toml = forward_config(&keys, &extra)
        .replace("filters = [\"mark\"]", "filters = [\"deny\", \"router\"]");
    let weir = TestWeir::start(&toml).await;
    let (status, head, _) = connect(weir.addr, "blocked.test:443", "").await;
    assert_eq!(status, 403, "{head}");
    assert!(head.contains("x-weir-deny-rule"), "{head}");
    // The target does not resolve; the router sends the tunnel to the pool instead.
    let (status, head, stream) =
        connect(weir.addr, "nowhere.invalid:443", "x-route: inspect\r\n").await;
    assert_eq!(status, 200, "{head}");
    let config = client_config(pki.roots(), &["http/1.1"], None);
    let got = https_over(stream, "localhost", config, "/via-pool")
        .await
        .unwrap();
    assert_eq!(got.body, "pool-origin /via-pool");
    weir.stop().await;
}

#[tokio::test]
async fn a_connect_is_judged_by_its_target_whatever_host_the_client_sends() {
    let extra = filter("deny", guests::DENY, r#"{"block_hosts": ["blocked.test"]}"#);
    let toml = forward_config("", &extra).replace("filters = [\"mark\"]", "filters = [\"deny\"]");
    let weir = TestWeir::start(&toml).await;
    // The client claims an allowed host in `Host`: filters see the CONNECT target instead.
    let (status, head, _) = connect_as(weir.addr, "blocked.test:443", "allowed.test:443", "").await;
    assert_eq!(status, 403, "{head}");
    assert!(head.contains("x-weir-deny-rule"), "{head}");
    weir.stop().await;
}

#[tokio::test]
async fn a_filter_can_challenge_for_proxy_credentials() {
    let challenge = r#"Basic realm="weir", charset="UTF-8""#;
    let auth = filter(
        "auth",
        guests::EDITS,
        &format!(
            r#"{{"request": [["respond", 407, "proxy authentication required\n", "proxy-authenticate", {}]]}}"#,
            serde_json::to_string(challenge).unwrap()
        ),
    );
    let toml = forward_config("", &auth).replace("filters = [\"mark\"]", "filters = [\"auth\"]");
    let weir = TestWeir::start(&toml).await;
    let (status, head, _) = connect(weir.addr, "example.test:443", "").await;
    assert_eq!(status, 407, "{head}");
    assert!(
        head.to_ascii_lowercase().contains(&format!(
            "proxy-authenticate: {}",
            challenge.to_ascii_lowercase()
        )),
        "{head}"
    );
    let mut client = ProxyClient::connect(weir.addr).await;
    let request = Request::get("http://example.test/")
        .body(Empty::new())
        .unwrap();
    let response = tokio::time::timeout(TIMEOUT, client.sender.send_request(request))
        .await
        .expect("answer in time")
        .expect("answer");
    assert_eq!(response.status(), 407);
    assert_eq!(response.headers()["proxy-authenticate"], challenge);
    weir.stop().await;
}

#[tokio::test]
async fn a_reverse_listener_refuses_connect() {
    let origin = Backend::start("origin").await;
    let weir = TestWeir::start(&crate::support::config(origin.addr(), &[], &[])).await;
    let (status, head, _) = connect(weir.addr, &origin.addr().to_string(), "").await;
    assert_eq!(status, 405, "{head}");
    assert_eq!(origin.connections(), 0);
    weir.stop().await;
}

#[tokio::test]
async fn an_open_tunnel_survives_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "reload");
    let cert = pki.server("origin", &["localhost"]);
    let origin = Backend::start_tls("tls-origin", server_config(&cert)).await;
    let plain = Backend::start("plain").await;
    let port = origin.addr().port();
    let path = dir.path().join("weir.toml");
    let write = |version: &str| {
        let toml = forward_config(
            &format!(
                "allow_private_targets = true\nconnect_ports = [{port}]\nallow_ports = [\"1024-65535\"]"
            ),
            "",
        )
        .replace("x-proxied\": \"yes", &format!("x-proxied\": \"{version}"));
        std::fs::write(&path, toml).expect("write config");
    };
    write("v1");
    let weir = TestWeir::start_file(&path).await;
    let (status, _, stream) = connect(weir.addr, &format!("localhost:{port}"), "").await;
    assert_eq!(status, 200);
    // One TLS session over the tunnel, kept open across the reload (HTTP/1.1 keep-alive).
    let tls_config = client_config(pki.roots(), &["http/1.1"], None);
    let tls = tokio_rustls::TlsConnector::from(tls_config)
        .connect("localhost".try_into().unwrap(), stream)
        .await
        .expect("TLS through the tunnel");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("h1 over TLS");
    tokio::spawn(conn);
    let ask = |path: &str| {
        Request::builder()
            .uri(path)
            .header("host", "localhost")
            .body(Empty::<Bytes>::new())
            .unwrap()
    };
    let before = sender.send_request(ask("/before")).await.expect("before");
    assert_eq!(before.status(), 200);
    before.into_body().collect().await.unwrap();

    write("v2");
    let generation = weir.control().reload_from_source().await.expect("reload");
    assert_eq!(generation, 2);

    let after = sender
        .send_request(ask("/after"))
        .await
        .expect("tunnel still open");
    assert_eq!(after.status(), 200);
    let body = after.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"tls-origin /after");
    assert_eq!(
        origin.connections(),
        1,
        "the same tunnel carried both requests"
    );
    // New requests see the new chain.
    let mut client = ProxyClient::connect(weir.addr).await;
    let url = format!("http://localhost:{}/new", plain.addr().port());
    assert_eq!(client.get(&url, &[]).await.0, 200);
    assert_eq!(plain.last().header("x-proxied"), "v2");
    weir.stop().await;
}

#[tokio::test]
async fn shutdown_closes_open_tunnels_after_the_grace_period() {
    let origin = Backend::start("origin").await;
    let port = origin.addr().port();
    let weir = TestWeir::start(&forward_config(
        &format!("allow_private_targets = true\nconnect_ports = [{port}]"),
        "[server]\nshutdown_grace_ms = 200\n",
    ))
    .await;
    let (status, _, mut stream) = connect(weir.addr, &format!("localhost:{port}"), "").await;
    assert_eq!(status, 200);
    let started = std::time::Instant::now();
    weir.stop().await;
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(TIMEOUT, stream.read(&mut buf))
        .await
        .expect("the tunnel ends after the grace period, not never");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
}
