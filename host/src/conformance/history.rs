//! Replays: the same input must give the same result whichever instance serves it. weir may
//! serve any call from a fresh instance (after a fault, after `recycle_after_calls`, with
//! `isolation = "per-request"`) or from a warm one that served other clients first, and with
//! `isolation = "per-request"` a request's `on-response` runs on another instance than its
//! `on-request`. Four checks:
//!
//! 1. each corpus request, twice, each time on a fresh instance: equal results;
//! 2. each corpus response, likewise;
//! 3. each corpus response after `on-request` on the same instance, and on an instance that
//!    did not see the request: equal results;
//! 4. one warm instance serves the whole corpus forwards, then backwards: each result equals
//!    the fresh one, or the report names the first input whose result changed and what the
//!    instance had served before. A difference in the selected pool alone (round robin) is a
//!    warning, not a failure.

use std::sync::Arc;

use crate::runtime::{
    CallError, Decision, FilterSettings, Isolation, Journal, Plugin, RequestView, ResponseView,
    Runtime,
};

use super::battery::{GROUP, call_reason, load_reason};
use super::{Check, Failure, TestOptions, corpus, quote, record, record_outcome, settings};

/// What one hook call did, compared between runs: the verdict (a local response whole), the
/// journal (edits and refusals) and the selected pool.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    verdict: Verdict,
    edits: Vec<String>,
    pool: Option<(String, Option<String>)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    Continue,
    Respond {
        status: u16,
        headers: Vec<(String, Vec<u8>)>,
        body: Vec<u8>,
    },
    Failed(String),
}

impl Outcome {
    fn of(result: Result<Decision, CallError>, journal: &Journal, view: &RequestView) -> Self {
        let verdict = match result {
            Ok(Decision::Continue) => Verdict::Continue,
            Ok(Decision::Respond(local)) => Verdict::Respond {
                status: local.status,
                headers: local
                    .headers
                    .into_iter()
                    .map(|h| (h.name, h.value))
                    .collect(),
                body: local.body,
            },
            Err(e) => Verdict::Failed(call_reason(&e)),
        };
        let edits = journal
            .entries()
            .iter()
            .chain(journal.refusals())
            .map(|e| e.edit.clone())
            .collect();
        let pool = view
            .backend
            .as_ref()
            .map(|c| (c.pool.clone(), c.affinity_key.clone()));
        Self {
            verdict,
            edits,
            pool,
        }
    }

    /// The outcome without the pool choice and its journal line.
    fn without_pool(&self) -> Self {
        Self {
            verdict: self.verdict.clone(),
            edits: self
                .edits
                .iter()
                .filter(|e| !e.starts_with("select-backend "))
                .cloned()
                .collect(),
            pool: None,
        }
    }

    /// For reports, bounded.
    fn show(&self) -> String {
        let verdict = match &self.verdict {
            Verdict::Continue => "continue".to_owned(),
            Verdict::Respond {
                status,
                headers,
                body,
            } => format!(
                "respond {status} with {} headers and body {}",
                headers.len(),
                quote::bytes(body)
            ),
            Verdict::Failed(reason) => quote::cut(reason, 200),
        };
        let pool = match &self.pool {
            None => "none".to_owned(),
            Some((pool, _)) => quote::text(pool),
        };
        format!("{verdict}, edits {}, pool {pool}", quote::list(&self.edits))
    }
}

fn on_request(plugin: &Plugin, view: RequestView) -> (Outcome, RequestView, bool) {
    let (view, result) = plugin.on_request_blocking(view);
    let continued = matches!(result, Ok(Decision::Continue));
    (Outcome::of(result, &view.journal, &view), view, continued)
}

fn on_response(plugin: &Plugin, request: RequestView, response: ResponseView) -> Outcome {
    let (request, response, result) = plugin.on_response_blocking(request, response);
    Outcome::of(result, &response.journal, &request)
}

/// A plugin for one replay: `isolation`, recycled after `recycle_after_calls`, one warm
/// instance at most.
fn load(
    runtime: &Arc<Runtime>,
    options: &TestOptions,
    config: &str,
    isolation: Isolation,
    recycle_after_calls: u64,
) -> Result<Plugin, Failure> {
    let settings = FilterSettings {
        recycle_after_calls,
        max_idle_instances: 1,
        ..settings(options, config, isolation)
    };
    Plugin::load(runtime, &options.plugin, settings).map_err(|e| Failure {
        reason: load_reason(&e),
        input: None,
    })
}

