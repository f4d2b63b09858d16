use super::*;

fn error(text: &str) -> ConfigError {
    Config::from_json(text).expect_err("the config is invalid")
}

fn names(entries: &[(String, Template)]) -> Vec<&str> {
    entries.iter().map(|(name, _)| name.as_str()).collect()
}

#[test]
fn empty_text_and_empty_object_edit_nothing() {
    for text in ["", "  ", "{}"] {
        let config = Config::from_json(text).expect("empty config is valid");
        assert!(config.request.is_empty(), "{text:?}");
        assert!(config.response.is_empty(), "{text:?}");
        assert!(!config.forwarded, "{text:?}");
    }
}

#[test]
fn full_config_parses_with_lowercased_names() {
    let config = Config::from_json(
        r#"{
            "request": {
                "set": { "X-Request-Id": "{request_id}" },
                "append": { "via": "weir" },
                "remove": ["X-Debug"]
            },
            "response": { "set": { "x-served-for": "{client_ip}" }, "remove": ["server"] },
            "forwarded": true
        }"#,
    )
    .expect("the config is valid");
    assert_eq!(names(&config.request.set), ["x-request-id"]);
    assert_eq!(names(&config.request.append), ["via"]);
    assert_eq!(config.request.remove, ["x-debug"]);
    assert_eq!(names(&config.response.set), ["x-served-for"]);
    assert_eq!(config.response.remove, ["server"]);
    assert!(config.forwarded);
    assert!(config.response.uses(Placeholder::ClientIp));
    assert!(!config.response.uses(Placeholder::Host));
}

#[test]
fn unknown_top_level_key_is_rejected_naming_it() {
    let err = error(r#"{"requets": {}}"#);
    assert_eq!(err.path(), "requets");
    assert!(err.message().contains("unknown field `requets`"), "{err}");
}

#[test]
fn unknown_section_key_is_rejected_with_its_path() {
    let err = error(r#"{"response": {"delete": ["server"]}}"#);
    assert_eq!(err.path(), "response.delete");
    assert!(err.to_string().contains("`response.delete`"), "{err}");
}

#[test]
fn value_of_wrong_type_names_the_header() {
    let err = error(r#"{"request": {"set": {"x-a": "1", "x-b": 2}}}"#);
    assert_eq!(err.path(), "request.set.x-b");
    assert!(err.message().contains("expected a string"), "{err}");
}

#[test]
fn remove_entry_of_wrong_type_names_its_index() {
    let err = error(r#"{"request": {"remove": ["a", 7]}}"#);
    assert_eq!(err.path(), "request.remove[1]");
}

#[test]
fn section_of_wrong_type_is_named() {
    let err = error(r#"{"request": "x-a"}"#);
    assert_eq!(err.path(), "request");
}

#[test]
fn forwarded_must_be_a_boolean() {
    let err = error(r#"{"forwarded": "yes"}"#);
    assert_eq!(err.path(), "forwarded");
    assert!(err.message().contains("expected a boolean"), "{err}");
}

#[test]
fn invalid_header_name_is_rejected_naming_it() {
    let err = error(r#"{"request": {"set": {"bad name": "1"}}}"#);
    assert_eq!(err.path(), r#"request.set["bad name"]"#);
    assert!(err.message().contains("`bad name`"), "{err}");

    let err = error(r#"{"response": {"append": {"": "1"}}}"#);
    assert_eq!(err.path(), r#"response.append[""]"#);

    let err = error(r#"{"response": {"remove": ["ok", "x:y"]}}"#);
    assert_eq!(err.path(), "response.remove[1]");
}

#[test]
fn header_listed_twice_in_different_case_is_rejected() {
    let err = error(r#"{"request": {"set": {"X-A": "1", "x-a": "2"}}}"#);
    assert_eq!(err.path(), "request.set.x-a");
    assert!(err.message().contains("listed twice"), "{err}");
}

#[test]
fn unknown_placeholder_is_rejected_naming_field_and_placeholder() {
    let err = error(r#"{"response": {"set": {"x-id": "{request-id}"}}}"#);
    assert_eq!(err.path(), "response.set.x-id");
    assert!(err.message().contains("`{request-id}`"), "{err}");
}

#[test]
fn stray_brace_in_template_is_rejected() {
    let err = error(r#"{"request": {"append": {"x-a": "a}"}}}"#);
    assert_eq!(err.path(), "request.append.x-a");
    assert!(err.message().contains("`}}`"), "{err}");
}

#[test]
fn control_character_in_template_is_rejected() {
    let err = error(r#"{"request": {"set": {"x-a": "a\nb"}}}"#);
    assert_eq!(err.path(), "request.set.x-a");
}

#[test]
fn malformed_json_is_rejected_with_its_position() {
    let err = error(r#"{"request": {"#);
    assert!(err.message().contains("line 1"), "{err}");
}
