//! Balancing across real loopback backends: consistent hashing on a header, a cookie and the
//! client address keeps each key on one backend and spreads keys; requests without a key fall
//! back to round robin; least-requests steers new requests away from a backend that holds
//! slow ones.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use weir_tests::{Backend, Behaviour};

use crate::support::{TIMEOUT, TestWeir, runtime_table};

/// One reverse listener and pool `main` over `backends`, with these extra pool keys.
fn pool_config(backends: &[&Backend], pool_keys: &str) -> String {
    let addrs: Vec<String> = backends
        .iter()
        .map(|b| format!("\"{}\"", b.addr()))
        .collect();
    format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\n[[pool]]\nname = \"main\"\nbackends = [{}]\n{pool_keys}\n[[route]]\npool = \"main\"\n",
        runtime_table(),
        addrs.join(", ")
    )
}

async fn three_backends() -> [Backend; 3] {
    [
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    ]
}

/// Sends a GET with one extra header and returns the backend that answered.
async fn backend_for(weir: &TestWeir, header: (&str, &str)) -> String {
    let request = weir
        .request("GET", "app.test", "/")
        .header(header.0, header.1)
        .body(Full::default())
        .expect("valid request");
    let res = weir.send(request).await;
    assert_eq!(res.status, StatusCode::OK);
    res.header("x-backend").to_owned()
}

/// Asserts that every key went to one backend each time and that keys use every backend.
fn assert_sticky_and_spread(seen: &HashMap<String, HashSet<String>>, backends: usize) {
    for (key, on) in seen {
        assert_eq!(on.len(), 1, "key {key} went to {on:?}");
    }
    let used: HashSet<&String> = seen.values().flatten().collect();
    assert_eq!(used.len(), backends, "keys spread over {used:?}");
}

#[tokio::test]
async fn header_hash_keeps_each_user_on_one_backend_and_spreads_users() {
    let backends = three_backends().await;
    let toml = pool_config(
        &backends.iter().collect::<Vec<_>>(),
        "balance = \"consistent-hash\"\nhash_key = \"header:x-user\"",
    );
    let weir = TestWeir::start(&toml).await;
    let mut seen: HashMap<String, HashSet<String>> = HashMap::new();
    for _ in 0..3 {
        for user in 0..40 {
            let user = format!("user-{user}");
            let backend = backend_for(&weir, ("x-user", &user)).await;
            seen.entry(user).or_default().insert(backend);
        }
    }
    assert_sticky_and_spread(&seen, 3);
    // Without the header, the pool falls back to round robin: an even spread.
    let mut unkeyed: HashMap<String, usize> = HashMap::new();
    for _ in 0..6 {
        let backend = backend_for(&weir, ("x-other", "1")).await;
        *unkeyed.entry(backend).or_default() += 1;
    }
    assert_eq!(unkeyed.len(), 3, "{unkeyed:?}");
    assert!(unkeyed.values().all(|&n| n == 2), "{unkeyed:?}");
    weir.stop().await;
}

#[tokio::test]
async fn cookie_hash_keeps_each_session_on_one_backend() {
    let backends = three_backends().await;
    let toml = pool_config(
        &backends.iter().collect::<Vec<_>>(),
        "balance = \"consistent-hash\"\nhash_key = \"cookie:sid\"",
    );
    let weir = TestWeir::start(&toml).await;
    let mut seen: HashMap<String, HashSet<String>> = HashMap::new();
    for round in 0..3 {
        for session in 0..40 {
            // Other cookies change from request to request; only `sid` counts.
            let cookie = format!("theme=t{round}; sid=s{session}; n={round}");
            let backend = backend_for(&weir, ("cookie", &cookie)).await;
            seen.entry(format!("s{session}"))
                .or_default()
                .insert(backend);
        }
    }
    assert_sticky_and_spread(&seen, 3);
    // The cookie reaches the backend unchanged.
    let with_sid = backends
        .iter()
        .flat_map(Backend::requests)
        .filter(|r| r.header("cookie").contains("sid=s7;"))
        .count();
    assert_eq!(with_sid, 3);
    weir.stop().await;
}

/// Sends one request on a new connection from `source` (any 127/8 address works on
/// loopback) and returns the backend that answered.
async fn backend_from(weir: SocketAddr, source: SocketAddr) -> String {
    let exchange = async {
        let socket = TcpSocket::new_v4()?;
        socket.bind(source)?;
        let mut stream = socket.connect(weir).await?;
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
            .await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&response).into_owned())
    };
    let response = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .expect("weir answered in time")
        .expect("weir answered");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
        .lines()
        .find_map(|line| line.strip_prefix("x-backend: "))
        .expect("the response names its backend")
        .to_owned()
}

#[tokio::test]
async fn client_addr_hash_keeps_each_client_address_on_one_backend() {
    let backends = three_backends().await;
    let toml = pool_config(
        &backends.iter().collect::<Vec<_>>(),
        "balance = \"consistent-hash\"\nhash_key = \"client-addr\"",
    );
    let weir = TestWeir::start(&toml).await;
    let mut seen: HashMap<String, HashSet<String>> = HashMap::new();
    for _ in 0..2 {
        for host in 2..42 {
            let source: SocketAddr = format!("127.0.0.{host}:0").parse().expect("address");
            // A new connection each time: the port changes, the address does not.
            let backend = backend_from(weir.addr, source).await;
            seen.entry(source.ip().to_string())
                .or_default()
                .insert(backend);
        }
    }
    assert_sticky_and_spread(&seen, 3);
    weir.stop().await;
}

#[tokio::test]
async fn least_requests_sends_new_requests_away_from_a_backend_holding_slow_ones() {
    let slow = Backend::start_with("slow", Behaviour::Delay(Duration::from_secs(10))).await;
    let fast = Backend::start("fast").await;
    let toml = pool_config(&[&slow, &fast], "balance = \"least-requests\"");
    let weir = TestWeir::start(&toml).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    // Send requests one at a time until one is held by the slow backend. An idle pool breaks
    // the tie at random, so that takes a few tries at most.
    let mut held = false;
    for _ in 0..30 {
        let request = weir
            .request("GET", "app.test", "/held")
            .body(Full::default())
            .expect("valid request");
        let mut answer = tokio::spawn(client.request(request));
        tokio::select! {
            done = &mut answer => {
                let response = done.expect("task").expect("weir answered");
                assert_eq!(response.headers()["x-backend"], "fast");
            }
            arrived = slow.wait_for(1, TIMEOUT) => {
                assert!(arrived);
                held = true;
                break;
            }
        }
    }
    assert!(held, "no request reached the slow backend");
    // The slow backend holds one request: every new one goes to the idle fast backend.
    for _ in 0..20 {
        let res = weir.get("app.test", "/new").await;
        assert_eq!(res.header("x-backend"), "fast");
    }
    assert_eq!(slow.count(), 1);
    // No graceful stop: it would wait for the held request. The test's runtime ends it.
    drop(weir);
}
