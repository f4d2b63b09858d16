//! `weir-plugin-cookies`: edits cookies. On the request it strips, renames and adds cookies in
//! the `Cookie` header; on the response it rewrites `Set-Cookie` attributes (`Secure`,
//! `HttpOnly`, `SameSite`, `Domain`, `Path`, `Max-Age`) for one cookie or all of them, adds
//! complete `Set-Cookie`s and removes them.
//!
//! The config (JSON, see `README.md`) is validated at init into a `config::Config`; the hooks
//! call plain functions in `request` and `response` over `weir-sdk` types, so the plugin is
//! unit-tested natively with `weir_sdk::testing`. Depends on `weir-sdk` and serde only.
//!
//! ```
//! use weir_plugin_cookies::CookiesFilter;
//! use weir_sdk::{Filter, Verdict};
//! use weir_sdk::testing::{TestRequest, TestResponse};
//!
//! let mut filter = CookiesFilter::init(
//!     r#"{"response": {"set_cookie": [{"name": "*", "secure": true, "http_only": true}]}}"#,
//! )?;
//! let req = TestRequest::get("/").build();
//! let mut resp = TestResponse::new(200).set_cookie("sid=abc; Path=/").build();
//! assert!(matches!(filter.on_response(&req, &mut resp), Verdict::Continue));
//! let cookie = &resp.set_cookies()[0];
//! assert!(cookie.secure && cookie.http_only);
//! # Ok::<(), String>(())
//! ```

mod config;
mod report;
mod request;
mod response;

use weir_sdk::{Filter, Request, Response, Verdict};

use crate::config::Config;

/// The cookies filter: one per plugin instance, built from the operator's config.
#[derive(Debug)]
pub struct CookiesFilter {
    config: Config,
}

impl Filter for CookiesFilter {
    fn init(config: &str) -> Result<Self, String> {
        let config = Config::from_json(config).map_err(|err| err.to_string())?;
        Ok(Self { config })
    }

    fn on_request(&mut self, req: &mut Request) -> Verdict {
        if !self.config.request.is_empty() {
            request::apply_to_request(&self.config.request, req);
        }
        Verdict::Continue
    }

    fn on_response(&mut self, _req: &Request, resp: &mut Response) -> Verdict {
        if !self.config.response.is_empty() {
            response::apply_to_response(&self.config.response, resp);
        }
        Verdict::Continue
    }
}

weir_sdk::export_filter!(CookiesFilter);

#[cfg(test)]
mod tests;
