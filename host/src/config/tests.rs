use std::path::Path;

use super::*;

const MINIMAL: &str = "[[listener]]\nbind = \"127.0.0.1:8080\"\n[[pool]]\nname = \"main\"\nbackends = [\"127.0.0.1:9000\"]\n[[route]]\npool = \"main\"\n";

fn parse_ok(text: &str) -> Config {
    parse(text, "t.toml", Path::new("/")).unwrap()
}

fn parse_err(text: &str) -> String {
    parse(text, "t.toml", Path::new("/"))
        .unwrap_err()
        .to_string()
}

#[test]
fn defaults_fill_every_unset_key() {
    let config = parse_ok(MINIMAL);
    let listener = &config.listeners[0];
    assert_eq!(listener.protocol, Protocol::Auto);
    assert_eq!(
        listener.header_timeout,
        Duration::from_millis(defaults::header_timeout_ms())
    );
    let pool = &config.pools[0];
    assert_eq!(pool.balance, Balance::RoundRobin);
    assert_eq!(pool.backends[0].authority.as_str(), "127.0.0.1:9000");
    assert_eq!(pool.backends[0].weight, 1);
    assert_eq!(config.runtime.max_instances, defaults::max_instances());
    assert_eq!(config.routes[0].path_prefix, "/");
}

#[test]
fn filter_config_table_reaches_init_as_json() {
    let plugin = std::env::current_exe().unwrap();
    let text = format!(
        "{MINIMAL}[[filter]]\nname = \"f\"\nplugin = {:?}\nconfig = {{ rules = [ {{ match = \"^/a\", n = 3 }} ] }}\n",
        plugin.display().to_string()
    );
    let config = parse_ok(&text);
    let json: serde_json::Value =
        serde_json::from_str(&config.filters[0].settings.config_json).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"rules": [{"match": "^/a", "n": 3}]})
    );
    assert_eq!(config.filters[0].failure, FailurePolicy::FailClosed);
    assert_eq!(config.filters[0].settings.isolation, Isolation::Pooled);
}

#[test]
fn config_and_config_json_are_exclusive_and_json_must_parse() {
    let plugin = std::env::current_exe().unwrap().display().to_string();
    let both = format!(
        "{MINIMAL}[[filter]]\nname = \"f\"\nplugin = {plugin:?}\nconfig = {{}}\nconfig_json = '{{}}'\n"
    );
    assert!(
        parse_err(&both).contains("`filter[0].config_json`: set either `config` or `config_json`")
    );
    let bad =
        format!("{MINIMAL}[[filter]]\nname = \"f\"\nplugin = {plugin:?}\nconfig_json = '{{nope'\n");
    assert!(parse_err(&bad).contains("`filter[0].config_json`: is not JSON"));
    let null = format!(
        "{MINIMAL}[[filter]]\nname = \"f\"\nplugin = {plugin:?}\nconfig_json = '{{\"domain\":null}}'\n"
    );
    assert_eq!(
        parse_ok(&null).filters[0].settings.config_json,
        "{\"domain\":null}"
    );
}

#[test]
fn quick_mode_builds_the_same_types() {
    let plugin = std::env::current_exe().unwrap().display().to_string();
    let config = quick(&QuickMode {
        listen: "127.0.0.1:8080".into(),
        upstream: "http://127.0.0.1:9000".into(),
        filters: vec![format!("{plugin}={{\"a\":null}}"), plugin.clone()],
        cache_dir: None,
    })
    .unwrap();
    assert_eq!(config.listeners[0].bind, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(
        config.pools[0].backends[0].authority.as_str(),
        "127.0.0.1:9000"
    );
    assert_eq!(config.filters.len(), 2);
    assert_eq!(config.filters[0].settings.config_json, "{\"a\":null}");
    assert_eq!(config.filters[1].settings.config_json, "{}");
    assert_eq!(
        config.routes[0].filters.len(),
        2,
        "every filter, in the order given"
    );
}

#[test]
fn quick_mode_errors_name_the_flag_source() {
    let err = quick(&QuickMode {
        listen: "nowhere".into(),
        upstream: "http://127.0.0.1:9000".into(),
        filters: vec![],
        cache_dir: None,
    })
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("command line: `listener[0].bind`"), "{err}");
}

#[test]
fn zero_quantities_name_their_own_key() {
    let text = MINIMAL.replace(
        "name = \"main\"\n",
        "name = \"main\"\nresponse_timeout_ms = 0\n",
    );
    assert!(parse_err(&text).contains("`pool[0].response_timeout_ms`: must be positive"));
    let text = MINIMAL.replace(
        "bind = \"127.0.0.1:8080\"\n",
        "bind = \"127.0.0.1:8080\"\nmax_connections = 0\n",
    );
    assert!(parse_err(&text).contains("`listener[0].max_connections`: must be positive"));
}

#[test]
fn malformed_backend_entries_say_what_is_expected() {
    let text = MINIMAL.replace("[\"127.0.0.1:9000\"]", "[{ adr = \"x:1\" }]");
    let err = parse_err(&text);
    assert!(err.contains("a backend: \"host:port\" or { addr"), "{err}");
    let text = MINIMAL.replace("127.0.0.1:9000", "https://a.test:443");
    assert!(parse_err(&text).contains("`pool[0].backends[0]`"));
}

#[test]
fn duplicate_names_are_rejected() {
    let text = format!("{MINIMAL}[[pool]]\nname = \"main\"\nbackends = [\"127.0.0.1:1\"]\n");
    assert!(parse_err(&text).contains("duplicate pool name `main`"));
}

#[test]
fn line_and_column_are_one_based() {
    assert_eq!(line_col("ab\ncd", 0), (1, 1));
    assert_eq!(line_col("ab\ncd", 4), (2, 2));
}
