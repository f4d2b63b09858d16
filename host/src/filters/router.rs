//! Stream-router chains: the ordered routers of a `mode = "tcp"` listener, with their failure
//! policy and circuit breakers (the same as filters'). Each time a connection's buffered bytes
//! grow, the routers are asked in order: the first `route`, `close` or `close-with` decides;
//! a `wait` stops the round (later routers are not asked) until more bytes arrive.
//!
//! A router that faults, or whose breaker is open, is skipped when it is `fail-open` and
//! closes the connection when it is `fail-closed`. A verdict carrying more bytes than the
//! router's `max_local_response_body_bytes` (reply plus replacement upstream bytes) is an
//! invalid verdict, handled like a fault.

use std::sync::Arc;

use super::breaker::{self, Admission, Breaker, Hook};
use super::{ChainEntry, FailurePolicy};
use crate::runtime::{Connection, Verdict};

/// An ordered list of stream routers.
#[derive(Clone, Debug, Default)]
pub struct RouterChain {
    entries: Vec<ChainEntry>,
    breakers: Vec<Arc<Breaker>>,
}

/// What a round of the chain decided.
#[derive(Debug)]
pub enum RouterOutcome {
    /// A router decided (`route`, `close` or `close-with`).
    Decided {
        /// The router's name.
        router: Arc<str>,
        /// Its verdict (never `wait`).
        verdict: Verdict,
    },
    /// A router needs more bytes.
    Wait,
    /// A fail-closed router faulted, is out of service or returned an invalid verdict.
    Failed {
        /// The router's name.
        router: Arc<str>,
        /// Why, for the log.
        reason: String,
    },
    /// Every router was skipped (fail-open): nobody decided.
    Undecided,
}

impl RouterChain {
    /// Creates a chain from entries in order.
    pub fn new(entries: Vec<ChainEntry>) -> Self {
        let breakers = entries
            .iter()
            .map(|e| breaker::breaker_for(&e.plugin, e.failure.breaker))
            .collect();
        Self { entries, breakers }
    }

    /// The routers in order.
    pub fn entries(&self) -> &[ChainEntry] {
        &self.entries
    }

    /// Asks the routers in order about `data`, the connection's bytes so far.
    pub async fn run(&self, conn: &Connection, data: &[u8]) -> RouterOutcome {
        for (entry, circuit) in self.entries.iter().zip(&self.breakers) {
            let name = &entry.plugin.settings().name;
            let skip = entry.failure.policy == FailurePolicy::FailOpen;
            let admission = circuit.admit(breaker::now_ms);
            if admission == Admission::Refused {
                if skip {
                    tracing::debug!(plugin.name = %name, "router out of service; skipped (fail-open)");
                    continue;
                }
                return failed(name, "out of service (circuit breaker open)".into());
            }
            let result = entry.plugin.on_data(conn, data).await;
            let result = result.map_err(|e| e.to_string()).and_then(|verdict| {
                check_budget(
                    &verdict,
                    entry.plugin.settings().limits.max_local_response_body_bytes,
                )
                .map(|()| verdict)
            });
            circuit.record(admission, Hook::Request, result.is_ok(), breaker::now_ms);
            match result {
                Ok(Verdict::Wait) => return RouterOutcome::Wait,
                Ok(verdict) => {
                    return RouterOutcome::Decided {
                        router: name.clone(),
                        verdict,
                    };
                }
                Err(reason) if skip => {
                    tracing::warn!(plugin.name = %name, error = %reason, "router failed; skipped (fail-open)");
                }
                Err(reason) => {
                    tracing::warn!(plugin.name = %name, error = %reason, "router failed; connection closed (fail-closed)");
                    return failed(name, reason);
                }
            }
        }
        RouterOutcome::Undecided
    }
}

fn failed(router: &Arc<str>, reason: String) -> RouterOutcome {
    RouterOutcome::Failed {
        router: router.clone(),
        reason,
    }
}

/// Refuses a verdict that makes the host hold more than `max` bytes (reply plus replacement
/// upstream bytes, or the bytes of `close-with`).
pub(crate) fn check_budget(verdict: &Verdict, max: usize) -> Result<(), String> {
    let held = match verdict {
        Verdict::Route(route) => {
            route.reply.len() + route.send_upstream.as_ref().map_or(0, Vec::len)
        }
        Verdict::CloseWith(bytes) => bytes.len(),
        Verdict::Wait | Verdict::Close => 0,
    };
    if held > max {
        return Err(format!(
            "invalid verdict: {held} bytes to send, more than max_local_response_body_bytes ({max})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{Route, Upstream};

    #[test]
    fn a_verdict_over_the_byte_budget_is_refused() {
        let route = |reply: usize, upstream: Option<usize>| {
            Verdict::Route(Route {
                upstream: Upstream::Pool("p".into()),
                affinity_key: None,
                send_upstream: upstream.map(|n| vec![0; n]),
                reply: vec![0; reply],
            })
        };
        assert!(check_budget(&route(10, Some(10)), 20).is_ok());
        assert!(check_budget(&route(10, Some(11)), 20).is_err());
        assert!(check_budget(&Verdict::CloseWith(vec![0; 21]), 20).is_err());
        assert!(check_budget(&Verdict::Close, 0).is_ok());
    }
}
