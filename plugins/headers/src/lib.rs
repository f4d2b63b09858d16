//! `weir-plugin-headers`: sets, appends and removes request and response headers, with values
//! filled from the request (`{client_ip}`, `{request_id}`, `{host}`, ...), and optionally adds
//! an RFC 7239 `Forwarded` header.
//!
//! The config (JSON, see `README.md`) is validated at init into a `config::Config`; the hooks
//! call plain functions in `apply` over `weir-sdk` types, so the whole plugin is unit-tested
//! natively with `weir_sdk::testing`. Depends on `weir-sdk` and serde only.
//!
//! ```
//! use weir_plugin_headers::HeadersFilter;
//! use weir_sdk::{Filter, Verdict};
//! use weir_sdk::testing::TestRequest;
//!
//! let mut filter =
//!     HeadersFilter::init(r#"{"request": {"set": {"x-request-id": "{request_id}"}}}"#)?;
//! let mut req = TestRequest::get("/").id("req-1").build();
//! assert!(matches!(filter.on_request(&mut req), Verdict::Continue));
//! assert_eq!(req.header_str("x-request-id").as_deref(), Some("req-1"));
//! # Ok::<(), String>(())
//! ```

mod apply;
mod config;
mod template;

use weir_sdk::{Filter, Request, Response, Verdict};

use crate::config::Config;
use crate::template::Placeholder;

/// The headers filter: one per plugin instance, built from the operator's config.
#[derive(Debug)]
pub struct HeadersFilter {
    config: Config,
    /// Whether response templates use `{host}`, so `on_request` must capture it.
    capture_host: bool,
    /// The host of the last request seen by `on_request`, keyed by its request id.
    captured: Option<CapturedHost>,
}

/// The host as it reached this filter in `on_request`, for `{host}` in response templates.
#[derive(Debug)]
struct CapturedHost {
    request_id: String,
    host: Option<String>,
}

impl Filter for HeadersFilter {
    fn init(config: &str) -> Result<Self, String> {
        let config = Config::from_json(config).map_err(|err| err.to_string())?;
        Ok(Self {
            capture_host: config.response.uses(Placeholder::Host),
            config,
            captured: None,
        })
    }

    fn on_request(&mut self, req: &mut Request) -> Verdict {
        if self.capture_host {
            self.captured = Some(CapturedHost {
                request_id: req.id(),
                host: req.host(),
            });
        }
        apply::apply_to_request(&self.config, req);
        Verdict::Continue
    }

    fn on_response(&mut self, req: &Request, resp: &mut Response) -> Verdict {
        if self.config.response.is_empty() {
            return Verdict::Continue;
        }
        // The host may recycle instances between the two hooks of a request, so the captured
        // host is used only when it belongs to this request; otherwise the host of the request
        // as sent upstream stands in.
        let captured = self
            .captured
            .take()
            .filter(|captured| self.capture_host && captured.request_id == req.id());
        let host = captured.map(|captured| captured.host.unwrap_or_default());
        apply::apply_to_response(&self.config.response, req, host.as_deref(), resp);
        Verdict::Continue
    }
}

weir_sdk::export_filter!(HeadersFilter);

#[cfg(test)]
mod tests;
