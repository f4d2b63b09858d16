//! Active health checks (`[pool.health_check]`) against real backends on loopback: a backend
//! whose probes fail gets no traffic and gets it back when they pass again, a closed port and an
//! untrusted certificate are marked down, a pool with every backend down answers 503 at once,
//! and a reload never leaves a pool with two checkers or an old checker running.

use std::sync::Arc;
use std::time::{Duration, Instant};

use weir::upstream::BackendPool;
use weir::upstream::health::Probed;
use weir_tests::tls::{Pki, server_config};
use weir_tests::{Backend, Behaviour, HealthSwitch, closed_port};

use crate::support::{TIMEOUT, TestWeir, runtime_table};

const HEALTH: &str = "/healthz";

/// A config with one pool `main` on `backends` (with `pool_keys`), checked with `check_keys`
/// (the body of `[pool.health_check]`), and one route to it.
fn checked_pool(backends: &[String], pool_keys: &str, check_keys: &str) -> String {
    let backends: Vec<String> = backends.iter().map(|b| format!("{b:?}")).collect();
    format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\n\n[[pool]]\nname = \"main\"\nbackends = [{}]\n{pool_keys}\n[pool.health_check]\n{check_keys}\n\n[[route]]\npool = \"main\"\n",
        runtime_table(),
        backends.join(", ")
    )
}

/// Probes every 100 ms; down after 3 failures, up after 2 successes.
const FAST_CHECK: &str = "path = \"/healthz\"\ninterval_ms = 100\ntimeout_ms = 80\nhealthy_threshold = 2\nunhealthy_threshold = 3";

fn pool(weir: &TestWeir) -> Arc<BackendPool> {
    weir.control()
        .state()
        .pools
        .get("main")
        .expect("pool main exists")
        .clone()
}

/// Waits (bounded by the suite's timeout) until backend `index` of `main` has the verdict.
async fn wait_probed(weir: &TestWeir, index: usize, wanted: Probed) {
    let pool = pool(weir);
    let backend = &pool.backends()[index];
    let reached = tokio::time::timeout(TIMEOUT, async {
        while backend.health().probed() != wanted {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        reached.is_ok(),
        "backend {} never became {wanted:?} (now {:?}, {} probes, {} failed)",
        backend.authority,
        backend.health().probed(),
        backend.probes().sent(),
        backend.probes().failed()
    );
}

/// Sends `n` requests for `/x`, each expected to succeed.
async fn send_ok(weir: &TestWeir, n: usize) {
    for _ in 0..n {
        let got = weir.get("app.test", "/x").await;
        assert_eq!(got.status, 200, "{}", got.body);
    }
}

#[tokio::test]
async fn a_backend_failing_its_checks_gets_no_traffic_until_they_pass_again() {
    let switch = HealthSwitch::new(HEALTH);
    let flaky = Backend::start_with("flaky", Behaviour::Health(switch.clone())).await;
    let steady = Backend::start("steady").await;
    let backends = [flaky.addr().to_string(), steady.addr().to_string()];
    let weir = TestWeir::start(&checked_pool(&backends, "", FAST_CHECK)).await;
    wait_probed(&weir, 0, Probed::Healthy).await;
    wait_probed(&weir, 1, Probed::Healthy).await;
    send_ok(&weir, 4).await;
    assert!(flaky.count_path("/x") > 0, "both backends take traffic");

    switch.set(503);
    wait_probed(&weir, 0, Probed::Unhealthy).await;
    let probes = pool(&weir).backends()[0].probes().failed();
    assert!(probes >= 3, "down only after 3 failed probes, not {probes}");
    let before = flaky.count_path("/x");
    send_ok(&weir, 20).await;
    assert_eq!(
        flaky.count_path("/x"),
        before,
        "no request to a down backend"
    );

    switch.set(200);
    let sent = pool(&weir).backends()[0].probes().sent();
    wait_probed(&weir, 0, Probed::Healthy).await;
    let good = pool(&weir).backends()[0].probes().sent() - sent;
    assert!(good >= 2, "up only after 2 good probes, not {good}");
    send_ok(&weir, 20).await;
    assert!(
        flaky.count_path("/x") >= before + 5,
        "traffic returns to the recovered backend"
    );
    // Probes carry the pool's method, path and a recognisable User-Agent.
    let probe = flaky
        .requests()
        .into_iter()
        .find(|r| r.path == HEALTH)
        .expect("a probe arrived");
    assert_eq!(probe.method, "GET");
    assert!(probe.header("user-agent").contains("health-check"));
    assert_eq!(probe.header("host"), flaky.addr().to_string());
    weir.stop().await;
}

#[tokio::test]
async fn a_backend_whose_port_is_closed_is_marked_down_by_probes() {
    let up = Backend::start("up").await;
    let closed = closed_port().await;
    let backends = [up.addr().to_string(), closed.to_string()];
    // Passive ejection is off, and no request is sent before the check: only probes decide.
    let weir = TestWeir::start(&checked_pool(
        &backends,
        "eject_after_connect_errors = 0",
        FAST_CHECK,
    ))
    .await;
    wait_probed(&weir, 1, Probed::Unhealthy).await;
    assert_eq!(pool(&weir).backends()[0].health().probed(), Probed::Healthy);
    assert!(pool(&weir).backends()[1].probes().failed() >= 3);
    // The admin report shows the verdict and the counts.
    let report = pool(&weir).report();
    assert_eq!(report["backends"][1]["state"], "down");
    assert_eq!(report["backends"][1]["probed"], "unhealthy");
    assert!(report["backends"][1]["probes_failed_total"].as_u64() >= Some(3));
    send_ok(&weir, 20).await;
    assert_eq!(
        up.count_path("/x"),
        20,
        "every request went to the live backend"
    );
    weir.stop().await;
}

#[tokio::test]
async fn with_every_backend_down_requests_get_503_at_once() {
    let switch = HealthSwitch::new(HEALTH);
    switch.set(500);
    let failing = Backend::start_with("failing", Behaviour::Health(switch.clone())).await;
    let closed = closed_port().await;
    let backends = [failing.addr().to_string(), closed.to_string()];
    let weir = TestWeir::start(&checked_pool(
        &backends,
        "connect_timeout_ms = 10000",
        FAST_CHECK,
    ))
    .await;
    wait_probed(&weir, 0, Probed::Unhealthy).await;
    wait_probed(&weir, 1, Probed::Unhealthy).await;
    let started = Instant::now();
    let got = weir.get("app.test", "/x").await;
    // Far below the connect timeout: no backend was tried.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered at once"
    );
    assert_eq!(got.status, 503, "{}", got.body);
    assert_eq!(got.header("x-weir-error"), "no-usable-backend");
    assert_eq!(failing.count_path("/x"), 0);

    // One backend passes again: it serves.
    switch.set(200);
    wait_probed(&weir, 0, Probed::Healthy).await;
    send_ok(&weir, 3).await;
    assert_eq!(failing.count_path("/x"), 3);
    weir.stop().await;
}

#[tokio::test]
async fn probes_reach_https_backends_over_verified_tls_and_h2() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "probes");
    let stranger = Pki::new(dir.path(), "stranger");
    let trusted = Backend::start_tls(
        "trusted",
        server_config(&pki.server("trusted", &["localhost"])),
    )
    .await;
    let untrusted = Backend::start_tls(
        "untrusted",
        server_config(&stranger.server("untrusted", &["localhost"])),
    )
    .await;
    let backends = [
        format!("https://localhost:{}", trusted.addr().port()),
        format!("https://localhost:{}", untrusted.addr().port()),
    ];
    let pool_keys = format!(
        "tls_ca_file = {:?}\neject_after_connect_errors = 0",
        pki.ca_file("probes").display().to_string()
    );
    // TLS handshakes of a debug build on a busy machine: a roomier timeout.
    let check = "path = \"/healthz\"\ninterval_ms = 200\ntimeout_ms = 150\nunhealthy_threshold = 2";
    let weir = TestWeir::start(&checked_pool(&backends, &pool_keys, check)).await;
    wait_probed(&weir, 0, Probed::Healthy).await;
    wait_probed(&weir, 1, Probed::Unhealthy).await;
    let probe = trusted
        .requests()
        .into_iter()
        .find(|r| r.path == HEALTH)
        .expect("a probe arrived over TLS");
    assert_eq!(probe.version, http::Version::HTTP_2, "ALPN h2, as requests");
    assert_eq!(
        untrusted.count(),
        0,
        "the handshake failed: nothing was sent"
    );
    send_ok(&weir, 10).await;
    assert_eq!(trusted.count_path("/x"), 10);
    weir.stop().await;
}

