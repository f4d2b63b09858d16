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
    assert_eq!(pool.balance, crate::upstream::Balance::RoundRobin);
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
    assert_eq!(config.filters[0].failure.policy, FailurePolicy::FailClosed);
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
        upstream: Some("http://127.0.0.1:9000".into()),
        tls: None,
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
        upstream: Some("http://127.0.0.1:9000".into()),
        tls: None,
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
    let text = MINIMAL.replace("127.0.0.1:9000", "ftp://a.test:21");
    assert!(parse_err(&text).contains("`pool[0].backends[0]`"));
    let text = MINIMAL.replace("127.0.0.1:9000", "a.test");
    assert!(parse_err(&text).contains("`pool[0].backends[0]`"));
}

#[test]
fn pool_protocol_defaults_to_auto_and_names_its_line_when_unknown() {
    let config = parse_ok(MINIMAL);
    assert_eq!(
        config.pools[0].protocol,
        crate::upstream::UpstreamProtocol::Auto
    );
    assert_eq!(
        config.pools[0].upgrade_idle_timeout,
        Duration::from_millis(defaults::upgrade_idle_timeout_ms())
    );
    for (value, expected) in [
        ("h2", crate::upstream::UpstreamProtocol::H2),
        ("http1", crate::upstream::UpstreamProtocol::Http1),
    ] {
        let text = MINIMAL.replace(
            "name = \"main\"\n",
            &format!("name = \"main\"\nprotocol = \"{value}\"\n"),
        );
        assert_eq!(parse_ok(&text).pools[0].protocol, expected);
    }
    let text = MINIMAL.replace("name = \"main\"\n", "name = \"main\"\nprotocol = \"h2c\"\n");
    let err = parse_err(&text);
    assert!(err.contains("t.toml:5"), "{err}");
    assert!(
        err.contains("`pool[0].protocol`: `h2c` is not one of auto, h2, http1"),
        "{err}"
    );
    let text = MINIMAL.replace(
        "name = \"main\"\n",
        "name = \"main\"\nupgrade_idle_timeout_ms = 0\n",
    );
    assert!(parse_err(&text).contains("`pool[0].upgrade_idle_timeout_ms`: must be positive"));
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

/// Writes a self-signed certificate and its key into `dir`, and a second, unrelated key.
fn write_pki(dir: &Path) {
    let cert = rcgen::generate_simple_self_signed(vec!["a.test".into()]).unwrap();
    std::fs::write(dir.join("a.crt"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("a.key"), cert.signing_key.serialize_pem()).unwrap();
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(dir.join("other.key"), other.serialize_pem()).unwrap();
    std::fs::write(dir.join("garbage.pem"), "not pem at all\n").unwrap();
}

fn tls_config(cert: &str, key: &str) -> String {
    format!(
        "[[listener]]\nbind = \"127.0.0.1:8443\"\n[listener.tls]\ncertificates = [{{ cert = \"{cert}\", key = \"{key}\" }}]\n[[pool]]\nname = \"main\"\nbackends = [\"127.0.0.1:9000\"]\n[[route]]\npool = \"main\"\n"
    )
}

#[test]
fn a_tls_listener_loads_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    write_pki(dir.path());
    let config = parse(&tls_config("a.crt", "a.key"), "t.toml", dir.path()).unwrap();
    assert!(config.listeners[0].tls.is_some());
}

#[test]
fn tls_file_errors_name_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_pki(dir.path());
    let err = |cert: &str, key: &str| {
        parse(&tls_config(cert, key), "t.toml", dir.path())
            .unwrap_err()
            .to_string()
    };
    let missing = err("missing.crt", "a.key");
    assert!(missing.starts_with("t.toml:4:"), "{missing}");
    assert!(
        missing.contains("listener[0].tls.certificates[0].cert"),
        "{missing}"
    );
    assert!(missing.contains("missing.crt"), "{missing}");
    let bad = err("garbage.pem", "a.key");
    assert!(bad.contains("no CERTIFICATE block"), "{bad}");
    let bad_key = err("a.crt", "garbage.pem");
    assert!(bad_key.contains("certificates[0].key"), "{bad_key}");
    assert!(bad_key.contains("no PRIVATE KEY block"), "{bad_key}");
    let mismatch = err("a.crt", "other.key");
    assert!(mismatch.contains("certificates[0].key"), "{mismatch}");
    assert!(
        mismatch.contains("does not match the certificate"),
        "{mismatch}"
    );
}

