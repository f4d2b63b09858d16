//! Every edit kind, through real weir, with the test-only `edits` guest: what the backend saw
//! and what the client got; refused edits are reported to the plugin and change nothing.

use http::StatusCode;
use weir_tests::{Backend, guests};

use crate::support::{TestWeir, config, filter, runtime_table};

async fn with_edits(backend: &Backend, config_json: &str) -> TestWeir {
    TestWeir::start(&config(
        backend.addr(),
        &[filter("edits", guests::EDITS, config_json)],
        &["edits"],
    ))
    .await
}

#[tokio::test]
async fn url_edits_change_what_the_backend_sees() {
    let backend = Backend::start("a").await;
    let weir = with_edits(
        &backend,
        r#"{"request":[["set-path","/rewritten/p"],["set-query","x=1&y=2"],["set-authority","internal.test:8080"]]}"#,
    )
    .await;
    weir.get("app.test", "/orig?drop=me").await;
    let seen = backend.last();
    assert_eq!(seen.path, "/rewritten/p");
    assert_eq!(seen.query.as_deref(), Some("x=1&y=2"));
    assert_eq!(seen.header("host"), "internal.test:8080");
    assert_eq!(seen.header("x-edit-error"), "");

    let backend = Backend::start("b").await;
    let weir = with_edits(&backend, r#"{"request":[["set-query",null]]}"#).await;
    weir.get("app.test", "/q?gone=1").await;
    assert_eq!(backend.last().query, None);
}

#[tokio::test]
async fn request_header_edits_set_append_and_remove() {
    let backend = Backend::start("a").await;
    let weir = with_edits(
        &backend,
        r#"{"request":[["set-header","x-set","new"],["append-header","x-multi","two"],["remove-header","x-gone"]]}"#,
    )
    .await;
    let req = weir
        .request("GET", "app.test", "/")
        .header("x-set", "old")
        .header("x-multi", "one")
        .header("x-gone", "bye")
        .body(Default::default())
        .unwrap();
    weir.send(req).await;
    let seen = backend.last();
    assert_eq!(seen.header("x-set"), "new");
    let multi: Vec<_> = seen
        .headers
        .get_all("x-multi")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(multi, ["one", "two"]);
    assert!(!seen.headers.contains_key("x-gone"));
}

#[tokio::test]
async fn cookie_edits_touch_only_the_named_cookie() {
    let backend = Backend::start("a").await;
    let weir = with_edits(
        &backend,
        r#"{"request":[["remove-cookie","tracking"],["set-cookie","lang","en"],["set-cookie","session","new"]]}"#,
    )
    .await;
    let req = weir
        .request("GET", "app.test", "/")
        .header("cookie", "session=old; tracking=abc; theme=dark")
        .body(Default::default())
        .unwrap();
    weir.send(req).await;
    assert_eq!(
        backend.last().header("cookie"),
        "session=new; theme=dark; lang=en"
    );
}

#[tokio::test]
async fn response_edits_change_status_headers_and_set_cookies() {
    let backend = Backend::start("a").await;
    let weir = with_edits(
        &backend,
        r#"{"response":[["set-status",203],["set-header","x-new","1"],["append-header","x-backend","extra"],["remove-header","content-type"],["secure-set-cookie","session"],["add-set-cookie","added","v"]]}"#,
    )
    .await;
    let res = weir.get("app.test", "/").await;
    assert_eq!(res.status, StatusCode::NON_AUTHORITATIVE_INFORMATION);
    assert_eq!(res.header("x-new"), "1");
    assert_eq!(res.header_all("x-backend"), ["a", "extra"]);
    assert_eq!(res.header("content-type"), "");
    assert_eq!(
        res.header_all("set-cookie"),
        [
            "session=abc; Path=/; Secure; HttpOnly",
            "theme=dark; Path=/; Max-Age=60",
            "added=v"
        ],
        "only the named Set-Cookie is rewritten; the others stay byte for byte"
    );
}

#[tokio::test]
async fn remove_set_cookie_drops_only_that_cookie() {
    let backend = Backend::start("a").await;
    let weir = with_edits(&backend, r#"{"response":[["remove-set-cookie","theme"]]}"#).await;
    let res = weir.get("app.test", "/").await;
    assert_eq!(res.header_all("set-cookie"), ["session=abc; Path=/"]);
}

#[tokio::test]
async fn respond_verdicts_answer_locally_from_either_hook() {
    let backend = Backend::start("a").await;
    let weir = with_edits(&backend, r#"{"request":[["respond",429,"slow down"]]}"#).await;
    let res = weir.get("app.test", "/").await;
    assert_eq!((res.status.as_u16(), res.body.as_str()), (429, "slow down"));
    assert_eq!(backend.count(), 0);

    let weir = with_edits(&backend, r#"{"response":[["respond",502,"hidden"]]}"#).await;
    let res = weir.get("app.test", "/").await;
    assert_eq!((res.status.as_u16(), res.body.as_str()), (502, "hidden"));
    assert_eq!(
        backend.count(),
        1,
        "the upstream was asked, its answer replaced"
    );
}

#[tokio::test]
async fn invalid_local_response_is_refused_with_500() {
    let backend = Backend::start("a").await;
    let weir = with_edits(&backend, r#"{"request":[["respond",99,"bad status"]]}"#).await;
    let res = weir.get("app.test", "/").await;
    assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(res.header("x-weir-error"), "invalid-verdict");
}

#[tokio::test]
async fn a_local_204_with_a_body_is_refused_with_500_and_without_one_sent() {
    let backend = Backend::start("a").await;
    let weir = with_edits(&backend, r#"{"request":[["respond",204,"a body"]]}"#).await;
    let res = weir.get("app.test", "/").await;
    assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(res.header("x-weir-error"), "invalid-verdict");

    let weir = with_edits(&backend, r#"{"request":[["respond",204,""]]}"#).await;
    let res = weir.get("app.test", "/").await;
    assert_eq!((res.status.as_u16(), res.body.as_str()), (204, ""));
    assert_eq!(backend.count(), 0);
}

#[tokio::test]
async fn refused_edits_are_reported_to_the_plugin_and_change_nothing() {
    let backend = Backend::start("a").await;
    let weir = with_edits(
        &backend,
        r#"{"request":[
            ["set-header","x-inject","a\r\nx-evil: 1"],
            ["set-header","bad name","v"],
            ["set-header","transfer-encoding","chunked"],
            ["set-header","host","evil.test"],
            ["set-header","proxy-authorization","Basic eA=="],
            ["set-path","no-slash"],
            ["set-cookie","c","has space"],
            ["select-backend","bad/pool"]
        ]}"#,
    )
    .await;
    weir.get("app.test", "/p").await;
    let seen = backend.last();
    let errors: Vec<String> = seen
        .headers
        .get_all("x-edit-error")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(errors.len(), 8, "{errors:#?}");
    for (error, op) in errors.iter().zip([
        "set-header",
        "set-header",
        "set-header",
        "set-header",
        "set-header",
        "set-path",
        "set-cookie",
        "select-backend",
    ]) {
        assert!(error.starts_with(op), "{error}");
    }
    assert!(!seen.headers.contains_key("x-inject") && !seen.headers.contains_key("x-evil"));
    assert_eq!(seen.header("host"), "app.test");
    assert_eq!(seen.path, "/p");
}

#[tokio::test]
async fn select_backend_sends_the_request_to_the_named_pool() {
    let main = Backend::start("main").await;
    let other = Backend::start("other").await;
    let toml = format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\n[[pool]]\nname = \"main\"\nbackends = [\"{}\"]\n[[pool]]\nname = \"other\"\nbackends = [\"{}\"]\n{}\n[[route]]\npool = \"main\"\nfilters = [\"edits\"]\n",
        runtime_table(),
        main.addr(),
        other.addr(),
        filter(
            "edits",
            guests::EDITS,
            r#"{"request":[["select-backend","other","user-1"]]}"#
        )
    );
    let weir = TestWeir::start(&toml).await;
    assert_eq!(weir.get("app.test", "/").await.header("x-backend"), "other");
    assert_eq!((main.count(), other.count()), (0, 1));
}

#[tokio::test]
async fn chain_runs_request_hooks_in_order_and_response_hooks_in_reverse() {
    let backend = Backend::start("a").await;
    let first = filter(
        "first",
        guests::EDITS,
        r#"{"request":[["set-header","x-a","1"]],"response":[["set-header","x-order","first"]]}"#,
    );
    let second = filter(
        "second",
        guests::EDITS,
        r#"{"request":[["remove-header","x-a"],["set-header","x-b","2"]],"response":[["set-header","x-order","second"]]}"#,
    );
    let weir = TestWeir::start(&config(
        backend.addr(),
        &[first, second],
        &["first", "second"],
    ))
    .await;
    let res = weir.get("app.test", "/").await;
    let seen = backend.last();
    assert!(
        !seen.headers.contains_key("x-a"),
        "the second filter saw the first one's edit"
    );
    assert_eq!(seen.header("x-b"), "2");
    assert_eq!(
        res.header("x-order"),
        "first",
        "response hooks ran second, then first"
    );
}

/// A filter table for the `edits` guest with `isolation = "per-request"`.
fn isolated(name: &str, config_json: &str) -> String {
    filter(name, guests::EDITS, config_json) + "isolation = \"per-request\"\n"
}

#[tokio::test]
async fn context_reaches_each_filters_on_response_under_per_request_isolation() {
    let backend = Backend::start("a").await;
    let a = isolated(
        "a",
        r#"{"request":[["set-context","k","from-a"]],"response":[["show-context","k","x-ctx-a"],["show-instance"]]}"#,
    );
    let b = isolated(
        "b",
        r#"{"request":[["set-context","k","from-b"]],"response":[["show-context","k","x-ctx-b"],["show-instance"]]}"#,
    );
    let reader = isolated(
        "reader",
        r#"{"response":[["show-context","k","x-ctx-reader"],["show-instance"]]}"#,
    );
    let weir = TestWeir::start(&config(
        backend.addr(),
        &[a, b, reader],
        &["a", "b", "reader"],
    ))
    .await;
    for round in 0..3 {
        let res = weir.get("app.test", "/").await;
        assert_eq!(res.status, StatusCode::OK, "round {round}: {}", res.body);
        assert_eq!(res.header("x-ctx-a"), "from-a", "round {round}");
        assert_eq!(res.header("x-ctx-b"), "from-b", "round {round}");
        assert_eq!(
            res.header("x-ctx-reader"),
            "none",
            "a filter sees only its own context"
        );
        assert_eq!(
            res.header_all("x-instance-requests"),
            ["0", "0", "0"],
            "every on-response ran on an instance that did not see the request"
        );
    }
    let seen = backend.last();
    assert_eq!(seen.header("x-edit-error"), "");
    assert!(
        seen.headers
            .keys()
            .all(|name| !name.as_str().contains("ctx")),
        "the context is not sent upstream"
    );
}

#[tokio::test]
async fn context_past_its_limit_is_refused_as_an_invalid_edit() {
    let backend = Backend::start("a").await;
    let weir = with_edits(
        &backend,
        r#"{"request":[["set-context","small","ok"],["set-context","big","x",5000],["set-context","bad key","x"]],"response":[["show-context","big","x-big"],["show-context","small","x-small"]]}"#,
    )
    .await;
    let res = weir.get("app.test", "/").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let errors: Vec<String> = backend
        .last()
        .headers
        .get_all("x-edit-error")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("set-context: forbidden edit: context limit reached"),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with("set-context: invalid name: `bad key` is not a context key"),
        "{errors:?}"
    );
    assert_eq!(res.header("x-big"), "none", "a refused value is not kept");
    assert_eq!(res.header("x-small"), "ok");
}

#[test]
fn weir_test_carries_the_context_to_on_response_and_reports_overflow_as_an_invalid_edit() {
    use std::path::PathBuf;

    use weir::conformance::{self, TestOptions};

    let run = |config: &str, cases: Vec<PathBuf>| {
        conformance::run(&TestOptions {
            config_json: Some(config.to_owned()),
            cases,
            ..TestOptions::new(PathBuf::from(guests::EDITS))
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.toml");
    std::fs::write(
        &cases,
        "[[case]]\nname = \"the context set on request is read on response\"\nresponse = { status = 200 }\nexpect = { response_headers = { x-k = \"v\" } }\n",
    )
    .unwrap();
    let good = run(
        r#"{"request":[["set-context","k","v"]],"response":[["show-context","k","x-k"]]}"#,
        vec![cases],
    );
    assert_eq!(
        good.failed(),
        0,
        "{}",
        good.render(conformance::Format::Human)
    );

    let overflow = run(
        r#"{"request":[["set-context","big","x",5000]]}"#,
        Vec::new(),
    );
    let reason = overflow
        .checks
        .iter()
        .find_map(|c| c.failure.as_ref())
        .map(|f| f.reason.clone())
        .unwrap_or_default();
    assert!(
        reason.starts_with("invalid edit: set-context: forbidden: context limit reached"),
        "{reason:?}"
    );
}
