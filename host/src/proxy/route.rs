//! Route matching by host and path prefix.

use std::sync::Arc;

use http::header::HOST;

use crate::filters::FilterChain;
use crate::upstream::BackendPool;

/// A route's host condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostMatch {
    /// This host exactly (lowercase, no port).
    Exact(String),
    /// Any subdomain of this suffix (`*.example.com` stores `.example.com`).
    Suffix(String),
}

impl HostMatch {
    /// Parses `app.example.com` or `*.example.com`; `None` for anything else.
    pub fn parse(pattern: &str) -> Option<Self> {
        let pattern = pattern.to_ascii_lowercase();
        let legal = |s: &str| {
            !s.is_empty()
                && s.split('.').all(|label| {
                    !label.is_empty()
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
        };
        match pattern.strip_prefix("*.") {
            Some(suffix) if legal(suffix) => Some(Self::Suffix(format!(".{suffix}"))),
            None if legal(&pattern) => Some(Self::Exact(pattern)),
            _ => None,
        }
    }

    /// Whether `host` (no port, any case) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(exact) => host.eq_ignore_ascii_case(exact),
            Self::Suffix(suffix) => {
                let (host, suffix) = (host.as_bytes(), suffix.as_bytes());
                host.len() > suffix.len()
                    && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            }
        }
    }
}

/// A route ready to serve.
#[derive(Debug)]
pub struct Route {
    /// Name for logs and metrics.
    pub name: Arc<str>,
    /// Host condition.
    pub host: Option<HostMatch>,
    /// Path prefix (matched against the normalised path).
    pub path_prefix: String,
    /// The path context its requests get: the prefix a filter's `set-path` must stay under.
    pub paths: Arc<crate::runtime::PathContext>,
    /// Filters.
    pub chain: FilterChain,
    /// Default pool.
    pub pool: Arc<BackendPool>,
    /// Largest request body (none: the listener's limit).
    pub max_body_bytes: Option<u64>,
}

/// Picks the route for a request: routes with a matching host beat host-less routes, exact hosts
/// beat wildcards, then the longest matching path prefix wins, then file order. `path` is the
/// normalised path; a prefix holds it on segment boundaries, whatever the segments' `;`
/// parameters (`weir_rules::path::within_prefix`).
pub(crate) fn find<'r>(routes: &'r [Route], host: Option<&str>, path: &str) -> Option<&'r Route> {
    routes
        .iter()
        .filter(|r| weir_rules::path::within_prefix(&r.path_prefix, path))
        .filter_map(|r| {
            let host_rank = match (&r.host, host) {
                (None, _) => 0,
                (Some(m @ HostMatch::Exact(_)), Some(h)) if m.matches(h) => 2,
                (Some(m @ HostMatch::Suffix(_)), Some(h)) if m.matches(h) => 1,
                _ => return None,
            };
            Some((host_rank, r.path_prefix.len(), r))
        })
        // `max_by_key` keeps the last of equal keys; iterate in reverse so the first route in
        // file order wins a tie.
        .rev()
        .max_by_key(|&(rank, len, _)| (rank, len))
        .map(|(_, _, r)| r)
}

/// The host a request is for, without the port: from an absolute target or `:authority`,
/// else from the `Host` field. Borrowed from the request; no copy.
pub(crate) fn request_host<'r>(
    uri: &'r http::Uri,
    headers: &'r http::HeaderMap,
) -> Option<&'r str> {
    let authority = match uri.authority() {
        Some(authority) => authority.as_str(),
        None => headers.get(HOST)?.to_str().ok()?,
    };
    Some(host_of(authority))
}

/// The host of a request target or `Host` header, without the port and without the trailing
/// dot of a fully qualified name (`example.com.` is the same host, RFC 3986 §3.2.2). Case is
/// left as it is: matching ignores it.
pub(crate) fn host_of(authority: &str) -> &str {
    let host = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        }
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    host.strip_suffix('.').unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns_parse_and_match() {
        let exact = HostMatch::parse("App.Example.com").unwrap();
        assert!(exact.matches("app.example.com"));
        assert!(!exact.matches("x.app.example.com"));
        let wild = HostMatch::parse("*.example.com").unwrap();
        assert!(wild.matches("a.example.com"));
        assert!(wild.matches("a.b.example.com"));
        assert!(!wild.matches("example.com"));
        assert!(!wild.matches("badexample.com"));
        for bad in ["", "*.", "a..b", "a b", "*", "a/b"] {
            assert!(HostMatch::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn hosts_lose_ports_and_dots_and_match_in_any_case() {
        assert_eq!(host_of("Example.COM:8080"), "Example.COM");
        assert_eq!(host_of("[::1]:80"), "[::1]");
        assert_eq!(host_of("a.test"), "a.test");
        assert_eq!(host_of("A.test.:80"), "A.test");
        assert!(
            HostMatch::parse("a.test")
                .unwrap()
                .matches(host_of("A.TEST.:80"))
        );
        assert!(
            HostMatch::parse("*.test")
                .unwrap()
                .matches(host_of("X.Test"))
        );
        // Non-ASCII never matches and never panics on a char boundary.
        assert!(!HostMatch::parse("*.test").unwrap().matches("é.testé"));
        assert!(!HostMatch::parse("*.ab").unwrap().matches("aéb"));
    }
}