/// Waits (bounded) until `backend` saw at least `n` requests for `path`.
async fn wait_path(backend: &Backend, path: &str, n: usize) {
    let reached = tokio::time::timeout(TIMEOUT, async {
        while backend.count_path(path) < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(reached.is_ok(), "{path} never reached {n} probes");
}

#[tokio::test]
async fn a_reload_keeps_one_checker_per_pool_and_ends_a_replaced_pools_checker() {
    let backend = Backend::start("origin").await;
    let backends = [backend.addr().to_string()];
    let check = |path: &str| format!("path = {path:?}\ninterval_ms = 50\ntimeout_ms = 40");
    let first = checked_pool(&backends, "", &check("/one"));
    let weir = TestWeir::start(&first).await;
    wait_path(&backend, "/one", 2).await;

    // The same settings: the pool and its one checker are kept.
    let kept = pool(&weir);
    let parse = |text: &str| weir::config::parse(text, "test.toml", std::path::Path::new("/"));
    weir.control().reload(parse(&first).unwrap()).await.unwrap();
    assert!(
        Arc::ptr_eq(&kept, &pool(&weir)),
        "the pool was carried over"
    );
    // Ten probes take at least nine intervals with one checker, half that with two.
    let from = backend.count_path("/one");
    let started = Instant::now();
    wait_path(&backend, "/one", from + 10).await;
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "one checker: 10 probes took only {:?}",
        started.elapsed()
    );
    drop(kept);

    // New settings: a new pool with its own checker; the old one stops.
    let second = checked_pool(&backends, "", &check("/two"));
    weir.control()
        .reload(parse(&second).unwrap())
        .await
        .unwrap();
    // Two intervals after the new pool's first probe, the old checker has seen its pool gone.
    wait_path(&backend, "/two", 3).await;
    let old = backend.count_path("/one");
    wait_path(&backend, "/two", 7).await;
    assert_eq!(backend.count_path("/one"), old, "the old checker ended");
    weir.stop().await;
}
