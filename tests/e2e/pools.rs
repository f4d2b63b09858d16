//! Upstream pools under pressure, with real backends on loopback that are stopped, restarted,
//! slowed, made to fail and made to reset: passive ejection and its back-off, the per-backend
//! connection limit and its bounded queue, retries only where safe and within the budget, and
//! the total and body-idle timeouts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use weir_tests::Backend;

use crate::support::{TIMEOUT, TestWeir, runtime_table};

/// What a scripted backend does with a request.
#[derive(Clone, Copy, Debug)]
enum Script {
    /// `200` with body `<name>`.
    Ok,
    /// This status, with `Retry-After` when given.
    Status(u16, Option<u64>),
    /// Close the connection without answering.
    Reset,
    /// Wait this long, then `200`.
    Slow(Duration),
    /// Send a head announcing 100 bytes, 10 of them, then nothing more.
    StallBody,
}

/// A raw HTTP/1.1 backend whose answer comes from a script, counting requests and the most
/// requests it held at once.
#[derive(Clone)]
struct Scripted {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    script: Arc<std::sync::Mutex<Script>>,
    /// The accept loop and every connection's task.
    tasks: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Scripted {
    async fn start(name: &'static str, script: Script) -> Self {
        Self::start_on("127.0.0.1:0", name, script).await
    }

    async fn start_on(bind: &str, name: &'static str, script: Script) -> Self {
        let listener = TcpListener::bind(bind).await.expect("bind loopback");
        let addr = listener.local_addr().expect("bound address");
        let requests = Arc::new(AtomicUsize::new(0));
        let active = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(std::sync::Mutex::new(script));
        let (r, a, p, s) = (
            requests.clone(),
            active.clone(),
            peak.clone(),
            script.clone(),
        );
        let tasks: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let conns = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (r, a, p, s) = (r.clone(), a.clone(), p.clone(), s.clone());
                let conn = tokio::spawn(serve(stream, name, r, a, p, s));
                conns.lock().expect("tasks lock").push(conn.abort_handle());
            }
        });
        tasks
            .lock()
            .expect("tasks lock")
            .push(accept.abort_handle());
        Self {
            addr,
            requests,
            peak,
            script,
            tasks,
        }
    }

    fn set(&self, script: Script) {
        *self.script.lock().expect("script lock") = script;
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Stops accepting and closes every connection: the port is closed.
    fn stop(&self) {
        for task in self.tasks.lock().expect("tasks lock").drain(..) {
            task.abort();
        }
    }
}

async fn serve(
    mut stream: TcpStream,
    name: &'static str,
    requests: Arc<AtomicUsize>,
    active: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    script: Arc<std::sync::Mutex<Script>>,
) {
    let mut buf = Vec::new();
    loop {
        // Read one request head (the tests send no bodies to scripted backends).
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        buf.drain(..head_end);
        requests.fetch_add(1, Ordering::SeqCst);
        let now = active.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(now, Ordering::SeqCst);
        let current = *script.lock().expect("script lock");
        let answer = match current {
            Script::Ok => Some(ok(name)),
            Script::Status(status, retry_after) => {
                let extra = retry_after
                    .map(|s| format!("retry-after: {s}\r\n"))
                    .unwrap_or_default();
                Some(format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nx-backend: {name}\r\n{extra}\r\n{name}",
                    name.len()
                ))
            }
            Script::Reset => None,
            Script::Slow(delay) => {
                // Like a real server, notice a peer that closes while the answer is prepared.
                let mut probe = [0u8; 1];
                tokio::select! {
                    () = tokio::time::sleep(delay) => Some(ok(name)),
                    _ = stream.read(&mut probe) => {
                        active.fetch_sub(1, Ordering::SeqCst);
                        return;
                    }
                }
            }
            Script::StallBody => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
                    .await;
                tokio::time::sleep(Duration::from_secs(30)).await;
                None
            }
        };
        active.fetch_sub(1, Ordering::SeqCst);
        match answer {
            Some(answer) => {
                if stream.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
            }
            None => return,
        }
    }
}

fn ok(name: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-backend: {name}\r\n\r\n{name}",
        name.len()
    )
}

/// One listener and one pool `main` over `backends`, with extra pool keys.
fn pool_config(backends: &[SocketAddr], pool_keys: &str) -> String {
    let list: Vec<String> = backends.iter().map(|b| format!("\"{b}\"")).collect();
    format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\n\n[[pool]]\nname = \"main\"\nbackends = [{}]\n{pool_keys}\n\n[[route]]\npath_prefix = \"/\"\npool = \"main\"\n",
        runtime_table(),
        list.join(", ")
    )
}

