//! [`HostPattern`]: a host condition from a plugin's config, an exact host name or a
//! `*.suffix` wildcard, compared ASCII case-insensitively and without the port. Pure string
//! code: it needs no host and works the same natively and in a guest.

/// A host condition as operators write it in a plugin's config: `example.com` matches that
/// host only, `*.example.com` matches every subdomain at any depth but not `example.com`
/// itself.
///
/// Matching is ASCII case-insensitive and ignores one trailing dot on the host (`example.com.`
/// is `example.com`). Patterns are ASCII: internationalized names are written in their
/// punycode (`xn--`) form. The host to match has no port: pass [`Request::host`], not the
/// authority.
///
/// [`Request::host`]: crate::Request::host
///
/// ```
/// use weir_sdk::HostPattern;
///
/// let shop = HostPattern::parse("*.Shop.test")?;
/// assert!(shop.matches("eu.shop.test"));
/// assert!(shop.matches("a.b.SHOP.test."));
/// assert!(!shop.matches("shop.test"));
///
/// let err = HostPattern::parse("shop.test:8080").unwrap_err();
/// assert_eq!(err.to_string(), "`shop.test:8080` has a port; hosts are matched without the port");
/// # Ok::<(), weir_sdk::HostPatternError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPattern {
    kind: Kind,
}

/// Why a host pattern or host name was rejected. Each variant carries the text as written, and
/// the message says what to write instead.
///
/// ```
/// use weir_sdk::{HostPattern, HostPatternError};
///
/// let err = HostPattern::parse("a.*.test").unwrap_err();
/// assert_eq!(err, HostPatternError::MisplacedWildcard("a.*.test".to_owned()));
/// assert_eq!(err.to_string(), "`a.*.test`: `*` is only allowed as a leading `*.`");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostPatternError {
    /// There is no name: the text is empty or, for a pattern, only dots.
    #[error("`{0}` has no host name")]
    Empty(String),
    /// The text is not ASCII.
    #[error("`{0}` is not ASCII; write the punycode (`xn--`) form")]
    NotAscii(String),
    /// A `*` anywhere but in a leading `*.`.
    #[error("`{0}`: `*` is only allowed as a leading `*.`")]
    MisplacedWildcard(String),
    /// A bracketed IPv6 literal that is unclosed or holds other than hex digits, `:` and `.`.
    #[error("`{0}` is not a valid IPv6 literal")]
    InvalidIpv6(String),
    /// The text has a port (`example.com:8080`).
    #[error("`{0}` has a port; hosts are matched without the port")]
    HasPort(String),
    /// A character that a host name cannot contain (anything but letters, digits, `-`, `.`
    /// and `_`).
    #[error("`{text}` contains {found:?}, which is not allowed in a host name")]
    InvalidChar {
        /// The text as written.
        text: String,
        /// The first character that is not allowed.
        found: char,
    },
}

impl HostPattern {
    /// Parses `example.com` or `*.example.com`. Trailing dots are dropped and the name is
    /// lowercased; the error says what is wrong with the pattern.
    ///
    /// ```
    /// use weir_sdk::{HostPattern, HostPatternError};
    ///
    /// assert!(HostPattern::parse("api.example.com").is_ok());
    /// assert!(HostPattern::parse("[::1]").is_ok());
    /// assert_eq!(
    ///     HostPattern::parse("bücher.de"),
    ///     Err(HostPatternError::NotAscii("bücher.de".to_owned())),
    /// );
    /// ```
    pub fn parse(pattern: &str) -> Result<Self, HostPatternError> {
        let lower = pattern.trim_end_matches('.').to_ascii_lowercase();
        let (wildcard, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        check_host_name(pattern, name)?;
        let kind = if wildcard {
            Kind::Subdomains(format!(".{name}"))
        } else {
            Kind::Exact(name.to_owned())
        };
        Ok(Self { kind })
    }

    /// Whether `host` (without a port) matches. One trailing dot on `host` is ignored.
    ///
    /// ```
    /// use weir_sdk::HostPattern;
    ///
    /// let exact = HostPattern::parse("app.test")?;
    /// assert!(exact.matches("APP.test."));
    /// assert!(!exact.matches("www.app.test"));
    /// # Ok::<(), weir_sdk::HostPatternError>(())
    /// ```
    pub fn matches(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        match &self.kind {
            Kind::Exact(name) => host.eq_ignore_ascii_case(name),
            Kind::Subdomains(suffix) => {
                host.len() > suffix.len()
                    && host
                        .as_bytes()
                        .get(host.len() - suffix.len()..)
                        .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix.as_bytes()))
            }
        }
    }

    /// Checks a host name from a config, with the rules [`parse`](Self::parse) applies to a
    /// pattern's name: ASCII letters, digits, `-`, `.` and `_`, or a bracketed IPv6 literal;
    /// no `*`, no port. Nothing is trimmed. Use it for config values that name a host without
    /// being a pattern, such as the host part of an authority to rewrite to.
    ///
    /// ```
    /// use weir_sdk::{HostPattern, HostPatternError};
    ///
    /// assert!(HostPattern::check_host_name("backend.internal").is_ok());
    /// assert!(HostPattern::check_host_name("[fe80::1]").is_ok());
    /// assert_eq!(
    ///     HostPattern::check_host_name("a/b"),
    ///     Err(HostPatternError::InvalidChar { text: "a/b".to_owned(), found: '/' }),
    /// );
    /// ```
    pub fn check_host_name(name: &str) -> Result<(), HostPatternError> {
        check_host_name(name, name)
    }
}

