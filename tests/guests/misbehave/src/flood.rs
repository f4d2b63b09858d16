//! The floods: legal calls made far too often or far too big, which only weir's per-call
//! budgets can stop. Each returns normally; the guest counts what weir accepted and refused
//! with `host::counter_add` (`edits-accepted`, `edits-refused`), since past the budget it
//! cannot report through another edit.

use serde::Deserialize;
use weir_sdk::host;
use weir_sdk::{LocalResponse, Request, Verdict};

/// How the guest floods the host (`flood` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Flood {
    /// `set-header` with `count` distinct names (`x-flood-0`, ...).
    Headers,
    /// `append-header` of `count` values to one name.
    Appends,
    /// One `set-header` whose value is `bytes` long.
    HugeValue,
    /// `count` `set-path` edits.
    Edits,
    /// A `respond` verdict whose body is `bytes` long.
    LocalBody,
    /// A `respond` verdict with `count` headers.
    LocalHeaders,
}

impl Flood {
    /// Floods `req` and returns the verdict to give.
    pub(crate) fn run(self, req: &mut Request, count: u64, bytes: u64) -> Verdict {
        let mut tally = Tally::default();
        match self {
            Self::Headers => {
                for i in 0..count {
                    tally.note(req.set_header(&format!("x-flood-{i}"), "1").is_ok());
                }
            }
            Self::Appends => {
                for _ in 0..count {
                    tally.note(req.append_header("x-flood", "1").is_ok());
                }
            }
            Self::HugeValue => {
                let value = vec![b'v'; usize::try_from(bytes).unwrap_or(usize::MAX)];
                tally.note(req.set_header("x-flood", value).is_ok());
            }
            Self::Edits => {
                for i in 0..count {
                    tally.note(req.set_path(&format!("/flood/{i}")).is_ok());
                }
            }
            Self::LocalBody => {
                let body = vec![b'b'; usize::try_from(bytes).unwrap_or(usize::MAX)];
                return Verdict::Respond(LocalResponse::new(200).body(body));
            }
            Self::LocalHeaders => {
                let mut response = LocalResponse::new(200).body("flood\n");
                for i in 0..count {
                    response = response.header(&format!("x-flood-{i}"), "1");
                }
                return Verdict::Respond(response);
            }
        }
        tally.report();
        Verdict::Continue
    }
}

#[derive(Default)]
struct Tally {
    accepted: u64,
    refused: u64,
}

impl Tally {
    fn note(&mut self, accepted: bool) {
        if accepted {
            self.accepted += 1;
        } else {
            self.refused += 1;
        }
    }

    fn report(&self) {
        host::counter_add("edits-accepted", self.accepted);
        host::counter_add("edits-refused", self.refused);
    }
}
