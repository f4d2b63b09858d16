//! The block and allow lists and the check of one request against them. Pure code over
//! strings; the SDK glue lives in the crate root.

use std::fmt;

use regex::RegexSet;
use weir_sdk::HostPattern;

/// The validated lists, in config order.
#[derive(Debug)]
pub(crate) struct Policy {
    /// `allow_hosts`: never blocked, whatever the other lists say.
    pub(crate) allow_hosts: Vec<HostPattern>,
    /// `block_hosts`.
    pub(crate) block_hosts: Vec<HostPattern>,
    /// `block_path_prefixes`, normalized like request paths.
    pub(crate) block_path_prefixes: Vec<String>,
    /// `block_patterns`, compiled into one set so a request is scanned once.
    pub(crate) block_patterns: RegexSet,
}

/// The rule that blocked a request, named by its config key and index; this is the value of
/// the `x-weir-deny-rule` response header, e.g. `block_patterns[2]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockRule {
    /// An entry of `block_hosts`.
    Host(usize),
    /// An entry of `block_path_prefixes`.
    PathPrefix(usize),
    /// An entry of `block_patterns`.
    Pattern(usize),
}

impl fmt::Display for BlockRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Host(i) => write!(f, "block_hosts[{i}]"),
            Self::PathPrefix(i) => write!(f, "block_path_prefixes[{i}]"),
            Self::Pattern(i) => write!(f, "block_patterns[{i}]"),
        }
    }
}

impl Policy {
    /// The first rule that blocks the request, checking hosts, then path prefixes, then
    /// patterns; `None` when it may pass. `host` has no port; `path` is as received.
    pub(crate) fn check(&self, host: &str, path: &str, query: Option<&str>) -> Option<BlockRule> {
        if self.allow_hosts.iter().any(|p| p.matches(host)) {
            return None;
        }
        if let Some(i) = self.block_hosts.iter().position(|p| p.matches(host)) {
            return Some(BlockRule::Host(i));
        }
        let path = normalize_path(path);
        if let Some(i) = self
            .block_path_prefixes
            .iter()
            .position(|prefix| path.starts_with(prefix.as_str()))
        {
            return Some(BlockRule::PathPrefix(i));
        }
        if self.block_patterns.is_empty() {
            return None;
        }
        let mut subject = host.to_ascii_lowercase();
        subject.push_str(&path);
        if let Some(query) = query {
            subject.push('?');
            subject.push_str(query);
        }
        // `iter()` yields matching indices in ascending order: the first is the earliest rule.
        self.block_patterns
            .matches(&subject)
            .iter()
            .next()
            .map(BlockRule::Pattern)
    }
}

/// The path as an upstream is likely to read it, so that `/%61dmin`, `//admin` and
/// `/x/../admin` cannot slip past a rule for `/admin`: percent-encoded unreserved characters
/// are decoded (RFC 3986 §6.2.2.2), empty segments collapse, and dot segments are removed
/// (RFC 3986 §5.2.4). A path that does not start with `/` (e.g. `*`) is returned as is.
pub(crate) fn normalize_path(path: &str) -> String {
    if !path.starts_with('/') {
        return path.to_owned();
    }
    let decoded = decode_unreserved(path);
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in decoded.split('/').skip(1) {
        trailing_slash = true;
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => {
                segments.push(other);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if trailing_slash || segments.is_empty() {
        out.push('/');
    }
    out
}

/// Decodes `%XX` escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`); every other byte,
/// including other escapes, is kept as is.
fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let Some(decoded) = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~'))
        {
            out.push(char::from(decoded));
            i += 3;
            continue;
        }
        // Copy the whole (possibly multi-byte) character starting here.
        let len = path
            .get(i..)
            .and_then(|rest| rest.chars().next())
            .map_or(1, char::len_utf8);
        out.push_str(path.get(i..i + len).unwrap_or_default());
        i += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_escapes_are_decoded_and_others_kept() {
        assert_eq!(
            decode_unreserved("/%61dmin%2Fx%2e%7E%zz%4"),
            "/admin%2Fx.~%zz%4"
        );
        assert_eq!(decode_unreserved("/caf\u{e9}%41"), "/caf\u{e9}A");
    }

    #[test]
    fn dot_segments_and_empty_segments_are_removed() {
        for (raw, normalized) in [
            ("/", "/"),
            ("/a/b", "/a/b"),
            ("/a/", "/a/"),
            ("//admin", "/admin"),
            ("/a//b", "/a/b"),
            ("/x/../admin", "/admin"),
            ("/../../admin", "/admin"),
            ("/a/./b/.", "/a/b/"),
            ("/a/..", "/"),
            ("/%2e%2e/admin", "/admin"),
            ("/a/b/../../c/", "/c/"),
            ("*", "*"),
        ] {
            assert_eq!(normalize_path(raw), normalized, "{raw}");
        }
    }
}
