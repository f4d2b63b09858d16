//! The long run: one warm instance serves the corpus over and over, and its memory must level
//! off. wasm memories never shrink, so memory that grows in every quarter of the run is a
//! leak. The proxy replaces an instance whose memory passed half its cap, which hides a leak
//! as an instance restarted every so many calls: the tool runs with the same rule and reports
//! that replacement as the leak it is.

use std::sync::Arc;

use crate::runtime::{Decision, FilterSettings, Isolation, Plugin, Runtime};

use super::battery::{GROUP, call_reason, load_reason};
use super::{Check, Failure, TestOptions, corpus, record, settings};

/// Rounds over the corpus before the first measurement (caches and pools fill up).
pub(super) const WARM_UP_ROUNDS: usize = 2;
/// Measured quarters of the run, and rounds over the corpus in each.
pub(super) const QUARTERS: usize = 4;
pub(super) const ROUNDS_PER_QUARTER: usize = 4;

/// Runs the memory-growth check.
pub(super) fn run(
    runtime: &Arc<Runtime>,
    options: &TestOptions,
    config: &str,
    checks: &mut Vec<Check>,
) {
    record(
        checks,
        GROUP,
        format!(
            "memory levels off over a long run ({} rounds of the request corpus)",
            WARM_UP_ROUNDS + QUARTERS * ROUNDS_PER_QUARTER
        ),
        || {
            let settings = FilterSettings {
                recycle_after_calls: u64::MAX,
                max_idle_instances: 1,
                ..settings(options, config, Isolation::Pooled)
            };
            let warm = Plugin::load(runtime, &options.plugin, settings).map_err(|e| Failure {
                reason: load_reason(&e),
                input: None,
            })?;
            long_run(&warm, options.memory_limit_bytes)
        },
    );
}

fn long_run(warm: &Plugin, cap: usize) -> Result<(), Failure> {
    let requests = corpus::requests();
    let responses = corpus::responses();
    let mut samples = Vec::with_capacity(QUARTERS + 1);
    let mut calls = 0usize;
    for round in 0..WARM_UP_ROUNDS + QUARTERS * ROUNDS_PER_QUARTER {
        for (i, (_, view)) in requests.iter().enumerate() {
            let (view, result) = warm.on_request_blocking(view.clone());
            calls += 1;
            let input = corpus::describe(&view);
            let continued = match result {
                Ok(decision) => matches!(decision, Decision::Continue),
                Err(e) => return Err(failed_call(calls, &e, input)),
            };
            check_kept(warm, calls, cap, &samples, &input)?;
            if continued {
                let (_, response) = &responses[i % responses.len()];
                let (_, response, result) = warm.on_response_blocking(view, corpus::copy(response));
                calls += 1;
                let input = format!("{input} answered {}", response.status);
                if let Err(e) = result {
                    return Err(failed_call(calls, &e, input));
                }
                check_kept(warm, calls, cap, &samples, &input)?;
            }
        }
        let done = round + 1;
        if done >= WARM_UP_ROUNDS && (done - WARM_UP_ROUNDS).is_multiple_of(ROUNDS_PER_QUARTER) {
            samples.push((calls, warm.idle_memory_bytes().unwrap_or_default()));
        }
    }
    let grew_every_quarter = samples.windows(2).all(|w| w[1].1 > w[0].1);
    if grew_every_quarter && let (Some(first), Some(last)) = (samples.first(), samples.last()) {
        let per_call = (last.1 - first.1) / (last.0 - first.0).max(1);
        return Err(Failure {
            reason: format!(
                "memory grows with every quarter of the run: {}. About {per_call} bytes a call: \
                 a leak. The proxy replaces an instance once its memory passes half the cap \
                 ({} of {cap} bytes), so this plugin would restart about every {} calls",
                show(&samples),
                cap / 2,
                cap / 2 / per_call.max(1)
            ),
            input: Some("the corpus, in a loop".to_owned()),
        });
    }
    Ok(())
}

/// Fails when the instance was not kept after a call that succeeded: its memory passed half
/// the cap (recycling is off and it did not fault).
fn check_kept(
    warm: &Plugin,
    calls: usize,
    cap: usize,
    samples: &[(usize, usize)],
    input: &str,
) -> Result<(), Failure> {
    if warm.idle_memory_bytes().is_some() {
        return Ok(());
    }
    let history = if samples.is_empty() {
        String::new()
    } else {
        format!(" (memory so far: {})", show(samples))
    };
    Err(Failure {
        reason: format!(
            "the instance's memory passed half its cap ({} of {cap} bytes) after {calls} calls, \
             so the proxy replaces it{history}: a leak, or a plugin too big for its cap",
            cap / 2
        ),
        input: Some(input.to_owned()),
    })
}

fn failed_call(calls: usize, error: &crate::runtime::CallError, input: String) -> Failure {
    Failure {
        reason: format!(
            "call {calls} of the long run failed: {}",
            call_reason(error)
        ),
        input: Some(input),
    }
}

fn show(samples: &[(usize, usize)]) -> String {
    samples
        .iter()
        .map(|(calls, bytes)| format!("{bytes} bytes after {calls} calls"))
        .collect::<Vec<_>>()
        .join(", ")
}