/// Sends `n` GETs one after the other and counts answers by `x-backend` (or error kind).
async fn spread(weir: &TestWeir, n: usize) -> std::collections::BTreeMap<String, usize> {
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..n {
        let res = weir.get("app.test", "/").await;
        let who = match res.header("x-weir-error") {
            "" => res.header("x-backend").to_owned(),
            kind => kind.to_owned(),
        };
        *seen.entry(who).or_insert(0) += 1;
    }
    seen
}

#[tokio::test]
async fn a_stopped_backend_is_ejected_and_comes_back_after_its_back_off() {
    let a = Scripted::start("a", Script::Ok).await;
    let b = Scripted::start("b", Script::Ok).await;
    let b_addr = b.addr;
    let weir = TestWeir::start(&pool_config(&[a.addr, b.addr], "eject_base_ms = 300")).await;
    assert_eq!(spread(&weir, 4).await.get("b"), Some(&2));
    b.stop();
    // Every request succeeds: the refused connection is retried on `a` before anything was
    // sent, and `b` is then ejected.
    let seen = spread(&weir, 10).await;
    assert_eq!(seen.get("a"), Some(&10), "{seen:?}");
    // `b` listens again on the same port; after the back-off one trial request brings it back.
    let b = Scripted::start_on(&b_addr.to_string(), "b", Script::Ok).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let seen = spread(&weir, 10).await;
    assert!(seen.get("b").copied().unwrap_or(0) >= 4, "{seen:?}");
    assert!(b.requests() >= 4);
}

#[tokio::test]
async fn consecutive_server_errors_eject_a_backend_and_no_request_goes_to_it() {
    let a = Scripted::start("a", Script::Ok).await;
    let b = Scripted::start("b", Script::Status(500, None)).await;
    let weir = TestWeir::start(&pool_config(
        &[a.addr, b.addr],
        "eject_after_failures = 3\neject_base_ms = 1500",
    ))
    .await;
    let seen = spread(&weir, 20).await;
    // Round robin: `b` answers 500 three times (they reach the client: not retried by
    // default), then is ejected.
    assert_eq!(b.requests(), 3, "{seen:?}");
    assert_eq!(seen.get("a"), Some(&17), "{seen:?}");
    let state = upstream_state(&weir, "main");
    assert!(
        state.contains("\"ejected_because\":\"failures\""),
        "{state}"
    );
    // Mended, `b` gets its trial request after the back-off and then its share again.
    b.set(Script::Ok);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let seen = spread(&weir, 10).await;
    assert!(seen.get("b").copied().unwrap_or(0) >= 4, "{seen:?}");
}

