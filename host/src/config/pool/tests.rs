use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config::parse;

const POOL: &str = "[[listener]]\nbind = \"127.0.0.1:8080\"\n[[pool]]\nname = \"main\"\nbackends = [\"127.0.0.1:9000\"]\n";
const ROUTE: &str = "[[route]]\npool = \"main\"\n";

/// A config whose only pool has `[pool.health_check]` with `keys`.
fn with_check(keys: &str) -> String {
    format!("{POOL}[pool.health_check]\n{keys}\n{ROUTE}")
}

fn check_of(text: &str) -> HealthCheck {
    let config = parse(text, "t.toml", Path::new("/")).unwrap();
    config.pools[0].health_check.clone().unwrap()
}

fn error_of(keys: &str) -> String {
    parse(&with_check(keys), "t.toml", Path::new("/"))
        .unwrap_err()
        .to_string()
}

#[test]
fn a_pool_without_the_table_has_no_health_check() {
    let config = parse(&format!("{POOL}{ROUTE}"), "t.toml", Path::new("/")).unwrap();
    assert_eq!(config.pools[0].health_check, None);
}

#[test]
fn only_the_path_is_required_and_the_rest_defaults() {
    let check = check_of(&with_check("path = \"/healthz\""));
    assert_eq!(check.path.as_str(), "/healthz");
    assert_eq!(check.method, http::Method::GET);
    assert_eq!(check.host, None);
    assert_eq!(check.expect, vec![(200, 399)]);
    assert_eq!(check.interval, Duration::from_millis(5000));
    assert_eq!(check.timeout, Duration::from_millis(2000));
    assert_eq!((check.healthy_threshold, check.unhealthy_threshold), (2, 3));
}

#[test]
fn every_key_can_be_set_in_the_sub_table() {
    let check = check_of(&with_check(
        "path = \"/status?full=1\"\nmethod = \"HEAD\"\nhost = \"app.internal:8080\"\nexpect = [204, \"200-299\", \"418\"]\ninterval_ms = 1000\ntimeout_ms = 250\nhealthy_threshold = 1\nunhealthy_threshold = 5",
    ));
    assert_eq!(check.path.as_str(), "/status?full=1");
    assert_eq!(check.method, http::Method::HEAD);
    assert_eq!(check.host.as_deref(), Some("app.internal:8080"));
    assert_eq!(check.expect, vec![(204, 204), (200, 299), (418, 418)]);
    assert_eq!(check.interval, Duration::from_millis(1000));
    assert_eq!(check.timeout, Duration::from_millis(250));
    assert_eq!((check.healthy_threshold, check.unhealthy_threshold), (1, 5));
}

#[test]
fn the_table_may_be_inline_and_belongs_to_the_pool_above_it() {
    let inline = format!(
        "{POOL}health_check = {{ path = \"/up\", interval_ms = 100, timeout_ms = 50 }}\n{ROUTE}"
    );
    assert_eq!(check_of(&inline).interval, Duration::from_millis(100));
    // A second pool's sub-table goes to the second pool only.
    let two = format!(
        "{POOL}[[pool]]\nname = \"other\"\nbackends = [\"127.0.0.1:9001\"]\n[pool.health_check]\npath = \"/other\"\n{ROUTE}"
    );
    let config = parse(&two, "t.toml", Path::new("/")).unwrap();
    assert_eq!(config.pools[0].health_check, None);
    let other = config.pools[1].health_check.as_ref().unwrap();
    assert_eq!(other.path.as_str(), "/other");
}

#[test]
fn a_missing_path_is_a_parse_error_with_its_line() {
    let err = error_of("interval_ms = 1000");
    assert!(err.contains("t.toml:6"), "{err}");
    assert!(err.contains("missing field `path`"), "{err}");
}

