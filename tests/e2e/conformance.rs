//! `weir test` in-process: every example plugin passes the battery and its own cases with no
//! warning (and its README quotes the true counts), and every fixture that must fail is caught
//! by the check meant for it, with the right reason.

use std::path::PathBuf;
use std::time::Duration;

use weir::conformance::{self, Report, TestOptions};
use weir_tests::guests;

/// Runs `weir test` with an 8 MiB memory cap and a 1 s deadline: the battery makes about 1500
/// calls, and these tests check what is reported, not how fast a debug build on a shared
/// machine makes them (the deadline tests set their own).
fn run(plugin: &str, config: &str, cases: &[&str]) -> Report {
    conformance::run(&options(plugin, config, cases))
}

fn options(plugin: &str, config: &str, cases: &[&str]) -> TestOptions {
    TestOptions {
        config_json: (!config.is_empty()).then(|| config.to_owned()),
        cases: cases.iter().map(PathBuf::from).collect(),
        memory_limit_bytes: 8 << 20,
        deadline: Duration::from_secs(1),
        ..TestOptions::new(PathBuf::from(plugin))
    }
}

fn plugin_cases(dir: &str) -> String {
    format!("{}/../plugins/{dir}/cases.toml", env!("CARGO_MANIFEST_DIR"))
}

/// The first failure's reason, or a panic listing the report when nothing failed.
fn first_failure(report: &Report) -> String {
    failed_check(report).1
}

/// The name and reason of the first failed check, or a panic listing the report.
fn failed_check(report: &Report) -> (String, String) {
    let failed = report.checks.iter().find(|c| c.failure.is_some());
    match failed.and_then(|c| c.failure.as_ref().map(|f| (c, f))) {
        Some((check, f)) => (check.name.clone(), f.reason.clone()),
        None => panic!(
            "expected a failure:\n{}",
            report.render(conformance::Format::Human)
        ),
    }
}

/// The check named `name` (exactly, or by prefix).
fn check<'r>(report: &'r Report, name: &str) -> &'r conformance::Check {
    report
        .checks
        .iter()
        .find(|c| c.name.starts_with(name))
        .unwrap_or_else(|| panic!("no check `{name}`"))
}