#[test]
fn h2c_cannot_be_combined_with_tls() {
    let dir = tempfile::tempdir().unwrap();
    write_pki(dir.path());
    let text = tls_config("a.crt", "a.key").replace(
        "bind = \"127.0.0.1:8443\"\n",
        "bind = \"127.0.0.1:8443\"\nprotocol = \"h2c\"\n",
    );
    let err = parse(&text, "t.toml", dir.path()).unwrap_err().to_string();
    assert!(err.contains("listener[0].protocol"), "{err}");
}

#[test]
fn upstream_tls_keys_need_an_https_backend() {
    let text = MINIMAL.replace(
        "backends = [\"127.0.0.1:9000\"]\n",
        "backends = [\"127.0.0.1:9000\"]\ntls_server_name = \"a.test\"\n",
    );
    let err = parse_err(&text);
    assert!(err.contains("pool[0].tls_server_name"), "{err}");
    assert!(err.contains("only applies to https:// backends"), "{err}");
}

#[test]
fn https_backends_default_to_port_443_and_take_a_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    write_pki(dir.path());
    let text = MINIMAL.replace(
        "backends = [\"127.0.0.1:9000\"]\n",
        "backends = [\"https://a.test\"]\ntls_ca_file = \"a.crt\"\n",
    );
    let config = parse(&text, "t.toml", dir.path()).unwrap();
    let backend = &config.pools[0].backends[0];
    assert_eq!(
        (backend.authority.as_str(), backend.https),
        ("a.test:443", true)
    );
    assert!(config.pools[0].tls.is_some());
    let text = text.replace("a.crt", "garbage.pem");
    let err = parse(&text, "t.toml", dir.path()).unwrap_err().to_string();
    assert!(err.contains("pool[0].tls_ca_file"), "{err}");
}

#[test]
fn a_forward_listener_needs_no_route() {
    let text = "[[listener]]\nbind = \"127.0.0.1:3128\"\nmode = \"forward\"\n[listener.forward]\nconnect_ports = [443, 8443]\n";
    let config = parse_ok(text);
    let ListenerMode::Forward(forward) = &config.listeners[0].mode else {
        panic!("not a forward listener");
    };
    assert_eq!(forward.policy.connect_ports, [443, 8443]);
    assert_eq!(
        *forward.origin.egress,
        crate::upstream::EgressPolicy::default()
    );
    assert_eq!(forward.origin.allow_ports.to_string(), "80, 443");
    assert_eq!(
        forward.origin.forwarded_for,
        crate::upstream::ForwardedFor::None
    );
}

const FORWARD: &str =
    "[[listener]]\nbind = \"127.0.0.1:3128\"\nmode = \"forward\"\n[listener.forward]\n";

fn forward_of(keys: &str) -> Result<ForwardConfig, String> {
    let text = format!("{FORWARD}{keys}\n");
    let config = parse(&text, "t.toml", Path::new("/")).map_err(|e| e.to_string())?;
    match config.listeners.into_iter().next().map(|l| l.mode) {
        Some(ListenerMode::Forward(forward)) => Ok(forward),
        _ => Err("not a forward listener".into()),
    }
}

