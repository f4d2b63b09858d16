//! What one hook call of a filter may make the host hold: a count of edits and a number of
//! header bytes per call, a ceiling on the header fields of the message it edits, and the size
//! of a local response. Everything here is host memory the instance's memory cap does not
//! count, so it is budgeted per call and an edit past the budget is refused like any invalid
//! edit (`forbidden`), never applied and never a panic.
//!
//! The budget lives in the store's [`HostState`](super::store::HostState): it is reset before
//! each hook call and checked in O(1) per edit.

use wasmtime::component::Resource;

use super::bindings::EditError;
use super::journal::Journal;
use super::store::HostState;

/// A filter's limits (set per `[[filter]]` by the operator).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PluginLimits {
    /// Edits (accepted or refused) one hook call may make.
    pub max_edits_per_call: u32,
    /// Bytes of header names and values one hook call may add (header edits, cookies, the
    /// `Host` of `set-authority`, a local response's headers).
    pub max_header_bytes_per_call: usize,
    /// Header fields a request or response may have after an edit that adds one; also the most
    /// headers a local response may carry.
    pub max_header_count: usize,
    /// Largest body of a local response (`respond` verdict).
    pub max_local_response_body_bytes: usize,
}

/// The budget of the hook call in progress.
#[derive(Debug)]
pub(crate) struct CallBudget {
    limits: PluginLimits,
    edits: u32,
    header_bytes: usize,
    /// Whether a refusal for an exhausted budget was journaled in this call: later ones are
    /// not, so a plugin that keeps calling cannot grow the journal either.
    exhaustion_journaled: bool,
}

impl CallBudget {
    pub(crate) fn new(limits: PluginLimits) -> Self {
        Self {
            limits,
            edits: 0,
            header_bytes: 0,
            exhaustion_journaled: false,
        }
    }

    /// The limits this budget enforces.
    pub(crate) fn limits(&self) -> &PluginLimits {
        &self.limits
    }

    /// Starts a new hook call with the whole budget.
    pub(crate) fn reset(&mut self) {
        self.edits = 0;
        self.header_bytes = 0;
        self.exhaustion_journaled = false;
    }

    /// Takes one edit that would add `header_bytes` of header names and values. Refused, and
    /// nothing taken, when either budget would be exceeded; every edit counts, accepted or not.
    pub(crate) fn take(&mut self, header_bytes: usize) -> Result<(), Exhausted> {
        if self.edits >= self.limits.max_edits_per_call {
            return Err(Exhausted::Edits(self.limits.max_edits_per_call));
        }
        self.edits += 1;
        let total = self.header_bytes.saturating_add(header_bytes);
        if total > self.limits.max_header_bytes_per_call {
            return Err(Exhausted::HeaderBytes {
                wanted: header_bytes,
                left: self
                    .limits
                    .max_header_bytes_per_call
                    .saturating_sub(self.header_bytes),
                limit: self.limits.max_header_bytes_per_call,
            });
        }
        self.header_bytes = total;
        Ok(())
    }

    /// Gives back the header bytes of an edit that was then refused for another reason.
    pub(crate) fn refund(&mut self, header_bytes: usize) {
        self.header_bytes = self.header_bytes.saturating_sub(header_bytes);
    }

    /// Whether this refusal should be journaled: the first exhaustion of a call is, later ones
    /// are not (they are all alike, and the journal must stay bounded).
    pub(crate) fn journal_exhaustion(&mut self, refusal: &Exhausted) -> bool {
        match refusal {
            Exhausted::Edits(_) => !std::mem::replace(&mut self.exhaustion_journaled, true),
            Exhausted::HeaderBytes { .. } => true,
        }
    }
}

/// Why an edit was refused by the budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exhausted {
    /// The call made its limit of edits.
    Edits(u32),
    /// The edit would pass the call's header bytes.
    HeaderBytes {
        wanted: usize,
        left: usize,
        limit: usize,
    },
}

