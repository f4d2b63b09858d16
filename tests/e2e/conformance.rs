//! `weir test` in-process: every example plugin passes the battery and its own cases, and every
//! fixture that must fail is caught with the right reason.

use std::path::PathBuf;

use weir::conformance::{self, Report, TestOptions};
use weir_tests::guests;

fn run(plugin: &str, config: &str, cases: &[&str]) -> Report {
    let options = TestOptions {
        config_json: (!config.is_empty()).then(|| config.to_owned()),
        cases: cases.iter().map(PathBuf::from).collect(),
        memory_limit_bytes: 8 << 20,
        ..TestOptions::new(PathBuf::from(plugin))
    };
    conformance::run(&options)
}

fn plugin_cases(dir: &str) -> String {
    format!("{}/../plugins/{dir}/cases.toml", env!("CARGO_MANIFEST_DIR"))
}

/// The first failure's reason, or a panic listing the report when nothing failed.
fn first_failure(report: &Report) -> String {
    let failure = report.checks.iter().find_map(|c| c.failure.as_ref());
    match failure {
        Some(f) => f.reason.clone(),
        None => panic!(
            "expected a failure:\n{}",
            report.render(conformance::Format::Human)
        ),
    }
}

macro_rules! plugin_passes {
    ($test:ident, $wasm:expr, $dir:literal) => {
        plugin_passes!($test, $wasm, $dir, 25);
    };
    ($test:ident, $wasm:expr, $dir:literal, $least:literal) => {
        #[test]
        fn $test() {
            let report = run($wasm, "", &[&plugin_cases($dir)]);
            assert_eq!(
                report.failed(),
                0,
                "{}",
                report.render(conformance::Format::Human)
            );
            assert!(report.passed() > $least, "the battery and the cases ran");
        }
    };
}

plugin_passes!(
    sni_router_passes_the_router_battery_and_its_cases,
    guests::SNI_ROUTER,
    "sni-router",
    15
);
plugin_passes!(
    socks4_router_passes_the_router_battery_and_its_cases,
    guests::SOCKS4_ROUTER,
    "socks4-router",
    15
);
plugin_passes!(
    git_router_passes_the_router_battery_and_its_cases,
    guests::GIT_ROUTER,
    "git-router",
    15
);
plugin_passes!(
    url_rewrite_passes_the_battery_and_its_cases,
    guests::URL_REWRITE,
    "url-rewrite"
);
plugin_passes!(
    headers_passes_the_battery_and_its_cases,
    guests::HEADERS,
    "headers"
);
plugin_passes!(
    cookies_passes_the_battery_and_its_cases,
    guests::COOKIES,
    "cookies"
);
plugin_passes!(
    router_passes_the_battery_and_its_cases,
    guests::ROUTER,
    "router"
);
plugin_passes!(deny_passes_the_battery_and_its_cases, guests::DENY, "deny");