#[tokio::test]
async fn a_pool_whose_backends_are_all_ejected_answers_503_at_once_with_retry_after() {
    let dead = weir_tests::closed_port().await;
    let weir = TestWeir::start(&pool_config(&[dead], "eject_base_ms = 4000")).await;
    let first = weir.get("app.test", "/").await;
    assert_eq!(first.status, StatusCode::BAD_GATEWAY);
    assert_eq!(first.header("x-weir-error"), "upstream-connect");
    let started = Instant::now();
    let second = weir.get("app.test", "/").await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(second.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(second.header("x-weir-error"), "no-usable-backend");
    let wait: u64 = second.header("retry-after").parse().expect("Retry-After");
    assert!((1..=4).contains(&wait), "Retry-After {wait}");
}

#[tokio::test]
async fn the_ejection_cap_keeps_part_of_the_pool_in_service() {
    let backends = [
        Scripted::start("a", Script::Status(502, None)).await,
        Scripted::start("b", Script::Status(502, None)).await,
        Scripted::start("c", Script::Status(502, None)).await,
        Scripted::start("d", Script::Status(502, None)).await,
    ];
    let addrs: Vec<SocketAddr> = backends.iter().map(|b| b.addr).collect();
    let weir = TestWeir::start(&pool_config(
        &addrs,
        "eject_after_failures = 1\neject_base_ms = 60000\nmax_ejected_percent = 50",
    ))
    .await;
    let seen = spread(&weir, 40).await;
    // At most half (2 of 4) are ejected: the rest keep answering, and their 502s pass through.
    let state = upstream_state(&weir, "main");
    assert_eq!(state.matches("\"ejected\"").count(), 2, "{state}\n{seen:?}");
    assert_eq!(seen.get("no-usable-backend"), None, "{seen:?}");
}

#[tokio::test]
async fn a_backend_asking_to_retry_after_is_left_alone_for_that_long() {
    let a = Scripted::start("a", Script::Ok).await;
    let b = Scripted::start("b", Script::Status(503, Some(60))).await;
    let weir = TestWeir::start(&pool_config(&[a.addr, b.addr], "")).await;
    spread(&weir, 10).await;
    assert_eq!(b.requests(), 1, "only the request that was told to wait");
}

#[tokio::test]
async fn requests_beyond_the_connection_limit_wait_in_a_bounded_queue() {
    let slow = Scripted::start("slow", Script::Slow(Duration::from_millis(400))).await;
    let weir = Arc::new(
        TestWeir::start(&pool_config(
            &[slow.addr],
            "max_connections_per_backend = 2\nqueue_size = 3\nqueue_timeout_ms = 600",
        ))
        .await,
    );
    // 12 clients at once: 2 are served, 3 wait (of which the first 2 get a connection after
    // 400 ms and the third times out at 600 ms), 7 are refused at once.
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let weir = weir.clone();
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let res = weir.get("app.test", "/").await;
            (
                res.status,
                res.header("x-weir-error").to_owned(),
                res.header("retry-after").to_owned(),
                started.elapsed(),
            )
        }));
    }
    let mut outcomes = std::collections::BTreeMap::new();
    for task in tasks {
        let (status, kind, retry_after, took) = task.await.expect("client task");
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(retry_after, "1");
        }
        if kind == "upstream-queue-full" {
            assert!(
                took < Duration::from_millis(300),
                "refused at once: {took:?}"
            );
        }
        *outcomes
            .entry(format!("{} {kind}", status.as_u16()))
            .or_insert(0) += 1;
    }
    assert_eq!(slow.peak(), 2, "never more than the limit at the backend");
    assert_eq!(outcomes.get("200 "), Some(&4), "{outcomes:?}");
    assert_eq!(
        outcomes.get("503 upstream-queue-timeout"),
        Some(&1),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.get("503 upstream-queue-full"),
        Some(&7),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn clients_that_give_up_never_let_the_backend_see_more_connections_than_the_limit() {
    let slow = Scripted::start("slow", Script::Slow(Duration::from_millis(400))).await;
    let weir = Arc::new(
        TestWeir::start(&pool_config(
            &[slow.addr],
            "max_connections_per_backend = 2\nqueue_size = 64\nqueue_timeout_ms = 5000",
        ))
        .await,
    );
    // weir's own count of open connections to the backend, sampled every millisecond.
    let state = weir.control().state();
    let pool = state.pools.get("main").expect("pool").clone();
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = tokio::spawn({
        let sampling = sampling.clone();
        async move {
            let mut most = 0;
            while sampling.load(Ordering::SeqCst) {
                most = most.max(pool.backends()[0].connections().open_connections());
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            most
        }
    });
    // Waves of clients that give up after 100 ms (in flight or queued), then patient ones.
    for _ in 0..3 {
        let mut impatient = Vec::new();
        for _ in 0..32 {
            let weir = weir.clone();
            impatient.push(tokio::spawn(async move {
                let request = weir.request("GET", "app.test", "/").body(Full::default());
                let client = hyper_util::client::legacy::Client::builder(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .build_http::<Full<Bytes>>();
                let _ = tokio::time::timeout(
                    Duration::from_millis(100),
                    client.request(request.expect("request")),
                )
                .await;
            }));
        }
        for task in impatient {
            task.await.expect("client task");
        }
    }
    let mut patient = Vec::new();
    for _ in 0..4 {
        let weir = weir.clone();
        patient.push(tokio::spawn(async move {
            weir.get("app.test", "/").await.status
        }));
    }
    for task in patient {
        assert_eq!(task.await.expect("client task"), StatusCode::OK);
    }
    sampling.store(false, Ordering::SeqCst);
    let most_open = sampler.await.expect("sampler");
    assert!(most_open <= 2, "weir had {most_open} connections open");
    assert!(
        slow.peak() <= 2,
        "the backend held {} requests at once",
        slow.peak()
    );
}

#[tokio::test]
async fn a_reset_idempotent_request_is_retried_on_another_backend_and_a_post_is_not() {
    let a = Scripted::start("a", Script::Reset).await;
    let b = Scripted::start("b", Script::Ok).await;
    let weir = TestWeir::start(&pool_config(
        &[a.addr, b.addr],
        // Keep `a` in the pool so every other request meets the reset.
        "eject_after_failures = 0",
    ))
    .await;
    let seen = spread(&weir, 6).await;
    assert_eq!(seen.get("b"), Some(&6), "GETs all answered by b: {seen:?}");
    assert!(a.requests() >= 3, "{} requests met the reset", a.requests());
    let mut failed = 0;
    for _ in 0..4 {
        let post = weir
            .send(
                weir.request("POST", "app.test", "/")
                    .body(Full::new(Bytes::from_static(b"x")))
                    .expect("request"),
            )
            .await;
        if post.status == StatusCode::BAD_GATEWAY {
            assert_eq!(post.header("x-weir-error"), "upstream-failed");
            failed += 1;
        }
    }
    assert_eq!(failed, 2, "POSTs that met the reset are not retried");
}

#[tokio::test]
async fn configured_statuses_are_retried_and_the_budget_stops_retries() {
    let a = Scripted::start("a", Script::Status(503, None)).await;
    let b = Scripted::start("b", Script::Ok).await;
    let keys = "eject_after_failures = 0\nretry_on_status = [503]";
    let weir = TestWeir::start(&pool_config(&[a.addr, b.addr], keys)).await;
    let seen = spread(&weir, 6).await;
    assert_eq!(seen.get("b"), Some(&6), "{seen:?}");

    // No budget at all: the 503s reach the client.
    let a = Scripted::start("a", Script::Status(503, None)).await;
    let b = Scripted::start("b", Script::Ok).await;
    let keys = format!("{keys}\nretry_budget_percent = 0\nretry_budget_min_per_sec = 0");
    let weir = TestWeir::start(&pool_config(&[a.addr, b.addr], &keys)).await;
    let seen = spread(&weir, 6).await;
    assert_eq!(seen.get("b"), Some(&3), "{seen:?}");
    assert_eq!(a.requests(), 3);
}

#[tokio::test]
async fn the_budget_bounds_retries_during_an_outage() {
    let a = Scripted::start("a", Script::Status(503, None)).await;
    let b = Scripted::start("b", Script::Status(503, None)).await;
    let weir = TestWeir::start(&pool_config(
        &[a.addr, b.addr],
        "eject_after_failures = 0\nretry_on_status = [503]\nretry_budget_percent = 10\nretry_budget_min_per_sec = 1",
    ))
    .await;
    spread(&weir, 100).await;
    let upstream = a.requests() + b.requests();
    // 100 requests, 10 retries from the floor (1/s over 10 s) or the share (10 %): the
    // backends see at most 110 + a little, never 200.
    assert!(
        (100..=112).contains(&upstream),
        "{upstream} upstream requests"
    );
}

#[tokio::test]
async fn a_request_body_is_replayed_only_when_kept() {
    let a = Scripted::start("a", Script::Reset).await;
    let b = Backend::start("b").await;
    let weir = TestWeir::start(&pool_config(
        &[a.addr, b.addr()],
        "eject_after_failures = 0\nretry_body_max_bytes = 16",
    ))
    .await;
    // PUT is idempotent: a small body is replayed whole on `b`.
    let mut answered = 0;
    for _ in 0..2 {
        let put = weir
            .send(
                weir.request("PUT", "app.test", "/small")
                    .body(Full::new(Bytes::from_static(b"0123456789")))
                    .expect("request"),
            )
            .await;
        if put.status == StatusCode::OK {
            answered += 1;
        }
    }
    assert_eq!(answered, 2);
    assert!(b.requests().iter().all(|r| r.body_len == 10));
    // A body over the cap is never replayed.
    let mut failed = 0;
    for _ in 0..2 {
        let put = weir
            .send(
                weir.request("PUT", "app.test", "/large")
                    .body(Full::new(Bytes::from(vec![b'x'; 64])))
                    .expect("request"),
            )
            .await;
        if put.status == StatusCode::BAD_GATEWAY {
            failed += 1;
        }
    }
    assert_eq!(failed, 1);
}

#[tokio::test]
async fn the_total_timeout_answers_504_with_its_reason() {
    let slow = Scripted::start("slow", Script::Slow(Duration::from_secs(5))).await;
    let weir = TestWeir::start(&pool_config(&[slow.addr], "request_timeout_ms = 300")).await;
    let started = Instant::now();
    let res = weir.get("app.test", "/").await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(res.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(res.header("x-weir-error"), "request-timeout");
}

#[tokio::test]
async fn a_response_body_that_stalls_is_cut_after_the_idle_timeout() {
    let stall = Scripted::start("stall", Script::StallBody).await;
    let weir = TestWeir::start(&pool_config(&[stall.addr], "body_idle_timeout_ms = 300")).await;
    let started = Instant::now();
    let response = tokio::time::timeout(
        TIMEOUT,
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http::<Full<Bytes>>()
            .request(
                weir.request("GET", "app.test", "/")
                    .body(Full::default())
                    .expect("request"),
            ),
    )
    .await
    .expect("head in time")
    .expect("head");
    assert_eq!(response.status(), StatusCode::OK);
    let body = tokio::time::timeout(TIMEOUT, response.into_body().collect())
        .await
        .expect("the body ends in time");
    assert!(
        body.is_err(),
        "the cut body is an error, not a short success"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The pool's state as the admin endpoint shows it (JSON text).
fn upstream_state(weir: &TestWeir, pool: &str) -> String {
    let state = weir.control().state();
    state
        .pools
        .get(pool)
        .expect("the pool exists")
        .report()
        .to_string()
}

#[tokio::test]
async fn the_admin_endpoint_and_metrics_show_backend_state_queue_and_retries() {
    let a = Scripted::start("a", Script::Ok).await;
    let dead = weir_tests::closed_port().await;
    let weir = TestWeir::start(&pool_config(&[a.addr, dead], "eject_base_ms = 60000")).await;
    spread(&weir, 4).await;
    let admin = weir::admin::serve("127.0.0.1:0".parse().expect("addr"), weir.control())
        .await
        .expect("admin endpoint");
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let get = |path: &str| {
        let request = http::Request::get(format!("http://{}{path}", admin.addr))
            .body(Full::default())
            .expect("request");
        let client = client.clone();
        async move {
            let res = tokio::time::timeout(TIMEOUT, client.request(request))
                .await
                .expect("in time")
                .expect("answered");
            let body = res.into_body().collect().await.expect("body").to_bytes();
            String::from_utf8_lossy(&body).into_owned()
        }
    };
    let upstreams: serde_json::Value =
        serde_json::from_str(&get("/upstreams").await).expect("JSON");
    let pool = &upstreams["pools"][0];
    assert_eq!(pool["name"], "main");
    assert_eq!(
        pool["retries_total"], 1,
        "the refused connect was retried once"
    );
    let backends = pool["backends"].as_array().expect("backends");
    assert_eq!(backends[0]["state"], "healthy");
    assert_eq!(backends[0]["idle_connections"], 1);
    assert_eq!(backends[1]["address"], dead.to_string());
    assert_eq!(backends[1]["state"], "ejected");
    assert_eq!(backends[1]["ejected_because"], "connect-errors");
    assert!(backends[1]["ejected_for_ms"].as_u64().expect("ms") > 50_000);

    let metrics = get("/metrics").await;
    for line in [
        format!(
            "weir_upstream_backend_up{{pool=\"main\",backend=\"{}\",state=\"healthy\"}} 1",
            a.addr
        ),
        format!("weir_upstream_backend_up{{pool=\"main\",backend=\"{dead}\",state=\"ejected\"}} 0"),
        format!("weir_upstream_ejections_total{{pool=\"main\",backend=\"{dead}\"}} 1"),
        "weir_upstream_queue_length{pool=\"main\"} 0".to_owned(),
        "weir_upstream_retries_total{pool=\"main\",outcome=\"sent\"} 1".to_owned(),
    ] {
        assert!(metrics.contains(&line), "missing {line}\n{metrics}");
    }
}

#[tokio::test]
async fn a_request_body_that_stalls_is_answered_400_after_the_idle_timeout() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&pool_config(
        &[backend.addr()],
        "body_idle_timeout_ms = 300",
    ))
    .await;
    let mut client = TcpStream::connect(weir.addr)
        .await
        .expect("connect to weir");
    client
        .write_all(
            b"POST /upload HTTP/1.1\r\nhost: app.test\r\ncontent-length: 100\r\n\r\n0123456789",
        )
        .await
        .expect("write");
    let started = Instant::now();
    let (text, in_time) = weir_tests::raw::read_head(&mut client, TIMEOUT).await;
    assert!(in_time, "weir answered in time");
    assert!(text.starts_with("http/1.1 400"), "{text}");
    assert!(text.contains("x-weir-error: bad-request-body"), "{text}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "{took:?}"
    );
}
