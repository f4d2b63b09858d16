use super::*;

fn error(config: &str) -> String {
    match parse(config) {
        Ok(_) => panic!("config accepted: {config}"),
        Err(err) => err,
    }
}

#[test]
fn defaults_are_403_with_a_text_body() {
    let (_, action) = parse(r#"{"block_hosts":["a.test"]}"#).unwrap();
    assert_eq!(
        action,
        Action::Deny {
            status: 403,
            body: "blocked by policy\n".to_owned()
        }
    );
}

#[test]
fn redirect_defaults_to_302() {
    let (_, action) =
        parse(r#"{"block_hosts":["a.test"],"redirect":"https://block.test/?u={url}"}"#).unwrap();
    assert_eq!(
        action,
        Action::Redirect {
            status: 302,
            location: "https://block.test/?u={url}".to_owned()
        }
    );
}

#[test]
fn config_that_is_not_json_is_rejected() {
    assert!(error("block_hosts = []").starts_with("invalid config: "));
}

#[test]
fn config_without_any_block_rule_is_rejected() {
    let expected = "no block rule: set block_hosts, block_path_prefixes or block_patterns";
    assert_eq!(error("{}"), expected);
    assert_eq!(error(r#"{"allow_hosts":["a.test"]}"#), expected);
}

#[test]
fn unknown_key_is_rejected() {
    let err = error(r#"{"block_host":["a.test"]}"#);
    assert!(err.contains("unknown field `block_host`"), "{err}");
}

#[test]
fn wrongly_typed_key_is_rejected_naming_it() {
    let err = error(r#"{"block_hosts":"a.test"}"#);
    assert!(
        err.starts_with("invalid config at `block_hosts`: invalid type"),
        "{err}"
    );
}

#[test]
fn bad_host_names_the_list_and_index() {
    let err = error(r#"{"block_hosts":["a.test","b.test:443"]}"#);
    assert!(err.starts_with("block_hosts[1]: "), "{err}");
    let err = error(r#"{"block_hosts":["a.test"],"allow_hosts":["*"]}"#);
    assert!(err.starts_with("allow_hosts[0]: "), "{err}");
}

#[test]
fn path_prefix_without_leading_slash_is_rejected() {
    assert_eq!(
        error(r#"{"block_path_prefixes":["/ok","admin"]}"#),
        "block_path_prefixes[1]: `admin` does not start with `/`"
    );
}

#[test]
fn invalid_regex_names_the_pattern_index() {
    let err = error(r#"{"block_patterns":["casino","(poker"]}"#);
    assert!(
        err.starts_with("block_patterns[1]: invalid regex: "),
        "{err}"
    );
}

#[test]
fn empty_pattern_is_rejected() {
    let err = error(r#"{"block_patterns":[""]}"#);
    assert!(err.starts_with("block_patterns[0]: is empty"), "{err}");
}

#[test]
fn case_insensitive_pattern_compiles() {
    assert!(parse(r#"{"block_patterns":["(?i)casino"]}"#).is_ok());
}

#[test]
fn status_outside_client_and_server_errors_is_rejected() {
    for status in [200, 302, 600] {
        let err = error(&format!(
            r#"{{"block_hosts":["a.test"],"status":{status}}}"#
        ));
        assert!(
            err.starts_with(&format!("status: {status} is not an error status")),
            "{err}"
        );
    }
}

#[test]
fn redirect_with_status_or_body_is_rejected() {
    let expected = "redirect: cannot be combined with status or body";
    assert_eq!(
        error(r#"{"block_hosts":["a.test"],"redirect":"/blocked","status":451}"#),
        expected
    );
    assert_eq!(
        error(r#"{"block_hosts":["a.test"],"redirect":"/blocked","body":"no"}"#),
        expected
    );
}

#[test]
fn redirect_status_without_redirect_is_rejected() {
    assert_eq!(
        error(r#"{"block_hosts":["a.test"],"redirect_status":302}"#),
        "redirect_status: is set but redirect is not"
    );
}

#[test]
fn non_redirect_redirect_status_is_rejected() {
    let err = error(r#"{"block_hosts":["a.test"],"redirect":"/b","redirect_status":200}"#);
    assert_eq!(
        err,
        "redirect_status: 200 is not a redirect status; use 301, 302, 303, 307 or 308"
    );
}

#[test]
fn redirect_must_be_an_http_url_or_absolute_path() {
    let err = error(r#"{"block_hosts":["a.test"],"redirect":"block.test/x"}"#);
    assert!(
        err.starts_with("redirect: `block.test/x` is not an http(s) URL"),
        "{err}"
    );
    let err = error(r#"{"block_hosts":["a.test"],"redirect":"/a b"}"#);
    assert!(err.starts_with("redirect: contains ' '"), "{err}");
    for ok in ["/blocked", "http://b.test/", "HTTPS://b.test/?u={url}"] {
        let config = format!(r#"{{"block_hosts":["a.test"],"redirect":"{ok}"}}"#);
        assert!(parse(&config).is_ok(), "{ok}");
    }
}
