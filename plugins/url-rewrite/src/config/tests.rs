use super::*;

fn error(config: &str) -> String {
    match parse(config) {
        Ok(rules) => panic!("config accepted ({} rules): {config}", rules.len()),
        Err(err) => err,
    }
}

#[test]
fn minimal_rule_gets_documented_defaults() {
    let rules = parse(r#"{"rules":[{"match":"^/a$","replace":"/b"}]}"#).unwrap();
    let rule = &rules[0];
    assert!(rule.last);
    assert!(!rule.include_query);
    assert!(rule.host.is_none() && rule.set_host.is_none() && rule.redirect.is_none());
}

#[test]
fn config_that_is_not_json_is_rejected() {
    assert!(error("rules = []").starts_with("invalid config: "));
}

#[test]
fn wrongly_typed_rules_names_the_key() {
    let err = error(r#"{"rules":5}"#);
    assert!(
        err.starts_with("invalid config at `rules`: invalid type: integer `5`"),
        "{err}"
    );
}

#[test]
fn missing_rules_is_rejected() {
    assert!(error("{}").contains("missing field `rules`"));
}

#[test]
fn empty_rules_is_rejected() {
    assert_eq!(
        error(r#"{"rules":[]}"#),
        "rules: is empty; add at least one rule"
    );
}

#[test]
fn unknown_top_level_key_is_rejected() {
    let err = error(r#"{"rules":[{"match":"a","replace":"/b"}],"rule":[]}"#);
    assert!(err.contains("unknown field `rule`"), "{err}");
}

#[test]
fn unknown_rule_key_names_the_rule_index() {
    let err = error(
        r#"{"rules":[{"match":"a","replace":"/b"},{"match":"a","replace":"/b","lats":false}]}"#,
    );
    assert!(err.starts_with("rules[1]: unknown field `lats`"), "{err}");
}

#[test]
fn missing_replace_names_the_rule_index() {
    let err = error(r#"{"rules":[{"match":"a"}]}"#);
    assert!(
        err.starts_with("rules[0]: missing field `replace`"),
        "{err}"
    );
}

#[test]
fn wrongly_typed_key_names_the_rule_index() {
    let err = error(r#"{"rules":[{"match":"a","replace":"/b","last":"no"}]}"#);
    assert!(err.starts_with("rules[0]: invalid type"), "{err}");
}

#[test]
fn invalid_regex_fails_with_the_rule_index_and_key() {
    let err = error(r#"{"rules":[{"match":"a","replace":"/b"},{"match":"^/(a","replace":"/b"}]}"#);
    assert!(err.starts_with("rules[1].match: invalid regex: "), "{err}");
}

#[test]
fn empty_match_is_rejected() {
    assert_eq!(
        error(r#"{"rules":[{"match":"","replace":"/b"}]}"#),
        "rules[0].match: is empty"
    );
}

#[test]
fn case_insensitive_regex_compiles() {
    assert!(parse(r#"{"rules":[{"match":"(?i)^/OLD/(.*)$","replace":"/new/$1"}]}"#).is_ok());
}

#[test]
fn replace_referring_to_a_missing_group_is_rejected() {
    let err = error(r#"{"rules":[{"match":"^/(a)$","replace":"/$2"}]}"#);
    assert_eq!(
        err,
        "rules[0].replace: `$2` refers to a capture group that `match` does not have"
    );
    let err = error(r#"{"rules":[{"match":"^/(?P<x>a)$","replace":"/${y}"}]}"#);
    assert!(err.contains("`$y`"), "{err}");
}

#[test]
fn group_followed_by_text_gets_a_brace_hint() {
    let err = error(r#"{"rules":[{"match":"^/(a)$","replace":"/$1a"}]}"#);
    assert!(err.contains("write `${1}`"), "{err}");
}

#[test]
fn literal_dollar_and_named_groups_are_accepted() {
    assert!(parse(r#"{"rules":[{"match":"^/(?P<x>a)$","replace":"/$$/${x}/$x/$0"}]}"#).is_ok());
}

#[test]
fn group_references_follow_the_regex_template_syntax() {
    assert_eq!(
        group_references("/$1/${name}x/$$2/$a_b-c/$"),
        ["1", "name", "a_b"]
    );
    assert!(group_references("/${unclosed").is_empty());
}

#[test]
fn non_redirect_status_is_rejected() {
    for status in [200, 300, 303, 404] {
        let err = error(&format!(
            r#"{{"rules":[{{"match":"a","replace":"/b","redirect":{status}}}]}}"#
        ));
        assert_eq!(
            err,
            format!(
                "rules[0].redirect: {status} is not a redirect status; use 301, 302, 307 or 308"
            )
        );
    }
}

#[test]
fn every_redirect_status_is_accepted() {
    for status in REDIRECT_STATUSES {
        let config = format!(r#"{{"rules":[{{"match":"a","replace":"/b","redirect":{status}}}]}}"#);
        assert_eq!(parse(&config).unwrap()[0].redirect, Some(status));
    }
}

#[test]
fn out_of_range_redirect_is_rejected_by_type() {
    let err = error(r#"{"rules":[{"match":"a","replace":"/b","redirect":70000}]}"#);
    assert!(err.starts_with("rules[0]: invalid value"), "{err}");
}

#[test]
fn bad_host_pattern_names_the_key() {
    let err = error(r#"{"rules":[{"match":"a","replace":"/b","host":"a.*.test"}]}"#);
    assert!(err.starts_with("rules[0].host: "), "{err}");
}

#[test]
fn bad_set_host_names_the_key() {
    let err = error(r#"{"rules":[{"match":"a","replace":"/b","set_host":"a.test/x"}]}"#);
    assert!(err.starts_with("rules[0].set_host: "), "{err}");
    let err = error(r#"{"rules":[{"match":"a","replace":"/b","set_host":"a.test:99999"}]}"#);
    assert!(err.contains("invalid port"), "{err}");
}

#[test]
fn set_host_accepts_ports_and_ipv6_literals() {
    for authority in [
        "a.test",
        "a.test:8080",
        "[::1]",
        "[::1]:8443",
        "127.0.0.1:9000",
    ] {
        let config =
            format!(r#"{{"rules":[{{"match":"a","replace":"/b","set_host":"{authority}"}}]}}"#);
        assert!(parse(&config).is_ok(), "{authority}");
    }
}