#[test]
fn trapping_plugin_is_reported_with_its_panic_message_and_backtrace() {
    let reason = first_failure(&run(guests::MISBEHAVE, r#"{"fault":"trap"}"#, &[]));
    assert!(
        reason.starts_with("trapped: filter panicked: deliberate trap"),
        "{reason}"
    );
    assert!(reason.contains("wasm backtrace"), "{reason}");
}

#[test]
fn endless_loop_is_reported_as_deadline_exceeded() {
    let reason = first_failure(&run(guests::MISBEHAVE, r#"{"fault":"loop"}"#, &[]));
    assert_eq!(reason, "deadline exceeded (50 ms)");
}

#[test]
fn memory_hog_is_reported_as_memory_cap_exceeded() {
    let reason = first_failure(&run(guests::MISBEHAVE, r#"{"fault":"hog"}"#, &[]));
    assert_eq!(reason, "memory cap exceeded (8388608 bytes)");
}

#[test]
fn invalid_header_name_is_reported_as_an_invalid_edit() {
    let reason = first_failure(&run(
        guests::EDITS,
        r#"{"request":[["set-header","bad name","v"]]}"#,
        &[],
    ));
    assert_eq!(
        reason,
        "invalid edit: set-header: invalid name: `bad name` is not a header field name"
    );
}

#[test]
fn crlf_in_a_header_value_is_reported_as_an_invalid_edit() {
    let reason = first_failure(&run(
        guests::EDITS,
        r#"{"response":[["set-header","x-a","1\r\nx-b: 2"]]}"#,
        &[],
    ));
    assert!(
        reason.starts_with(
            "invalid edit: set-header: invalid value: header value contains byte 0x0d"
        ),
        "{reason}"
    );
}

#[test]
fn invalid_local_response_is_reported_as_an_invalid_verdict() {
    let reason = first_failure(&run(
        guests::EDITS,
        r#"{"request":[["respond",42,"x"]]}"#,
        &[],
    ));
    assert_eq!(
        reason,
        "invalid verdict: local response has status 42, which is not 200-599"
    );
}

#[test]
fn wrong_world_is_refused_before_anything_runs() {
    let report = run(guests::WRONG_WORLD, "{}", &[]);
    assert_eq!(report.checks.len(), 1, "nothing else can run");
    let reason = first_failure(&report);
    assert!(reason.starts_with("wrong world or version:"), "{reason}");
    assert!(reason.contains("weir:filter/filter@0.1.0"), "{reason}");
}

#[test]
fn host_function_weir_lacks_is_refused_before_anything_runs() {
    let report = run(guests::EXTRA_IMPORT, "{}", &[]);
    assert_eq!(report.checks.len(), 1, "nothing else can run");
    let reason = first_failure(&report);
    assert!(reason.starts_with("wrong world or version:"), "{reason}");
    assert!(
        reason.contains("`weir:filter/host@0.1.0#extra-feature`"),
        "{reason}"
    );
}

#[test]
fn init_rejecting_the_config_is_reported() {
    let reason = first_failure(&run(guests::URL_REWRITE, r#"{"rules":"nope"}"#, &[]));
    assert!(reason.starts_with("init rejected the config:"), "{reason}");
}

#[test]
fn pool_outside_the_given_list_fails() {
    let options = TestOptions {
        config_json: Some(r#"{"default_pool":"gamma"}"#.to_owned()),
        pools: Some(vec!["main".to_owned()]),
        ..TestOptions::new(PathBuf::from(guests::ROUTER))
    };
    let reason = first_failure(&conformance::run(&options));
    assert_eq!(
        reason,
        "selected pool `gamma`, which is not one of the given pools (main)"
    );
}

#[test]
fn failing_case_names_the_expectation_and_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.toml");
    std::fs::write(
        &cases,
        r#"config = '{"rules":[{"match":"^/old/(.*)$","replace":"/new/$1"}]}'
[[case]]
name = "wrong on purpose"
request = { path = "/old/x", authority = "app.test" }
expect = { path = "/newer/x" }
"#,
    )
    .unwrap();
    let report = run(guests::URL_REWRITE, "", &[cases.to_str().unwrap()]);
    assert_eq!(report.failed(), 1);
    let failed = report.checks.iter().find(|c| c.failure.is_some()).unwrap();
    assert_eq!(failed.name, "wrong on purpose");
    let failure = failed.failure.as_ref().unwrap();
    assert_eq!(
        failure.reason,
        "path: expected \"/newer/x\", got Some(\"/new/x\")"
    );
    assert_eq!(failure.input.as_deref(), Some("GET app.test/old/x"));
}

#[test]
fn malformed_case_file_is_reported_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("bad.toml");
    std::fs::write(&cases, "[[case]]\nname = \"x\"\nexpect = { pth = \"/\" }\n").unwrap();
    let report = run(
        guests::URL_REWRITE,
        r#"{"rules":[{"match":"^/a","replace":"/b"}]}"#,
        &[cases.to_str().unwrap()],
    );
    let reason = first_failure(&report);
    assert!(
        reason.contains("bad.toml:3: unknown field `pth`"),
        "{reason}"
    );
}

#[test]
fn a_faulting_stream_router_fails_the_battery_with_the_reason() {
    for (fault, reason) in [
        ("trap", "trapped"),
        ("loop", "deadline exceeded"),
        ("hog", "memory cap exceeded"),
        ("oversized", "invalid verdict"),
    ] {
        // A deadline well above the calls' cost on a loaded machine: only `loop` reaches it.
        let options = TestOptions {
            config_json: Some(format!("\"{fault}\"")),
            deadline: std::time::Duration::from_millis(200),
            memory_limit_bytes: 8 << 20,
            ..TestOptions::new(PathBuf::from(guests::STREAM_MISBEHAVE))
        };
        let report = conformance::run(&options);
        assert!(
            report.checks[0].name.contains("world stream-router"),
            "{}",
            report.checks[0].name
        );
        let failure = first_failure(&report);
        assert!(failure.contains(reason), "{fault}: {failure}");
    }
}

#[test]
fn a_router_case_that_expects_another_verdict_fails_naming_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = dir.path().join("cases.toml");
    std::fs::write(
        &cases,
        "config = '{\"routes\": [{\"prefix\": \"/\", \"pool\": \"p\"}]}'\n[[case]]\nname = \"wrong\"\ndata = \"0020git-upload-pack /secret.git\\u0000\"\nexpect = { verdict = \"close\" }\n",
    )
    .expect("write cases");
    let report = run(
        guests::GIT_ROUTER,
        "",
        &[cases.to_str().expect("utf-8 path")],
    );
    let failure = first_failure(&report);
    assert!(
        failure.contains("verdict is route, expected close"),
        "{failure}"
    );
}
