//! Behaviour tests: a request from the SDK test kit through `on_request`.

use weir_sdk::testing::{self, TestRequest, selected_backend};
use weir_sdk::{Filter, Request};

use super::*;

fn router(config: &str) -> Router {
    Router::init(config).unwrap()
}

fn get(authority: &str, target: &str) -> TestRequest {
    TestRequest::get(target).authority(authority)
}

/// Runs the router and returns the selected pool and affinity key.
fn route(router: &mut Router, req: TestRequest) -> Option<(String, Option<String>)> {
    let mut req: Request = req.build();
    assert!(matches!(router.on_request(&mut req), Verdict::Continue));
    selected_backend(&req)
}

fn pool(router: &mut Router, req: TestRequest) -> Option<String> {
    route(router, req).map(|(pool, _)| pool)
}

#[test]
fn first_matching_route_wins() {
    let mut r = router(
        r#"{"routes":[{"path_prefix":"/api/v2/","pool":"v2"},{"path_prefix":"/api/","pool":"v1"}]}"#,
    );
    assert_eq!(
        pool(&mut r, get("a.test", "/api/v2/x")).as_deref(),
        Some("v2")
    );
    assert_eq!(
        pool(&mut r, get("a.test", "/api/v1/x")).as_deref(),
        Some("v1")
    );
}

#[test]
fn host_condition_matches_exact_and_wildcard_hosts_ignoring_port() {
    let mut r = router(
        r#"{"routes":[{"host":"api.test","pool":"api"},{"host":"*.shop.test","pool":"shop"}]}"#,
    );
    assert_eq!(
        pool(&mut r, get("API.test:8443", "/")).as_deref(),
        Some("api")
    );
    assert_eq!(
        pool(&mut r, get("eu.shop.test", "/")).as_deref(),
        Some("shop")
    );
    assert_eq!(pool(&mut r, get("shop.test", "/")), None);
    assert_eq!(
        pool(&mut r, TestRequest::get("/")),
        None,
        "no host, no match"
    );
}

#[test]
fn path_prefix_is_a_plain_string_prefix() {
    let mut r = router(r#"{"routes":[{"path_prefix":"/api","pool":"api"}]}"#);
    assert_eq!(pool(&mut r, get("a.test", "/api")).as_deref(), Some("api"));
    assert_eq!(
        pool(&mut r, get("a.test", "/apiary")).as_deref(),
        Some("api")
    );
    assert_eq!(pool(&mut r, get("a.test", "/v1/api")), None);
}

#[test]
fn header_condition_matches_an_exact_value_of_any_repetition() {
    let mut r =
        router(r#"{"routes":[{"header":{"name":"X-Canary","value":"always"},"pool":"canary"}]}"#);
    assert_eq!(
        pool(&mut r, get("a.test", "/").header("x-canary", "always")).as_deref(),
        Some("canary")
    );
    assert_eq!(
        pool(
            &mut r,
            get("a.test", "/")
                .header("x-canary", "no")
                .header("x-canary", "always")
        )
        .as_deref(),
        Some("canary")
    );
    assert_eq!(
        pool(&mut r, get("a.test", "/").header("x-canary", "Always")),
        None
    );
    assert_eq!(pool(&mut r, get("a.test", "/")), None);
}

#[test]
fn header_condition_matches_a_value_regex() {
    let mut r = router(
        r#"{"routes":[{"header":{"name":"user-agent","value_regex":"(?i)mobile"},"pool":"mobile"}]}"#,
    );
    assert_eq!(
        pool(
            &mut r,
            get("a.test", "/").header("user-agent", "Foo MOBILE Safari")
        )
        .as_deref(),
        Some("mobile")
    );
    assert_eq!(
        pool(&mut r, get("a.test", "/").header("user-agent", "Desktop")),
        None
    );
    assert_eq!(
        pool(
            &mut r,
            get("a.test", "/").header("user-agent", b"mobile\xff".as_slice())
        ),
        None,
        "a non-UTF-8 value never matches a regex"
    );
}

#[test]
fn cookie_condition_matches_the_exact_value() {
    let mut r = router(r#"{"routes":[{"cookie":{"name":"beta","value":"yes"},"pool":"beta"}]}"#);
    assert_eq!(
        pool(
            &mut r,
            get("a.test", "/")
                .cookie("theme", "dark")
                .cookie("beta", "yes")
        )
        .as_deref(),
        Some("beta")
    );
    assert_eq!(pool(&mut r, get("a.test", "/").cookie("beta", "no")), None);
    assert_eq!(pool(&mut r, get("a.test", "/")), None);
}

#[test]
fn every_condition_of_a_route_must_hold() {
    let mut r = router(
        r#"{"routes":[{"host":"a.test","path_prefix":"/app","header":{"name":"x-a","value":"1"},
            "cookie":{"name":"c","value":"1"},"pool":"all"}],"default_pool":"rest"}"#,
    );
    let full = || get("a.test", "/app").header("x-a", "1").cookie("c", "1");
    assert_eq!(pool(&mut r, full()).as_deref(), Some("all"));
    assert_eq!(
        pool(
            &mut r,
            get("b.test", "/app").header("x-a", "1").cookie("c", "1")
        )
        .as_deref(),
        Some("rest")
    );
    assert_eq!(
        pool(
            &mut r,
            get("a.test", "/x").header("x-a", "1").cookie("c", "1")
        )
        .as_deref(),
        Some("rest")
    );
    assert_eq!(
        pool(&mut r, get("a.test", "/app").cookie("c", "1")).as_deref(),
        Some("rest")
    );
    assert_eq!(
        pool(&mut r, get("a.test", "/app").header("x-a", "1")).as_deref(),
        Some("rest")
    );
}