/// Runs the four replay checks.
pub(super) fn run(
    runtime: &Arc<Runtime>,
    options: &TestOptions,
    config: &str,
    checks: &mut Vec<Check>,
) {
    let requests = corpus::requests();
    let responses = corpus::responses();
    let fresh = load(runtime, options, config, Isolation::PerRequest, u64::MAX);
    let mut fresh_requests = Vec::new();
    record(
        checks,
        GROUP,
        "the same request gives the same result from a fresh instance",
        || {
            let fresh = fresh.as_ref().map_err(Clone::clone)?;
            let mut first_difference = None;
            for (_, view) in &requests {
                let (first, _, _) = on_request(fresh, view.clone());
                let (second, _, _) = on_request(fresh, view.clone());
                if first != second && first_difference.is_none() {
                    first_difference = Some(differ(&first, &second, view));
                }
                fresh_requests.push(first);
            }
            first_difference.map_or(Ok(()), Err)
        },
    );
    let mut fresh_responses = Vec::new();
    record(
        checks,
        GROUP,
        "the same response gives the same result from a fresh instance",
        || {
            let fresh = fresh.as_ref().map_err(Clone::clone)?;
            let mut first_difference = None;
            for (_, response) in &responses {
                let request = corpus::response_request();
                let first = on_response(fresh, request.clone(), corpus::copy(response));
                let second = on_response(fresh, request.clone(), corpus::copy(response));
                if first != second && first_difference.is_none() {
                    first_difference = Some(Failure {
                        input: Some(answered(&request, response)),
                        ..differ(&first, &second, &request)
                    });
                }
                fresh_responses.push(first);
            }
            first_difference.map_or(Ok(()), Err)
        },
    );
    record(
        checks,
        GROUP,
        "on-response gives the same result on an instance that did not see the request",
        || {
            let fresh = fresh.as_ref().map_err(Clone::clone)?;
            // Recycled after two calls: each on-request gets a new instance, and its
            // on-response the same one.
            let paired = load(runtime, options, config, Isolation::Pooled, 2)?;
            split_instances(fresh, &paired, &responses)
        },
    );
    record_outcome(
        checks,
        GROUP,
        "a warm instance gives each input the result a fresh instance gives, in any order",
        || {
            let warm = load(runtime, options, config, Isolation::Pooled, u64::MAX)?;
            warm_replay(
                &warm,
                &requests,
                &fresh_requests,
                &responses,
                &fresh_responses,
            )
        },
    );
}

fn differ(first: &Outcome, second: &Outcome, view: &RequestView) -> Failure {
    Failure {
        reason: format!(
            "results differ: first {}, then {}",
            first.show(),
            second.show()
        ),
        input: Some(corpus::describe(view)),
    }
}

fn answered(request: &RequestView, response: &ResponseView) -> String {
    format!("{} answered {}", corpus::describe(request), response.status)
}

fn split_instances(
    fresh: &Plugin,
    paired: &Plugin,
    responses: &[(&'static str, ResponseView)],
) -> Result<(), Failure> {
    for (_, response) in responses {
        let (_, seen, continued) = on_request(paired, corpus::response_request());
        if !continued {
            // The proxy calls no on-response after a local response or a fault.
            continue;
        }
        let same = on_response(paired, seen, corpus::copy(response));
        let (_, unseen, _) = on_request(fresh, corpus::response_request());
        let other = on_response(fresh, unseen, corpus::copy(response));
        if same != other {
            return Err(Failure {
                reason: format!(
                    "on-response depends on what its own on-request left in the instance: on \
                     the same instance it gives {}; on an instance that did not see the \
                     request (isolation = \"per-request\", or after the instance was \
                     replaced) {}. Carry such values in the request, not in the instance",
                    same.show(),
                    other.show()
                ),
                input: Some(answered(&corpus::response_request(), response)),
            });
        }
    }
    Ok(())
}

/// One input of the warm replay.
enum Input<'a> {
    Request(&'a RequestView, &'a Outcome),
    Response(&'a ResponseView, &'a Outcome),
}

fn warm_replay(
    warm: &Plugin,
    requests: &[(&'static str, RequestView)],
    fresh_requests: &[Outcome],
    responses: &[(&'static str, ResponseView)],
    fresh_responses: &[Outcome],
) -> Result<Option<String>, Failure> {
    let forward_requests = requests
        .iter()
        .zip(fresh_requests)
        .map(|((_, v), o)| Input::Request(v, o));
    let forward_responses = responses
        .iter()
        .zip(fresh_responses)
        .map(|((_, r), o)| Input::Response(r, o));
    let backward_requests = requests
        .iter()
        .zip(fresh_requests)
        .rev()
        .map(|((_, v), o)| Input::Request(v, o));
    let backward_responses = responses
        .iter()
        .zip(fresh_responses)
        .rev()
        .map(|((_, r), o)| Input::Response(r, o));
    let order = forward_requests
        .chain(forward_responses)
        .chain(backward_requests)
        .chain(backward_responses);
    let mut warning = None;
    let mut last = String::from("nothing");
    for (served, input) in order.enumerate() {
        let (got, fresh, shown) = match input {
            Input::Request(view, fresh) => (
                on_request(warm, view.clone()).0,
                fresh,
                corpus::describe(view),
            ),
            Input::Response(response, fresh) => {
                let request = corpus::response_request();
                let shown = answered(&request, response);
                (
                    on_response(warm, request, corpus::copy(response)),
                    fresh,
                    shown,
                )
            }
        };
        if got != *fresh {
            let inputs = if served == 1 { "input" } else { "inputs" };
            let history = format!(
                "on a warm instance that had served {served} {inputs} before it (the last: \
                 {last}) it gives {}; a fresh instance gives {}",
                got.show(),
                fresh.show()
            );
            if got.without_pool() != fresh.without_pool() {
                return Err(Failure {
                    reason: format!(
                        "the result depends on earlier requests: {history}. State kept from one \
                         request to the next leaks between clients (or a cache is keyed wrongly)"
                    ),
                    input: Some(shown),
                });
            }
            warning.get_or_insert_with(|| {
                format!(
                    "the selected pool depends on earlier requests ({shown}: {history}): \
                     right for round robin, wrong if the choice should follow the client"
                )
            });
        }
        last = shown;
    }
    Ok(warning)
}
