//! The SDK a new plugin crate gets: a copy of this weir's `sdk/`, `rules/` and `wit/`,
//! embedded in the binary, written under the crate's `vendor/`. A crate made by a released
//! `weir` therefore builds without a weir checkout or a registry release of the SDK, and its
//! contract is exactly the one this weir implements.
//!
//! The manifests are derived from the real ones at scaffold time: every `workspace = true`
//! key is replaced by the workspace's value, `weir-rules` becomes a path dependency and the
//! workspace lints are dropped. A unit test keeps [`FILES`] equal to the files on disk.

use toml::{Table, Value};

/// Every source file of the SDK, the rules crate and the WIT, by path in the weir repository.
pub(super) const FILES: &[(&str, &str)] = &[
    (
        "rules/src/context.rs",
        include_str!("../../../rules/src/context.rs"),
    ),
    (
        "rules/src/cookie.rs",
        include_str!("../../../rules/src/cookie.rs"),
    ),
    (
        "rules/src/cookie/tests.rs",
        include_str!("../../../rules/src/cookie/tests.rs"),
    ),
    (
        "rules/src/journal.rs",
        include_str!("../../../rules/src/journal.rs"),
    ),
    (
        "rules/src/lib.rs",
        include_str!("../../../rules/src/lib.rs"),
    ),
    (
        "rules/src/path.rs",
        include_str!("../../../rules/src/path.rs"),
    ),
    (
        "rules/src/path/tests.rs",
        include_str!("../../../rules/src/path/tests.rs"),
    ),
    (
        "rules/src/validate.rs",
        include_str!("../../../rules/src/validate.rs"),
    ),
    (
        "rules/src/validate/tests.rs",
        include_str!("../../../rules/src/validate/tests.rs"),
    ),
    (
        "sdk/src/bindings.rs",
        include_str!("../../../sdk/src/bindings.rs"),
    ),
    (
        "sdk/src/bindings/convert.rs",
        include_str!("../../../sdk/src/bindings/convert.rs"),
    ),
    (
        "sdk/src/config.rs",
        include_str!("../../../sdk/src/config.rs"),
    ),
    (
        "sdk/src/config/key_path.rs",
        include_str!("../../../sdk/src/config/key_path.rs"),
    ),
    (
        "sdk/src/cookie.rs",
        include_str!("../../../sdk/src/cookie.rs"),
    ),
    (
        "sdk/src/error.rs",
        include_str!("../../../sdk/src/error.rs"),
    ),
    (
        "sdk/src/filter.rs",
        include_str!("../../../sdk/src/filter.rs"),
    ),
    (
        "sdk/src/header.rs",
        include_str!("../../../sdk/src/header.rs"),
    ),
    ("sdk/src/host.rs", include_str!("../../../sdk/src/host.rs")),
    (
        "sdk/src/host_pattern.rs",
        include_str!("../../../sdk/src/host_pattern.rs"),
    ),
    (
        "sdk/src/instance.rs",
        include_str!("../../../sdk/src/instance.rs"),
    ),
    ("sdk/src/lib.rs", include_str!("../../../sdk/src/lib.rs")),
    (
        "sdk/src/request.rs",
        include_str!("../../../sdk/src/request.rs"),
    ),
    (
        "sdk/src/request/edit.rs",
        include_str!("../../../sdk/src/request/edit.rs"),
    ),
    (
        "sdk/src/response.rs",
        include_str!("../../../sdk/src/response.rs"),
    ),
    (
        "sdk/src/testing.rs",
        include_str!("../../../sdk/src/testing.rs"),
    ),
    (
        "sdk/src/testing/header_list.rs",
        include_str!("../../../sdk/src/testing/header_list.rs"),
    ),
    (
        "sdk/src/testing/journal.rs",
        include_str!("../../../sdk/src/testing/journal.rs"),
    ),
    (
        "sdk/src/testing/records.rs",
        include_str!("../../../sdk/src/testing/records.rs"),
    ),
    (
        "sdk/src/testing/request.rs",
        include_str!("../../../sdk/src/testing/request.rs"),
    ),
    (
        "sdk/src/testing/response.rs",
        include_str!("../../../sdk/src/testing/response.rs"),
    ),
    (
        "sdk/src/testing/tests.rs",
        include_str!("../../../sdk/src/testing/tests.rs"),
    ),
    (
        "sdk/src/validate.rs",
        include_str!("../../../sdk/src/validate.rs"),
    ),
    (
        "sdk/src/verdict.rs",
        include_str!("../../../sdk/src/verdict.rs"),
    ),
    ("wit/filter.wit", include_str!("../../../wit/filter.wit")),
    (
        "wit/stream-router.wit",
        include_str!("../../../wit/stream-router.wit"),
    ),
];

