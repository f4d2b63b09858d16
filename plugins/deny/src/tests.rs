//! Behaviour tests: a request from the SDK test kit through `on_request`.

use weir_sdk::testing::{self, TestRequest};
use weir_sdk::{Filter, LocalResponse, Request, Verdict};

use super::*;

fn filter(config: &str) -> Deny {
    Deny::init(config).unwrap()
}

fn get(authority: &str, target: &str) -> Request {
    TestRequest::get(target).authority(authority).build()
}

fn is_blocked(filter: &mut Deny, authority: &str, target: &str) -> bool {
    let mut req = get(authority, target);
    matches!(filter.on_request(&mut req), Verdict::Respond(_))
}

/// Runs the filter and expects a block answer.
fn blocked(filter: &mut Deny, mut req: Request) -> LocalResponse {
    match filter.on_request(&mut req) {
        Verdict::Respond(res) => res,
        Verdict::Continue => panic!("expected the request to be blocked"),
    }
}

fn header(res: &LocalResponse, name: &str) -> Option<String> {
    res.headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| String::from_utf8_lossy(&h.value).into_owned())
}

fn blocked_count() -> u64 {
    testing::counters()
        .into_iter()
        .filter(|(name, _)| name == "blocked")
        .map(|(_, n)| n)
        .sum()
}

