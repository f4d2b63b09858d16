use super::*;

fn error(text: &str) -> ConfigError {
    Config::from_json(text).expect_err("the config is invalid")
}

fn rules(text: &str) -> Config {
    Config::from_json(text).expect("the config is valid")
}

#[test]
fn empty_text_and_empty_object_edit_nothing() {
    for text in ["", " ", "{}", r#"{"request": {}, "response": {}}"#] {
        let config = rules(text);
        assert!(config.request.is_empty(), "{text:?}");
        assert!(config.response.is_empty(), "{text:?}");
    }
}

#[test]
fn full_config_parses() {
    let config = rules(
        r#"{
            "request": {
                "strip": ["_ga"],
                "strip_prefix": ["utm_"],
                "rename": {"sess": "session"},
                "add": {"consent": "1"},
                "overwrite": true
            },
            "response": {
                "set_cookie": [
                    {"name": "*", "secure": true, "same_site": "Lax"},
                    {"name": "session", "http_only": true, "domain": null, "path": "/", "max_age": 3600}
                ],
                "add_set_cookie": [
                    {"name": "seen", "value": "1", "path": "/", "domain": "app.test",
                     "max_age": 60, "secure": true, "http_only": true, "same_site": "None"}
                ],
                "remove_set_cookie": ["debug"]
            }
        }"#,
    );
    assert_eq!(config.request.strip, ["_ga"]);
    assert_eq!(config.request.strip_prefix, ["utm_"]);
    assert_eq!(config.request.rename, [("sess".into(), "session".into())]);
    assert_eq!(config.request.add, [("consent".into(), "1".into())]);
    assert!(config.request.overwrite);

    let [any, session] = config.response.rewrite.as_slice() else {
        panic!("two rules expected")
    };
    assert_eq!(any.name, CookieName::Any);
    assert_eq!(any.secure, Some(true));
    assert_eq!(any.same_site, Some(Some(SameSite::Lax)));
    assert_eq!(any.http_only, None);
    assert_eq!(any.domain, None);
    assert_eq!(session.name, CookieName::Exact("session".into()));
    assert_eq!(session.domain, Some(None), "null removes the attribute");
    assert_eq!(session.path, Some(Some("/".into())));
    assert_eq!(session.max_age, Some(Some(3600)));

    let [seen] = config.response.add.as_slice() else {
        panic!("one cookie expected")
    };
    assert_eq!(seen.same_site, Some(SameSite::None));
    assert_eq!(seen.max_age, Some(60));
    assert_eq!(config.response.remove, ["debug"]);
}

