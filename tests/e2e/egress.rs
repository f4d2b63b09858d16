//! A forward listener's egress policy against the hostile-client tricks, with real loopback
//! origins: every spelling of a loopback address is refused by default, `allow_networks` and
//! `allow_ports` open exactly one origin, a pool a filter selects is held to the same policy,
//! and client-sent forwarding fields never reach an origin.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir_tests::{Backend, guests};

use crate::support::{TIMEOUT, TestWeir, filter, runtime_table};

/// A forward listener with `keys` in `[listener.forward]`, the router in its chain (sending
/// requests with `x-route: inside` to pool `inside`), and pool `inside` on `pool_backend`.
fn egress_config(keys: &str, pool_backend: SocketAddr) -> String {
    format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\nmode = \"forward\"\n[listener.forward]\nfilters = [\"router\"]\n{keys}\n\n{}\n[[pool]]\nname = \"inside\"\nbackends = [\"{pool_backend}\"]\n",
        runtime_table(),
        filter(
            "router",
            guests::ROUTER,
            r#"{"routes": [{"header": {"name": "x-route", "value": "inside"}, "pool": "inside"}]}"#
        ),
    )
}

/// What weir answered on a raw connection: the status, `x-weir-error` and the whole text.
struct Answer {
    status: u16,
    error: String,
    text: String,
}

