//! Routes: match conditions over the SDK request, and the target pool or split.

use regex::Regex;
use weir_sdk::{HostPattern, Request};

use crate::split::Split;

/// One validated route. Every condition that is set must hold; a route without conditions
/// matches every request.
#[derive(Debug)]
pub(crate) struct Route {
    /// `host`.
    pub(crate) host: Option<HostPattern>,
    /// `path_prefix`: a plain string prefix of the path.
    pub(crate) path_prefix: Option<String>,
    /// `header`.
    pub(crate) header: Option<HeaderCondition>,
    /// `cookie`: name and exact value.
    pub(crate) cookie: Option<(String, String)>,
    /// `pool` or `split`.
    pub(crate) target: Target,
}

/// `header = { name, value }` or `{ name, value_regex }`.
#[derive(Debug)]
pub(crate) struct HeaderCondition {
    /// Header name (looked up case-insensitively).
    pub(crate) name: String,
    /// How a value must look.
    pub(crate) value: ValueMatch,
}

/// How a header value is compared.
#[derive(Debug)]
pub(crate) enum ValueMatch {
    /// Byte-for-byte equal.
    Exact(Vec<u8>),
    /// The regex matches somewhere in the (UTF-8) value.
    Regex(Regex),
}

/// Where a matching route sends the request.
#[derive(Debug)]
pub(crate) enum Target {
    /// One pool.
    Pool(String),
    /// A weighted choice between pools.
    Split(Split),
}

impl Route {
    /// Whether every condition of the route holds for `req`.
    pub(crate) fn matches(&self, req: &Request) -> bool {
        if let Some(pattern) = &self.host
            && !req.host().is_some_and(|host| pattern.matches(&host))
        {
            return false;
        }
        if let Some(prefix) = &self.path_prefix
            && !req.path().starts_with(prefix.as_str())
        {
            return false;
        }
        if let Some(header) = &self.header
            && !header.matches(req)
        {
            return false;
        }
        if let Some((name, value)) = &self.cookie
            && req.cookie(name).as_deref() != Some(value.as_str())
        {
            return false;
        }
        true
    }
}

impl HeaderCondition {
    /// True when any value of the header matches (a header may be sent several times).
    fn matches(&self, req: &Request) -> bool {
        req.header_all(&self.name)
            .iter()
            .any(|value| match &self.value {
                ValueMatch::Exact(expected) => value == expected,
                ValueMatch::Regex(regex) => {
                    std::str::from_utf8(value).is_ok_and(|text| regex.is_match(text))
                }
            })
    }
}
