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
        // A deadline far beyond the time growing 8 MiB takes, so that on a loaded machine the
        // memory cap, not the clock, is what stops the hog.
        &[guarded(
            "hog",
            "memory_limit_bytes = 8388608\ndeadline_ms = 5000",
        )],
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

/// The plugin of the filter `name` and its counter `calls` (hook calls it received).
fn calls(weir: &TestWeir, name: &str) -> u64 {
    let state = weir.control().state();
    let loaded = state
        .plugins
        .iter()
        .find(|p| &*p.name == name)
        .expect("the filter is loaded");
    loaded.plugin.counters().get("calls").copied().unwrap_or(0)
}

fn breaker(weir: &TestWeir, name: &str) -> weir::metrics::BreakerSample {
    let state = weir.control().state();
    let loaded = state
        .plugins
        .iter()
        .find(|p| &*p.name == name)
        .expect("the filter is loaded");
    weir::filters::breaker_of(&loaded.plugin)
        .expect("a chain uses the filter")
        .sample()
}

#[tokio::test]
async fn breaker_takes_a_faulting_filter_out_of_service_then_retries_it() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&config(
        backend.addr(),
        &[guarded(
            "trap",
            "breaker_after_faults = 3\nbreaker_backoff_ms = 300",
        )],
        &["trap"],
    ))
    .await;
    for _ in 0..3 {
        let res = weir.get("app.test", "/boom").await;
        assert_eq!(res.header("x-weir-error"), "filter-failed", "{}", res.body);
    }
    assert_eq!(calls(&weir, "trap"), 3);
    // Open: every request that needs the filter is refused without calling it, even one it
    // would have let through.
    for _ in 0..5 {
        let res = weir.get("app.test", "/fine").await;
        assert_eq!(
            res.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{}",
            res.body
        );
        assert_eq!(res.header("x-weir-error"), "filter-unavailable");
        assert!(
            res.body
                .contains("filter `trap` is out of service after repeated faults"),
            "{}",
            res.body
        );
    }
    assert_eq!(
        calls(&weir, "trap"),
        3,
        "the plugin was not called while open"
    );
    assert_eq!(backend.count(), 0);
    let open = breaker(&weir, "trap");
    assert_eq!((open.state, open.trips, open.refused), (1, 1, 5));
    // After the back-off, one trial call goes through; its success closes the breaker.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = weir.get("app.test", "/fine").await;
        if res.status == StatusCode::OK {
            break;
        }
        assert_eq!(res.header("x-weir-error"), "filter-unavailable");
        assert!(Instant::now() < deadline, "the filter was never retried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(calls(&weir, "trap"), 4, "exactly one trial call");
    assert_eq!(backend.last().header("x-guest-ok"), "1");
    let ok = weir.get("app.test", "/fine").await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(breaker(&weir, "trap").state, 0, "closed again");
}

#[tokio::test]
async fn fail_open_filter_with_an_open_breaker_is_skipped_without_a_call() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&config(
        backend.addr(),
        &[guarded(
            "trap",
            "failure = \"fail-open\"\nbreaker_after_faults = 2\nbreaker_backoff_ms = 60000",
        )],
        &["trap"],
    ))
    .await;
    for _ in 0..2 {
        let res = weir.get("app.test", "/boom").await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    }
    let sample = breaker(&weir, "trap");
    assert_eq!(
        (sample.state, sample.trips),
        (1, 1),
        "the on-response successes did not hide the faults"
    );
    let res = weir.get("app.test", "/fine").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        backend.last().header("x-guest-ok"),
        "",
        "skipped, not called"
    );
    assert_eq!(calls(&weir, "trap"), 2);
    // Refused: the second /boom's on-response, then /fine's on-request and on-response.
    assert_eq!(breaker(&weir, "trap").refused, 3);
}

#[tokio::test]
async fn zero_breaker_faults_keeps_calling_a_faulting_filter() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&config(
        backend.addr(),
        &[guarded("trap", "breaker_after_faults = 0")],
        &["trap"],
    ))
    .await;
    for _ in 0..8 {
        let res = weir.get("app.test", "/boom").await;
        assert_eq!(res.header("x-weir-error"), "filter-failed", "{}", res.body);
    }
    assert_eq!(calls(&weir, "trap"), 8);
}
