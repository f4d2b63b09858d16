//! Filter chains: ordered plugins with their failure policy. A chain turns a request head into
//! the WIT view, runs each filter's hook in order, and reports what the proxy must do next.
//!
//! Request hooks run in chain order; response hooks run in reverse order (the last filter to see
//! the request is the first to see the response), like nested middleware.
//!
//! Each filter has a circuit breaker (module `breaker`): a filter that keeps faulting is
//! not called for a while, and its failure policy applies as if it had faulted.

mod breaker;
mod local;
mod router;
mod view;

use std::sync::Arc;

use breaker::{Admission, Hook};
pub use breaker::{Breaker, BreakerSettings, BreakerState, breaker_of};
pub(crate) use router::check_budget as check_router_budget;
pub use router::{RouterChain, RouterOutcome};

use crate::access::TraceStep;
use crate::runtime::{
    CallError, Decision, Journal, LocalResponse, Plugin, RequestView, ResponseView,
};

pub(crate) use local::{into_http_response, into_http_response_within};
pub(crate) use view::{RequestMeta, request_head, response_view};

/// What a plugin fault does to the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Answer the request with a 5xx and log the fault.
    FailClosed,
    /// Skip the filter as if it were not in the chain (its edits are undone).
    FailOpen,
}

/// What happens when a filter faults, or keeps faulting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What a fault does to the request.
    pub policy: FailurePolicy,
    /// When the filter is taken out of service.
    pub breaker: BreakerSettings,
}

/// One filter in a chain.
#[derive(Clone, Debug)]
pub struct ChainEntry {
    /// The loaded plugin.
    pub plugin: Arc<Plugin>,
    /// Its failure policy and breaker settings.
    pub failure: Failure,
}

/// An ordered list of filters.
#[derive(Clone, Debug, Default)]
pub struct FilterChain {
    entries: Vec<ChainEntry>,
    /// The breaker of each entry, in the same order (shared with other chains of the filter).
    breakers: Vec<Arc<Breaker>>,
}

/// The outcome of the request hooks.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "moved once per request; boxing the common variant would allocate every time"
)]
pub(crate) enum RequestOutcome {
    /// Every filter continued; forward the (edited) request.
    Forward(RequestView),
    /// A filter answered locally.
    Respond {
        filter: Arc<str>,
        response: crate::runtime::LocalResponse,
    },
    /// A fail-closed filter faulted.
    Failed { filter: Arc<str>, error: CallError },
    /// A fail-closed filter is out of service (its circuit breaker is open); not called.
    Unavailable { filter: Arc<str> },
    /// A filter's local response passed one of the filter's budgets.
    InvalidVerdict { filter: Arc<str>, reason: String },
}

/// The outcome of the response hooks.
#[derive(Debug)]
pub(crate) enum ResponseOutcome {
    /// Send the (edited) upstream response.
    Forward(ResponseView),
    /// A filter replaced the response.
    Respond {
        filter: Arc<str>,
        response: crate::runtime::LocalResponse,
    },
    /// A fail-closed filter faulted.
    Failed { filter: Arc<str>, error: CallError },
    /// A fail-closed filter is out of service (its circuit breaker is open); not called.
    Unavailable { filter: Arc<str> },
    /// A filter's local response passed one of the filter's budgets.
    InvalidVerdict { filter: Arc<str>, reason: String },
}

impl FilterChain {
    /// Creates a chain from entries in order.
    pub fn new(entries: Vec<ChainEntry>) -> Self {
        let breakers = entries
            .iter()
            .map(|e| breaker::breaker_for(&e.plugin, e.failure.breaker))
            .collect();
        Self { entries, breakers }
    }

    /// The filters in order.
    pub fn entries(&self) -> &[ChainEntry] {
        &self.entries
    }

    /// Whether the chain has no filters (the proxy then skips building a view).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether any filter's `on-response` must still be called (false for an empty chain, and
    /// once every filter has promised it does nothing there; then it stays false).
    pub(crate) fn runs_on_response(&self) -> bool {
        self.entries.iter().any(|e| e.plugin.runs_on_response())
    }

