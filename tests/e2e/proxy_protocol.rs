//! The PROXY protocol on a listener that enables it, with raw clients on loopback: v1 and v2
//! headers name the client that backends (`X-Forwarded-For`) see; a sender outside
//! `proxy_protocol_from`, a connection without a header, and a malformed header are closed.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use weir_tests::Backend;

use crate::support::{TestWeir, runtime_table};

fn proxied_config(backend: SocketAddr, listener_keys: &str) -> String {
    format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\nproxy_protocol = true\n{listener_keys}\n\n[[pool]]\nname = \"main\"\nbackends = [\"{backend}\"]\n\n[[route]]\npool = \"main\"\n",
        runtime_table()
    )
}

/// Sends `bytes` and returns what weir answers before it closes (empty: closed unanswered).
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect to weir");
    let _ = stream.write_all(bytes).await;
    weir_tests::raw::read_head(&mut stream, Duration::from_secs(10))
        .await
        .0
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n";

fn v2_ipv4(src: [u8; 4], port: u16) -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    header.extend_from_slice(&[0x21, 0x11, 0x00, 12]);
    header.extend_from_slice(&src);
    header.extend_from_slice(&[127, 0, 0, 1]);
    header.extend_from_slice(&port.to_be_bytes());
    header.extend_from_slice(&80u16.to_be_bytes());
    header
}

#[tokio::test]
async fn v1_and_v2_headers_name_the_client_backends_see() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&proxied_config(backend.addr(), "")).await;
    let mut v1 = b"PROXY TCP4 198.51.100.7 127.0.0.1 56324 80\r\n".to_vec();
    v1.extend_from_slice(GET);
    let answer = exchange(weir.addr, &v1).await;
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert_eq!(backend.last().header("x-forwarded-for"), "198.51.100.7");
    let mut v2 = v2_ipv4([203, 0, 113, 9], 40000);
    v2.extend_from_slice(GET);
    let answer = exchange(weir.addr, &v2).await;
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert_eq!(backend.last().header("x-forwarded-for"), "203.0.113.9");
    // `UNKNOWN`: the balancer's own connection; the peer is the client.
    let mut unknown = b"PROXY UNKNOWN\r\n".to_vec();
    unknown.extend_from_slice(GET);
    let answer = exchange(weir.addr, &unknown).await;
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert_eq!(backend.last().header("x-forwarded-for"), "127.0.0.1");
}

#[tokio::test]
async fn connections_without_a_valid_header_or_from_elsewhere_are_closed() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&proxied_config(backend.addr(), "")).await;
    // No header at all: an HTTP request is not a PROXY header.
    assert_eq!(exchange(weir.addr, GET).await, "");
    // A malformed one.
    let mut bad = b"PROXY TCP4 198.51.100.7 127.0.0.1 99999 80\r\n".to_vec();
    bad.extend_from_slice(GET);
    assert_eq!(exchange(weir.addr, &bad).await, "");
    assert_eq!(backend.count(), 0);

    // A sender outside `proxy_protocol_from` may not claim any client.
    let strict = TestWeir::start(&proxied_config(
        backend.addr(),
        "proxy_protocol_from = [\"10.0.0.0/8\"]",
    ))
    .await;
    let mut v1 = b"PROXY TCP4 198.51.100.7 127.0.0.1 56324 80\r\n".to_vec();
    v1.extend_from_slice(GET);
    assert_eq!(exchange(strict.addr, &v1).await, "");
    assert_eq!(backend.count(), 0);
}

/// A listener with `trusted_proxies` whose chain copies the request's client address into
/// `x-client` (the headers plugin's `{client_ip}`), so the backend shows what filters saw.
fn trusting_config(backend: SocketAddr, trusted: &str) -> String {
    format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\ntrusted_proxies = {trusted}\n\n{}\n[[pool]]\nname = \"main\"\nbackends = [\"{backend}\"]\n\n[[route]]\npool = \"main\"\nfilters = [\"show\"]\n",
        runtime_table(),
        crate::support::filter(
            "show",
            weir_tests::guests::HEADERS,
            r#"{"request": {"set": {"x-client": "{client_ip}"}}}"#
        ),
    )
}

#[tokio::test]
async fn behind_trusted_proxies_the_client_is_read_right_to_left() {
    let backend = Backend::start("a").await;
    // The test client (127.0.0.1) is a trusted proxy, and so is 10.0.0.0/8.
    let weir = TestWeir::start(&trusting_config(
        backend.addr(),
        r#"["127.0.0.1", "10.0.0.0/8"]"#,
    ))
    .await;
    let request = b"GET / HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\nx-forwarded-for: 1.2.3.4, 198.51.100.7, 10.0.0.2\r\nx-real-ip: 10.9.9.9\r\n\r\n";
    let answer = exchange(weir.addr, request).await;
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    let seen = backend.last();
    // The spoofable left entry is never reached; the trusted proxy's X-Real-IP passes.
    assert_eq!(seen.header("x-client"), "198.51.100.7");
    assert_eq!(seen.header("x-real-ip"), "10.9.9.9");
    assert_eq!(
        seen.header("x-forwarded-for"),
        "1.2.3.4, 198.51.100.7, 10.0.0.2, 127.0.0.1"
    );

    // Untrusted: the peer is the client, and its claims are dropped.
    let untrusting = TestWeir::start(&trusting_config(backend.addr(), r#"["10.0.0.0/8"]"#)).await;
    let answer = exchange(untrusting.addr, request).await;
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    let seen = backend.last();
    assert_eq!(seen.header("x-client"), "127.0.0.1");
    assert_eq!(seen.header("x-real-ip"), "");
}
