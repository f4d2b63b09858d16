//! `weir-guest-misbehave`: a test-only filter that misbehaves on purpose, in one of three ways,
//! so that weir's tests can check each failure path: the failure policy applies
//! (`fail-closed` answers with a 5xx, `fail-open` skips the filter), the faulty instance is
//! replaced, and other requests are unaffected.
//!
//! - `"fault": "trap"` panics (`deliberate trap`), which traps the wasm instance;
//! - `"fault": "loop"` spins forever, so only weir's per-call deadline (epoch interruption)
//!   can stop it;
//! - `"fault": "hog"` allocates 1 MiB blocks, touching and keeping each, until the
//!   per-instance memory cap stops it (a trap, or a panic when the allocator reports failure).
//!
//! Config (JSON; `fault` is required, the other keys are optional):
//!
//! - `{"fault": "trap", "when": "request"}` (`when` defaults to `request`): misbehave in
//!   `on_request`;
//! - `{"fault": "trap", "when": "response"}`: misbehave in `on_response`;
//! - `{"fault": "trap", "when": "init"}`: misbehave in `init`, so the plugin fails to load
//!   (for `loop`, loading must hit the deadline);
//! - `{"fault": "trap", "when": "request", "path": "/boom"}`: misbehave only when the request
//!   path starts with `/boom`.
//!
//! Or it floods weir with legal calls, to test the per-call budgets (`flood.rs`):
//!
//! - `{"flood": "headers" | "appends" | "edits", "count": N}`: `N` distinct headers, `N`
//!   values of one header, or `N` path edits;
//! - `{"flood": "huge_value", "bytes": N}`: one header value of `N` bytes;
//! - `{"flood": "local_body", "bytes": N}`, `{"flood": "local_headers", "count": N}`: a
//!   `respond` verdict with an `N`-byte body or `N` headers.
//!
//! Whenever `on_request` does not misbehave, it sets the request header `x-guest-ok: 1` and
//! continues, so a test can see that the filter ran for the unaffected requests. Every
//! `on_request` call adds 1 to the counter `calls`, so a test can see whether weir called it.
//!
//! Not an example plugin: it is built for `tests/` only. Natively, only `trap` may be run
//! misbehaving: `loop` never returns and `hog` would exhaust the test machine's memory.

mod config;
mod fault;
mod flood;

use weir_sdk::host::{self, Level};
use weir_sdk::{Filter, Request, Response, Verdict};

use crate::config::{Config, When};

/// The misbehaving filter.
#[derive(Debug)]
pub struct MisbehaveGuest {
    config: Config,
}

impl Filter for MisbehaveGuest {
    fn init(config: &str) -> Result<Self, String> {
        let config = Config::parse(config).map_err(|err| err.to_string())?;
        if config.when == When::Init
            && let Some(fault) = config.fault
        {
            fault.commit();
        }
        Ok(Self { config })
    }

    fn on_request(&mut self, req: &mut Request) -> Verdict {
        host::counter_add("calls", 1);
        if self.config.misbehaves(When::Request, || req.path()) {
            if let Some(fault) = self.config.fault {
                fault.commit();
            }
            if let Some(flood) = self.config.flood {
                return flood.run(req, self.config.count, self.config.bytes);
            }
        } else {
            mark_ok(req);
        }
        Verdict::Continue
    }

    fn on_response(&mut self, req: &Request, _resp: &mut Response) -> Verdict {
        if self.config.misbehaves(When::Response, || req.path())
            && let Some(fault) = self.config.fault
        {
            fault.commit();
        }
        Verdict::Continue
    }
}

weir_sdk::export_filter!(MisbehaveGuest);

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

    // Only `trap` misbehaves here (a panic); the looping and hogging paths are exercised by
    // weir's e2e tests, under a deadline and a memory cap. Every fault runs the paths that
    // return.

    const FAULTS: [&str; 3] = ["trap", "loop", "hog"];

    fn guest(config: &str) -> MisbehaveGuest {
        MisbehaveGuest::init(config).expect("the config is valid")
    }

    #[test]
    #[should_panic(expected = "deliberate trap")]
    fn trap_without_when_traps_in_on_request() {
        let mut req = TestRequest::get("/").build();
        let _ = guest(r#"{"fault":"trap"}"#).on_request(&mut req);
    }

    #[test]
    #[should_panic(expected = "deliberate trap")]
    fn trap_in_init_traps_in_init() {
        let _ = MisbehaveGuest::init(r#"{"fault":"trap","when":"init"}"#);
    }

    #[test]
    #[should_panic(expected = "deliberate trap")]
    fn trap_in_response_traps_in_on_response() {
        let mut guest = guest(r#"{"fault":"trap","when":"response"}"#);
        let mut req = TestRequest::get("/").build();
        let mut resp = TestResponse::new(200).build();
        assert!(matches!(guest.on_request(&mut req), Verdict::Continue));
        let _ = guest.on_response(&req, &mut resp);
    }

    #[test]
    #[should_panic(expected = "deliberate trap")]
    fn matching_path_prefix_traps() {
        let mut req = TestRequest::get("/boom/now").build();
        let _ = guest(r#"{"fault":"trap","when":"request","path":"/boom"}"#).on_request(&mut req);
    }

    #[test]
    fn other_paths_continue_marked_ok() {
        for fault in FAULTS {
            let mut guest = guest(&format!(
                r#"{{"fault":"{fault}","when":"request","path":"/boom"}}"#
            ));
            let mut req = TestRequest::get("/fine").build();
            assert!(matches!(guest.on_request(&mut req), Verdict::Continue));
            assert_eq!(
                req.header_str("x-guest-ok").as_deref(),
                Some("1"),
                "{fault}"
            );
        }
    }

    #[test]
    fn response_config_lets_requests_through() {
        for fault in FAULTS {
            let mut guest = guest(&format!(
                r#"{{"fault":"{fault}","when":"response","path":"/boom"}}"#
            ));
            let mut req = TestRequest::get("/boom").build();
            assert!(matches!(guest.on_request(&mut req), Verdict::Continue));
            assert_eq!(
                req.header_str("x-guest-ok").as_deref(),
                Some("1"),
                "{fault}"
            );
            let other = TestRequest::get("/fine").build();
            let mut resp = TestResponse::new(200).build();
            assert!(matches!(
                guest.on_response(&other, &mut resp),
                Verdict::Continue
            ));
        }
    }

    #[test]
    fn invalid_config_fails_init_without_misbehaving() {
        for fault in FAULTS {
            let err = MisbehaveGuest::init(&format!(r#"{{"fault":"{fault}","when":"never"}}"#))
                .expect_err("invalid when");
            assert!(err.contains("`when`"), "{err}");
        }
    }
}