#[test]
fn route_without_conditions_matches_every_request() {
    let mut r = router(r#"{"routes":[{"pool":"all"}]}"#);
    assert_eq!(
        pool(&mut r, TestRequest::get("/anything")).as_deref(),
        Some("all")
    );
}

#[test]
fn default_pool_is_used_when_no_route_matches() {
    let mut r = router(r#"{"routes":[{"path_prefix":"/api/","pool":"api"}],"default_pool":"web"}"#);
    assert_eq!(pool(&mut r, get("a.test", "/")).as_deref(), Some("web"));
}

#[test]
fn no_match_and_no_default_selects_nothing() {
    let mut r = router(r#"{"routes":[{"path_prefix":"/api/","pool":"api"}]}"#);
    let mut req = get("a.test", "/").build();
    assert!(matches!(r.on_request(&mut req), Verdict::Continue));
    assert_eq!(selected_backend(&req), None);
    assert!(testing::edits(&req).is_empty());
}

#[test]
fn split_without_affinity_follows_the_weights_in_smooth_round_robin() {
    let mut r = router(
        r#"{"routes":[{"split":[{"pool":"stable","weight":3},{"pool":"canary","weight":1}]}]}"#,
    );
    let picks: Vec<String> = (0..8)
        .map(|_| pool(&mut r, get("a.test", "/")).unwrap())
        .collect();
    assert_eq!(
        picks,
        [
            "stable", "stable", "canary", "stable", "stable", "stable", "canary", "stable"
        ]
    );
}

#[test]
fn split_with_cookie_affinity_keeps_each_user_on_one_side() {
    let mut r = router(
        r#"{"routes":[{"split":[{"pool":"a","weight":50},{"pool":"b","weight":50}]}],
            "affinity":{"cookie":"session"}}"#,
    );
    let mut seen = std::collections::BTreeSet::new();
    for user in 0..50 {
        let session = format!("s{user}");
        let first = route(&mut r, get("a.test", "/").cookie("session", &session)).unwrap();
        assert_eq!(
            first.1.as_deref(),
            Some(session.as_str()),
            "the key goes to weir"
        );
        for _ in 0..5 {
            let again = route(&mut r, get("a.test", "/").cookie("session", &session)).unwrap();
            assert_eq!(again, first);
        }
        seen.insert(first.0);
    }
    assert_eq!(seen.len(), 2, "users are spread over both sides");
}

#[test]
fn hashed_split_is_stable_across_instances() {
    let config = r#"{"routes":[{"split":[{"pool":"a","weight":1},{"pool":"b","weight":1},{"pool":"c","weight":1}]}],
        "affinity":{"header":"x-user"}}"#;
    let picks = |r: &mut Router| -> Vec<String> {
        (0..30)
            .map(|i| pool(r, get("a.test", "/").header("x-user", format!("u{i}"))).unwrap())
            .collect()
    };
    let mut first = router(config);
    let mut second = router(config);
    // Requests without a key advance the round robin; hashed picks must not depend on it.
    for _ in 0..7 {
        pool(&mut second, get("a.test", "/"));
    }
    assert_eq!(picks(&mut first), picks(&mut second));
}

#[test]
fn header_affinity_key_is_passed_with_a_plain_pool() {
    let mut r = router(r#"{"routes":[{"pool":"app"}],"affinity":{"header":"x-user"}}"#);
    assert_eq!(
        route(&mut r, get("a.test", "/").header("x-user", "ada")),
        Some(("app".into(), Some("ada".into())))
    );
}

#[test]
fn client_ip_affinity_uses_the_client_address() {
    let mut r = router(r#"{"default_pool":"app","affinity":"client_ip"}"#);
    assert_eq!(
        route(&mut r, get("a.test", "/").client("203.0.113.7:5555")),
        Some(("app".into(), Some("203.0.113.7".into())))
    );
}

#[test]
fn missing_or_empty_affinity_value_means_no_key_and_round_robin() {
    let mut r = router(
        r#"{"routes":[{"split":[{"pool":"a","weight":1},{"pool":"b","weight":1}]}],
            "affinity":{"cookie":"session"}}"#,
    );
    let first = route(&mut r, get("a.test", "/")).unwrap();
    let second = route(&mut r, get("a.test", "/").cookie("session", "")).unwrap();
    assert_eq!(first, ("a".into(), None));
    assert_eq!(second, ("b".into(), None));
}

#[test]
fn choose_reports_the_matching_route_without_editing() {
    let mut r = router(r#"{"routes":[{"path_prefix":"/x","pool":"x"}],"default_pool":"d"}"#);
    let req = get("a.test", "/x").build();
    assert_eq!(
        r.choose(&req),
        Some(Selection {
            pool: "x".into(),
            affinity_key: None,
            route: Some(0)
        })
    );
    assert!(testing::edits(&req).is_empty());
    let other = get("a.test", "/").build();
    assert_eq!(r.choose(&other).and_then(|s| s.route), None);
}

#[test]
fn readme_json_examples_are_valid_configs() {
    let examples = testing::readme_configs(include_str!("../README.md"));
    assert!(!examples.is_empty());
    for example in examples {
        if let Err(err) = Router::init(example) {
            panic!("README example rejected: {err}\n{example}");
        }
    }
}

#[test]
fn readme_example_user_lands_on_the_documented_side() {
    let mut r = router(
        r#"{"routes":[{"split":[{"pool":"stable","weight":90},{"pool":"canary","weight":10}]}],
            "affinity":{"cookie":"session"}}"#,
    );
    // Pins the hash: the README promises `alice` gets `stable`.
    assert_eq!(
        pool(&mut r, get("a.test", "/").cookie("session", "alice")).as_deref(),
        Some("stable")
    );
}