#[test]
fn overwrite_defaults_to_false() {
    assert!(
        !rules(r#"{"request": {"add": {"a": "1"}}}"#)
            .request
            .overwrite
    );
}

#[test]
fn unknown_key_is_rejected_with_its_path() {
    let err = error(r#"{"response": {"set_cookie": [{"name": "a", "secur": true}]}}"#);
    assert_eq!(err.path(), "response.set_cookie[0].secur");
    assert!(err.message().contains("unknown field `secur`"), "{err}");

    let err = error(r#"{"cookies": {}}"#);
    assert_eq!(err.path(), "cookies");
}

#[test]
fn same_site_must_be_spelled_as_in_the_header() {
    let err = error(r#"{"response": {"set_cookie": [{"name": "a", "same_site": "lax"}]}}"#);
    assert_eq!(err.path(), "response.set_cookie[0].same_site");
    assert!(err.message().contains("`Strict`, `Lax`, `None`"), "{err}");
}

#[test]
fn null_same_site_removes_the_attribute() {
    let config = rules(r#"{"response": {"set_cookie": [{"name": "a", "same_site": null}]}}"#);
    assert_eq!(config.response.rewrite[0].same_site, Some(None));
}

#[test]
fn null_flag_is_rejected() {
    let err = error(r#"{"response": {"set_cookie": [{"name": "a", "secure": null}]}}"#);
    assert_eq!(err.path(), "response.set_cookie[0].secure");
    assert!(err.message().contains("expected a boolean"), "{err}");
}

#[test]
fn max_age_must_be_an_integer_or_null() {
    let err = error(r#"{"response": {"set_cookie": [{"name": "a", "max_age": "1h"}]}}"#);
    assert_eq!(err.path(), "response.set_cookie[0].max_age");
}

#[test]
fn rule_that_changes_nothing_is_rejected() {
    let err =
        error(r#"{"response": {"set_cookie": [{"name": "a", "secure": true}, {"name": "b"}]}}"#);
    assert_eq!(err.path(), "response.set_cookie[1]");
    assert!(err.message().contains("changes nothing"), "{err}");
}

#[test]
fn rule_name_must_be_a_cookie_name_or_star() {
    let err = error(r#"{"response": {"set_cookie": [{"name": "a b", "secure": true}]}}"#);
    assert_eq!(err.path(), "response.set_cookie[0].name");
    let err = error(r#"{"response": {"set_cookie": [{"secure": true}]}}"#);
    assert_eq!(err.path(), "response.set_cookie[0]");
    assert!(err.message().contains("missing field `name`"), "{err}");
}

#[test]
fn attribute_with_semicolon_is_rejected() {
    let err = error(r#"{"response": {"set_cookie": [{"name": "a", "domain": "x.test; Secure"}]}}"#);
    assert_eq!(err.path(), "response.set_cookie[0].domain");
    let err =
        error(r#"{"response": {"add_set_cookie": [{"name": "a", "value": "1", "path": "/;"}]}}"#);
    assert_eq!(err.path(), "response.add_set_cookie[0].path");
}

#[test]
fn added_set_cookie_needs_name_and_value() {
    let err = error(r#"{"response": {"add_set_cookie": [{"name": "a"}]}}"#);
    assert_eq!(err.path(), "response.add_set_cookie[0]");
    assert!(err.message().contains("missing field `value`"), "{err}");
}

#[test]
fn added_set_cookie_value_must_be_cookie_octets() {
    let err = error(r#"{"response": {"add_set_cookie": [{"name": "a", "value": "x y"}]}}"#);
    assert_eq!(err.path(), "response.add_set_cookie[0].value");
    // A quoted value is allowed.
    rules(r#"{"response": {"add_set_cookie": [{"name": "a", "value": "\"xy\""}]}}"#);
}

#[test]
fn added_same_site_none_needs_secure() {
    let err = error(
        r#"{"response": {"add_set_cookie": [{"name": "a", "value": "1", "same_site": "None"}]}}"#,
    );
    assert_eq!(err.path(), "response.add_set_cookie[0].same_site");
}

#[test]
fn invalid_names_in_lists_are_named_by_index() {
    let err = error(r#"{"request": {"strip": ["ok", "no;pe"]}}"#);
    assert_eq!(err.path(), "request.strip[1]");
    let err = error(r#"{"request": {"strip_prefix": [""]}}"#);
    assert_eq!(err.path(), "request.strip_prefix[0]");
    let err = error(r#"{"response": {"remove_set_cookie": ["a=b"]}}"#);
    assert_eq!(err.path(), "response.remove_set_cookie[0]");
}

#[test]
fn rename_names_must_be_cookie_names() {
    let err = error(r#"{"request": {"rename": {"old": "new name"}}}"#);
    assert_eq!(err.path(), "request.rename.old");
    assert!(err.message().contains("`new name`"), "{err}");
}

#[test]
fn two_renames_to_the_same_name_are_rejected() {
    let err = error(r#"{"request": {"rename": {"a": "x", "b": "x"}}}"#);
    assert_eq!(err.path(), "request.rename.b");
    assert!(err.message().contains("`a` is already renamed"), "{err}");
}

#[test]
fn added_request_cookie_is_validated() {
    let err = error(r#"{"request": {"add": {"consent": "a,b"}}}"#);
    assert_eq!(err.path(), "request.add.consent");
    let err = error(r#"{"request": {"add": {"a": 1}}}"#);
    assert_eq!(err.path(), "request.add.a");
}

#[test]
fn overwrite_must_be_a_boolean() {
    let err = error(r#"{"request": {"overwrite": 1}}"#);
    assert_eq!(err.path(), "request.overwrite");
}