/// Checks a plugin's README quotes the counts `weir test` really reports for its cases, and
/// docs/conformance.md the battery's size.
fn assert_counts_are_quoted(dir: &str, report: &Report) {
    let battery = report
        .checks
        .iter()
        .filter(|c| c.group == "battery")
        .count();
    let cases = report.checks.len() - battery;
    let readme = format!("{}/../plugins/{dir}/README.md", env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(readme).expect("every example plugin has a README");
    let quoted = format!(
        "The last line is `{} passed, 0 failed` ({battery} battery checks, {cases} cases)",
        report.passed()
    );
    assert!(
        readme.contains(&quoted),
        "plugins/{dir}/README.md must say: {quoted}"
    );
    let docs = format!("{}/../docs/conformance.md", env!("CARGO_MANIFEST_DIR"));
    let docs = std::fs::read_to_string(docs).expect("docs/conformance.md exists");
    // The sample reports: the battery and two cases, one failing.
    for quoted in [
        format!("Every plugin gets the same {battery} checks"),
        format!("{} passed, 1 failed", battery + 1),
        format!("\"passed\": {},", battery + 1),
        format!("tests=\"{}\" failures=\"1\"", battery + 2),
        format!("<testsuite name=\"battery\" tests=\"{battery}\""),
        format!("1..{}\n", battery + 2),
        format!("not ok {} - cases.toml: wrong on purpose", battery + 2),
    ] {
        assert!(
            docs.contains(&quoted),
            "docs/conformance.md must say: {quoted}"
        );
    }
}

macro_rules! plugin_passes {
    // An HTTP filter: the full battery, and the counts its README and the docs quote.
    ($test:ident, $wasm:expr, $dir:literal) => {
        plugin_passes!($test, $wasm, $dir, 50, true);
    };
    // A stream router: its own, smaller battery.
    ($test:ident, $wasm:expr, $dir:literal, $least:literal) => {
        plugin_passes!($test, $wasm, $dir, $least, false);
    };
    ($test:ident, $wasm:expr, $dir:literal, $least:literal, $quoted:literal) => {
        #[test]
        fn $test() {
            let report = run($wasm, "", &[&plugin_cases($dir)]);
            let text = report.render(conformance::Format::Human);
            assert_eq!(report.failed(), 0, "{text}");
            assert_eq!(
                report.warnings(),
                0,
                "a good plugin raises no warning:\n{text}"
            );
            assert!(report.passed() > $least, "the battery and the cases ran");
            if $quoted {
                assert_counts_are_quoted($dir, &report);
            }
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
    let options = TestOptions {
        deadline: Duration::from_millis(50),
        ..options(guests::MISBEHAVE, r#"{"fault":"loop"}"#, &[])
    };
    let reason = first_failure(&conformance::run(&options));
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
        pools: Some(vec!["main".to_owned()]),
        ..options(guests::ROUTER, r#"{"default_pool":"gamma"}"#, &[])
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
        "path: expected \"/newer/x\", got \"/new/x\""
    );
    assert_eq!(failure.input.as_deref(), Some("GET app.test/old/x"));
}

#[test]
fn case_file_errors_are_reported_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[case]]\nname = \"x\"\nexpect = { pth = \"/\" }\n").unwrap();
    // The next file's config is one the plugin refuses: only the typo must be reported.
    let refused = dir.path().join("refused.toml");
    std::fs::write(&refused, "config = '{\"rules\":\"nope\"}'\n").unwrap();
    let report = run(
        guests::URL_REWRITE,
        "",
        &[bad.to_str().unwrap(), refused.to_str().unwrap()],
    );
    assert_eq!(report.checks.len(), 1, "nothing runs");
    let (name, reason) = failed_check(&report);
    assert_eq!(name, "case file is valid");
    assert!(
        reason.contains("bad.toml:3: unknown field `pth`"),
        "{reason}"
    );
}

#[test]
fn history_dependence_names_the_first_input_whose_result_changed() {
    let report = run(guests::STATEFUL, r#"{"mode":"previous"}"#, &[]);
    let (name, reason) = failed_check(&report);
    assert!(
        name.starts_with("a warm instance gives each input"),
        "{name}"
    );
    assert!(
        reason.starts_with("the result depends on earlier requests: on a warm instance that had served 1 input before it (the last: GET /)"),
        "{reason}"
    );
    assert!(
        reason.contains(r#"edits ["set-header x-previous /"]"#),
        "{reason}"
    );
    assert!(
        reason.contains(r#"a fresh instance gives continue, edits ["set-header x-previous none"]"#),
        "{reason}"
    );
}

#[test]
fn a_pool_that_follows_earlier_requests_is_a_warning_not_a_failure() {
    let report = run(guests::STATEFUL, r#"{"mode":"round-robin"}"#, &[]);
    let text = report.render(conformance::Format::Human);
    assert_eq!(report.failed(), 0, "{text}");
    let warning = check(&report, "a warm instance gives each input")
        .warning
        .as_deref()
        .unwrap_or_else(|| panic!("a warning:\n{text}"));
    assert!(
        warning.starts_with("the selected pool depends on earlier requests"),
        "{warning}"
    );
}

#[test]
fn on_response_relying_on_state_from_its_on_request_is_reported() {
    let report = run(guests::STATEFUL, r#"{"mode":"carry"}"#, &[]);
    let (name, reason) = failed_check(&report);
    assert_eq!(
        name,
        "on-response gives the same result on an instance that did not see the request"
    );
    assert!(
        reason.contains(
            r#"on the same instance it gives continue, edits ["set-header x-request-path /"]"#
        ),
        "{reason}"
    );
    assert!(reason.contains("x-request-path unknown"), "{reason}");
}

#[test]
fn a_response_result_that_differs_between_fresh_instances_is_reported() {
    let report = run(guests::STATEFUL, r#"{"mode":"clock"}"#, &[]);
    let (name, reason) = failed_check(&report);
    assert_eq!(
        name,
        "the same response gives the same result from a fresh instance"
    );
    assert!(
        reason.starts_with("results differ: first continue, edits [\"set-header x-clock "),
        "{reason}"
    );
}

#[test]
fn memory_that_grows_with_every_call_is_reported_as_a_leak() {
    let report = run(guests::STATEFUL, r#"{"mode":"leak","bytes":1024}"#, &[]);
    let (name, reason) = failed_check(&report);
    assert!(
        name.starts_with("memory levels off over a long run"),
        "{name}"
    );
    assert!(
        reason.starts_with("memory grows with every quarter of the run: "),
        "{reason}"
    );
    assert!(reason.contains("a leak"), "{reason}");
}

#[test]
fn a_leak_is_reported_when_the_proxy_would_replace_the_instance_for_it() {
    let report = run(guests::STATEFUL, r#"{"mode":"leak","bytes":65536}"#, &[]);
    let (name, reason) = failed_check(&report);
    assert!(
        name.starts_with("memory levels off over a long run"),
        "{name}"
    );
    assert!(
        reason.starts_with(
            "the instance's memory passed half its cap (4194304 of 8388608 bytes) after "
        ),
        "{reason}"
    );
}

#[test]
fn a_plugin_that_accepts_a_config_that_is_not_json_gets_a_warning() {
    let report = run(guests::STATEFUL, "{}", &[]);
    let text = report.render(conformance::Format::Human);
    assert_eq!(report.failed(), 0, "{text}");
    assert_eq!(report.warnings(), 1, "{text}");
    let warning = check(&report, "init refuses a malformed config")
        .warning
        .clone()
        .unwrap();
    assert!(
        warning.starts_with(r#"init accepted "{not json", which is not JSON"#),
        "{warning}"
    );
    assert!(text.ends_with("passed, 0 failed, 1 warning\n"), "{text}");
}

#[test]
fn dot_segments_in_an_edited_path_are_flagged() {
    let report = run(guests::STATEFUL, r#"{"mode":"dot-path"}"#, &[]);
    let (name, reason) = failed_check(&report);
    assert_eq!(name, "on-request handles no headers at all");
    assert_eq!(
        reason,
        "dot segments in an edited path: set-path /static/../ has dot segments; weir sends /. \
         A plugin that puts `.` or `..` in a path usually joins text it does not control into \
         it; build the path you mean"
    );
}

#[test]
fn a_local_204_or_304_with_a_body_is_an_invalid_verdict() {
    for status in [204, 304] {
        let config = format!(r#"{{"request":[["respond",{status},"body"]]}}"#);
        let reason = first_failure(&run(guests::EDITS, &config, &[]));
        assert!(
            reason.starts_with(&format!(
                "invalid verdict: local response has status {status} and a 4-byte body"
            )),
            "{reason}"
        );
    }
    let report = run(guests::EDITS, r#"{"request":[["respond",204,""]]}"#, &[]);
    let text = report.render(conformance::Format::Human);
    assert_eq!(report.failed(), 0, "an empty 204 is fine:\n{text}");
}

#[test]
fn thousands_of_edits_are_refused_by_the_proxys_edit_budget() {
    let reason = first_failure(&run(
        guests::MISBEHAVE,
        r#"{"flood":"edits","count":5000}"#,
        &[],
    ));
    assert_eq!(
        reason,
        "invalid edit: set-path: forbidden: edit limit reached: at most 256 edits per hook call (max_edits_per_call)"
    );
}

#[test]
fn a_huge_header_value_is_refused_by_the_proxys_header_byte_budget() {
    let reason = first_failure(&run(
        guests::MISBEHAVE,
        r#"{"flood":"huge_value","bytes":1048576}"#,
        &[],
    ));
    assert!(
        reason.starts_with("invalid edit: set-header: forbidden: header byte limit reached: this edit adds 1048583 bytes"),
        "{reason}"
    );
}

#[test]
fn the_budgets_given_to_the_tool_are_the_ones_applied() {
    let config = r#"{"request":[["set-header","x-a","1"],["set-header","x-b","2"],["set-header","x-c","3"]]}"#;
    let mut options = options(guests::EDITS, config, &[]);
    assert_eq!(
        conformance::run(&options).failed(),
        0,
        "3 edits pass the default budget"
    );
    options.limits.max_edits_per_call = 2;
    let reason = first_failure(&conformance::run(&options));
    assert!(
        reason.contains("at most 2 edits per hook call (max_edits_per_call)"),
        "{reason}"
    );
}

#[test]
fn a_huge_local_body_is_quoted_briefly_with_its_length() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.toml");
    std::fs::write(
        &cases,
        "[[case]]\nname = \"the body is small\"\nexpect = { body = \"x\" }\n",
    )
    .unwrap();
    let report = run(
        guests::MISBEHAVE,
        r#"{"flood":"local_body","bytes":900000}"#,
        &[cases.to_str().unwrap()],
    );
    let (name, reason) = failed_check(&report);
    assert_eq!(name, "the body is small");
    assert_eq!(
        reason,
        format!(
            "body: expected \"x\", got \"{}…\" (900000 bytes)",
            "b".repeat(80)
        )
    );
    for format in [
        conformance::Format::Human,
        conformance::Format::Json,
        conformance::Format::Junit,
        conformance::Format::Tap,
    ] {
        let text = report.render(format);
        assert!(text.len() < 64 * 1024, "{format:?}: {} bytes", text.len());
    }
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
