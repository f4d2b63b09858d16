//! Host conditions: an exact host name or a `*.suffix` wildcard, compared ASCII
//! case-insensitively and without the port. Pure string code; no SDK types.

/// A host condition from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostPattern {
    /// Matches this host only (stored lowercase, without a trailing dot).
    Exact(String),
    /// `*.example.com`: matches every host that ends with `.example.com` (stored with the leading
    /// dot), but not `example.com` itself.
    Subdomains(String),
}

impl HostPattern {
    /// Parses `example.com` or `*.example.com`. The error says what is wrong with the pattern.
    pub(crate) fn parse(pattern: &str) -> Result<Self, String> {
        let lower = pattern.trim_end_matches('.').to_ascii_lowercase();
        let (wildcard, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        validate_host_name(pattern, name)?;
        Ok(if wildcard {
            Self::Subdomains(format!(".{name}"))
        } else {
            Self::Exact(name.to_owned())
        })
    }

    /// Whether `host` (no port) matches. A trailing dot on `host` is ignored.
    pub(crate) fn matches(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        match self {
            Self::Exact(name) => host.eq_ignore_ascii_case(name),
            Self::Subdomains(suffix) => {
                host.len() > suffix.len()
                    && host
                        .as_bytes()
                        .get(host.len() - suffix.len()..)
                        .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix.as_bytes()))
            }
        }
    }
}

/// Checks a host name (no wildcard, no port) from the config; `pattern` is the text as written,
/// for the message.
fn validate_host_name(pattern: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("`{pattern}` has no host name"));
    }
    if !name.is_ascii() {
        return Err(format!(
            "`{pattern}` is not ASCII; write the punycode (`xn--`) form"
        ));
    }
    if name.contains('*') {
        return Err(format!(
            "`{pattern}`: `*` is only allowed as a leading `*.`"
        ));
    }
    if let Some(inner) = name.strip_prefix('[') {
        // An IPv6 literal, as it appears in an authority.
        let ok = inner.strip_suffix(']').is_some_and(|v6| {
            !v6.is_empty()
                && v6
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        });
        return if ok {
            Ok(())
        } else {
            Err(format!("`{pattern}` is not a valid IPv6 literal"))
        };
    }
    if name.contains(':') {
        return Err(format!(
            "`{pattern}` has a port; hosts are matched without the port"
        ));
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        Some(c) => Err(format!(
            "`{pattern}` contains {c:?}, which is not allowed in a host name"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_pattern_matches_case_insensitively_and_ignores_trailing_dot() {
        let p = HostPattern::parse("App.Example.com").unwrap();
        assert!(p.matches("app.example.com"));
        assert!(p.matches("APP.EXAMPLE.COM."));
        assert!(!p.matches("x.app.example.com"));
        assert!(!p.matches("example.com"));
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
    fn bad_patterns_are_rejected_with_a_reason() {
        assert!(HostPattern::parse("").unwrap_err().contains("no host name"));
        assert!(
            HostPattern::parse("a.*.com")
                .unwrap_err()
                .contains("leading `*.`")
        );
        assert!(
            HostPattern::parse("*")
                .unwrap_err()
                .contains("leading `*.`")
        );
        assert!(
            HostPattern::parse("example.com:8080")
                .unwrap_err()
                .contains("port")
        );
        assert!(
            HostPattern::parse("bücher.de")
                .unwrap_err()
                .contains("punycode")
        );
        assert!(HostPattern::parse("a b").unwrap_err().contains("' '"));
        assert!(HostPattern::parse("[::1").unwrap_err().contains("IPv6"));
        assert!(HostPattern::parse("[::1]").is_ok());
    }
}
