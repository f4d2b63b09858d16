use super::*;

fn error(config: &str) -> String {
    match parse(config) {
        Ok(_) => panic!("config accepted: {config}"),
        Err(err) => err,
    }
}

#[test]
fn default_pool_alone_is_a_valid_config() {
    let config = parse(r#"{"default_pool":"web"}"#).unwrap();
    assert!(config.routes.is_empty());
    assert_eq!(config.default_pool.as_deref(), Some("web"));
    assert_eq!(config.affinity, None);
}

#[test]
fn config_without_routes_or_default_pool_is_rejected() {
    assert_eq!(error("{}"), "no route: set routes or default_pool");
    assert_eq!(
        error(r#"{"routes":[]}"#),
        "no route: set routes or default_pool"
    );
}

#[test]
fn config_that_is_not_json_is_rejected() {
    assert!(error("routes = []").starts_with("invalid config: "));
}

#[test]
fn unknown_top_level_key_is_rejected() {
    let err = error(r#"{"default_pool":"web","defaultpool":"x"}"#);
    assert!(err.contains("unknown field `defaultpool`"), "{err}");
}

#[test]
fn unknown_route_key_names_the_route_index() {
    let err = error(r#"{"routes":[{"pool":"a"},{"paht_prefix":"/x","pool":"b"}]}"#);
    assert!(
        err.starts_with("routes[1]: unknown field `paht_prefix`"),
        "{err}"
    );
}

#[test]
fn route_needs_exactly_one_target() {
    assert_eq!(
        error(r#"{"routes":[{"path_prefix":"/x"}]}"#),
        "routes[0]: has no target; set pool or split"
    );
    assert_eq!(
        error(r#"{"routes":[{"pool":"a","split":[{"pool":"b","weight":1}]}]}"#),
        "routes[0]: has both pool and split; set one"
    );
}

#[test]
fn invalid_pool_names_are_rejected_with_their_key() {
    let err = error(r#"{"routes":[{"pool":"a b"}]}"#);
    assert!(
        err.starts_with("routes[0].pool: `a b` is not a valid pool name"),
        "{err}"
    );
    let err = error(r#"{"default_pool":""}"#);
    assert!(
        err.starts_with("default_pool: `` is not a valid pool name"),
        "{err}"
    );
    let err =
        error(r#"{"routes":[{"split":[{"pool":"a","weight":1},{"pool":"b/c","weight":1}]}]}"#);
    assert!(err.starts_with("routes[0].split[1].pool: "), "{err}");
}

#[test]
fn empty_or_zero_weight_split_is_rejected() {
    assert_eq!(
        error(r#"{"routes":[{"split":[]}]}"#),
        "routes[0].split: is empty"
    );
    assert_eq!(
        error(r#"{"routes":[{"split":[{"pool":"a","weight":0}]}]}"#),
        "routes[0].split: the weights add up to 0"
    );
}

#[test]
fn split_entry_needs_a_non_negative_integer_weight() {
    let err = error(r#"{"routes":[{"split":[{"pool":"a","weight":-1}]}]}"#);
    assert!(err.starts_with("routes[0]: invalid value"), "{err}");
    let err = error(r#"{"routes":[{"split":[{"pool":"a"}]}]}"#);
    assert!(
        err.starts_with("routes[0]: missing field `weight`"),
        "{err}"
    );
}

#[test]
fn header_condition_needs_exactly_one_of_value_and_value_regex() {
    assert_eq!(
        error(r#"{"routes":[{"header":{"name":"x-a"},"pool":"a"}]}"#),
        "routes[0].header: set value or value_regex"
    );
    assert_eq!(
        error(r#"{"routes":[{"header":{"name":"x-a","value":"1","value_regex":"1"},"pool":"a"}]}"#),
        "routes[0].header: has both value and value_regex; set one"
    );
}

#[test]
fn invalid_header_regex_names_the_route() {
    let err = error(
        r#"{"routes":[{"pool":"a"},{"header":{"name":"x-a","value_regex":"(1"},"pool":"a"}]}"#,
    );
    assert!(
        err.starts_with("routes[1].header.value_regex: invalid regex: "),
        "{err}"
    );
}

#[test]
fn invalid_header_and_cookie_names_are_rejected() {
    let err = error(r#"{"routes":[{"header":{"name":"x a","value":"1"},"pool":"a"}]}"#);
    assert!(
        err.starts_with("routes[0].header.name: `x a` is not a valid name"),
        "{err}"
    );
    let err = error(r#"{"routes":[{"cookie":{"name":"a=b","value":"1"},"pool":"a"}]}"#);
    assert!(err.starts_with("routes[0].cookie.name: "), "{err}");
    let err = error(r#"{"routes":[{"cookie":{"name":"a"},"pool":"a"}]}"#);
    assert!(err.starts_with("routes[0]: missing field `value`"), "{err}");
}

#[test]
fn path_prefix_must_start_with_a_slash() {
    assert_eq!(
        error(r#"{"routes":[{"path_prefix":"api","pool":"a"}]}"#),
        "routes[0].path_prefix: `api` does not start with `/`"
    );
}

#[test]
fn bad_host_pattern_names_the_route() {
    let err = error(r#"{"routes":[{"host":"*","pool":"a"}]}"#);
    assert!(err.starts_with("routes[0].host: "), "{err}");
}

#[test]
fn every_affinity_form_is_parsed() {
    for (json, affinity) in [
        (
            r#"{"cookie":"session"}"#,
            Affinity::Cookie("session".into()),
        ),
        (r#"{"header":"x-user"}"#, Affinity::Header("x-user".into())),
        (r#""client_ip""#, Affinity::ClientIp),
    ] {
        let config = parse(&format!(r#"{{"default_pool":"a","affinity":{json}}}"#)).unwrap();
        assert_eq!(config.affinity, Some(affinity), "{json}");
    }
}

#[test]
fn unknown_affinity_source_is_rejected() {
    let err = error(r#"{"default_pool":"a","affinity":"clientip"}"#);
    assert!(
        err.starts_with("invalid config at `affinity`: unknown variant `clientip`"),
        "{err}"
    );
    let err = error(r#"{"default_pool":"a","affinity":{"query":"u"}}"#);
    assert!(err.contains("unknown variant `query`"), "{err}");
    assert!(parse(r#"{"default_pool":"a","affinity":{"cookie":"s","header":"h"}}"#).is_err());
}

#[test]
fn invalid_affinity_names_are_rejected() {
    assert!(
        error(r#"{"default_pool":"a","affinity":{"cookie":""}}"#).starts_with("affinity.cookie: ")
    );
    assert!(
        error(r#"{"default_pool":"a","affinity":{"header":"x user"}}"#)
            .starts_with("affinity.header: ")
    );
}
