//! Behaviour of the filter's hooks, driven through `weir_sdk::testing`.

use weir_sdk::host::Level;
use weir_sdk::testing::{self, TestRequest, TestResponse};
use weir_sdk::{Filter, Request, Response, SameSite, SetCookie, Verdict};

use super::*;

fn filter(config: &str) -> CookiesFilter {
    CookiesFilter::init(config).expect("the config is valid")
}

fn run_request(filter: &mut CookiesFilter, req: &mut Request) {
    assert!(matches!(filter.on_request(req), Verdict::Continue));
}

fn run_response(filter: &mut CookiesFilter, resp: &mut Response) {
    let req = TestRequest::get("/").build();
    assert!(matches!(filter.on_response(&req, resp), Verdict::Continue));
}

fn cookies(req: &Request) -> Vec<(String, String)> {
    req.cookies()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|&(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// The raw `Set-Cookie` header values, in order.
fn raw_set_cookies(resp: &Response) -> Vec<String> {
    resp.header_all("set-cookie")
        .into_iter()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .collect()
}

fn parsed(resp: &Response, name: &str) -> SetCookie {
    resp.set_cookies()
        .into_iter()
        .find(|cookie| cookie.name == name)
        .expect("the response has this Set-Cookie")
}

fn warnings() -> Vec<String> {
    testing::logs()
        .into_iter()
        .filter(|(level, _)| matches!(level, Level::Warn))
        .map(|(_, message)| message)
        .collect()
}

fn shop_request() -> Request {
    TestRequest::get("/")
        .cookie("sid", "abc")
        .cookie("_ga", "GA1.1")
        .cookie("utm_source", "mail")
        .cookie("utm_medium", "email")
        .cookie("theme", "dark")
        .build()
}

// Request side.

#[test]
fn empty_config_edits_nothing() {
    let mut filter = filter("{}");
    let mut req = shop_request();
    let mut resp = TestResponse::new(200).set_cookie("a=1").build();
    run_request(&mut filter, &mut req);
    run_response(&mut filter, &mut resp);
    assert!(testing::edits(&req).is_empty());
    assert!(testing::response_edits(&resp).is_empty());
}

#[test]
fn strip_removes_named_cookies_and_keeps_the_rest() {
    let mut filter = filter(r#"{"request": {"strip": ["_ga", "absent"]}}"#);
    let mut req = shop_request();
    run_request(&mut filter, &mut req);
    assert_eq!(
        cookies(&req),
        pairs(&[
            ("sid", "abc"),
            ("utm_source", "mail"),
            ("utm_medium", "email"),
            ("theme", "dark")
        ])
    );
}

#[test]
fn strip_prefix_removes_every_cookie_with_the_prefix() {
    let mut filter = filter(r#"{"request": {"strip_prefix": ["utm_", "_"]}}"#);
    let mut req = shop_request();
    run_request(&mut filter, &mut req);
    assert_eq!(cookies(&req), pairs(&[("sid", "abc"), ("theme", "dark")]));
}

#[test]
fn stripping_absent_cookies_edits_nothing() {
    let mut filter = filter(r#"{"request": {"strip": ["x"], "strip_prefix": ["y"]}}"#);
    let mut req = shop_request();
    run_request(&mut filter, &mut req);
    assert!(
        testing::edits(&req).is_empty(),
        "{:?}",
        testing::edits(&req)
    );
}

#[test]
fn rename_moves_the_value_to_the_new_name() {
    let mut filter = filter(r#"{"request": {"rename": {"sid": "session"}}}"#);
    let mut req = shop_request();
    run_request(&mut filter, &mut req);
    assert_eq!(req.cookie("session").as_deref(), Some("abc"));
    assert!(req.cookie("sid").is_none());
    assert_eq!(req.cookie("theme").as_deref(), Some("dark"));
}

#[test]
fn rename_of_an_absent_cookie_does_nothing() {
    let mut filter = filter(r#"{"request": {"rename": {"absent": "other"}}}"#);
    let mut req = shop_request();
    run_request(&mut filter, &mut req);
    assert!(req.cookie("other").is_none());
    assert!(testing::edits(&req).is_empty());
}

#[test]
fn renames_read_the_original_cookies_so_names_can_swap() {
    let mut filter = filter(r#"{"request": {"rename": {"sid": "theme", "theme": "sid"}}}"#);
    let mut req = shop_request();
    run_request(&mut filter, &mut req);
    assert_eq!(req.cookie("sid").as_deref(), Some("dark"));
    assert_eq!(req.cookie("theme").as_deref(), Some("abc"));
}

#[test]
fn rename_replaces_a_cookie_already_holding_the_new_name() {
    let mut filter = filter(r#"{"request": {"rename": {"sid": "theme"}}}"#);
    let mut req = shop_request();
    run_request(&mut filter, &mut req);
    assert_eq!(req.cookie("theme").as_deref(), Some("abc"));
    assert_eq!(
        cookies(&req)
            .iter()
            .filter(|(name, _)| name == "theme")
            .count(),
        1
    );
}

#[test]
fn add_sets_an_absent_cookie() {
    let mut filter = filter(r#"{"request": {"add": {"consent": "yes"}}}"#);
    let mut req = shop_request();
    run_request(&mut filter, &mut req);
    assert_eq!(req.cookie("consent").as_deref(), Some("yes"));
    assert_eq!(req.cookie("sid").as_deref(), Some("abc"));
}

#[test]
fn add_keeps_a_present_cookie_by_default() {
    let mut filter = filter(r#"{"request": {"add": {"theme": "light"}}}"#);
    let mut req = shop_request();
    run_request(&mut filter, &mut req);
    assert_eq!(req.cookie("theme").as_deref(), Some("dark"));
    assert!(testing::edits(&req).is_empty());
}

#[test]
fn add_with_overwrite_replaces_a_present_cookie() {
    let mut filter = filter(r#"{"request": {"add": {"theme": "light"}, "overwrite": true}}"#);
    let mut req = shop_request();
    run_request(&mut filter, &mut req);
    assert_eq!(req.cookie("theme").as_deref(), Some("light"));
}

#[test]
fn request_rules_run_in_order_strip_rename_add() {
    // strip `theme`, then rename `sid` to `theme`, then `add` sees `theme` present.
    let mut filter = filter(
        r#"{"request": {
            "add": {"theme": "light", "sid": "new"},
            "rename": {"sid": "theme"},
            "strip": ["theme"]
        }}"#,
    );
    let mut req = shop_request();
    run_request(&mut filter, &mut req);
    assert_eq!(req.cookie("theme").as_deref(), Some("abc"));
    assert_eq!(req.cookie("sid").as_deref(), Some("new"));
}

#[test]
fn refused_rename_is_logged_without_the_cookie_value() {
    // A client may send a value that is not a valid cookie-value; setting it is refused.
    let mut filter = filter(r#"{"request": {"rename": {"legacy": "modern"}}}"#);
    let mut req = TestRequest::get("/")
        .header("cookie", "legacy=sec ret; theme=dark")
        .build();
    run_request(&mut filter, &mut req);
    let warnings = warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("refused"), "{warnings:?}");
    assert!(
        testing::logs()
            .iter()
            .all(|(_, message)| !message.contains("sec ret")),
        "a cookie value was logged"
    );
    assert_eq!(req.cookie("theme").as_deref(), Some("dark"));
}

// Response side.

#[test]
fn rewrite_changes_only_the_named_cookie_and_keeps_others_intact() {
    let mut filter = filter(
        r#"{"response": {"set_cookie": [
            {"name": "sid", "secure": true, "http_only": true, "same_site": "Strict"}
        ]}}"#,
    );
    let others = [
        "theme=dark; Max-Age=60; Domain=old.test",
        "lang=en; Path=/docs; SameSite=Lax",
    ];
    let mut resp = TestResponse::new(200)
        .set_cookie(others[0])
        .set_cookie("sid=abc; Path=/")
        .set_cookie(others[1])
        .header("x-other", "1")
        .build();
    run_response(&mut filter, &mut resp);

    let sid = parsed(&resp, "sid");
    assert_eq!(sid.value, "abc");
    assert!(sid.secure && sid.http_only);
    assert!(matches!(sid.same_site, Some(SameSite::Strict)));
    assert_eq!(sid.path.as_deref(), Some("/"));
    let raw = raw_set_cookies(&resp);
    assert_eq!(raw.len(), 3, "{raw:?}");
    for other in others {
        assert!(
            raw.iter().any(|value| value == other),
            "{other} changed: {raw:?}"
        );
    }
    assert_eq!(resp.header_str("x-other").as_deref(), Some("1"));
}

#[test]
fn wildcard_rule_rewrites_every_set_cookie() {
    let mut filter = filter(
        r#"{"response": {"set_cookie": [{"name": "*", "secure": true, "same_site": "Lax"}]}}"#,
    );
    let mut resp = TestResponse::new(200)
        .set_cookie("a=1")
        .set_cookie("b=2; Path=/")
        .set_cookie("a=3; Domain=app.test")
        .build();
    run_response(&mut filter, &mut resp);
    let all = resp.set_cookies();
    assert_eq!(all.len(), 3);
    for cookie in &all {
        assert!(cookie.secure, "{cookie:?}");
        assert!(
            matches!(cookie.same_site, Some(SameSite::Lax)),
            "{cookie:?}"
        );
    }
    assert_eq!(
        all.iter().map(|c| c.value.as_str()).collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
}

#[test]
fn wildcard_rule_on_a_response_without_cookies_edits_nothing() {
    let mut filter = filter(r#"{"response": {"set_cookie": [{"name": "*", "secure": true}]}}"#);
    let mut resp = TestResponse::new(204).build();
    run_response(&mut filter, &mut resp);
    assert!(testing::response_edits(&resp).is_empty());
}

#[test]
fn null_removes_attributes_and_absent_keys_keep_them() {
    let mut filter = filter(
        r#"{"response": {"set_cookie": [
            {"name": "sid", "domain": null, "max_age": null, "same_site": null, "path": "/app"}
        ]}}"#,
    );
    let mut resp = TestResponse::new(200)
        .set_cookie("sid=abc; Domain=old.test; Path=/; Max-Age=60; Secure; HttpOnly; SameSite=Lax")
        .build();
    run_response(&mut filter, &mut resp);
    let sid = parsed(&resp, "sid");
    assert_eq!(sid.domain, None);
    assert_eq!(sid.max_age, None);
    assert!(sid.same_site.is_none());
    assert_eq!(sid.path.as_deref(), Some("/app"));
    assert!(sid.secure && sid.http_only, "untouched flags stay: {sid:?}");
}

#[test]
fn flags_can_be_turned_off_and_values_set() {
    let mut filter = filter(
        r#"{"response": {"set_cookie": [
            {"name": "sid", "secure": false, "http_only": false, "domain": "app.test", "max_age": 0}
        ]}}"#,
    );
    let mut resp = TestResponse::new(200)
        .set_cookie("sid=abc; Secure; HttpOnly")
        .build();
    run_response(&mut filter, &mut resp);
    let sid = parsed(&resp, "sid");
    assert!(!sid.secure && !sid.http_only);
    assert_eq!(sid.domain.as_deref(), Some("app.test"));
    assert_eq!(sid.max_age, Some(0));
}

#[test]
fn rewrite_of_an_absent_cookie_changes_nothing() {
    let mut filter = filter(r#"{"response": {"set_cookie": [{"name": "sid", "secure": true}]}}"#);
    let mut resp = TestResponse::new(200).set_cookie("theme=dark").build();
    run_response(&mut filter, &mut resp);
    assert_eq!(raw_set_cookies(&resp), ["theme=dark"]);
}

#[test]
fn rules_apply_in_order_so_later_rules_win() {
    let mut filter = filter(
        r#"{"response": {"set_cookie": [
            {"name": "*", "http_only": true},
            {"name": "public", "http_only": false}
        ]}}"#,
    );
    let mut resp = TestResponse::new(200)
        .set_cookie("sid=1")
        .set_cookie("public=2")
        .build();
    run_response(&mut filter, &mut resp);
    assert!(parsed(&resp, "sid").http_only);
    assert!(!parsed(&resp, "public").http_only);
}

#[test]
fn remove_set_cookie_drops_every_set_cookie_of_that_name() {
    let mut filter = filter(r#"{"response": {"remove_set_cookie": ["debug"]}}"#);
    let mut resp = TestResponse::new(200)
        .set_cookie("debug=1")
        .set_cookie("sid=abc; Path=/")
        .set_cookie("debug=2; Path=/x")
        .build();
    run_response(&mut filter, &mut resp);
    assert_eq!(raw_set_cookies(&resp), ["sid=abc; Path=/"]);
}

#[test]
fn add_set_cookie_adds_a_complete_cookie() {
    let mut filter = filter(
        r#"{"response": {"add_set_cookie": [
            {"name": "seen", "value": "1", "path": "/", "domain": "app.test", "max_age": 3600,
             "secure": true, "http_only": true, "same_site": "None"},
            {"name": "plain", "value": "x"}
        ]}}"#,
    );
    let mut resp = TestResponse::new(200).set_cookie("sid=abc").build();
    run_response(&mut filter, &mut resp);
    let seen = parsed(&resp, "seen");
    assert_eq!(seen.value, "1");
    assert_eq!(seen.path.as_deref(), Some("/"));
    assert_eq!(seen.domain.as_deref(), Some("app.test"));
    assert_eq!(seen.max_age, Some(3600));
    assert!(seen.secure && seen.http_only);
    assert!(matches!(seen.same_site, Some(SameSite::None)));
    let plain = parsed(&resp, "plain");
    assert_eq!(plain.value, "x");
    assert!(plain.path.is_none() && plain.domain.is_none() && plain.max_age.is_none());
    assert!(!plain.secure && !plain.http_only && plain.same_site.is_none());
    assert_eq!(raw_set_cookies(&resp)[0], "sid=abc");
}

#[test]
fn response_rules_run_in_order_remove_rewrite_add() {
    // The wildcard rewrite must not touch the cookie this filter adds, and the removed
    // cookie is gone before the wildcard looks for names.
    let mut filter = filter(
        r#"{"response": {
            "add_set_cookie": [{"name": "added", "value": "1"}],
            "set_cookie": [{"name": "*", "secure": true}],
            "remove_set_cookie": ["old"]
        }}"#,
    );
    let mut resp = TestResponse::new(200)
        .set_cookie("old=1")
        .set_cookie("sid=abc")
        .build();
    run_response(&mut filter, &mut resp);
    let names: Vec<String> = resp.set_cookies().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["sid", "added"]);
    assert!(parsed(&resp, "sid").secure);
    assert!(!parsed(&resp, "added").secure);
}

#[test]
fn init_error_names_the_bad_field() {
    let err = CookiesFilter::init(
        r#"{"response": {"set_cookie": [{"name": "a", "same_site": "Loose"}]}}"#,
    )
    .expect_err("Loose is not a SameSite value");
    assert!(err.contains("response.set_cookie[0].same_site"), "{err}");
    assert!(err.contains("Loose"), "{err}");
}
