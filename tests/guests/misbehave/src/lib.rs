//! `weir-guest-trap`: a test-only filter that panics (`deliberate trap`), which traps the wasm
//! instance. weir's tests load it to check the failure policies: `fail-closed` answers with a
//! 5xx, `fail-open` skips the filter, the trapped instance is replaced, and other requests are
//! unaffected.
//!
//! Config (JSON; both keys optional):
//!
//! - `{"when": "request"}` (the default): trap in `on_request`;
//! - `{"when": "response"}`: trap in `on_response`;
//! - `{"when": "init"}`: trap in `init`, so the plugin fails to load;
//! - `{"when": "request", "path": "/boom"}`: trap only when the request path starts with
//!   `/boom`.
//!
//! Whenever `on_request` does not trap, it sets the request header `x-guest-ok: 1` and
//! continues, so a test can see that the filter ran for the unaffected requests.
//!
//! Not an example plugin: it is built for `tests/` only.

mod config;

use weir_sdk::host::{self, Level};
use weir_sdk::{Filter, Request, Response, Verdict};

use crate::config::{Config, When};

/// The trapping filter.
#[derive(Debug)]
pub struct TrapGuest {
    config: Config,
}

impl Filter for TrapGuest {
    fn init(config: &str) -> Result<Self, String> {
        let config = Config::parse(config)?;
        if config.when == When::Init {
            trap();
        }
        Ok(Self { config })
    }

    fn on_request(&mut self, req: &mut Request) -> Verdict {
        if self.config.misbehaves(When::Request, || req.path()) {
            trap();
        } else {
            mark_ok(req);
        }
        Verdict::Continue
    }

    fn on_response(&mut self, req: &Request, _resp: &mut Response) -> Verdict {
        if self.config.misbehaves(When::Response, || req.path()) {
            trap();
        }
        Verdict::Continue
    }
}

weir_sdk::export_filter!(TrapGuest);

/// Panics with `deliberate trap`; in a wasm guest the panic aborts, which traps the instance.
///
/// The condition is opaque to the optimiser, so the compiler cannot prove this function
/// diverges and turn its callers (such as `init`) into unreachable code.
#[inline(never)]
fn trap() {
    if std::hint::black_box(true) {
        panic!("deliberate trap");
    }
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

    fn guest(config: &str) -> TrapGuest {
        TrapGuest::init(config).expect("the config is valid")
    }

    #[test]
    #[should_panic(expected = "deliberate trap")]
    fn default_config_traps_in_on_request() {
        let mut req = TestRequest::get("/").build();
        let _ = guest("{}").on_request(&mut req);
    }

    #[test]
    #[should_panic(expected = "deliberate trap")]
    fn init_config_traps_in_init() {
        let _ = TrapGuest::init(r#"{"when":"init"}"#);
    }

    #[test]
    #[should_panic(expected = "deliberate trap")]
    fn response_config_traps_in_on_response() {
        let mut guest = guest(r#"{"when":"response"}"#);
        let mut req = TestRequest::get("/").build();
        let mut resp = TestResponse::new(200).build();
        assert!(matches!(guest.on_request(&mut req), Verdict::Continue));
        let _ = guest.on_response(&req, &mut resp);
    }

    #[test]
    #[should_panic(expected = "deliberate trap")]
    fn matching_path_prefix_traps() {
        let mut req = TestRequest::get("/boom/now").build();
        let _ = guest(r#"{"when":"request","path":"/boom"}"#).on_request(&mut req);
    }

    #[test]
    fn other_paths_continue_marked_ok() {
        let mut guest = guest(r#"{"when":"request","path":"/boom"}"#);
        let mut req = TestRequest::get("/fine").build();
        assert!(matches!(guest.on_request(&mut req), Verdict::Continue));
        assert_eq!(req.header_str("x-guest-ok").as_deref(), Some("1"));
    }

    #[test]
    fn invalid_config_fails_init_without_trapping() {
        let err = TrapGuest::init(r#"{"when":"sometimes"}"#).expect_err("invalid when");
        assert!(err.contains("`when`"), "{err}");
    }
}
