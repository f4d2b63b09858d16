//! Per-call budgets: a plugin that floods weir with legal edits, huge values or huge local
//! responses is refused past its filter's budgets, never panics a worker, and weir keeps
//! serving every other request.

use http::StatusCode;
use weir_tests::{Backend, guests};

use crate::support::{TestWeir, config};

/// A `[[filter]]` `flood` that floods on `/flood...` only, with `extra` keys.
/// The deadline is generous: the budgets, not the deadline, must stop these floods (tens of
/// thousands of host calls take longer than 50 ms in a debug build on a shared machine).
fn flood(json: &str, extra: &str) -> String {
    format!(
        "[[filter]]\nname = \"flood\"\nplugin = {:?}\nconfig_json = '{json}'\ndeadline_ms = 20000\n{extra}\n",
        guests::MISBEHAVE
    )
}

async fn start(backend: &Backend, json: &str, extra: &str) -> TestWeir {
    TestWeir::start(&config(backend.addr(), &[flood(json, extra)], &["flood"])).await
}

/// The guest's counter `name` (0 when it never added to it).
fn counter(weir: &TestWeir, name: &str) -> u64 {
    let state = weir.control().state();
    let plugin = state
        .plugins
        .iter()
        .find(|p| &*p.name == "flood")
        .expect("the filter is loaded");
    plugin.plugin.counters().get(name).copied().unwrap_or(0)
}

/// weir still serves a request the guest does not flood, edited by the guest.
async fn still_serves(weir: &TestWeir, backend: &Backend) {
    let ok = weir.get("app.test", "/fine").await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(backend.last().header("x-guest-ok"), "1");
}

#[tokio::test]
async fn thousands_of_distinct_headers_stop_at_the_field_limit() {
    let backend = Backend::start("a").await;
    let weir = start(
        &backend,
        r#"{"flood":"headers","count":40000,"path":"/flood"}"#,
        // Under the backend's own limit (hyper parses 100 fields at most).
        "max_header_count = 64",
    )
    .await;
    let res = weir.get("app.test", "/flood").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let seen = backend.last();
    assert_eq!(seen.header("x-flood-0"), "1");
    let flooded = seen
        .headers
        .keys()
        .filter(|k| k.as_str().starts_with("x-flood-"))
        .count();
    assert!(
        (50..64).contains(&flooded),
        "the request reached 64 fields at most (the forwarding headers come after): {flooded}"
    );
    assert_eq!(counter(&weir, "edits-accepted"), flooded as u64);
    assert_eq!(counter(&weir, "edits-refused"), 40_000 - flooded as u64);
    still_serves(&weir, &backend).await;
}

#[tokio::test]
async fn appending_thousands_of_values_stops_at_the_field_limit() {
    let backend = Backend::start("a").await;
    let weir = start(
        &backend,
        r#"{"flood":"appends","count":40000,"path":"/flood"}"#,
        "max_header_count = 64",
    )
    .await;
    let res = weir.get("app.test", "/flood").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let values = backend.last().headers.get_all("x-flood").iter().count();
    assert!((50..64).contains(&values), "{values} values");
    assert_eq!(counter(&weir, "edits-refused"), 40_000 - values as u64);
    still_serves(&weir, &backend).await;
}

#[tokio::test]
async fn a_huge_header_value_is_refused_by_the_header_byte_budget() {
    let backend = Backend::start("a").await;
    let weir = start(
        &backend,
        r#"{"flood":"huge_value","bytes":4194304,"path":"/flood"}"#,
        "",
    )
    .await;
    let res = weir.get("app.test", "/flood").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        backend.last().header("x-flood"),
        "",
        "the value was refused"
    );
    assert_eq!(counter(&weir, "edits-refused"), 1);
    still_serves(&weir, &backend).await;
}

#[tokio::test]
async fn header_bytes_under_a_raised_budget_are_accepted() {
    let backend = Backend::start("a").await;
    let weir = start(
        &backend,
        r#"{"flood":"huge_value","bytes":100000,"path":"/flood"}"#,
        "max_header_bytes_per_call = 200000",
    )
    .await;
    let res = weir.get("app.test", "/flood").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(backend.last().header("x-flood").len(), 100_000);
}

#[tokio::test]
async fn thousands_of_edits_stop_at_the_edit_budget() {
    let backend = Backend::start("a").await;
    let weir = start(
        &backend,
        r#"{"flood":"edits","count":100000,"path":"/flood"}"#,
        "max_edits_per_call = 10",
    )
    .await;
    let res = weir.get("app.test", "/flood").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        backend.last().path,
        "/flood/9",
        "the tenth edit was the last one applied"
    );
    assert_eq!(counter(&weir, "edits-accepted"), 10);
    assert_eq!(counter(&weir, "edits-refused"), 99_990);
    // The budget is per call: the next flooded request gets ten edits again.
    weir.get("app.test", "/flood").await;
    assert_eq!(counter(&weir, "edits-accepted"), 20);
    still_serves(&weir, &backend).await;
}

/// Has the guest answer `/flood` with the local response `flood` describes, and checks that weir
/// refuses it as a 500 `invalid-verdict` saying `reason`, that nothing reached the backend, and
/// that weir keeps serving.
async fn assert_local_flood_refused(flood: &str, reason: &str) {
    let backend = Backend::start("a").await;
    let weir = start(&backend, flood, "").await;
    let res = weir.get("app.test", "/flood").await;
    assert_eq!(
        res.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        res.body
    );
    assert_eq!(res.header("x-weir-error"), "invalid-verdict");
    assert!(res.body.contains(reason), "{}", res.body);
    assert_eq!(backend.count(), 0, "nothing reached the backend");
    still_serves(&weir, &backend).await;
}

#[tokio::test]
async fn a_huge_local_response_body_is_an_invalid_verdict() {
    assert_local_flood_refused(
        r#"{"flood":"local_body","bytes":4194304,"path":"/flood"}"#,
        "filter `flood` returned an invalid verdict: local response body is 4194304 bytes, over the filter's limit of 1048576",
    )
    .await;
}

#[tokio::test]
async fn a_local_response_with_thousands_of_headers_is_an_invalid_verdict() {
    assert_local_flood_refused(
        r#"{"flood":"local_headers","count":40000,"path":"/flood"}"#,
        "40000 header fields",
    )
    .await;
}
