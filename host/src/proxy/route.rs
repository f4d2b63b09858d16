//! Route matching by host and path prefix.

use std::sync::Arc;

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

    /// Whether `host` (lowercase, no port) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(exact) => host == exact,
            Self::Suffix(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
        }
    }
}

/// A route ready to serve.
#[derive(Debug)]
pub struct Route {
    /// Name for logs.
    pub name: String,
    /// Host condition.
    pub host: Option<HostMatch>,
    /// Path prefix.
    pub path_prefix: String,
    /// Filters.
    pub chain: FilterChain,
    /// Default pool.
    pub pool: Arc<BackendPool>,
}

/// Picks the route for a request: routes with a matching host beat host-less routes, exact hosts
/// beat wildcards, then the longest matching path prefix wins, then file order.
pub(crate) fn find<'r>(routes: &'r [Route], host: Option<&str>, path: &str) -> Option<&'r Route> {
    routes
        .iter()
        .filter(|r| prefix_matches(&r.path_prefix, path))
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

/// `/api` matches `/api`, `/api/` and `/api/x`, not `/apix`; a prefix ending in `/` matches by
/// plain prefix.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// The host of a request target or `Host` header, lowercase and without the port.
pub(crate) fn host_of(authority: &str) -> String {
    let host = if authority.starts_with('[') {
        authority
            .split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default().to_owned()
    };
    // A fully qualified name (`example.com.`) is the same host (RFC 3986 §3.2.2).
    host.strip_suffix('.').unwrap_or(&host).to_ascii_lowercase()
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
    fn prefixes_match_on_segment_boundaries() {
        assert!(prefix_matches("/", "/anything"));
        assert!(prefix_matches("/api", "/api"));
        assert!(prefix_matches("/api", "/api/v1"));
        assert!(!prefix_matches("/api", "/apix"));
        assert!(prefix_matches("/api/", "/api/x"));
        assert!(!prefix_matches("/api/", "/api"));
    }

    #[test]
    fn hosts_lose_ports_and_case() {
        assert_eq!(host_of("Example.COM:8080"), "example.com");
        assert_eq!(host_of("[::1]:80"), "[::1]");
        assert_eq!(host_of("a.test"), "a.test");
        assert_eq!(host_of("A.test.:80"), "a.test");
    }
}
