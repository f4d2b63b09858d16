//! `weir-plugin-deny`: a web filter. Blocks requests by host, path prefix or regex over the
//! URL, with an allow list that overrides every block rule, and answers with a text page or a
//! redirect to a block page.
//!
//! Each blocked request adds 1 to the plugin's `blocked` counter, and the answer names the rule
//! in `x-weir-deny-rule`. Paths are normalized before matching (see the README), so encoded or
//! dotted spellings of a blocked path are blocked too. Depends on `weir-sdk`, `serde` and
//! `regex` only.
//!
//! ```
//! use weir_sdk::{Filter, Verdict, testing::TestRequest};
//! use weir_plugin_deny::Deny;
//!
//! let mut filter = Deny::init(r#"{"block_hosts":["*.casino.test"]}"#)?;
//! let mut req = TestRequest::get("/").authority("www.casino.test").build();
//! let Verdict::Respond(res) = filter.on_request(&mut req) else { panic!("not blocked") };
//! assert_eq!(res.status, 403);
//! # Ok::<(), String>(())
//! ```

mod action;
mod config;
mod policy;

use weir_sdk::host::{self, Level};
use weir_sdk::{Filter, Request, Verdict};

pub use policy::BlockRule;

/// The deny filter: the block and allow lists and the answer to give.
#[derive(Debug)]
pub struct Deny {
    policy: policy::Policy,
    action: action::Action,
}

impl Deny {
    /// The rule that blocks `req`, or `None` when it may pass.
    pub fn check(&self, req: &Request) -> Option<BlockRule> {
        let host = req.host().unwrap_or_default();
        self.policy
            .check(&host, &req.path(), req.query().as_deref())
    }

    /// The whole `on_request` step: `Continue`, or the block answer (counted and logged at
    /// debug level with the rule and host).
    pub fn filter_request(&self, req: &Request) -> Verdict {
        let Some(rule) = self.check(req) else {
            return Verdict::Continue;
        };
        host::counter_add("blocked", 1);
        let rule_name = rule.to_string();
        let host_name = req.host().unwrap_or_default();
        host::log(
            Level::Debug,
            "request blocked",
            &[("rule", rule_name.as_str()), ("host", host_name.as_str())],
        );
        Verdict::Respond(self.action.response(rule, &blocked_url(req)))
    }
}

impl Filter for Deny {
    /// Parses the JSON config and compiles every pattern; a bad entry fails the load with a
    /// message naming it (`block_patterns[1]: invalid regex: ...`).
    fn init(config: &str) -> Result<Self, String> {
        let (policy, action) = config::parse(config)?;
        Ok(Self { policy, action })
    }

    fn on_request(&mut self, req: &mut Request) -> Verdict {
        self.filter_request(req)
    }
}

weir_sdk::export_filter!(Deny);

/// The URL the client asked for, as inserted for `{url}`: `scheme://authority/path?query`, or
/// just `/path?query` when the request has no authority.
fn blocked_url(req: &Request) -> String {
    let mut url = String::new();
    if let Some(authority) = req.authority() {
        url.push_str(&req.scheme());
        url.push_str("://");
        url.push_str(&authority);
    }
    url.push_str(&req.path());
    if let Some(query) = req.query() {
        url.push('?');
        url.push_str(&query);
    }
    url
}

#[cfg(test)]
mod tests;