#[test]
fn egress_keys_are_parsed() {
    let forward = forward_of(
        "allow_networks = [\"127.0.0.1/32\", \"2001:db8::/32\"]\ndeny_networks = [\"10.0.0.0/8\"]\nallow_ports = [8080, \"9000-9100\"]\nforwarded_for = \"append\"",
    )
    .unwrap();
    let egress = &forward.origin.egress;
    assert_eq!(egress.allow_networks.as_ref().map(|n| n.len()), Some(2));
    assert_eq!(egress.deny_networks.len(), 1);
    assert!(egress.refuse_reserved);
    let ports = &forward.origin.allow_ports;
    assert!(ports.contains(8080) && ports.contains(9050) && !ports.contains(80));
    assert_eq!(
        forward.origin.forwarded_for,
        crate::upstream::ForwardedFor::Append
    );
    let open = forward_of("allow_private_targets = true").unwrap();
    assert!(!open.origin.egress.refuse_reserved);
}

#[test]
fn bad_egress_keys_name_the_line_and_the_entry() {
    for (keys, at) in [
        (
            "allow_networks = [\"127.0.0.1/32\", \"10.0.0.1/8\"]",
            "t.toml:5: `listener[0].forward.allow_networks[1]`",
        ),
        (
            "deny_networks = [\"localhost\"]",
            "t.toml:5: `listener[0].forward.deny_networks[0]`",
        ),
        (
            "deny_networks = [\"fe80::1%eth0/64\"]",
            "listener[0].forward.deny_networks[0]",
        ),
        (
            "allow_ports = [80, 0]",
            "t.toml:5: `listener[0].forward.allow_ports[1]`",
        ),
        (
            "allow_ports = [\"9000-8000\"]",
            "listener[0].forward.allow_ports[0]",
        ),
        (
            "allow_ports = [70000]",
            "listener[0].forward.allow_ports[0]",
        ),
        (
            "forwarded_for = \"yes\"",
            "t.toml:5: `listener[0].forward.forwarded_for`",
        ),
    ] {
        let err = forward_of(keys).unwrap_err();
        assert!(err.contains(at), "{keys}: {err}");
    }
    let err = forward_of("allow_networks = [\"10.0.0.1/8\"]").unwrap_err();
    assert!(err.contains("10.0.0.0/8"), "says the network meant: {err}");
}

#[test]
fn forward_settings_are_checked() {
    let unknown_filter = "[[listener]]\nbind = \"127.0.0.1:3128\"\nmode = \"forward\"\n[listener.forward]\nfilters = [\"nope\"]\n";
    let err = parse_err(unknown_filter);
    assert!(err.contains("listener[0].forward.filters[0]"), "{err}");
    let on_reverse = MINIMAL.replace(
        "bind = \"127.0.0.1:8080\"\n",
        "bind = \"127.0.0.1:8080\"\n[listener.forward]\n",
    );
    let err = parse_err(&on_reverse);
    assert!(err.contains("needs mode = \"forward\""), "{err}");
}

#[test]
fn quick_forward_mode_puts_every_filter_on_the_forward_listener() {
    let config = quick(&QuickMode {
        listen: "127.0.0.1:3128".into(),
        upstream: None,
        filters: vec![],
        cache_dir: None,
        tls: None,
    })
    .unwrap();
    assert!(config.routes.is_empty() && config.pools.is_empty());
    let ListenerMode::Forward(forward) = &config.listeners[0].mode else {
        panic!("quick --forward makes a forward listener");
    };
    assert_eq!(forward.policy.connect_ports, [443]);
}

fn with_filter(keys: &str) -> String {
    let plugin = std::env::current_exe().unwrap().display().to_string();
    format!("{MINIMAL}[[filter]]\nname = \"f\"\nplugin = {plugin:?}\n{keys}")
}

