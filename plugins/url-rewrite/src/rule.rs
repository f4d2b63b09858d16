//! The rewrite rules and the pass over them. Pure code over [`Url`]; the SDK glue that reads
//! and edits the request lives in the crate root.

use std::borrow::Cow;

use regex::Regex;
use weir_sdk::HostPattern;

/// One validated rule (see the README for the meaning of each key).
#[derive(Debug)]
pub(crate) struct Rule {
    /// `match`, compiled.
    pub(crate) pattern: Regex,
    /// `replace`: a `regex` replacement template (`$1`, `${name}`, `$$`).
    pub(crate) replace: String,
    /// `include_query`: match against `path?query` instead of the path alone.
    pub(crate) include_query: bool,
    /// `host`: the rule applies only to requests for this host.
    pub(crate) host: Option<HostPattern>,
    /// `set_host`: the new authority when the rule matches.
    pub(crate) set_host: Option<String>,
    /// `redirect`: answer with this status instead of rewriting.
    pub(crate) redirect: Option<u16>,
    /// `last`: stop after this rule when it matches.
    pub(crate) last: bool,
}

/// The parts of a request URL that rules read and rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `host[:port]`, when the request has one.
    pub authority: Option<String>,
    /// The path, starting with `/`, still percent-encoded.
    pub path: String,
    /// The query without the leading `?`.
    pub query: Option<String>,
}

impl Url {
    /// The redirect target: `scheme://authority/path?query` when `absolute`, else
    /// `/path?query` (a relative `Location`, RFC 9110 §10.2.2).
    pub fn location(&self, scheme: &str, absolute: bool) -> String {
        let mut out = String::new();
        if absolute && let Some(authority) = &self.authority {
            out.push_str(scheme);
            out.push_str("://");
            out.push_str(authority);
        }
        out.push_str(&self.path);
        if let Some(query) = &self.query {
            out.push('?');
            out.push_str(query);
        }
        out
    }

    /// What a rule's `match` sees: the path, or `path?query` for `include_query` rules.
    fn subject(&self, include_query: bool) -> Cow<'_, str> {
        match &self.query {
            Some(query) if include_query => Cow::Owned(format!("{}?{query}", self.path)),
            _ => Cow::Borrowed(&self.path),
        }
    }
}

/// What the rules decided for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No rule matched; the request is unchanged.
    Unchanged,
    /// At least one rule matched; the request goes upstream with the rewritten URL.
    Rewrite,
    /// A `redirect` rule matched: answer with this status and the rewritten URL.
    Redirect {
        /// 301, 302, 307 or 308.
        status: u16,
    },
}

/// A rule produced a URL that weir would refuse; the request is left unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewriteError {
    /// Index of the rule in `rules`.
    pub rule: usize,
    /// What is wrong with the result.
    pub reason: String,
}

impl std::fmt::Display for RewriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rules[{}] produced an invalid URL: {}",
            self.rule, self.reason
        )
    }
}

impl std::error::Error for RewriteError {}

/// Runs `rules` in order over `url`, rewriting it in place. On error `url` may be partly
/// rewritten; the caller discards it.
pub(crate) fn apply(rules: &[Rule], url: &mut Url) -> Result<Outcome, RewriteError> {
    let mut outcome = Outcome::Unchanged;
    for (index, rule) in rules.iter().enumerate() {
        if !rule.applies_to(url) {
            continue;
        }
        let Some(rewritten) = rule.rewrite(url) else {
            continue;
        };
        let (path, query) = rule.split_result(&rewritten, url);
        check_path(path).map_err(|reason| RewriteError {
            rule: index,
            reason,
        })?;
        if let Some(query) = &query {
            check_query(query).map_err(|reason| RewriteError {
                rule: index,
                reason,
            })?;
        }
        url.path = path.to_owned();
        url.query = query;
        if let Some(authority) = &rule.set_host {
            url.authority = Some(authority.clone());
        }
        outcome = Outcome::Rewrite;
        if let Some(status) = rule.redirect {
            return Ok(Outcome::Redirect { status });
        }
        if rule.last {
            break;
        }
    }
    Ok(outcome)
}

impl Rule {
    /// The `host` condition: a rule with one never applies to a request without a host.
    fn applies_to(&self, url: &Url) -> bool {
        match (&self.host, &url.authority) {
            (None, _) => true,
            (Some(pattern), Some(authority)) => pattern.matches(strip_port(authority)),
            (Some(_), None) => false,
        }
    }

    /// The subject with its first match replaced by the expanded template, or `None` when the
    /// pattern does not match.
    fn rewrite(&self, url: &Url) -> Option<String> {
        let subject = url.subject(self.include_query);
        let captures = self.pattern.captures(&subject)?;
        let whole = captures.get(0)?;
        let mut out = String::with_capacity(subject.len() + self.replace.len());
        out.push_str(subject.get(..whole.start())?);
        captures.expand(&self.replace, &mut out);
        out.push_str(subject.get(whole.end()..)?);
        Some(out)
    }

    /// Splits a rewritten subject into the new path and query. A `?` in the result sets the
    /// query (a bare trailing `?` removes it). Without a `?`, a path-only rule keeps the old
    /// query and an `include_query` rule, which consumed it, leaves none.
    fn split_result<'a>(&self, rewritten: &'a str, url: &Url) -> (&'a str, Option<String>) {
        match rewritten.split_once('?') {
            Some((path, "")) => (path, None),
            Some((path, query)) => (path, Some(query.to_owned())),
            None if self.include_query => (rewritten, None),
            None => (rewritten, url.query.clone()),
        }
    }
}

/// The host's rules for `set-path`, checked here so a bad rewrite is never half-applied.
fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("the path `{path}` does not start with `/`"));
    }
    match path
        .chars()
        .find(|&c| c.is_whitespace() || c.is_control() || c == '#')
    {
        Some(c) => Err(format!("the path contains {c:?}")),
        None => Ok(()),
    }
}

/// Strips the port from an authority (`host[:port]`, `[v6]:port`), leaving the host that a
/// `host` condition is matched against.
fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => authority.get(..=end).unwrap_or(authority),
            None => authority,
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// A query may not contain whitespace, control characters or a fragment.
fn check_query(query: &str) -> Result<(), String> {
    match query
        .chars()
        .find(|&c| c.is_whitespace() || c.is_control() || c == '#')
    {
        Some(c) => Err(format!("the query contains {c:?}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_is_stripped_from_authorities() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:443"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }
}
