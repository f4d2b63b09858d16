//! `weir-guest-endless-loop`: a test-only filter that spins forever, so only weir's per-call
//! deadline (epoch interruption) can stop it. weir's tests load it to check that the deadline
//! traps the call, the failure policy applies (`fail-closed` answers with a 5xx, `fail-open`
//! skips the filter), the instance is replaced, and other requests are unaffected.
//!
//! Config (JSON; both keys optional):
//!
//! - `{"when": "request"}` (the default): loop in `on_request`;
//! - `{"when": "response"}`: loop in `on_response`;
//! - `{"when": "init"}`: loop in `init`, so loading the plugin must hit the deadline;
//! - `{"when": "request", "path": "/boom"}`: loop only when the request path starts with
//!   `/boom`.
//!
//! Whenever `on_request` does not loop, it sets the request header `x-guest-ok: 1` and
//! continues, so a test can see that the filter ran for the unaffected requests.
//!
//! Not an example plugin: it is built for `tests/` only. Never call a misbehaving hook natively:
//! it does not return.

mod config;

use weir_sdk::host::{self, Level};
use weir_sdk::{Filter, Request, Response, Verdict};

use crate::config::{Config, When};

/// The looping filter.
#[derive(Debug)]
pub struct EndlessLoopGuest {
    config: Config,
}

impl Filter for EndlessLoopGuest {
    fn init(config: &str) -> Result<Self, String> {
        let config = Config::parse(config)?;
        if config.when == When::Init {
            spin();
        }
        Ok(Self { config })
    }

    fn on_request(&mut self, req: &mut Request) -> Verdict {
        if self.config.misbehaves(When::Request, || req.path()) {
            spin();
        } else {
            mark_ok(req);
        }
        Verdict::Continue
    }

    fn on_response(&mut self, req: &Request, _resp: &mut Response) -> Verdict {
        if self.config.misbehaves(When::Response, || req.path()) {
            spin();
        }
        Verdict::Continue
    }
}

weir_sdk::export_filter!(EndlessLoopGuest);

/// Loops forever without touching memory or calling the host; returns the turn count only
/// in theory.
///
/// `black_box` keeps the optimiser from removing the loop or proving that it never ends.
#[inline(never)]
fn spin() -> u64 {
    let mut turns: u64 = 0;
    while std::hint::black_box(true) {
        turns = std::hint::black_box(turns.wrapping_add(1));
    }
    turns
}

/// Marks a request the guest let through.
fn mark_ok(req: &mut Request) {
    if let Err(err) = req.set_header("x-guest-ok", "1") {
        host::log(
            Level::Warn,
            "cannot set x-guest-ok",
            &[("error", &err.to_string())],
        );
    }
}

#[cfg(test)]
mod tests {
    use weir_sdk::testing::{TestRequest, TestResponse};

    use super::*;

    // The looping paths are exercised by weir's e2e tests, under a deadline; here only the
    // paths that return.

    #[test]
    fn other_paths_continue_marked_ok() {
        let mut guest = EndlessLoopGuest::init(r#"{"when":"request","path":"/boom"}"#)
            .expect("the config is valid");
        let mut req = TestRequest::get("/fine").build();
        assert!(matches!(guest.on_request(&mut req), Verdict::Continue));
        assert_eq!(req.header_str("x-guest-ok").as_deref(), Some("1"));
    }

    #[test]
    fn response_config_lets_requests_through() {
        let mut guest = EndlessLoopGuest::init(r#"{"when":"response","path":"/boom"}"#)
            .expect("the config is valid");
        let mut req = TestRequest::get("/boom").build();
        assert!(matches!(guest.on_request(&mut req), Verdict::Continue));
        assert_eq!(req.header_str("x-guest-ok").as_deref(), Some("1"));
        let other = TestRequest::get("/fine").build();
        let mut resp = TestResponse::new(200).build();
        assert!(matches!(
            guest.on_response(&other, &mut resp),
            Verdict::Continue
        ));
    }

    #[test]
    fn invalid_config_fails_init() {
        let err = EndlessLoopGuest::init(r#"{"when":"never"}"#).expect_err("invalid when");
        assert!(err.contains("`when`"), "{err}");
    }
}
