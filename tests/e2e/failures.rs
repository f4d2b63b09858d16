//! Failure policies: a plugin that traps, loops forever or eats memory costs the request it was
//! handling (fail-closed) or is skipped (fail-open), its instance is replaced, and every other
//! request is unaffected.

use std::time::{Duration, Instant};

use http::StatusCode;
use weir_tests::{Backend, guests};

use crate::support::{TestWeir, config, runtime_table, start_error};

/// A `[[filter]]` named after its `fault` (`trap`, `loop` or `hog`) that misbehaves on
/// `/boom...` only.
fn guarded(fault: &str, extra: &str) -> String {
    format!(
        "[[filter]]\nname = {fault:?}\nplugin = {:?}\nconfig_json = '{{\"fault\":{fault:?},\"when\":\"request\",\"path\":\"/boom\"}}'\n{extra}\n",
        guests::MISBEHAVE
    )
}

async fn assert_fails_closed(weir: &TestWeir, backend: &Backend, reason: &str) {
    for round in 0..3 {
        let res = weir.get("app.test", "/boom").await;
        assert_eq!(
            res.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "round {round}: {}",
            res.body
        );
        assert_eq!(res.header("x-weir-error"), "filter-failed");
        assert!(res.body.contains(reason), "round {round}: {}", res.body);
        // The next request gets a healthy instance and reaches the backend, edited.
        let ok = weir.get("app.test", "/fine").await;
        assert_eq!(ok.status, StatusCode::OK, "round {round}: {}", ok.body);
        assert_eq!(backend.last().header("x-guest-ok"), "1");
    }
    assert_eq!(
        backend.count(),
        3,
        "failed requests never reach the backend"
    );
}

#[tokio::test]
async fn trapping_filter_fails_closed_and_other_requests_are_unaffected() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&config(backend.addr(), &[guarded("trap", "")], &["trap"])).await;
    assert_fails_closed(&weir, &backend, "filter `trap` failed: trapped").await;
}

#[tokio::test]
async fn endless_loop_is_interrupted_at_the_deadline() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&config(
        backend.addr(),
        &[guarded("loop", "deadline_ms = 20")],
        &["loop"],
    ))
    .await;
    let started = Instant::now();
    assert_fails_closed(&weir, &backend, "deadline exceeded").await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "three interrupted loops took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn memory_hog_is_stopped_at_its_cap() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&config(
        backend.addr(),
        &[guarded("hog", "memory_limit_bytes = 8388608")],
        &["hog"],
    ))
    .await;
    assert_fails_closed(&weir, &backend, "memory cap exceeded").await;
}

#[tokio::test]
async fn fail_open_skips_the_faulty_filter() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&config(
        backend.addr(),
        &[guarded("trap", "failure = \"fail-open\"")],
        &["trap"],
    ))
    .await;
    let res = weir.get("app.test", "/boom").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(backend.last().path, "/boom");
    assert_eq!(
        backend.last().header("x-guest-ok"),
        "",
        "the skipped filter's edits are not applied"
    );
}

#[tokio::test]
async fn per_request_isolation_serves_and_replaces_every_instance() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&config(
        backend.addr(),
        &[guarded("trap", "isolation = \"per-request\"")],
        &["trap"],
    ))
    .await;
    assert_fails_closed(&weir, &backend, "trapped").await;
}

#[tokio::test]
async fn filter_trapping_in_init_stops_the_start() {
    let toml = format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\n[[pool]]\nname = \"main\"\nbackends = [\"127.0.0.1:9\"]\n[[filter]]\nname = \"trap\"\nplugin = {:?}\nconfig_json = '{{\"fault\":\"trap\",\"when\":\"init\"}}'\n[[route]]\npool = \"main\"\nfilters = [\"trap\"]\n",
        runtime_table(),
        guests::MISBEHAVE
    );
    let err = start_error(&toml).await;
    assert!(
        err.contains("filter `trap` cannot start an instance: trapped"),
        "{err}"
    );
}