#[test]
fn a_path_that_is_not_origin_form_is_rejected_with_key_and_line() {
    for path in ["healthz", "http://a/healthz", "/a b", "/a#frag", "*", ""] {
        let err = error_of(&format!("path = {path:?}"));
        assert!(err.contains("t.toml:7"), "{path}: {err}");
        assert!(
            err.contains("`pool[0].health_check.path`: `"),
            "{path}: {err}"
        );
        assert!(err.contains("origin-form"), "{path}: {err}");
    }
}

#[test]
fn methods_other_than_get_and_head_are_rejected() {
    let err = error_of("path = \"/\"\nmethod = \"POST\"");
    assert!(err.contains("t.toml:8"), "{err}");
    assert!(
        err.contains("`pool[0].health_check.method`: `POST` is not one of GET, HEAD"),
        "{err}"
    );
}

#[test]
fn a_host_that_is_not_host_port_is_rejected() {
    for host in ["", "user@app", "app/x", "app:port"] {
        let err = error_of(&format!("path = \"/\"\nhost = {host:?}"));
        assert!(
            err.contains("`pool[0].health_check.host`: `"),
            "{host}: {err}"
        );
        assert!(err.contains("t.toml:8"), "{host}: {err}");
    }
}

#[test]
fn bad_expected_statuses_name_their_entry() {
    for (expect, key) in [
        ("[]", "`pool[0].health_check.expect`: needs at least one"),
        ("[99]", "`pool[0].health_check.expect[0]`"),
        ("[200, 600]", "`pool[0].health_check.expect[1]`"),
        ("[\"399-200\"]", "`pool[0].health_check.expect[0]`"),
        ("[\"2xx\"]", "`pool[0].health_check.expect[0]`"),
        ("[\"200-\"]", "`pool[0].health_check.expect[0]`"),
        ("[-200]", "`pool[0].health_check.expect[0]`"),
    ] {
        let err = error_of(&format!("path = \"/\"\nexpect = {expect}"));
        assert!(err.contains(key), "{expect}: {err}");
        assert!(err.contains("t.toml:8"), "{expect}: {err}");
    }
    let err = error_of("path = \"/\"\nexpect = [true]");
    assert!(err.contains("a status (200) or a range"), "{err}");
}

#[test]
fn the_timeout_must_be_positive_and_shorter_than_the_interval() {
    let err = error_of("path = \"/\"\ninterval_ms = 0");
    assert!(
        err.contains("`pool[0].health_check.interval_ms`: must be 1 to 86400000"),
        "{err}"
    );
    let err = error_of("path = \"/\"\ninterval_ms = 86400001");
    assert!(err.contains("health_check.interval_ms"), "{err}");
    let err = error_of("path = \"/\"\ntimeout_ms = 0");
    assert!(
        err.contains("t.toml:8: `pool[0].health_check.timeout_ms`: must be positive"),
        "{err}"
    );
    let err = error_of("path = \"/\"\ninterval_ms = 500\ntimeout_ms = 500");
    assert!(
        err.contains(
            "t.toml:9: `pool[0].health_check.timeout_ms`: must be less than interval_ms (500 ms)"
        ),
        "{err}"
    );
    // The default timeout (2000 ms) against a short interval: the interval's line.
    let err = error_of("path = \"/\"\ninterval_ms = 1000");
    assert!(
        err.contains("t.toml:8: `pool[0].health_check.timeout_ms`: must be less than interval_ms (1000 ms); it is 2000 ms"),
        "{err}"
    );
}

#[test]
fn zero_thresholds_are_rejected() {
    for name in ["healthy_threshold", "unhealthy_threshold"] {
        let err = error_of(&format!("path = \"/\"\n{name} = 0"));
        assert!(
            err.contains(&format!(
                "t.toml:8: `pool[0].health_check.{name}`: must be at least 1"
            )),
            "{err}"
        );
    }
}

#[test]
fn unknown_health_check_keys_are_rejected() {
    let err = error_of("path = \"/\"\ninterval = 5");
    assert!(err.contains("unknown field `interval`"), "{err}");
    assert!(err.contains("t.toml:8"), "{err}");
}