#[test]
fn filter_budgets_and_breaker_default_and_can_be_set() {
    let config = parse_ok(&with_filter(""));
    let filter = &config.filters[0];
    assert_eq!(filter.settings.limits, default_plugin_limits());
    assert_eq!(filter.settings.limits.max_edits_per_call, 256);
    assert_eq!(filter.failure.breaker.after_faults, 5);
    assert_eq!(filter.failure.breaker.backoff, Duration::from_secs(1));
    assert_eq!(filter.failure.breaker.max_backoff, Duration::from_secs(60));
    let config = parse_ok(&with_filter(
        "max_edits_per_call = 10\nmax_header_bytes_per_call = 2048\nmax_header_count = 32\nmax_local_response_body_bytes = 4096\nbreaker_after_faults = 0\nbreaker_backoff_ms = 50\nbreaker_max_backoff_ms = 50\n",
    ));
    let filter = &config.filters[0];
    assert_eq!(
        filter.settings.limits,
        PluginLimits {
            max_edits_per_call: 10,
            max_header_bytes_per_call: 2048,
            max_header_count: 32,
            max_local_response_body_bytes: 4096,
        }
    );
    assert_eq!(filter.failure.breaker.after_faults, 0);
    assert_eq!(
        filter.failure.breaker.max_backoff,
        Duration::from_millis(50)
    );
}

#[test]
fn out_of_range_budgets_are_rejected_with_key_and_line() {
    let err = parse_err(&with_filter("max_edits_per_call = 0\n"));
    assert!(
        err.starts_with("t.toml:11: `filter[0].max_edits_per_call`: must be 1 to"),
        "{err}"
    );
    let err = parse_err(&with_filter("max_header_count = 100000\n"));
    assert!(
        err.contains("`filter[0].max_header_count`: must be 1 to 8192"),
        "{err}"
    );
}

#[test]
fn breaker_max_backoff_below_the_backoff_is_rejected() {
    let err = parse_err(&with_filter(
        "breaker_backoff_ms = 5000\nbreaker_max_backoff_ms = 1000\n",
    ));
    assert!(
        err.contains(
            "`filter[0].breaker_max_backoff_ms`: must be at least breaker_backoff_ms (5000)"
        ),
        "{err}"
    );
}

#[test]
fn unknown_filter_key_is_still_rejected() {
    let err = parse_err(&with_filter("max_edits = 3\n"));
    assert!(err.contains("unknown field `max_edits`"), "{err}");
}

/// `MINIMAL` with extra keys in its pool.
fn with_pool_keys(keys: &str) -> String {
    MINIMAL.replace(
        "backends = [\"127.0.0.1:9000\"]\n",
        &format!("backends = [\"127.0.0.1:9000\"]\n{keys}\n"),
    )
}

#[test]
fn pool_resilience_defaults_and_settings() {
    let pool = &parse_ok(MINIMAL).pools[0];
    assert_eq!(pool.passive, crate::upstream::PassiveHealth::default());
    assert_eq!(pool.limits, crate::upstream::Limits::default());
    assert_eq!(pool.retries, crate::upstream::Retries::default());
    assert_eq!(pool.body_idle_timeout, Some(Duration::from_secs(60)));
    assert_eq!(pool.request_timeout, None);
    let pool = &parse_ok(&with_pool_keys(
        "eject_after_failures = 0\nmax_connections_per_backend = 8\nqueue_size = 0\nretry_on = [\"reset\", \"timeout\"]\nretry_on_status = [503, 429]\nrequest_timeout_ms = 1500\nbody_idle_timeout_ms = 0",
    ))
    .pools[0];
    assert_eq!(pool.passive.eject_after_failures, 0);
    assert_eq!(pool.limits.max_connections, 8);
    assert_eq!(pool.limits.queue_size, 0);
    assert!(pool.retries.on_reset && pool.retries.on_timeout);
    assert_eq!(pool.retries.on_status, vec![503, 429]);
    assert_eq!(pool.request_timeout, Some(Duration::from_millis(1500)));
    assert_eq!(pool.body_idle_timeout, None);
}

