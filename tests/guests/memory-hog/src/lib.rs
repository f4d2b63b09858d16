//! `weir-guest-memory-hog`: a test-only filter that allocates 1 MiB blocks, touching and
//! keeping each, until an allocation fails. weir's tests load it to check that the per-instance
//! memory cap stops it (a trap, or the panic below when the allocator reports failure), the
//! failure policy applies (`fail-closed` answers with a 5xx, `fail-open` skips the filter), the
//! instance is replaced, and other requests are unaffected.
//!
//! Config (JSON; both keys optional):
//!
//! - `{"when": "request"}` (the default): hog in `on_request`;
//! - `{"when": "response"}`: hog in `on_response`;
//! - `{"when": "init"}`: hog in `init`, so the plugin fails to load;
//! - `{"when": "request", "path": "/boom"}`: hog only when the request path starts with
//!   `/boom`.
//!
//! Whenever `on_request` does not hog, it sets the request header `x-guest-ok: 1` and
//! continues, so a test can see that the filter ran for the unaffected requests.
//!
//! Not an example plugin: it is built for `tests/` only. Never call a misbehaving hook natively:
//! it would exhaust the test machine's memory.

mod config;

use weir_sdk::host::{self, Level};
use weir_sdk::{Filter, Request, Response, Verdict};

use crate::config::{Config, When};

/// The size of each block the guest keeps.
const BLOCK_BYTES: usize = 1 << 20;

/// The memory-hogging filter.
#[derive(Debug)]
pub struct MemoryHogGuest {
    config: Config,
}

impl Filter for MemoryHogGuest {
    fn init(config: &str) -> Result<Self, String> {
        let config = Config::parse(config)?;
        if config.when == When::Init {
            hog();
        }
        Ok(Self { config })
    }

    fn on_request(&mut self, req: &mut Request) -> Verdict {
        if self.config.misbehaves(When::Request, || req.path()) {
            hog();
        } else {
            mark_ok(req);
        }
        Verdict::Continue
    }

    fn on_response(&mut self, req: &Request, _resp: &mut Response) -> Verdict {
        if self.config.misbehaves(When::Response, || req.path()) {
            hog();
        }
        Verdict::Continue
    }
}

weir_sdk::export_filter!(MemoryHogGuest);

/// Keeps allocating, touching and holding 1 MiB blocks until an allocation fails, then panics
/// (a trap in a wasm guest). If the host traps on a failed `memory.grow`, that comes first.
///
/// `try_reserve` turns the failure into the panic message below instead of an abort without
/// a message; `black_box` keeps the optimiser from dropping the unused blocks.
#[inline(never)]
fn hog() -> usize {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    while std::hint::black_box(true) {
        let mut block: Vec<u8> = Vec::new();
        if block.try_reserve_exact(BLOCK_BYTES).is_err() || hoard.try_reserve(1).is_err() {
            panic!("memory hog: allocation failed after {} MiB", hoard.len());
        }
        block.resize(BLOCK_BYTES, 0xa5);
        hoard.push(std::hint::black_box(block));
        std::hint::black_box(&mut hoard);
    }
    hoard.len()
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

    // The hogging paths are exercised by weir's e2e tests, under a memory cap; here only the
    // paths that return.

    #[test]
    fn other_paths_continue_marked_ok() {
        let mut guest = MemoryHogGuest::init(r#"{"when":"request","path":"/boom"}"#)
            .expect("the config is valid");
        let mut req = TestRequest::get("/fine").build();
        assert!(matches!(guest.on_request(&mut req), Verdict::Continue));
        assert_eq!(req.header_str("x-guest-ok").as_deref(), Some("1"));
    }

    #[test]
    fn response_config_lets_requests_through() {
        let mut guest = MemoryHogGuest::init(r#"{"when":"response","path":"/boom"}"#)
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
        let err = MemoryHogGuest::init(r#"{"when":"never"}"#).expect_err("invalid when");
        assert!(err.contains("`when`"), "{err}");
    }
}
