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

use crate::runtime::{CallError, Decision, LocalResponse, Plugin, RequestView, ResponseView};

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

    /// Runs every `on-request` hook in order.
    pub(crate) async fn run_request(&self, mut view: RequestView) -> RequestOutcome {
        for (entry, circuit) in self.entries.iter().zip(&self.breakers) {
            let name = entry.plugin.settings().name.clone();
            let admission = circuit.admit(breaker::now_ms);
            if admission == Admission::Refused {
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
            let (returned, result) = entry.plugin.on_request(view).await;
            circuit.record(admission, Hook::Request, result.is_ok(), breaker::now_ms);
            view = returned;
            match result {
                Ok(Decision::Continue) => {}
                Ok(Decision::Respond(response)) => {
                    return match over_budget(&entry.plugin, &response) {
                        Some(reason) => RequestOutcome::InvalidVerdict {
                            filter: name,
                            reason,
                        },
                        None => RequestOutcome::Respond {
                            filter: name,
                            response,
                        },
                    };
                }
                Err(error) => match backup {
                    Some(backup) => {
                        tracing::warn!(plugin.name = %name, error = %error, "filter failed; skipped (fail-open)");
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

    /// Runs every `on-response` hook in reverse order.
    pub(crate) async fn run_response(
        &self,
        mut request: RequestView,
        mut response: ResponseView,
    ) -> ResponseOutcome {
        for (entry, circuit) in self.entries.iter().zip(&self.breakers).rev() {
            if !entry.plugin.runs_on_response() {
                continue;
            }
            let name = entry.plugin.settings().name.clone();
            let admission = circuit.admit(breaker::now_ms);
            if admission == Admission::Refused {
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
            let (req, resp, result) = entry.plugin.on_response(request, response).await;
            circuit.record(admission, Hook::Response, result.is_ok(), breaker::now_ms);
            request = req;
            response = resp;
            match result {
                Ok(Decision::Continue) => {}
                Ok(Decision::Respond(local)) => {
                    return match over_budget(&entry.plugin, &local) {
                        Some(reason) => ResponseOutcome::InvalidVerdict {
                            filter: name,
                            reason,
                        },
                        None => ResponseOutcome::Respond {
                            filter: name,
                            response: local,
                        },
                    };
                }
                Err(error) => match backup {
                    Some(backup) => {
                        tracing::warn!(plugin.name = %name, error = %error, "filter failed on response; skipped (fail-open)");
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

/// weir's answer for a fail-closed filter whose breaker is open: the 500 a fault gets, with its
/// own kind so clients and operators can tell "out of service" from "just failed".
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
