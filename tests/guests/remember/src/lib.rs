//! Test-only guest: a filter that leaks one client's data into the next request its instance
//! serves, on purpose, so weir's tests can check which `isolation` settings stop the leak.
//!
//! Config: `{"tag": "T"}` (required; `init` refuses anything else). `init` keeps the tag and
//! builds a table from it, so a test can see that state made by `init` is there on every call.
//! Each `on-request` sets on the request:
//! - `x-tag: T` (state from `init`),
//! - `x-calls: N`, the number of requests this instance has served, this one included,
//! - `x-previous: V`, the `x-secret` header of the previous request this instance served (empty
//!   on an instance's first request),
//!
//! then remembers this request's `x-secret`. Not an example to copy.

use serde::Deserialize;
use weir_sdk::{Filter, Request, Verdict, export_filter};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    tag: String,
}

/// The leaky filter.
pub struct Remember {
    tag: String,
    /// Built by `init`; its length is checked on every call.
    table: Vec<u64>,
    calls: u64,
    previous: Vec<u8>,
}

impl Filter for Remember {
    fn init(config: &str) -> Result<Self, String> {
        let config: Config = serde_json::from_str(config).map_err(|e| e.to_string())?;
        let table = (0..4096u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        Ok(Self {
            tag: config.tag,
            table,
            calls: 0,
            previous: Vec::new(),
        })
    }

    fn on_request(&mut self, req: &mut Request) -> Verdict {
        self.calls += 1;
        let tag = if self.table.len() == 4096 {
            self.tag.as_str()
        } else {
            "table-lost"
        };
        let previous = String::from_utf8_lossy(&self.previous).into_owned();
        let edits = req
            .set_header("x-tag", tag)
            .and_then(|()| req.set_header("x-calls", self.calls.to_string()))
            .and_then(|()| req.set_header("x-previous", &previous));
        if let Err(error) = edits {
            return Verdict::deny(500, error.to_string());
        }
        self.previous = req.header("x-secret").unwrap_or_default();
        Verdict::Continue
    }
}

export_filter!(Remember);