/// The two forms of a pattern, stored lowercase and without trailing dots.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Kind {
    /// Matches this host only.
    Exact(String),
    /// `*.example.com`: matches every host that ends with `.example.com` (stored with the
    /// leading dot), but not `example.com` itself.
    Subdomains(String),
}

/// Checks `name` (no wildcard, no port); `text` is what the operator wrote, for the error.
fn check_host_name(text: &str, name: &str) -> Result<(), HostPatternError> {
    let text = || text.to_owned();
    if name.is_empty() {
        return Err(HostPatternError::Empty(text()));
    }
    if !name.is_ascii() {
        return Err(HostPatternError::NotAscii(text()));
    }
    if name.contains('*') {
        return Err(HostPatternError::MisplacedWildcard(text()));
    }
    if let Some(inner) = name.strip_prefix('[') {
        // An IPv6 literal, as it appears in an authority (RFC 3986 §3.2.2).
        let valid = inner.strip_suffix(']').is_some_and(|v6| {
            !v6.is_empty()
                && v6
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        });
        return if valid {
            Ok(())
        } else {
            Err(HostPatternError::InvalidIpv6(text()))
        };
    }
    if name.contains(':') {
        return Err(HostPatternError::HasPort(text()));
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        Some(found) => Err(HostPatternError::InvalidChar {
            text: text(),
            found,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "in tests a panic is the failure report; see STYLE §9 allow-unwrap-in-tests"
)]
mod tests {
    use super::*;

    fn rejection(pattern: &str) -> String {
        HostPattern::parse(pattern).unwrap_err().to_string()
    }

    #[test]
    fn exact_pattern_matches_case_insensitively_and_ignores_trailing_dot() {
        let p = HostPattern::parse("App.Example.com").unwrap();
        assert!(p.matches("app.example.com"));
        assert!(p.matches("APP.EXAMPLE.COM."));
        assert!(!p.matches("x.app.example.com"));
        assert!(!p.matches("example.com"));
    }

    #[test]
    fn trailing_dots_on_the_pattern_are_dropped() {
        assert_eq!(
            HostPattern::parse("example.com..").unwrap(),
            HostPattern::parse("example.com").unwrap()
        );
        assert!(
            HostPattern::parse("*.example.com.")
                .unwrap()
                .matches("a.example.com.")
        );
    }

    #[test]
    fn only_one_trailing_dot_on_the_host_is_ignored() {
        let p = HostPattern::parse("example.com").unwrap();
        assert!(!p.matches("example.com.."));
    }

    #[test]
    fn wildcard_matches_subdomains_but_not_the_bare_domain() {
        let p = HostPattern::parse("*.example.com").unwrap();
        assert!(p.matches("a.example.com"));
        assert!(p.matches("b.A.Example.COM"));
        assert!(!p.matches("example.com"));
        assert!(!p.matches("badexample.com"));
        assert!(!p.matches(".example.com"));
    }

    #[test]
    fn ipv6_literal_matches_with_its_brackets() {
        let p = HostPattern::parse("[::1]").unwrap();
        assert!(p.matches("[::1]"));
        assert!(!p.matches("::1"));
    }

    #[test]
    fn bad_patterns_are_rejected_with_a_reason() {
        assert!(rejection("").contains("no host name"));
        assert!(rejection(".").contains("no host name"));
        assert!(rejection("*.").contains("leading `*.`"));
        assert!(rejection("a.*.com").contains("leading `*.`"));
        assert!(rejection("*").contains("leading `*.`"));
        assert!(rejection("example.com:8080").contains("port"));
        assert!(rejection("bücher.de").contains("punycode"));
        assert!(rejection("a b").contains("' '"));
        assert!(rejection("[::1").contains("IPv6"));
        assert!(rejection("[]").contains("IPv6"));
        assert!(HostPattern::parse("[::1]").is_ok());
    }

    #[test]
    fn rejection_quotes_the_pattern_as_written() {
        assert_eq!(
            HostPattern::parse("*.A B."),
            Err(HostPatternError::InvalidChar {
                text: "*.A B.".to_owned(),
                found: ' '
            })
        );
    }

    #[test]
    fn host_name_check_trims_nothing_and_allows_no_wildcard() {
        assert!(HostPattern::check_host_name("a.test.").is_ok());
        assert!(HostPattern::check_host_name("a_b-1.test").is_ok());
        assert_eq!(
            HostPattern::check_host_name("*.a.test"),
            Err(HostPatternError::MisplacedWildcard("*.a.test".to_owned()))
        );
        assert_eq!(
            HostPattern::check_host_name(""),
            Err(HostPatternError::Empty(String::new()))
        );
        assert_eq!(
            HostPattern::check_host_name("a:80"),
            Err(HostPatternError::HasPort("a:80".to_owned()))
        );
    }
}
