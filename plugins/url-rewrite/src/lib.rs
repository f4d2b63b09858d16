//! `weir-plugin-url-rewrite`: rewrites the request path, query and authority with ordered
//! regex rules, or answers with a redirect to the rewritten URL.
//!
//! The rules run in `on_request`, in order, over the path (or `path?query`). A matching rule
//! replaces the matched text with its template; by default it is the last one tried. The
//! request is edited only once all rules have run and the result is valid, so a rewrite is
//! never half-applied. Depends on `weir-sdk`, `serde`, `serde_json` and `regex` only.
//!
//! ```
//! use weir_sdk::{Filter, Verdict, testing::TestRequest};
//! use weir_plugin_url_rewrite::UrlRewrite;
//!
//! let mut filter = UrlRewrite::init(r#"{"rules":[{"match":"^/old/(.*)$","replace":"/new/$1"}]}"#)?;
//! let mut req = TestRequest::get("/old/page?x=1").authority("app.test").build();
//! assert!(matches!(filter.on_request(&mut req), Verdict::Continue));
//! assert_eq!(req.path(), "/new/page");
//! assert_eq!(req.query().as_deref(), Some("x=1"));
//! # Ok::<(), String>(())
//! ```

mod config;
mod rule;

use weir_sdk::host::{self, Level};
use weir_sdk::{EditError, Filter, Request, Verdict};

pub use rule::{Outcome, RewriteError, Url};

/// The url-rewrite filter: the validated rules, in config order.
#[derive(Debug)]
pub struct UrlRewrite {
    rules: Vec<rule::Rule>,
}

impl UrlRewrite {
    /// Runs the rules over `url`, rewriting it in place. `Outcome::Unchanged` leaves `url` as
    /// it was; after an error, `url` must be discarded.
    pub fn rewrite(&self, url: &mut Url) -> Result<Outcome, RewriteError> {
        rule::apply(&self.rules, url)
    }

    /// The whole `on_request` step: reads the URL from `req`, runs the rules, then edits the
    /// request or answers with a redirect.
    ///
    /// A rule that produces an invalid URL leaves the request unchanged (logged at warn). If
    /// weir refuses an edit the plugin considered valid, the request may be half-edited, so the
    /// answer is a 500 rather than a request to the wrong place.
    pub fn rewrite_request(&self, req: &mut Request) -> Verdict {
        let original = Url {
            authority: req.authority(),
            path: req.path(),
            query: req.query(),
        };
        let mut url = original.clone();
        match self.rewrite(&mut url) {
            Ok(Outcome::Unchanged) => Verdict::Continue,
            Ok(Outcome::Redirect { status }) => {
                // Absolute only when a rule moved the request to another host: a relative
                // `Location` keeps the client on the host it asked for.
                let absolute = url.authority != original.authority;
                Verdict::redirect(status, url.location(&req.scheme(), absolute))
            }
            Ok(Outcome::Rewrite) => match apply_edits(req, &original, &url) {
                Ok(()) => Verdict::Continue,
                Err(err) => {
                    let reason = err.to_string();
                    host::log(
                        Level::Warn,
                        "weir refused the rewritten URL; answering 500",
                        &[("error", reason.as_str())],
                    );
                    Verdict::deny(500, "url rewrite failed\n")
                }
            },
            Err(err) => {
                let rule = err.rule.to_string();
                host::log(
                    Level::Warn,
                    "rewrite rule produced an invalid URL; request left unchanged",
                    &[("rule", rule.as_str()), ("error", err.reason.as_str())],
                );
                Verdict::Continue
            }
        }
    }
}

impl Filter for UrlRewrite {
    /// Parses the JSON config and compiles every rule's regex; a bad rule fails the load with a
    /// message naming it (`rules[1].match: invalid regex: ...`).
    fn init(config: &str) -> Result<Self, String> {
        Ok(Self {
            rules: config::parse(config)?,
        })
    }

    fn on_request(&mut self, req: &mut Request) -> Verdict {
        self.rewrite_request(req)
    }
}

weir_sdk::export_filter!(UrlRewrite);

/// Edits only what changed, authority first (it decides the upstream), then path and query.
fn apply_edits(req: &mut Request, original: &Url, url: &Url) -> Result<(), EditError> {
    if url.authority != original.authority
        && let Some(authority) = &url.authority
    {
        req.set_authority(authority)?;
    }
    if url.path != original.path {
        req.set_path(&url.path)?;
    }
    if url.query != original.query {
        req.set_query(url.query.as_deref())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