#[test]
fn blocked_host_gets_403_with_the_default_body_and_rule_header() {
    let mut f = filter(r#"{"block_hosts":["ads.test","tracker.test"]}"#);
    let res = blocked(&mut f, get("tracker.test", "/pixel.gif"));
    assert_eq!(res.status, 403);
    assert_eq!(res.body, b"blocked by policy\n");
    assert_eq!(
        header(&res, "content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        header(&res, "x-weir-deny-rule").as_deref(),
        Some("block_hosts[1]")
    );
    assert_eq!(header(&res, "cache-control").as_deref(), Some("no-store"));
}

#[test]
fn host_match_is_case_insensitive_and_ignores_the_port() {
    let mut f = filter(r#"{"block_hosts":["Ads.Test"]}"#);
    assert!(is_blocked(&mut f, "ADS.test", "/"));
    assert!(is_blocked(&mut f, "ads.test:8443", "/"));
    assert!(!is_blocked(&mut f, "www.ads.test", "/"));
}

#[test]
fn host_match_ignores_a_trailing_dot_on_the_host_and_the_pattern() {
    let mut f = filter(r#"{"block_hosts":["ads.test","*.casino.test."]}"#);
    assert!(is_blocked(&mut f, "ads.test.", "/"));
    assert!(is_blocked(&mut f, "ads.test.:8443", "/"));
    assert!(is_blocked(&mut f, "www.casino.test", "/"));
    assert!(is_blocked(&mut f, "www.casino.test.", "/"));
}

#[test]
fn wildcard_host_blocks_subdomains_but_not_the_bare_domain() {
    let mut f = filter(r#"{"block_hosts":["*.casino.test"]}"#);
    assert!(is_blocked(&mut f, "www.casino.test", "/"));
    assert!(is_blocked(&mut f, "a.b.casino.test", "/"));
    assert!(!is_blocked(&mut f, "casino.test", "/"));
    assert!(!is_blocked(&mut f, "notcasino.test", "/"));
}

#[test]
fn allowed_request_continues_and_is_not_counted() {
    let mut f = filter(r#"{"block_hosts":["ads.test"]}"#);
    let mut req = get("news.test", "/");
    assert!(matches!(f.on_request(&mut req), Verdict::Continue));
    assert!(testing::edits(&req).is_empty());
    assert_eq!(blocked_count(), 0);
}

#[test]
fn path_prefix_is_a_plain_string_prefix() {
    let mut f = filter(r#"{"block_path_prefixes":["/admin","/private/"]}"#);
    assert!(is_blocked(&mut f, "app.test", "/admin"));
    assert!(is_blocked(&mut f, "app.test", "/admin/users?x=1"));
    assert!(is_blocked(&mut f, "app.test", "/administrator"));
    assert!(is_blocked(&mut f, "app.test", "/private/x"));
    assert!(!is_blocked(&mut f, "app.test", "/private"));
    assert!(!is_blocked(&mut f, "app.test", "/Admin"));
    assert!(!is_blocked(&mut f, "app.test", "/public/admin"));
}

#[test]
fn path_prefix_cannot_be_bypassed_by_encoding_or_dot_segments() {
    let mut f = filter(r#"{"block_path_prefixes":["/admin"]}"#);
    for path in [
        "/%61dmin",
        "//admin",
        "/x/../admin",
        "/./admin",
        "/%2E%2E/admin/",
    ] {
        assert!(is_blocked(&mut f, "app.test", path), "{path}");
    }
}

#[test]
fn path_prefix_rule_is_named_in_the_header() {
    let mut f = filter(r#"{"block_path_prefixes":["/a","/b"]}"#);
    let res = blocked(&mut f, get("app.test", "/b/c"));
    assert_eq!(
        header(&res, "x-weir-deny-rule").as_deref(),
        Some("block_path_prefixes[1]")
    );
}

#[test]
fn pattern_matches_over_host_path_and_query() {
    let mut f =
        filter(r#"{"block_patterns":["(?i)casino","^ads\\.[^/]+/banner","\\?.*ref=spam"]}"#);
    assert!(is_blocked(&mut f, "games.test", "/Online-CASINO"));
    assert!(is_blocked(&mut f, "CaSiNo.test", "/"));
    assert!(is_blocked(&mut f, "search.test", "/q?term=casino"));
    assert!(is_blocked(&mut f, "ads.news.test", "/banner/1"));
    assert!(is_blocked(&mut f, "shop.test", "/?a=1&ref=spam"));
    assert!(!is_blocked(&mut f, "news.test", "/ads.news.test/banner"));
    assert!(!is_blocked(&mut f, "news.test", "/politics"));
}

#[test]
fn pattern_subject_has_the_lowercased_host_without_port() {
    let mut f = filter(r#"{"block_patterns":["^shop\\.test/cart$"]}"#);
    assert!(is_blocked(&mut f, "SHOP.test:8080", "/cart"));
}

#[test]
fn earliest_matching_pattern_is_reported() {
    let mut f = filter(r#"{"block_patterns":["nomatch","poker","(?i)casino|poker"]}"#);
    let res = blocked(&mut f, get("a.test", "/poker"));
    assert_eq!(
        header(&res, "x-weir-deny-rule").as_deref(),
        Some("block_patterns[1]")
    );
}

#[test]
fn hosts_are_checked_before_paths_and_paths_before_patterns() {
    let mut f =
        filter(r#"{"block_hosts":["a.test"],"block_path_prefixes":["/x"],"block_patterns":["x"]}"#);
    let rule = |f: &mut Deny, authority: &str, path: &str| {
        header(&blocked(f, get(authority, path)), "x-weir-deny-rule")
    };
    assert_eq!(
        rule(&mut f, "a.test", "/x").as_deref(),
        Some("block_hosts[0]")
    );
    assert_eq!(
        rule(&mut f, "b.test", "/x").as_deref(),
        Some("block_path_prefixes[0]")
    );
    assert_eq!(
        rule(&mut f, "b.test", "/yx").as_deref(),
        Some("block_patterns[0]")
    );
}

#[test]
fn allow_hosts_override_every_block_rule() {
    let mut f = filter(
        r#"{"block_hosts":["*.corp.test"],"block_path_prefixes":["/admin"],
            "block_patterns":["(?i)casino"],"allow_hosts":["intranet.corp.test","*.ok.test"]}"#,
    );
    assert!(!is_blocked(&mut f, "intranet.corp.test", "/admin/casino"));
    assert!(!is_blocked(&mut f, "a.ok.test", "/admin"));
    assert!(is_blocked(&mut f, "mail.corp.test", "/"));
    assert!(is_blocked(&mut f, "ok.test", "/admin"));
}

#[test]
fn custom_status_and_body_are_used() {
    let mut f = filter(r#"{"block_hosts":["a.test"],"status":451,"body":"unavailable here"}"#);
    let res = blocked(&mut f, get("a.test", "/"));
    assert_eq!(res.status, 451);
    assert_eq!(res.body, b"unavailable here");
}

#[test]
fn redirect_inserts_the_percent_encoded_blocked_url() {
    let mut f = filter(
        r#"{"block_patterns":["casino"],"redirect":"https://block.test/page?url={url}&again={url}"}"#,
    );
    let req = TestRequest::get("/casino/a%20b?x=1&y=2")
        .authority("games.test:8080")
        .scheme("https")
        .build();
    let res = blocked(&mut f, req);
    assert_eq!(res.status, 302);
    let encoded = "https%3A%2F%2Fgames.test%3A8080%2Fcasino%2Fa%2520b%3Fx%3D1%26y%3D2";
    assert_eq!(
        header(&res, "location"),
        Some(format!(
            "https://block.test/page?url={encoded}&again={encoded}"
        ))
    );
    assert_eq!(
        header(&res, "x-weir-deny-rule").as_deref(),
        Some("block_patterns[0]")
    );
    assert!(res.body.is_empty());
}

#[test]
fn redirect_status_is_configurable() {
    let mut f = filter(r#"{"block_hosts":["a.test"],"redirect":"/blocked","redirect_status":307}"#);
    let res = blocked(&mut f, get("a.test", "/x"));
    assert_eq!(res.status, 307);
    assert_eq!(header(&res, "location").as_deref(), Some("/blocked"));
}

#[test]
fn every_block_is_counted() {
    let mut f = filter(r#"{"block_hosts":["a.test"]}"#);
    for _ in 0..3 {
        assert!(is_blocked(&mut f, "a.test", "/"));
    }
    assert!(!is_blocked(&mut f, "b.test", "/"));
    assert_eq!(blocked_count(), 3);
}

#[test]
fn block_is_logged_at_debug_level() {
    let mut f = filter(r#"{"block_hosts":["a.test"]}"#);
    assert!(is_blocked(&mut f, "a.test", "/"));
    assert!(testing::logs().iter().any(
        |(level, message)| matches!(level, host::Level::Debug) && message == "request blocked"
    ));
}

#[test]
fn request_without_host_is_still_checked_by_path() {
    let mut f = filter(r#"{"block_hosts":["a.test"],"block_path_prefixes":["/admin"]}"#);
    let res = blocked(&mut f, TestRequest::get("/admin").build());
    assert_eq!(res.status, 403);
    let mut other = TestRequest::get("/").build();
    assert!(matches!(f.on_request(&mut other), Verdict::Continue));
}

#[test]
fn check_reports_the_rule_without_answering() {
    let f = filter(r#"{"block_hosts":["a.test"]}"#);
    assert_eq!(f.check(&get("a.test", "/")), Some(BlockRule::Host(0)));
    assert_eq!(f.check(&get("b.test", "/")), None);
    assert_eq!(blocked_count(), 0, "check does not count");
}

#[test]
fn readme_json_examples_are_valid_configs() {
    let examples = testing::readme_configs(include_str!("../README.md"));
    assert!(!examples.is_empty());
    for example in examples {
        if let Err(err) = Deny::init(example) {
            panic!("README example rejected: {err}\n{example}");
        }
    }
}
