//! Write weir filter plugins in Rust.
//!
//! A filter is a WebAssembly component targeting the `weir:filter/http-filter` world
//! (`wit/filter.wit`). This crate is the only place that binds to that world: it gives plugins
//! idiomatic types ([`Request`], [`Response`], [`Verdict`]), the [`Filter`] trait, the
//! [`export_filter!`] macro, the host services in [`host`], and the [`testing`] kit, which runs
//! the same plugin code natively with an in-memory request that validates edits like weir does.
//! For the config that `init` receives it has [`config::from_json`] (serde with errors that
//! name the key path) and [`HostPattern`] (`example.com` / `*.example.com` host conditions).
//!
//! It must not depend on an async runtime, an HTTP stack or a wasm runtime: it builds for
//! `wasm32-wasip2` (real bindings) and natively (no bindings, test kit only).
//!
//! # Rust types for every WIT shape
//!
//! | WIT (`weir:filter@0.1.0`) | here |
//! |---|---|
//! | `init`, `on-request`, `on-response` | [`Filter`], exported with [`export_filter!`] |
//! | resource `request` | [`Request`]; edits return `Result<_, EditError>` |
//! | resource `response` | [`Response`] |
//! | `decision` | [`Verdict`] |
//! | `local-response` | [`LocalResponse`] |
//! | `header` | [`Header`] |
//! | `edit-error` | [`EditError`] |
//! | `http-version` | [`HttpVersion`] |
//! | `tls-info` | [`TlsInfo`], from [`Request::tls`] |
//! | `set-cookie` | [`SetCookie`], from [`Response::set_cookies`], to [`Response::add_set_cookie`] |
//! | `cookie-attributes` | [`CookieAttributes`], for [`Response::rewrite_set_cookie`] |
//! | `same-site` | [`SameSite`] |
//! | `request.select-backend` | [`Request::select_backend`] |
//! | `request.set-context`, `request.context` | [`Request::set_context`], [`Request::context`] |
//! | `level`, `log`, `monotonic-now`, `counter-add` | [`host::Level`], [`host::log`], [`host::monotonic_now`], [`host::counter_add`] |
//! | `on-response-unused` | called for you when a filter keeps the default [`Filter::on_response`] |
//!
//! # A complete plugin
//!
//! `Cargo.toml`: a `cdylib` (plus `rlib` for native tests) depending on `weir-sdk`.
//!
//! ```
//! use weir_sdk::host::{self, Level};
//! use weir_sdk::{Filter, Request, Response, Verdict, export_filter};
//!
//! /// Denies requests without an API key, moves `/old/...` to `/new/...`, and hides the
//! /// upstream's `server` header.
//! struct Gate {
//!     key_header: String,
//! }
//!
//! impl Filter for Gate {
//!     fn init(config: &str) -> Result<Self, String> {
//!         // Real plugins parse the JSON config with `weir_sdk::config::from_json`; this one
//!         // only takes `{}`.
//!         if config.trim() != "{}" {
//!             return Err(format!("unexpected config {config}"));
//!         }
//!         Ok(Gate { key_header: "x-api-key".to_owned() })
//!     }
//!
//!     fn on_request(&mut self, req: &mut Request) -> Verdict {
//!         if req.header(&self.key_header).is_none() {
//!             host::counter_add("denied", 1);
//!             return Verdict::deny(401, "missing API key");
//!         }
//!         if let Some(rest) = req.path().strip_prefix("/old/") {
//!             if let Err(e) = req.set_path(&format!("/new/{rest}")) {
//!                 host::log(Level::Warn, "cannot rewrite path", &[("error", &e.to_string())]);
//!             }
//!         }
//!         Verdict::Continue
//!     }
//!
//!     fn on_response(&mut self, _req: &Request, resp: &mut Response) -> Verdict {
//!         let _ = resp.remove_header("server");
//!         Verdict::Continue
//!     }
//! }
//!
//! export_filter!(Gate);
//!
//! // The same code, tested natively:
//! use weir_sdk::testing::{self, TestRequest, TestResponse};
//!
//! let mut gate = Gate::init("{}").unwrap();
//!
//! let mut anonymous = TestRequest::get("/old/x").build();
//! let verdict = testing::run_request(&mut gate, &mut anonymous);
//! assert_eq!(verdict.as_response().map(|r| r.status), Some(401));
//! assert_eq!(testing::counters(), vec![("denied".to_owned(), 1)]);
//!
//! let mut req = TestRequest::get("/old/x").header("x-api-key", "k").build();
//! assert!(testing::run_request(&mut gate, &mut req).is_continue());
//! assert_eq!(req.path(), "/new/x");
//! assert_eq!(testing::edits(&req), ["set-path /new/x"]);
//!
//! let mut resp = TestResponse::new(200).header("server", "backend/1").build();
//! assert!(testing::run_response(&mut gate, &req, &mut resp).is_continue());
//! assert_eq!(resp.header("server"), None);
//! ```
//!
//! Build the component with `cargo build --target wasm32-wasip2 --release` and point a
//! route's filter at the `.wasm` file.

#![deny(missing_docs)]

#[cfg(target_arch = "wasm32")]
mod bindings;
pub mod config;
mod cookie;
mod error;
mod filter;
mod header;
pub mod host;
mod host_pattern;
mod instance;
mod request;
mod response;
pub mod testing;
mod validate;
mod verdict;

pub use cookie::{CookieAttributes, SameSite, SetCookie};
pub use error::EditError;
pub use filter::Filter;
pub use header::Header;
pub use host_pattern::{HostPattern, HostPatternError};
pub use request::{HttpVersion, Request, TlsInfo};
pub use response::Response;
pub use verdict::{LocalResponse, Verdict};

/// What [`export_filter!`] expands to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::instance::{Slot, empty_slot};

    #[cfg(target_arch = "wasm32")]
    pub use crate::bindings::{
        Decision, Guest, RequestHandle, ResponseHandle, generated as bindings, hooks,
    };
}