impl From<Exhausted> for EditError {
    fn from(refusal: Exhausted) -> Self {
        // `forbidden`: legal HTTP that this filter may not do now. Adding an `edit-error` case
        // would be a breaking change to the WIT; the message says which limit it was.
        Self::Forbidden(match refusal {
            Exhausted::Edits(limit) => {
                format!(
                    "edit limit reached: at most {limit} edits per hook call (max_edits_per_call)"
                )
            }
            Exhausted::HeaderBytes {
                wanted,
                left,
                limit,
            } => format!(
                "header byte limit reached: this edit adds {wanted} bytes, {left} of \
                 {limit} left for this hook call (max_header_bytes_per_call)"
            ),
        })
    }
}

/// A view whose edits are budgeted: the request and the response.
pub(crate) trait Budgeted: super::store::Lent {
    /// The journal refusals go to.
    fn journal(&mut self) -> &mut Journal;
}

impl HostState {
    /// Runs one edit of a request or response against the call's budget: takes one edit and
    /// `header_bytes` from it first, then runs `edit`. A refusal (by the budget or by `edit`)
    /// changes nothing, gives the bytes back and is journaled, except repeated edit-count
    /// refusals in one call, so a plugin looping on refused edits cannot grow the journal.
    pub(crate) fn budgeted_edit<V: Budgeted, T>(
        &mut self,
        resource: &Resource<V>,
        op: &str,
        header_bytes: usize,
        edit: impl FnOnce(&mut V, &PluginLimits) -> Result<T, EditError>,
    ) -> wasmtime::Result<Result<T, EditError>> {
        let view = V::of(&mut self.lent, resource)?;
        if let Err(refusal) = self.budget.take(header_bytes) {
            let journaled = self.budget.journal_exhaustion(&refusal);
            let error = EditError::from(refusal);
            if journaled {
                view.journal().refuse(op, &error);
            }
            return Ok(Err(error));
        }
        let outcome = edit(view, self.budget.limits());
        if let Err(error) = &outcome {
            self.budget.refund(header_bytes);
            view.journal().refuse(op, error);
        }
        Ok(outcome)
    }
}

/// Refuses an edit that would give a message more than `limit` header fields.
pub(crate) fn check_header_count(now: usize, adds: bool, limit: usize) -> Result<(), EditError> {
    if adds && now >= limit {
        return Err(EditError::Forbidden(format!(
            "header field limit reached: the message has {now} fields, at most {limit} \
             (max_header_count)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> PluginLimits {
        PluginLimits {
            max_edits_per_call: 3,
            max_header_bytes_per_call: 10,
            max_header_count: 4,
            max_local_response_body_bytes: 100,
        }
    }

    #[test]
    fn edits_past_the_limit_are_refused_until_the_next_call() {
        let mut budget = CallBudget::new(limits());
        for _ in 0..3 {
            budget.take(0).unwrap();
        }
        assert_eq!(budget.take(0), Err(Exhausted::Edits(3)));
        assert_eq!(budget.take(0), Err(Exhausted::Edits(3)), "stays refused");
        budget.reset();
        assert!(budget.take(0).is_ok(), "a new call has a new budget");
    }

    #[test]
    fn header_bytes_are_counted_across_edits_and_refunded_for_refused_edits() {
        let mut budget = CallBudget::new(PluginLimits {
            max_edits_per_call: 10,
            ..limits()
        });
        budget.take(6).unwrap();
        assert_eq!(
            budget.take(5),
            Err(Exhausted::HeaderBytes {
                wanted: 5,
                left: 4,
                limit: 10
            })
        );
        budget.refund(6);
        budget.take(5).unwrap();
        let refused = budget.take(usize::MAX).unwrap_err();
        let EditError::Forbidden(message) = EditError::from(refused) else {
            panic!("budget refusals are `forbidden`");
        };
        assert!(message.contains("max_header_bytes_per_call"), "{message}");
    }

    #[test]
    fn only_the_first_edit_exhaustion_of_a_call_is_journaled() {
        let mut budget = CallBudget::new(limits());
        let refusal = Exhausted::Edits(3);
        assert!(budget.journal_exhaustion(&refusal));
        assert!(!budget.journal_exhaustion(&refusal));
        budget.reset();
        assert!(budget.journal_exhaustion(&refusal));
    }

    #[test]
    fn header_count_refuses_only_edits_that_add_a_field() {
        assert!(check_header_count(3, true, 4).is_ok());
        assert!(check_header_count(4, true, 4).is_err());
        assert!(
            check_header_count(9, false, 4).is_ok(),
            "replacing never grows"
        );
    }
}
