//! `weir-guest-stateful`: a test-only filter with the faults that only show across calls, so
//! that `weir test` can be shown to catch each one with its own reason. Its config is JSON,
//! `{"mode": MODE, "bytes": N}`:
//!
//! - `"previous"`: `on_request` sets `x-previous: <path of the previous request>` (`none` on
//!   an instance's first request): a result that depends on earlier requests;
//! - `"round-robin"`: `on_request` selects pool `a`, then `b`, then `a`...: only the pool
//!   depends on earlier requests;
//! - `"carry"`: `on_request` keeps the path in the instance, and `on_response` sets
//!   `x-request-path` from it (`unknown` when this instance did not see the request);
//! - `"clock"`: `on_response` sets `x-clock` to the host's monotonic clock: a result that
//!   differs from one fresh instance to the next;
//! - `"leak"`: every `on_request` keeps `bytes` more bytes (default 1024), forever;
//! - `"dot-path"`: `on_request` sets the path `/static/../admin` + the request's path.
//!
//! Any other config, including one that is not JSON, is accepted and the filter does nothing:
//! the lenient-config fixture.

use weir_sdk::{Filter, Request, Response, Verdict, export_filter};

/// The stateful filter.
pub struct Stateful {
    mode: String,
    bytes: usize,
    previous: Option<String>,
    turn: u64,
    hoard: Vec<Vec<u8>>,
}

impl Filter for Stateful {
    fn init(config: &str) -> Result<Self, String> {
        let config: serde_json::Value = serde_json::from_str(config).unwrap_or_default();
        let mode = config
            .get("mode")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let bytes = config
            .get("bytes")
            .and_then(serde_json::Value::as_u64)
            .and_then(|b| usize::try_from(b).ok())
            .unwrap_or(1024);
        Ok(Self {
            mode,
            bytes,
            previous: None,
            turn: 0,
            hoard: Vec::new(),
        })
    }

    fn on_request(&mut self, req: &mut Request) -> Verdict {
        let path = req.path();
        let edited = match self.mode.as_str() {
            "previous" => {
                let previous = self.previous.replace(path).unwrap_or_else(|| "none".into());
                req.set_header("x-previous", previous.as_bytes())
            }
            "round-robin" => {
                self.turn += 1;
                let pool = if self.turn % 2 == 1 { "a" } else { "b" };
                req.select_backend(pool, None)
            }
            "carry" => {
                self.previous = Some(path);
                Ok(())
            }
            "leak" => {
                self.hoard
                    .push(std::hint::black_box(vec![0x5a; self.bytes]));
                Ok(())
            }
            "dot-path" => req.set_path(&format!("/static/..{}", path.trim_start_matches('*'))),
            _ => Ok(()),
        };
        // The fixture's edits are legal; a refusal is what the test looks for, not a fault.
        let _ = edited;
        Verdict::Continue
    }

    fn on_response(&mut self, _req: &Request, resp: &mut Response) -> Verdict {
        let edited = match self.mode.as_str() {
            "carry" => {
                let path = self.previous.take().unwrap_or_else(|| "unknown".into());
                resp.set_header("x-request-path", path.as_bytes())
            }
            "clock" => {
                let now = weir_sdk::host::monotonic_now().to_string();
                resp.set_header("x-clock", now.as_bytes())
            }
            _ => Ok(()),
        };
        let _ = edited;
        Verdict::Continue
    }
}

export_filter!(Stateful);

#[cfg(test)]
mod tests {
    use weir_sdk::testing::{self, TestRequest, TestResponse};

    use super::*;

    #[test]
    fn previous_mode_shows_the_previous_path() {
        let mut filter = Stateful::init(r#"{"mode":"previous"}"#).unwrap();
        let mut first = TestRequest::get("/a").build();
        assert!(testing::run_request(&mut filter, &mut first).is_continue());
        assert_eq!(first.header_str("x-previous").as_deref(), Some("none"));
        let mut second = TestRequest::get("/b").build();
        assert!(testing::run_request(&mut filter, &mut second).is_continue());
        assert_eq!(second.header_str("x-previous").as_deref(), Some("/a"));
    }

    #[test]
    fn carry_mode_needs_the_same_instance() {
        let mut filter = Stateful::init(r#"{"mode":"carry"}"#).unwrap();
        let mut req = TestRequest::get("/x").build();
        assert!(testing::run_request(&mut filter, &mut req).is_continue());
        let mut resp = TestResponse::new(200).build();
        assert!(filter.on_response(&req, &mut resp).is_continue());
        assert_eq!(resp.header_str("x-request-path").as_deref(), Some("/x"));
    }

    #[test]
    fn any_config_is_accepted() {
        assert!(Stateful::init("{not json").is_ok());
    }
}
