//! Config errors name the file, the line and the key, and a plugin that cannot load stops the
//! start with an error naming the filter.

use weir_tests::guests;

use crate::support::{config, filter, start_error};

fn parse_error(toml: &str) -> String {
    match weir::config::parse(toml, "test.toml", std::path::Path::new("/")) {
        Ok(_) => panic!("config was accepted:\n{toml}"),
        Err(e) => e.to_string(),
    }
}

const BASE: &str = "[[listener]]\nbind = \"127.0.0.1:0\"\n\n[[pool]]\nname = \"main\"\nbackends = [\"127.0.0.1:9\"]\n\n[[route]]\npool = \"main\"\n";

#[test]
fn unknown_key_is_rejected_with_line_number() {
    let err = parse_error("[[listener]]\nbind = \"127.0.0.1:0\"\nbnd = 1\n");
    assert!(err.starts_with("test.toml:3:"), "{err}");
    assert!(err.contains("unknown field `bnd`"), "{err}");
}

#[test]
fn route_naming_an_unknown_pool_is_rejected_with_key_and_line() {
    let toml = BASE.replace("[[route]]\npool = \"main\"", "[[route]]\npool = \"mian\"");
    let err = parse_error(&toml);
    assert!(err.starts_with("test.toml:9: `route[0].pool`"), "{err}");
    assert!(err.contains("no pool named `mian` (pools: main)"), "{err}");
}

#[test]
fn invalid_bind_address_is_rejected() {
    let err = parse_error(&BASE.replace("127.0.0.1:0", "localhost"));
    assert!(err.starts_with("test.toml:2: `listener[0].bind`"), "{err}");
}

#[test]
fn invalid_enum_values_list_what_is_allowed() {
    let toml = BASE.replace(
        "name = \"main\"\n",
        "name = \"main\"\nbalance = \"fastest\"\n",
    );
    let err = parse_error(&toml);
    assert!(
        err.contains(
            "`pool[0].balance`: `fastest` is not one of round-robin, random, least-requests"
        ),
        "{err}"
    );
}

#[test]
fn missing_plugin_file_is_rejected_with_key() {
    let toml = format!("{BASE}\n[[filter]]\nname = \"f\"\nplugin = \"/nonexistent/x.wasm\"\n");
    let err = parse_error(&toml);
    assert!(
        err.contains("`filter[0].plugin`: no plugin file at /nonexistent/x.wasm"),
        "{err}"
    );
}

#[test]
fn route_naming_an_unknown_filter_is_rejected() {
    let toml = BASE.replace(
        "pool = \"main\"\n",
        "pool = \"main\"\nfilters = [\"nope\"]\n",
    );
    let err = parse_error(&toml);
    assert!(
        err.contains("`route[0].filters[0]`: no filter named `nope`"),
        "{err}"
    );
}

#[test]
fn syntax_error_names_line_and_column() {
    let err = parse_error("[[listener]\nbind = 1\n");
    assert!(err.starts_with("test.toml:1:"), "{err}");
}

#[test]
fn documented_example_config_parses() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/weir.example.toml");
    let text = std::fs::read_to_string(path).expect("docs/weir.example.toml exists");
    // Plugin paths in the example point at the release build; check the rest of the file by
    // resolving them against a directory holding the built guests' names.
    let text = text.replace("target/wasm32-wasip2/release/", "");
    let dir = std::path::Path::new(guests::URL_REWRITE).parent().unwrap();
    weir::config::parse(&text, "weir.example.toml", dir).expect("the documented example is valid");
}

#[tokio::test]
async fn bytes_that_are_not_a_component_fail_the_start_naming_the_filter() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.wasm");
    std::fs::write(&bogus, b"\0asm not really").unwrap();
    let toml = config(
        "127.0.0.1:9".parse().unwrap(),
        &[filter("bogus", bogus.to_str().unwrap(), "{}")],
        &["bogus"],
    );
    let err = start_error(&toml).await;
    assert!(err.contains("filter `bogus`"), "{err}");
    assert!(
        err.contains("is not a loadable WebAssembly component"),
        "{err}"
    );
}

#[tokio::test]
async fn init_rejecting_its_config_fails_the_start_naming_the_filter() {
    let toml = config(
        "127.0.0.1:9".parse().unwrap(),
        &[filter(
            "rewrite",
            guests::URL_REWRITE,
            r#"{"rules":[{"match":"(unclosed","replace":"/x"}]}"#,
        )],
        &["rewrite"],
    );
    let err = start_error(&toml).await;
    assert!(
        err.contains("filter `rewrite` cannot start an instance: init rejected the config"),
        "{err}"
    );
}

#[tokio::test]
async fn plugin_importing_a_host_function_weir_lacks_fails_the_start_naming_it() {
    let toml = config(
        "127.0.0.1:9".parse().unwrap(),
        &[filter("extra", guests::EXTRA_IMPORT, "{}")],
        &["extra"],
    );
    let err = start_error(&toml).await;
    assert!(
        err.contains("filter `extra`: plugin does not implement weir:filter@0.1.0 world"),
        "{err}"
    );
    assert!(
        err.contains(
            "it imports `weir:filter/host@0.1.0#extra-feature`, which this host does not provide"
        ),
        "{err}"
    );
}
