//! The standard battery every plugin must pass.

use std::sync::Arc;
use std::time::Instant;

use crate::filters;
use crate::runtime::{
    CallError, Decision, Isolation, LoadError, Plugin, RequestView, ResponseView, Runtime,
    WIT_PACKAGE, World,
};

use super::{Check, Failure, TestOptions, corpus, record, settings};

const GROUP: &str = "battery";
/// A config no plugin should accept as valid JSON.
const MALFORMED_CONFIG: &str = "{not json";

/// Runs the battery; returns the loaded plugin when it loaded, for the cases to use.
pub(super) fn run(
    runtime: &Arc<Runtime>,
    options: &TestOptions,
    config: &str,
    checks: &mut Vec<Check>,
) -> Option<Plugin> {
    let started = Instant::now();
    let loaded = Plugin::load(
        runtime,
        &options.plugin,
        settings(options, config, Isolation::Pooled),
    );
    // The check is named after the world the component targets, once that is known.
    let world = loaded.as_ref().map_or(World::HttpFilter, Plugin::world);
    checks.push(Check {
        group: GROUP.to_owned(),
        name: format!("loads as {WIT_PACKAGE} world {world} and init accepts the config"),
        failure: loaded.as_ref().err().map(|e| Failure {
            reason: load_reason(e),
            input: Some(format!("config {}", clip(config))),
        }),
        duration: started.elapsed(),
    });
    let plugin = loaded.ok()?;

    record(
        checks,
        GROUP,
        "init refuses a malformed config with an error, not a trap",
        || match Plugin::load(
            runtime,
            &options.plugin,
            settings(options, MALFORMED_CONFIG, Isolation::PerRequest),
        ) {
            Ok(_)
            | Err(LoadError::Init {
                source: CallError::InitRejected(_),
                ..
            }) => Ok(()),
            Err(e) => Err(Failure {
                reason: load_reason(&e),
                input: Some(format!("config {MALFORMED_CONFIG}")),
            }),
        },
    );

    if world == World::StreamRouter {
        super::stream::battery(runtime, options, config, &plugin, checks);
        return Some(plugin);
    }

    for (name, view) in corpus::requests() {
        record(checks, GROUP, format!("on-request handles {name}"), || {
            check_request(&plugin, options, view)
        });
    }
    for (name, response) in corpus::responses() {
        let request = corpus::request(
            http::Method::GET,
            "/",
            None,
            &[("host", b"app.example.test")],
        );
        record(checks, GROUP, format!("on-response handles {name}"), || {
            check_response(&plugin, options, request, response)
        });
    }

    record(
        checks,
        GROUP,
        "the same input gives the same result from a fresh instance",
        || {
            let fresh = Plugin::load(
                runtime,
                &options.plugin,
                settings(options, config, Isolation::PerRequest),
            )
            .map_err(|e| Failure {
                reason: load_reason(&e),
                input: None,
            })?;
            for (_, view) in corpus::requests() {
                let input = corpus::describe(&view);
                let first = fingerprint(fresh.on_request_blocking(view.clone()));
                let second = fingerprint(fresh.on_request_blocking(view));
                if first != second {
                    return Err(Failure {
                        reason: format!("results differ: first {first}, then {second}"),
                        input: Some(input),
                    });
                }
            }
            Ok(())
        },
    );
    Some(plugin)
}

/// Runs `on-request` once and checks the outcome is valid.
pub(super) fn check_request(
    plugin: &Plugin,
    options: &TestOptions,
    view: RequestView,
) -> Result<(), Failure> {
    let input = corpus::describe(&view);
    let (view, result) = plugin.on_request_blocking(view);
    let fail = |reason: String| Failure {
        reason,
        input: Some(input.clone()),
    };
    let decision = result.map_err(|e| fail(call_reason(&e)))?;
    check_edits(&view.journal).map_err(fail)?;
    check_decision(decision).map_err(fail)?;
    if let (Some(choice), Some(pools)) = (&view.backend, &options.pools)
        && !pools.contains(&choice.pool)
    {
        return Err(fail(format!(
            "selected pool `{}`, which is not one of the given pools ({})",
            choice.pool,
            pools.join(", ")
        )));
    }
    Ok(())
}

/// Runs `on-response` once and checks the outcome is valid.
pub(super) fn check_response(
    plugin: &Plugin,
    _options: &TestOptions,
    request: RequestView,
    response: ResponseView,
) -> Result<(), Failure> {
    let input = format!(
        "{} answered {}",
        corpus::describe(&request),
        response.status
    );
    let (_, response, result) = plugin.on_response_blocking(request, response);
    let fail = |reason: String| Failure {
        reason,
        input: Some(input.clone()),
    };
    let decision = result.map_err(|e| fail(call_reason(&e)))?;
    check_edits(&response.journal).map_err(fail)?;
    check_decision(decision).map_err(fail)
}

fn check_edits(journal: &crate::runtime::Journal) -> Result<(), String> {
    match journal.refusals() {
        [] => Ok(()),
        refused => Err(format!(
            "invalid edit: {}",
            refused
                .iter()
                .map(|r| r.edit.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        )),
    }
}

fn check_decision(decision: Decision) -> Result<(), String> {
    match decision {
        Decision::Continue => Ok(()),
        Decision::Respond(local) => {
            filters::into_http_response_within(local, &crate::config::default_plugin_limits())
                .map(drop)
                .map_err(|e| format!("invalid verdict: {e}"))
        }
    }
}

/// The specific reason for a failed call.
pub(super) fn call_reason(error: &CallError) -> String {
    match error {
        CallError::Deadline(d) => format!("deadline exceeded ({} ms)", d.as_millis()),
        CallError::Memory(cap) => format!("memory cap exceeded ({cap} bytes)"),
        CallError::Trap(trace) => format!("trapped: {trace}"),
        CallError::Instantiate(e) => format!("no instance could be created: {e}"),
        CallError::InitRejected(e) => format!("init rejected the config: {e}"),
    }
}

pub(super) fn load_reason(error: &LoadError) -> String {
    match error {
        LoadError::Read { path, source, .. } => format!("cannot read {path}: {source}"),
        LoadError::Compile { reason, .. } => {
            format!("not a loadable WebAssembly component: {reason}")
        }
        LoadError::WrongWorld { reason, .. } => format!("wrong world or version: {reason}"),
        LoadError::Init { source, .. } => match source {
            CallError::InitRejected(e) => format!("init rejected the config: {e}"),
            other => format!("init failed: {}", call_reason(other)),
        },
    }
}

fn fingerprint((view, result): (RequestView, Result<Decision, CallError>)) -> String {
    let outcome = match result {
        Ok(decision) => format!("{decision:?}"),
        Err(e) => call_reason(&e),
    };
    let edits: Vec<&str> = view
        .journal
        .entries()
        .iter()
        .map(|e| e.edit.as_str())
        .collect();
    format!(
        "{outcome} with edits {edits:?} and backend {:?}",
        view.backend
    )
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}
