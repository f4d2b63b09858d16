//! Behaviour tests: a request from the SDK test kit through `on_request`.

use weir_sdk::testing::{self, TestRequest};
use weir_sdk::{Filter, LocalResponse, Request, Verdict};

use super::*;

fn filter(config: &str) -> UrlRewrite {
    UrlRewrite::init(config).unwrap()
}

fn get(authority: &str, target: &str) -> Request {
    TestRequest::get(target).authority(authority).build()
}

/// Runs the filter and expects the request to go on upstream.
fn run(filter: &mut UrlRewrite, req: &mut Request) {
    match filter.on_request(req) {
        Verdict::Continue => {}
        Verdict::Respond(res) => panic!("unexpected local response {}", res.status),
    }
}

/// Runs the filter and expects a local response.
fn respond(filter: &mut UrlRewrite, req: &mut Request) -> LocalResponse {
    match filter.on_request(req) {
        Verdict::Respond(res) => res,
        Verdict::Continue => panic!("expected a local response"),
    }
}

fn header(res: &LocalResponse, name: &str) -> Option<String> {
    res.headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| String::from_utf8_lossy(&h.value).into_owned())
}

fn url(req: &Request) -> (Option<String>, String, Option<String>) {
    (req.authority(), req.path(), req.query())
}