#[test]
fn bad_pool_resilience_keys_name_key_and_line() {
    for (keys, key, says) in [
        (
            "max_ejected_percent = 101",
            "pool[0].max_ejected_percent",
            "0 to 100",
        ),
        (
            "retry_budget_percent = 200",
            "pool[0].retry_budget_percent",
            "0 to 100",
        ),
        ("eject_base_ms = 0", "pool[0].eject_base_ms", "positive"),
        (
            "eject_max_ms = 5\neject_base_ms = 10",
            "pool[0].eject_max_ms",
            "at least eject_base_ms",
        ),
        (
            "max_connections_per_backend = 0",
            "pool[0].max_connections_per_backend",
            "positive",
        ),
        (
            "queue_timeout_ms = 0",
            "pool[0].queue_timeout_ms",
            "positive",
        ),
        (
            "retry_on = [\"reset\", \"sometimes\"]",
            "pool[0].retry_on",
            "`sometimes`",
        ),
        ("retry_on_status = [404]", "pool[0].retry_on_status", "404"),
    ] {
        let error = parse_err(&with_pool_keys(keys));
        assert!(error.contains(key), "{keys}: {error}");
        assert!(error.contains(says), "{keys}: {error}");
        assert!(
            error.contains("t.toml:6"),
            "{keys}: names the line: {error}"
        );
    }
}

#[test]
fn every_balance_policy_parses_and_hash_key_goes_with_consistent_hash() {
    use crate::upstream::{Balance, HashKey};
    for (name, want) in [
        ("round-robin", Balance::RoundRobin),
        ("random", Balance::Random),
        ("least-requests", Balance::LeastRequests),
        ("p2c", Balance::P2c),
    ] {
        let config = parse_ok(&with_pool_keys(&format!("balance = \"{name}\"\n")));
        assert_eq!(config.pools[0].balance, want);
        assert_eq!(config.pools[0].hash_key, None);
    }
    let config = parse_ok(&with_pool_keys(
        "balance = \"consistent-hash\"\nhash_key = \"cookie:sid\"\n",
    ));
    assert_eq!(config.pools[0].balance, Balance::ConsistentHash);
    assert_eq!(
        config.pools[0].hash_key,
        Some(HashKey::Cookie("sid".into()))
    );
}

#[test]
fn unknown_balance_is_rejected_with_line_and_choices() {
    let err = parse_err(&with_pool_keys("balance = \"fastest\"\n"));
    assert!(
        err.starts_with("t.toml:6: `pool[0].balance`: `fastest` is not one of round-robin, random, least-requests, p2c, consistent-hash"),
        "{err}"
    );
}

#[test]
fn bad_hash_key_is_rejected_naming_the_key() {
    let bad = parse_err(&with_pool_keys(
        "balance = \"consistent-hash\"\nhash_key = \"header:x user\"\n",
    ));
    assert!(
        bad.starts_with("t.toml:7: `pool[0].hash_key`: `x user` is not a valid header name"),
        "{bad}"
    );
    let unknown = parse_err(&with_pool_keys(
        "balance = \"consistent-hash\"\nhash_key = \"source-ip\"\n",
    ));
    assert!(
        unknown.contains(
            "`pool[0].hash_key`: `source-ip` is not one of client-addr, header:<name>, cookie:<name>"
        ),
        "{unknown}"
    );
}

#[test]
fn consistent_hash_needs_a_hash_key_and_only_it_takes_one() {
    let missing = parse_err(&with_pool_keys("balance = \"consistent-hash\"\n"));
    assert!(
        missing.starts_with(
            "t.toml:6: `pool[0].hash_key`: balance = \"consistent-hash\" needs a hash_key"
        ),
        "{missing}"
    );
    let stray = parse_err(&with_pool_keys("hash_key = \"client-addr\"\n"));
    assert!(
        stray.starts_with(
            "t.toml:6: `pool[0].hash_key`: only applies with balance = \"consistent-hash\""
        ),
        "{stray}"
    );
}

#[test]
fn pool_settings_new_uses_the_config_defaults() {
    let parsed = parse_ok(MINIMAL).pools.remove(0);
    let built = crate::upstream::PoolSettings::new("main", parsed.backends.clone());
    assert_eq!(built, parsed);
}