    /// Runs every `on-request` hook in order; each hook's step goes to `trace`.
    pub(crate) async fn run_request(
        &self,
        mut view: RequestView,
        trace: &mut Vec<TraceStep>,
    ) -> RequestOutcome {
        // Room for both hooks of every filter: no growth while the chain runs.
        trace.reserve(2 * self.entries.len());
        for (entry, circuit) in self.entries.iter().zip(&self.breakers) {
            let name = entry.plugin.settings().name.clone();
            let admission = circuit.admit(breaker::now_ms);
            if admission == Admission::Refused {
                trace.push(refused_step(&name, "on_request", entry.failure.policy));
                match entry.failure.policy {
                    FailurePolicy::FailOpen => {
                        tracing::debug!(plugin.name = %name, "filter out of service; skipped (fail-open)");
                        continue;
                    }
                    FailurePolicy::FailClosed => {
                        return RequestOutcome::Unavailable { filter: name };
                    }
                }
            }
            view.journal.set_filter(name.clone());
            let backup = (entry.failure.policy == FailurePolicy::FailOpen).then(|| view.clone());
            let mark = JournalMark::of(&view.journal);
            let started = std::time::Instant::now();
            let (returned, result) = entry.plugin.on_request(view).await;
            let elapsed = started.elapsed();
            circuit.record(admission, Hook::Request, result.is_ok(), breaker::now_ms);
            view = returned;
            let step = mark.step(&view.journal, &name, "on_request", elapsed, &result);
            crate::metrics::METRICS.filter_call(&name, "on_request", elapsed, step.fault);
            for _ in &step.refused {
                crate::metrics::METRICS.filter_fault(&name, "invalid_edit");
            }
            trace.push(step);
            match result {
                Ok(Decision::Continue) => {}
                Ok(Decision::Respond(response)) => {
                    return match over_budget(&entry.plugin, &response) {
                        Some(reason) => {
                            invalid_verdict(trace, &name);
                            RequestOutcome::InvalidVerdict {
                                filter: name,
                                reason,
                            }
                        }
                        None => RequestOutcome::Respond {
                            filter: name,
                            response,
                        },
                    };
                }
                Err(error) => match backup {
                    Some(backup) => {
                        tracing::warn!(plugin.name = %name, error = %error, "filter failed; skipped (fail-open)");
                        if let Some(step) = trace.last_mut() {
                            // Its edits were undone with the view.
                            step.verdict = "skipped";
                            step.edits.clear();
                        }
                        view = backup;
                    }
                    None => {
                        tracing::warn!(plugin.name = %name, error = %error, "filter failed; request refused (fail-closed)");
                        return RequestOutcome::Failed {
                            filter: name,
                            error,
                        };
                    }
                },
            }
        }
        RequestOutcome::Forward(view)
    }

    /// Runs every `on-response` hook in reverse order; each hook's step goes to `trace`.
    pub(crate) async fn run_response(
        &self,
        mut request: RequestView,
        mut response: ResponseView,
        trace: &mut Vec<TraceStep>,
    ) -> ResponseOutcome {
        for (entry, circuit) in self.entries.iter().zip(&self.breakers).rev() {
            if !entry.plugin.runs_on_response() {
                continue;
            }
            let name = entry.plugin.settings().name.clone();
            let admission = circuit.admit(breaker::now_ms);
            if admission == Admission::Refused {
                trace.push(refused_step(&name, "on_response", entry.failure.policy));
                match entry.failure.policy {
                    FailurePolicy::FailOpen => {
                        tracing::debug!(plugin.name = %name, "filter out of service; skipped on response (fail-open)");
                        continue;
                    }
                    FailurePolicy::FailClosed => {
                        return ResponseOutcome::Unavailable { filter: name };
                    }
                }
            }
            response.journal.set_filter(name.clone());
            let backup = (entry.failure.policy == FailurePolicy::FailOpen)
                .then(|| clone_response(&response));
            let mark = JournalMark::of(&response.journal);
            let started = std::time::Instant::now();
            let (req, resp, result) = entry.plugin.on_response(request, response).await;
            let elapsed = started.elapsed();
            circuit.record(admission, Hook::Response, result.is_ok(), breaker::now_ms);
            request = req;
            response = resp;
            let step = mark.step(&response.journal, &name, "on_response", elapsed, &result);
            crate::metrics::METRICS.filter_call(&name, "on_response", elapsed, step.fault);
            for _ in &step.refused {
                crate::metrics::METRICS.filter_fault(&name, "invalid_edit");
            }
            trace.push(step);
            match result {
                Ok(Decision::Continue) => {}
                Ok(Decision::Respond(local)) => {
                    return match over_budget(&entry.plugin, &local) {
                        Some(reason) => {
                            invalid_verdict(trace, &name);
                            ResponseOutcome::InvalidVerdict {
                                filter: name,
                                reason,
                            }
                        }
                        None => ResponseOutcome::Respond {
                            filter: name,
                            response: local,
                        },
                    };
                }
                Err(error) => match backup {
                    Some(backup) => {
                        tracing::warn!(plugin.name = %name, error = %error, "filter failed on response; skipped (fail-open)");
                        if let Some(step) = trace.last_mut() {
                            // Its edits were undone with the view.
                            step.verdict = "skipped";
                            step.edits.clear();
                        }
                        response = backup;
                    }
                    None => {
                        tracing::warn!(plugin.name = %name, error = %error, "filter failed on response; response replaced (fail-closed)");
                        return ResponseOutcome::Failed {
                            filter: name,
                            error,
                        };
                    }
                },
            }
        }
        ResponseOutcome::Forward(response)
    }
}

