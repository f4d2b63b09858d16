//! The standard battery every plugin must pass: it loads, `init` refuses a malformed config,
//! every corpus input is handled with valid edits and verdicts within the budgets, and then
//! the replays ([`history`](super::history)) and the long run ([`memory`](super::memory)).

use std::sync::Arc;
use std::time::Instant;

use crate::filters;
use crate::runtime::{
    CallError, Decision, Isolation, Journal, LoadError, Plugin, RequestView, ResponseView, Runtime,
    WIT_PACKAGE, World,
};

use super::{
    Check, Failure, TestOptions, corpus, history, memory, quote, record, record_outcome, settings,
};

pub(super) const GROUP: &str = "battery";
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
            input: Some(format!("config {}", quote::text(config))),
        }),
        warning: None,
        duration: started.elapsed(),
    });
    let plugin = loaded.ok()?;

    record_outcome(
        checks,
        GROUP,
        "init refuses a malformed config with an error, not a trap",
        || match Plugin::load(
            runtime,
            &options.plugin,
            settings(options, MALFORMED_CONFIG, Isolation::PerRequest),
        ) {
            Err(LoadError::Init {
                source: CallError::InitRejected(_),
                ..
            }) => Ok(None),
            Ok(_) => Ok(Some(format!(
                "init accepted {}, which is not JSON: an operator's typo in this plugin's \
                 config would go unnoticed (weir hands every filter its config table as \
                 JSON; a plugin that takes no config may ignore it)",
                quote::text(MALFORMED_CONFIG)
            ))),
            Err(e) => Err(Failure {
                reason: load_reason(&e),
                input: Some(format!("config {}", quote::text(MALFORMED_CONFIG))),
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
        record(checks, GROUP, format!("on-response handles {name}"), || {
            check_response(&plugin, options, corpus::response_request(), response)
        });
    }
    history::run(runtime, options, config, checks);
    memory::run(runtime, options, config, checks);
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
    check_notes(&view.journal).map_err(fail)?;
    check_decision(decision, options).map_err(fail)?;
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
    options: &TestOptions,
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
    check_decision(decision, options).map_err(fail)
}

fn check_edits(journal: &Journal) -> Result<(), String> {
    match journal.refusals() {
        [] => Ok(()),
        refused => {
            let shown: Vec<&str> = refused
                .iter()
                .take(quote::LIST_ITEMS)
                .map(|r| r.edit.as_str())
                .collect();
            let more = match refused.len() - shown.len() {
                0 => String::new(),
                n => format!("; and {n} more"),
            };
            Err(format!("invalid edit: {}{more}", shown.join("; ")))
        }
    }
}

/// Fails on an edit the host had to change before applying it: a `set-path` with dot
/// segments (`/static/../admin`), which weir resolves before sending (RFC 3986 §5.2.4).
pub(super) fn check_notes(journal: &Journal) -> Result<(), String> {
    match journal.notes().first() {
        None => Ok(()),
        Some(note) => Err(format!(
            "dot segments in an edited path: {}. A plugin that puts `.` or `..` in a path \
             usually joins text it does not control into it; build the path you mean",
            note.edit
        )),
    }
}

fn check_decision(decision: Decision, options: &TestOptions) -> Result<(), String> {
    match decision {
        Decision::Continue => Ok(()),
        Decision::Respond(local) => filters::into_http_response_within(local, &options.limits)
            .map(drop)
            .map_err(|e| format!("invalid verdict: {e}")),
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
        LoadError::Snapshot { reason, .. } => format!("cannot snapshot after init: {reason}"),
        LoadError::Init { source, .. } => match source {
            CallError::InitRejected(e) => format!("init rejected the config: {e}"),
            other => format!("init failed: {}", call_reason(other)),
        },
    }
}