#[test]
fn path_encoded_separators_defaults_to_reject_and_names_a_bad_value() {
    use crate::runtime::EncodedSeparators;
    assert_eq!(
        parse_ok(MINIMAL).path_encoded_separators,
        EncodedSeparators::Reject
    );
    let keep = format!("[server]\npath_encoded_separators = \"keep\"\n{MINIMAL}");
    assert_eq!(
        parse_ok(&keep).path_encoded_separators,
        EncodedSeparators::Keep
    );
    let err = parse_err(&format!(
        "[server]\npath_encoded_separators = \"decode\"\n{MINIMAL}"
    ));
    assert!(
        err.contains("t.toml:2")
            && err.contains("`server.path_encoded_separators`: `decode` is not reject or keep"),
        "{err}"
    );
}

#[test]
fn a_path_prefix_in_another_spelling_than_the_normalised_one_is_rejected() {
    for (prefix, hint) in [
        ("/a/../b", "write `/b`"),
        ("//api", "write `/api`"),
        ("/%61pi", "write `/api`"),
        ("/api/%zz", "not followed by two hex digits"),
    ] {
        let err = parse_err(&MINIMAL.replace(
            "[[route]]\n",
            &format!("[[route]]\npath_prefix = {prefix:?}\n"),
        ));
        assert!(
            err.contains("`route[0].path_prefix`") && err.contains(hint),
            "{prefix}: {err}"
        );
    }
    let ok = MINIMAL.replace("[[route]]\n", "[[route]]\npath_prefix = \"/api;v=1/\"\n");
    assert_eq!(parse_ok(&ok).routes[0].path_prefix, "/api;v=1/");
}

#[test]
fn proxy_protocol_sources_default_to_loopback_and_bad_ones_name_their_index() {
    let on = MINIMAL.replace(
        "bind = \"127.0.0.1:8080\"\n",
        "bind = \"127.0.0.1:8080\"\nproxy_protocol = true\n",
    );
    let from = parse_ok(&on).listeners[0]
        .limits
        .proxy_protocol_from
        .clone()
        .unwrap();
    assert!(
        from.iter()
            .any(|n| n.contains("127.0.0.1".parse().unwrap()))
    );
    assert!(!from.iter().any(|n| n.contains("10.0.0.1".parse().unwrap())));
    let off = parse_ok(MINIMAL);
    assert_eq!(off.listeners[0].limits.proxy_protocol_from, None);
    let bad = on.replace(
        "proxy_protocol = true\n",
        "proxy_protocol = true\nproxy_protocol_from = [\"10.0.0.0/8\", \"10.0.0.0/99\"]\n",
    );
    let err = parse_err(&bad);
    assert!(
        err.contains("`listener[0].proxy_protocol_from[1]`") && err.contains("10.0.0.0/99`"),
        "{err}"
    );
}

#[test]
fn the_admin_token_is_read_from_its_file_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("token");
    std::fs::write(&good, "abcdefghijklmnopqrstuvwxyz\n").unwrap();
    let short = dir.path().join("short");
    std::fs::write(&short, "abc\n").unwrap();
    let with = |file: &Path| {
        format!(
            "[admin]\nbind = \"127.0.0.1:9901\"\ntoken_file = {:?}\n{MINIMAL}",
            file.display().to_string()
        )
    };
    let admin = parse_ok(&with(&good)).admin.unwrap();
    assert_eq!(admin.token.as_deref(), Some("abcdefghijklmnopqrstuvwxyz"));
    assert!(
        !format!("{admin:?}").contains("abcdefgh"),
        "Debug hides the token"
    );
    let err = parse_err(&with(&short));
    assert!(
        err.contains("`admin.token_file`") && err.contains("at least 16"),
        "{err}"
    );
    let err = parse_err(&with(&dir.path().join("missing")));
    assert!(
        err.contains("`admin.token_file`") && err.contains("cannot read"),
        "{err}"
    );
}

/// A config with one TCP listener running filter `r`, with `keys` in `[listener.tcp]`.
fn tcp_text(keys: &str) -> String {
    let plugin = std::env::current_exe().unwrap().display().to_string();
    format!(
        "[[filter]]\nname = \"r\"\nplugin = {plugin:?}\n[[listener]]\nbind = \"127.0.0.1:9418\"\nmode = \"tcp\"\n[listener.tcp]\n{keys}\n"
    )
}