/// Writes `head` (a request line and fields, without the final empty line) on a new
/// connection and reads one response: its head, and its body as long as `content-length`
/// says (a tunnel's 200 has none).
async fn raw(proxy: SocketAddr, head: &str) -> Answer {
    let mut tcp = tokio::time::timeout(TIMEOUT, TcpStream::connect(proxy))
        .await
        .expect("connect in time")
        .expect("connect to weir");
    let request = format!("{head}\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    while !is_complete(&response) {
        let n = tokio::time::timeout(TIMEOUT, tcp.read(&mut buf))
            .await
            .expect("answer in time")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let error = text
        .lines()
        .find_map(|l| l.strip_prefix("x-weir-error: "))
        .unwrap_or("")
        .to_owned();
    Answer {
        status,
        error,
        text,
    }
}

/// Whether `response` holds a whole head and as much body as its `content-length` says.
fn is_complete(response: &[u8]) -> bool {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    response.len() >= end + 4 + length
}

/// `GET <url>` in absolute form, with extra header lines.
async fn get(proxy: SocketAddr, url: &str, headers: &str) -> Answer {
    raw(
        proxy,
        &format!("GET {url} HTTP/1.1\r\nhost: ignored.test\r\nconnection: close{headers}"),
    )
    .await
}

/// `CONNECT <target>`.
async fn connect(proxy: SocketAddr, target: &str, headers: &str) -> Answer {
    raw(
        proxy,
        &format!("CONNECT {target} HTTP/1.1\r\nhost: {target}{headers}"),
    )
    .await
}

#[tokio::test]
async fn every_spelling_of_loopback_is_refused_by_default() {
    let origin = Backend::start("origin").await;
    let port = origin.addr().port();
    // Ports are open, so every refusal below is the address policy's.
    let keys = format!("allow_ports = [\"1024-65535\"]\nconnect_ports = [{port}]");
    let weir = TestWeir::start(&egress_config(&keys, origin.addr())).await;
    for host in [
        "127.0.0.1".to_owned(),
        "127.0.0.1.".to_owned(),
        "[::ffff:127.0.0.1]".to_owned(),
        "[::ffff:7f00:1]".to_owned(),
        "[::1]".to_owned(),
        "[::127.0.0.1]".to_owned(),
        "[64:ff9b::7f00:1]".to_owned(),
        "[2002:7f00:1::]".to_owned(),
        "2130706433".to_owned(),
        "0x7f.1".to_owned(),
        "0177.0.0.1".to_owned(),
        "127.1".to_owned(),
        "localhost".to_owned(),
        "localhost.".to_owned(),
        "0.0.0.0".to_owned(),
    ] {
        let answer = get(weir.addr, &format!("http://{host}:{port}/secret"), "").await;
        assert_eq!(
            (answer.status, answer.error.as_str()),
            (403, "target-refused"),
            "GET {host}: {}",
            answer.text
        );
        assert!(
            !answer.text.contains("127.0.0.1"),
            "the answer names no internal address: {}",
            answer.text
        );
        let answer = connect(weir.addr, &format!("{host}:{port}"), "").await;
        assert_eq!(
            (answer.status, answer.error.as_str()),
            (403, "target-refused"),
            "CONNECT {host}: {}",
            answer.text
        );
    }
    // User info makes a URL read as one host and go to another: refused outright.
    for url in [
        format!("http://public.test@127.0.0.1:{port}/"),
        format!("http://127.0.0.1:{port}@public.test/"),
    ] {
        let answer = get(weir.addr, &url, "").await;
        assert_eq!(answer.status, 400, "{url}: {}", answer.text);
    }
    let answer = connect(weir.addr, &format!("public.test@127.0.0.1:{port}"), "").await;
    assert!(
        matches!(answer.status, 400 | 403),
        "CONNECT with user info: {}",
        answer.text
    );
    // A fragment ends the authority: the host is what stands before it.
    for url in [
        format!("http://127.0.0.1:{port}/#@public.test/"),
        format!("http://public.test#@127.0.0.1:{port}/"),
    ] {
        let answer = get(weir.addr, &url, "").await;
        assert!(
            matches!(answer.status, 400 | 403 | 502),
            "{url}: {}",
            answer.text
        );
    }
    // A zone id names a local interface.
    for url in [
        format!("http://[fe80::1%25lo]:{port}/"),
        format!("http://[::1%25lo]:{port}/"),
    ] {
        let answer = get(weir.addr, &url, "").await;
        assert_eq!(
            (answer.status, answer.error.as_str()),
            (403, "target-refused"),
            "{url}: {}",
            answer.text
        );
    }
    assert_eq!(origin.count(), 0, "no trick reached the origin");
    assert_eq!(origin.connections(), 0);
    weir.stop().await;
}

#[tokio::test]
async fn an_allowed_network_and_port_open_exactly_one_origin() {
    let origin = Backend::start("origin").await;
    let other = Backend::start("other").await;
    let port = origin.addr().port();
    let keys = format!(
        "allow_networks = [\"127.0.0.1/32\"]\nallow_ports = [{port}]\nconnect_ports = [{port}]"
    );
    let weir = TestWeir::start(&egress_config(&keys, origin.addr())).await;
    for host in ["127.0.0.1", "[::ffff:127.0.0.1]", "2130706433", "localhost"] {
        let answer = get(weir.addr, &format!("http://{host}:{port}/ok"), "").await;
        assert_eq!(answer.status, 200, "{host}: {}", answer.text);
    }
    assert_eq!(origin.count(), 4);
    // Another port of the same address, and another loopback address: refused.
    let answer = get(
        weir.addr,
        &format!("http://127.0.0.1:{}/", other.addr().port()),
        "",
    )
    .await;
    assert_eq!(
        (answer.status, answer.error.as_str()),
        (403, "port-refused"),
        "{}",
        answer.text
    );
    for host in ["127.0.0.2", "[::1]", "[64:ff9b::7f00:1]"] {
        let answer = get(weir.addr, &format!("http://{host}:{port}/"), "").await;
        assert_eq!(
            (answer.status, answer.error.as_str()),
            (403, "target-refused"),
            "{host}: {}",
            answer.text
        );
    }
    // A public address is outside allow_networks: refused before any connection.
    let answer = get(weir.addr, &format!("http://192.0.2.1:{port}/"), "").await;
    assert_eq!(answer.error, "target-refused", "{}", answer.text);
    let answer = connect(weir.addr, &format!("127.0.0.1:{port}"), "").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let answer = connect(weir.addr, &format!("127.0.0.2:{port}"), "").await;
    assert_eq!(answer.error, "target-refused", "{}", answer.text);
    assert_eq!(other.count(), 0);
    weir.stop().await;
}

#[tokio::test]
async fn a_pool_a_filter_selects_is_held_to_the_policy() {
    let inside = Backend::start("inside").await;
    let port = inside.addr().port();
    let refused = TestWeir::start(&egress_config(
        &format!("allow_ports = [80, 443, {port}]\nconnect_ports = [443, {port}]"),
        inside.addr(),
    ))
    .await;
    let route = "\r\nx-route: inside";
    let answer = get(refused.addr, "http://public.test/", route).await;
    assert_eq!(
        (answer.status, answer.error.as_str()),
        (403, "target-refused"),
        "{}",
        answer.text
    );
    assert!(!answer.text.contains("127.0.0.1"), "{}", answer.text);
    let answer = connect(refused.addr, "public.test:443", route).await;
    assert_eq!(
        (answer.status, answer.error.as_str()),
        (403, "target-refused"),
        "{}",
        answer.text
    );
    assert_eq!(inside.connections(), 0, "nothing connected to the pool");
    refused.stop().await;

    // A pool backend on a port outside the lists is refused for its port.
    let wrong_port = TestWeir::start(&egress_config(
        "allow_networks = [\"127.0.0.1/32\"]",
        inside.addr(),
    ))
    .await;
    let answer = get(wrong_port.addr, "http://public.test/", route).await;
    assert_eq!(answer.error, "port-refused", "{}", answer.text);
    let answer = connect(wrong_port.addr, "public.test:443", route).await;
    assert_eq!(answer.error, "port-refused", "{}", answer.text);
    wrong_port.stop().await;

    // Opened by the policy, the pool is reachable.
    let opened = TestWeir::start(&egress_config(
        &format!(
            "allow_networks = [\"127.0.0.1/32\"]\nallow_ports = [80, {port}]\nconnect_ports = [443, {port}]"
        ),
        inside.addr(),
    ))
    .await;
    let answer = get(opened.addr, "http://public.test/via-pool", route).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(inside.last().path, "/via-pool");
    let answer = connect(opened.addr, "public.test:443", route).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    opened.stop().await;
}

const CLAIMS: &str = "\r\nx-forwarded-for: 6.6.6.6\r\nforwarded: for=6.6.6.6;proto=https\r\nx-real-ip: 6.6.6.6\r\nx-forwarded-host: admin.internal\r\nx-forwarded-proto: https\r\nvia: 1.1 client-side";

#[tokio::test]
async fn client_sent_forwarding_fields_never_reach_the_origin() {
    let origin = Backend::start("origin").await;
    let port = origin.addr().port();
    let keys = format!("allow_networks = [\"127.0.0.1/32\"]\nallow_ports = [{port}]");
    let weir = TestWeir::start(&egress_config(&keys, origin.addr())).await;
    let answer = get(weir.addr, &format!("http://127.0.0.1:{port}/"), CLAIMS).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let seen = origin.last();
    for name in [
        "x-forwarded-for",
        "forwarded",
        "x-real-ip",
        "x-forwarded-host",
        "x-forwarded-proto",
    ] {
        assert_eq!(seen.header(name), "", "{name} is the client's claim");
    }
    let via: Vec<_> = seen.headers.get_all("via").iter().collect();
    assert_eq!(
        via,
        ["1.1 client-side", "1.1 weir"],
        "Via is kept and extended (loop detection)"
    );
    weir.stop().await;

    let keys = format!("{keys}\nforwarded_for = \"append\"");
    let weir = TestWeir::start(&egress_config(&keys, origin.addr())).await;
    let answer = get(weir.addr, &format!("http://127.0.0.1:{port}/"), CLAIMS).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let seen = origin.last();
    assert_eq!(
        seen.header("x-forwarded-for"),
        "127.0.0.1",
        "the real peer only"
    );
    assert_eq!(seen.header("forwarded"), "for=127.0.0.1");
    assert_eq!(seen.header("x-real-ip"), "");
    assert_eq!(seen.header("x-forwarded-host"), "");
    weir.stop().await;
}