const WORKSPACE_MANIFEST: &str = include_str!("../../../Cargo.toml");
const SDK_MANIFEST: &str = include_str!("../../../sdk/Cargo.toml");
const RULES_MANIFEST: &str = include_str!("../../../rules/Cargo.toml");

/// Where each repository directory goes under `vendor/`.
const DIRS: &[(&str, &str)] = &[
    ("sdk/", "weir-sdk/"),
    ("rules/", "weir-rules/"),
    ("wit/", "wit/"),
];

/// The vendored files: (path under `vendor/`, contents).
pub(super) fn files() -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::with_capacity(FILES.len() + 2);
    for (path, text) in FILES {
        let (from, to) = DIRS
            .iter()
            .find(|(from, _)| path.starts_with(from))
            .ok_or_else(|| format!("embedded file {path} is outside sdk/, rules/ and wit/"))?;
        out.push((format!("{to}{}", &path[from.len()..]), (*text).to_owned()));
    }
    out.push(("weir-sdk/Cargo.toml".to_owned(), manifest(SDK_MANIFEST)?));
    out.push((
        "weir-rules/Cargo.toml".to_owned(),
        manifest(RULES_MANIFEST)?,
    ));
    Ok(out)
}

/// A member's manifest made standalone: workspace-inherited keys resolved, lints dropped.
fn manifest(member: &str) -> Result<String, String> {
    let parse = |text: &str| {
        text.parse::<Table>()
            .map_err(|e| format!("embedded manifest: {e}"))
    };
    let workspace = parse(WORKSPACE_MANIFEST)?;
    let ws = |key: &str| {
        workspace
            .get("workspace")
            .and_then(|w| w.get(key))
            .and_then(Value::as_table)
            .cloned()
            .unwrap_or_default()
    };
    let (package_defaults, dependencies) = (ws("package"), ws("dependencies"));
    let mut manifest = parse(member)?;
    manifest.remove("lints");
    if let Some(Value::Table(package)) = manifest.get_mut("package") {
        for (key, value) in package.iter_mut() {
            if inherits(value) {
                *value = package_defaults
                    .get(key)
                    .cloned()
                    .ok_or_else(|| format!("workspace.package.{key} is not set"))?;
            }
        }
    }
    resolve_dependencies(&mut manifest, &dependencies)?;
    // `[package]` first, as people write manifests (a `Table` sorts its keys).
    let mut package = Table::new();
    if let Some(value) = manifest.remove("package") {
        package.insert("package".to_owned(), value);
    }
    let render = |table: &Table| {
        toml::to_string(table).map_err(|e| format!("cannot render a manifest: {e}"))
    };
    let text = format!("{}\n{}", render(&package)?, render(&manifest)?);
    Ok(format!(
        "# Vendored by `weir new plugin` from weir {}; see vendor/README.md.\n{text}",
        env!("CARGO_PKG_VERSION")
    ))
}

/// Replaces `dep.workspace = true` in `[dependencies]` and `[target.*.dependencies]`.
fn resolve_dependencies(manifest: &mut Table, workspace: &Table) -> Result<(), String> {
    if let Some(Value::Table(deps)) = manifest.get_mut("dependencies") {
        resolve_table(deps, workspace)?;
    }
    if let Some(Value::Table(targets)) = manifest.get_mut("target") {
        for (_, target) in targets.iter_mut() {
            if let Some(Value::Table(deps)) = target.get_mut("dependencies") {
                resolve_table(deps, workspace)?;
            }
        }
    }
    Ok(())
}

fn resolve_table(deps: &mut Table, workspace: &Table) -> Result<(), String> {
    for (name, value) in deps.iter_mut() {
        if !inherits(value) {
            continue;
        }
        let mut resolved = workspace
            .get(name.as_str())
            .cloned()
            .ok_or_else(|| format!("workspace.dependencies.{name} is not set"))?;
        // The weir crates are vendored side by side.
        if let Value::Table(table) = &mut resolved
            && table.contains_key("path")
        {
            table.insert("path".to_owned(), Value::String(format!("../{name}")));
        }
        *value = resolved;
    }
    Ok(())
}

fn inherits(value: &Value) -> bool {
    value.get("workspace").and_then(Value::as_bool) == Some(true)
}

/// The note written as `vendor/README.md`.
pub(super) const NOTE: &str = "\
This directory is a copy of the weir SDK (`weir-sdk`), the edit rules it shares with weir
(`weir-rules`) and the WIT contract (`wit/`), written by `weir new plugin` from the weir binary
that created this crate. It lets the plugin build without a weir source checkout.

Do not edit it. To follow a newer weir, create a crate with that weir's `weir new plugin` and
copy its `vendor/` over this one.
";