#[test]
fn numbered_capture_rewrites_path_and_keeps_query() {
    let mut f = filter(r#"{"rules":[{"match":"^/old/(.*)$","replace":"/new/$1"}]}"#);
    let mut req = get("app.test", "/old/a/b?x=1");
    run(&mut f, &mut req);
    assert_eq!(req.path(), "/new/a/b");
    assert_eq!(req.query().as_deref(), Some("x=1"));
    assert_eq!(testing::edits(&req).len(), 1, "only the path is edited");
}

#[test]
fn named_capture_groups_are_expanded() {
    let mut f = filter(
        r#"{"rules":[{"match":"^/u/(?P<user>[^/]+)/(?<tab>\\w+)$","replace":"/users/${user}?tab=$tab"}]}"#,
    );
    let mut req = get("app.test", "/u/ada/posts");
    run(&mut f, &mut req);
    assert_eq!(req.path(), "/users/ada");
    assert_eq!(req.query().as_deref(), Some("tab=posts"));
}

#[test]
fn unanchored_match_replaces_only_the_matched_text() {
    let mut f = filter(r#"{"rules":[{"match":"/v1/","replace":"/v2/"}]}"#);
    let mut req = get("app.test", "/api/v1/items/v1/");
    run(&mut f, &mut req);
    assert_eq!(req.path(), "/api/v2/items/v1/");
}

#[test]
fn literal_dollar_is_written_with_two_dollars() {
    let mut f = filter(r#"{"rules":[{"match":"^/price$","replace":"/$$"}]}"#);
    let mut req = get("app.test", "/price");
    run(&mut f, &mut req);
    assert_eq!(req.path(), "/$");
}

#[test]
fn question_mark_in_replacement_replaces_the_query() {
    let mut f = filter(r#"{"rules":[{"match":"^/item/(\\d+)$","replace":"/item?id=$1"}]}"#);
    let mut req = get("app.test", "/item/42?old=1");
    run(&mut f, &mut req);
    assert_eq!(
        url(&req),
        (
            Some("app.test".into()),
            "/item".into(),
            Some("id=42".into())
        )
    );
}

#[test]
fn trailing_question_mark_removes_the_query() {
    let mut f = filter(r#"{"rules":[{"match":"^/clean$","replace":"/clean?"}]}"#);
    let mut req = get("app.test", "/clean?utm_source=x");
    run(&mut f, &mut req);
    assert_eq!(req.path(), "/clean");
    assert_eq!(req.query(), None);
}

#[test]
fn include_query_matches_path_and_query_together() {
    let mut f = filter(
        r#"{"rules":[{"match":"^/search\\?q=([^&]*)$","replace":"/find/$1","include_query":true}]}"#,
    );
    let mut req = get("app.test", "/search?q=rust");
    run(&mut f, &mut req);
    // The rule consumed the query and wrote none back: the query is gone.
    assert_eq!(req.path(), "/find/rust");
    assert_eq!(req.query(), None);

    let mut other = get("app.test", "/search?q=rust&page=2");
    run(&mut f, &mut other);
    assert!(
        testing::edits(&other).is_empty(),
        "the anchored pattern must not match"
    );
}

#[test]
fn include_query_rule_can_keep_the_query_by_matching_around_it() {
    let mut f = filter(r#"{"rules":[{"match":"^/old/","replace":"/new/","include_query":true}]}"#);
    let mut req = get("app.test", "/old/x?a=1");
    run(&mut f, &mut req);
    assert_eq!(req.path(), "/new/x");
    assert_eq!(req.query().as_deref(), Some("a=1"));
}

#[test]
fn include_query_rule_sees_the_bare_path_when_there_is_no_query() {
    let mut f = filter(r#"{"rules":[{"match":"^/a$","replace":"/b","include_query":true}]}"#);
    let mut req = get("app.test", "/a");
    run(&mut f, &mut req);
    assert_eq!(req.path(), "/b");
}

#[test]
fn path_only_rule_does_not_see_the_query() {
    let mut f = filter(r#"{"rules":[{"match":"x=1","replace":"/never"}]}"#);
    let mut req = get("app.test", "/a?x=1");
    run(&mut f, &mut req);
    assert!(testing::edits(&req).is_empty());
}

#[test]
fn match_sees_the_raw_percent_encoded_path() {
    let mut f = filter(r#"{"rules":[{"match":"^/a%20b$","replace":"/ab"}]}"#);
    let mut req = get("app.test", "/a%20b");
    run(&mut f, &mut req);
    assert_eq!(req.path(), "/ab");
}

#[test]
fn request_matching_no_rule_is_not_edited() {
    let mut f = filter(r#"{"rules":[{"match":"^/old/","replace":"/new/"}]}"#);
    let mut req = get("app.test", "/other?x=1");
    run(&mut f, &mut req);
    assert!(testing::edits(&req).is_empty());
}

#[test]
fn rule_with_exact_host_applies_only_to_that_host() {
    let mut f = filter(r#"{"rules":[{"match":"^/$","replace":"/home","host":"App.Test"}]}"#);
    let mut hit = get("app.test", "/");
    run(&mut f, &mut hit);
    assert_eq!(hit.path(), "/home");

    let mut miss = get("www.app.test", "/");
    run(&mut f, &mut miss);
    assert!(testing::edits(&miss).is_empty());
}

#[test]
fn rule_with_wildcard_host_applies_to_subdomains_only() {
    let mut f = filter(r#"{"rules":[{"match":"^/$","replace":"/home","host":"*.app.test"}]}"#);
    let mut hit = get("eu.app.test", "/");
    run(&mut f, &mut hit);
    assert_eq!(hit.path(), "/home");

    let mut bare = get("app.test", "/");
    run(&mut f, &mut bare);
    assert!(testing::edits(&bare).is_empty());
}

#[test]
fn host_condition_ignores_the_port() {
    let mut f = filter(r#"{"rules":[{"match":"^/$","replace":"/home","host":"app.test"}]}"#);
    let mut req = get("app.test:8080", "/");
    run(&mut f, &mut req);
    assert_eq!(req.path(), "/home");
}

#[test]
fn host_condition_never_matches_a_request_without_host() {
    let mut f = filter(r#"{"rules":[{"match":"^/$","replace":"/home","host":"app.test"}]}"#);
    let mut req = TestRequest::get("/").build();
    run(&mut f, &mut req);
    assert!(testing::edits(&req).is_empty());
}

#[test]
fn set_host_rewrites_the_authority() {
    let mut f = filter(
        r#"{"rules":[{"match":"^/blog/(.*)$","replace":"/$1","set_host":"blog.internal:8080"}]}"#,
    );
    let mut req = get("www.app.test", "/blog/post-1");
    run(&mut f, &mut req);
    assert_eq!(req.authority().as_deref(), Some("blog.internal:8080"));
    assert_eq!(req.path(), "/post-1");
}

#[test]
fn redirect_answers_with_a_relative_location() {
    let mut f = filter(r#"{"rules":[{"match":"^/old/(.*)$","replace":"/new/$1","redirect":301}]}"#);
    let mut req = get("app.test", "/old/x?a=1");
    let res = respond(&mut f, &mut req);
    assert_eq!(res.status, 301);
    assert_eq!(header(&res, "location").as_deref(), Some("/new/x?a=1"));
    assert!(
        testing::edits(&req).is_empty(),
        "a redirect does not edit the request"
    );
}

#[test]
fn redirect_with_set_host_uses_an_absolute_location_with_the_request_scheme() {
    let mut f = filter(
        r#"{"rules":[{"match":"^(.*)$","replace":"$1","set_host":"www.app.test","redirect":308,"host":"app.test"}]}"#,
    );
    let mut req = TestRequest::get("/a?b=c")
        .authority("app.test")
        .scheme("https")
        .build();
    let res = respond(&mut f, &mut req);
    assert_eq!(res.status, 308);
    assert_eq!(
        header(&res, "location").as_deref(),
        Some("https://www.app.test/a?b=c")
    );

    let mut plain = get("app.test", "/a");
    let res = respond(&mut f, &mut plain);
    assert_eq!(
        header(&res, "location").as_deref(),
        Some("http://www.app.test/a")
    );
}

#[test]
fn every_redirect_status_is_used_as_configured() {
    for status in [301, 302, 307, 308] {
        let mut f = filter(&format!(
            r#"{{"rules":[{{"match":"^/a$","replace":"/b","redirect":{status}}}]}}"#
        ));
        let mut req = get("app.test", "/a");
        assert_eq!(respond(&mut f, &mut req).status, status);
    }
}

#[test]
fn first_matching_rule_is_the_last_by_default() {
    let mut f =
        filter(r#"{"rules":[{"match":"^/a$","replace":"/b"},{"match":"^/b$","replace":"/c"}]}"#);
    let mut req = get("app.test", "/a");
    run(&mut f, &mut req);
    assert_eq!(req.path(), "/b");
}

#[test]
fn last_false_continues_with_the_rewritten_path() {
    let mut f = filter(
        r#"{"rules":[
            {"match":"^/a$","replace":"/b","last":false},
            {"match":"^/x$","replace":"/never"},
            {"match":"^/b$","replace":"/c?v=1"},
            {"match":"^/c$","replace":"/d"}
        ]}"#,
    );
    let mut req = get("app.test", "/a");
    run(&mut f, &mut req);
    assert_eq!(req.path(), "/c");
    assert_eq!(req.query().as_deref(), Some("v=1"));
}

#[test]
fn later_rules_see_the_host_set_by_earlier_rules() {
    let mut f = filter(
        r#"{"rules":[
            {"match":"^/shop/","replace":"/","set_host":"shop.internal","last":false},
            {"match":"^/$","replace":"/index","host":"shop.internal"}
        ]}"#,
    );
    let mut req = get("app.test", "/shop/");
    run(&mut f, &mut req);
    assert_eq!(
        url(&req),
        (Some("shop.internal".into()), "/index".into(), None)
    );
}

#[test]
fn redirect_after_a_continuing_rule_uses_the_rewritten_url() {
    let mut f = filter(
        r#"{"rules":[
            {"match":"^/A/","replace":"/a/","last":false},
            {"match":"^/a/(.*)$","replace":"/b/$1","redirect":302}
        ]}"#,
    );
    let mut req = get("app.test", "/A/x");
    let res = respond(&mut f, &mut req);
    assert_eq!(res.status, 302);
    assert_eq!(header(&res, "location").as_deref(), Some("/b/x"));
    assert!(testing::edits(&req).is_empty());
}

#[test]
fn rewrite_to_a_relative_path_leaves_the_request_unchanged_and_warns() {
    let mut f = filter(
        r#"{"rules":[{"match":"^/a$","replace":"/b","last":false},{"match":"^/(b)$","replace":"$1"}]}"#,
    );
    let mut req = get("app.test", "/a");
    run(&mut f, &mut req);
    assert!(testing::edits(&req).is_empty(), "no half-applied rewrite");
    let logs = testing::logs();
    assert!(
        logs.iter()
            .any(|(level, message)| matches!(level, host::Level::Warn)
                && message.contains("invalid URL")),
        "a warning is logged"
    );
}

#[test]
fn rewrite_producing_whitespace_leaves_the_request_unchanged() {
    let mut f = filter(r#"{"rules":[{"match":"^/a$","replace":"/a b"}]}"#);
    let mut req = get("app.test", "/a");
    run(&mut f, &mut req);
    assert!(testing::edits(&req).is_empty());
}

#[test]
fn rewrite_is_pure_over_url_values() {
    let f =
        filter(r#"{"rules":[{"match":"^/old/(.*)$","replace":"/new/$1","set_host":"b.test"}]}"#);
    let mut url = Url {
        authority: Some("a.test".into()),
        path: "/old/x".into(),
        query: Some("q".into()),
    };
    assert_eq!(f.rewrite(&mut url), Ok(Outcome::Rewrite));
    assert_eq!(url.authority.as_deref(), Some("b.test"));
    assert_eq!(url.location("https", true), "https://b.test/new/x?q");
    assert_eq!(url.location("https", false), "/new/x?q");
}

#[test]
fn readme_json_examples_are_valid_configs() {
    let examples = testing::readme_configs(include_str!("../README.md"));
    assert!(!examples.is_empty());
    for example in examples {
        if let Err(err) = UrlRewrite::init(example) {
            panic!("README example rejected: {err}\n{example}");
        }
    }
}