/// Where a hook call starts in a journal, to name the edits and refusals it adds.
struct JournalMark {
    edits: usize,
    refusals: usize,
}

impl JournalMark {
    fn of(journal: &Journal) -> Self {
        Self {
            edits: journal.entries().len(),
            refusals: journal.refusals().len(),
        }
    }

    /// The trace step of the call that started at this mark.
    fn step(
        &self,
        journal: &Journal,
        filter: &Arc<str>,
        hook: &'static str,
        elapsed: std::time::Duration,
        result: &Result<Decision, CallError>,
    ) -> TraceStep {
        let (verdict, status, fault) = match result {
            Ok(Decision::Continue) => ("continue", None, None),
            Ok(Decision::Respond(local)) => ("respond", Some(local.status), None),
            Err(error) => ("fault", None, Some(fault_kind(error))),
        };
        let names = |lines: &[crate::runtime::JournalEntry], from: usize| -> Vec<String> {
            lines
                .get(from..)
                .unwrap_or_default()
                .iter()
                .map(|e| crate::access::edit_name(&e.edit))
                .collect()
        };
        TraceStep {
            filter: filter.clone(),
            hook,
            verdict,
            status,
            edits: names(journal.entries(), self.edits),
            refused: journal
                .refusals()
                .get(self.refusals..)
                .unwrap_or_default()
                .iter()
                // A refusal reads `op: reason`; the reason names no value (validate::describe).
                .map(|e| match e.edit.split_once(": ") {
                    Some((op, why)) => format!("{}: {why}", crate::access::edit_name(op)),
                    None => crate::access::edit_name(&e.edit),
                })
                .collect(),
            time_us: elapsed.as_micros() as u64,
            fault,
        }
    }
}

/// The fault kind of a failed call, as traced and counted.
pub fn fault_kind(error: &CallError) -> &'static str {
    match error {
        CallError::Deadline(_) => "deadline",
        CallError::Memory(_) => "memory",
        CallError::Trap(_) => "trap",
        CallError::Instantiate(_) => "instantiate",
        CallError::InitRejected(_) => "init",
    }
}

/// The step of a filter not called because its breaker is open.
fn refused_step(filter: &Arc<str>, hook: &'static str, policy: FailurePolicy) -> TraceStep {
    TraceStep {
        filter: filter.clone(),
        hook,
        verdict: match policy {
            FailurePolicy::FailOpen => "skipped",
            FailurePolicy::FailClosed => "unavailable",
        },
        status: None,
        edits: Vec::new(),
        refused: Vec::new(),
        time_us: 0,
        fault: Some("breaker_open"),
    }
}

/// Marks the last step (the filter's `respond`) as an invalid verdict.
fn invalid_verdict(trace: &mut [TraceStep], filter: &Arc<str>) {
    if let Some(step) = trace.last_mut() {
        step.verdict = "fault";
        step.fault = Some("invalid_verdict");
    }
    crate::metrics::METRICS.filter_fault(filter, "invalid_verdict");
}

/// Which of the filter's budgets a local response passes, if any.
fn over_budget(plugin: &Plugin, response: &LocalResponse) -> Option<String> {
    let error = local::check_limits(response, &plugin.settings().limits).err()?;
    tracing::warn!(plugin.name = %plugin.settings().name, error = %error, "filter returned an invalid verdict");
    Some(error.to_string())
}

fn clone_response(response: &ResponseView) -> ResponseView {
    ResponseView {
        status: response.status,
        headers: response.headers.clone(),
        journal: response.journal.clone(),
    }
}