#[test]
fn a_tcp_listener_needs_no_route_and_fills_its_defaults() {
    let config = parse_ok(&tcp_text("routers = [\"r\"]"));
    let ListenerMode::Tcp(tcp) = &config.listeners[0].mode else {
        panic!("mode = \"tcp\" makes a TCP listener");
    };
    assert_eq!(tcp.routers, [Arc::from("r")]);
    assert_eq!(tcp.max_prefix_bytes, 16_384);
    assert_eq!(tcp.first_bytes_timeout, Duration::from_secs(10));
    assert_eq!(tcp.idle_timeout, Duration::from_secs(300));
    assert_eq!(tcp.buffer_bytes, 16_384);
    assert!(!tcp.allow_address_targets);
}

#[test]
fn tcp_settings_are_checked_with_their_keys() {
    for (keys, expected) in [
        (
            "routers = []",
            "`listener[0].tcp.routers`: name at least one",
        ),
        (
            "routers = [\"nope\"]",
            "`listener[0].tcp.routers[0]`: no filter named `nope`",
        ),
        (
            "routers = [\"r\"]\nmax_prefix_bytes = 0",
            "`listener[0].tcp.max_prefix_bytes`: must be between 1 and 1048576",
        ),
        (
            "routers = [\"r\"]\nfirst_bytes_timeout_ms = 0",
            "`listener[0].tcp.first_bytes_timeout_ms`",
        ),
        ("routers = [\"r\"]\nbogus = 1", "unknown field `bogus`"),
        (
            "routers = [\"r\"]\nbuffer_bytes = 100",
            "`listener[0].tcp.buffer_bytes`: must be between 1024 and 1048576",
        ),
        (
            "routers = [\"r\"]\nallow_networks = [\"10.0.0.0/33\"]",
            "`listener[0].tcp.allow_networks[0]`",
        ),
        (
            "routers = [\"r\"]\ndeny_networks = [\"nope\"]",
            "`listener[0].tcp.deny_networks[0]`",
        ),
        (
            "routers = [\"r\"]\nallow_ports = [0]",
            "`listener[0].tcp.allow_ports[0]`: a port is 1-65535",
        ),
    ] {
        let err = parse_err(&tcp_text(keys));
        assert!(err.contains(expected), "{keys}: {err}");
    }
    let no_table = tcp_text("").replace("[listener.tcp]\n", "");
    assert!(parse_err(&no_table).contains("needs a [listener.tcp] table"));
    let with_tls = tcp_text("routers = [\"r\"]").replace(
        "mode = \"tcp\"\n",
        "mode = \"tcp\"\n[listener.tls]\ncertificates = []\n",
    );
    assert!(parse_err(&with_tls).contains("does not terminate TLS"));
    let on_reverse = MINIMAL.replace(
        "bind = \"127.0.0.1:8080\"\n",
        "bind = \"127.0.0.1:8080\"\n[listener.tcp]\nrouters = []\n",
    );
    assert!(parse_err(&on_reverse).contains("needs mode = \"tcp\""));
}

#[test]
fn quick_tcp_mode_builds_one_tcp_listener_with_every_router() {
    let plugin = std::env::current_exe().unwrap().display().to_string();
    let config = quick_tcp(&QuickTcp {
        listen: "127.0.0.1:1080".into(),
        routers: vec![plugin.clone(), format!("{plugin}={{\"a\":1}}")],
        allow_address_targets: true,
        cache_dir: None,
    })
    .unwrap();
    assert!(config.routes.is_empty() && config.pools.is_empty());
    let ListenerMode::Tcp(tcp) = &config.listeners[0].mode else {
        panic!("quick TCP mode makes a TCP listener");
    };
    assert_eq!(tcp.routers.len(), 2);
    assert!(tcp.allow_address_targets);
    assert_eq!(config.filters[1].settings.config_json, "{\"a\":1}");
}
