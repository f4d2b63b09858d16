//! Validation of plugin edits: every value a plugin hands the host is checked here before it
//! touches a request or response. The rules live in `weir-rules` (shared with the SDK's test
//! kit); this module turns their refusals into WIT `edit-error`s and parses accepted values into
//! `http` types, which cannot fail once a rule has accepted them.

use http::header::{HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery};
use weir_rules::validate::{self as rules, clip};
use weir_rules::{RuleError, RuleErrorKind};

pub(crate) use weir_rules::validate::Side;

use super::bindings::EditError;
use super::path::PathContext;

impl From<RuleError> for EditError {
    fn from(error: RuleError) -> Self {
        match error.kind {
            RuleErrorKind::InvalidName => Self::InvalidName(error.message),
            RuleErrorKind::InvalidValue => Self::InvalidValue(error.message),
            RuleErrorKind::Forbidden => Self::Forbidden(error.message),
        }
    }
}

/// Checks a header name for an edit and returns it in canonical (lowercase) form.
pub(crate) fn header_name(name: &str, side: Side) -> Result<HeaderName, EditError> {
    // `HeaderName::from_bytes` lowercases as it parses: no lowercase copy first (a standard
    // name allocates nothing, another one its own bytes once).
    rules::check_header_name(name, side)?;
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| EditError::InvalidName(format!("`{}` is not a header field name", clip(name))))
}

/// Checks a header value: visible ASCII, obs-text, spaces and tabs; never CR, LF or NUL.
pub(crate) fn header_value(value: &[u8]) -> Result<HeaderValue, EditError> {
    rules::header_value(value)?;
    HeaderValue::from_bytes(value)
        .map_err(|_| EditError::InvalidValue("header value contains control characters".to_owned()))
}

/// [`header_value`] for bytes the host owns already (a plugin's argument, lifted by wasmtime):
/// they become the value's storage instead of being copied. A vector as long as its capacity,
/// which wasmtime's lift makes, converts without allocating.
pub(crate) fn header_value_owned(value: Vec<u8>) -> Result<HeaderValue, EditError> {
    rules::header_value(&value)?;
    HeaderValue::from_maybe_shared(bytes::Bytes::from(value))
        .map_err(|_| EditError::InvalidValue("header value contains control characters".to_owned()))
}

/// Checks a new path and returns the request target it makes with `query`: the parsed form
/// the request then carries, so nothing is parsed twice.
pub(crate) fn path(path: &str, query: Option<&str>) -> Result<PathAndQuery, EditError> {
    rules::path(path)?;
    let target = match query {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    PathAndQuery::from_maybe_shared(bytes::Bytes::from(target))
        .map_err(|_| EditError::InvalidValue(format!("`{}` is not a valid path", clip(path))))
}

/// Checks a new path and normalises it as request paths are (`weir_rules::path`); refuses it
/// when the result leaves the route's prefix.
pub(crate) fn normal_path<'p>(
    path: &'p str,
    policy: &PathContext,
) -> Result<std::borrow::Cow<'p, str>, EditError> {
    rules::path(path)?;
    let normal = weir_rules::path::normalise(path, policy.separators)
        .map_err(|e| EditError::InvalidValue(e.to_string()))?;
    if let Some(prefix) = &policy.prefix
        && !weir_rules::path::within_prefix(prefix, &normal)
    {
        return Err(EditError::Forbidden(format!(
            "path `{}` leaves the route's prefix `{prefix}`",
            clip(&normal)
        )));
    }
    Ok(normal)
}

/// Checks a new query string (without the leading `?`) and returns the request target it
/// makes with `path`.
pub(crate) fn query(path: &str, query: &str) -> Result<PathAndQuery, EditError> {
    rules::query(query)?;
    PathAndQuery::from_maybe_shared(bytes::Bytes::from(format!("{path}?{query}")))
        .map_err(|_| EditError::InvalidValue(format!("`{}` is not a valid query", clip(query))))
}

/// Checks a new authority: `host[:port]`, no user info.
pub(crate) fn authority(authority: &str) -> Result<Authority, EditError> {
    rules::authority(authority)?;
    authority.parse::<Authority>().map_err(|_| {
        EditError::InvalidValue(format!("`{}` is not a valid authority", clip(authority)))
    })
}

/// Checks a scheme: only `http` and `https`.
pub(crate) fn scheme(scheme: &str) -> Result<&'static str, EditError> {
    rules::scheme(scheme)?;
    Ok(if scheme == "https" { "https" } else { "http" })
}

/// Checks a cookie name: an RFC 9110 token (RFC 6265 §4.1.1).
pub(crate) fn cookie_name(name: &str) -> Result<(), EditError> {
    Ok(rules::cookie_name(name)?)
}

/// Checks a cookie value: cookie-octets, optionally in double quotes (RFC 6265 §4.1.1).
pub(crate) fn cookie_value(value: &str) -> Result<(), EditError> {
    Ok(rules::cookie_value(value)?)
}

/// Checks a pool name: 1 to 64 characters of `[A-Za-z0-9._-]`.
pub(crate) fn pool_name(pool: &str) -> Result<(), EditError> {
    Ok(rules::pool_name(pool)?)
}

/// Checks a final status code.
pub(crate) fn status(status: u16) -> Result<http::StatusCode, EditError> {
    rules::status(status)?;
    http::StatusCode::from_u16(status)
        .map_err(|_| EditError::InvalidValue(format!("status {status} is invalid")))
}

/// Describes an edit error for logs and error responses.
pub(crate) fn describe(error: &EditError) -> String {
    match error {
        EditError::InvalidName(m) => format!("invalid name: {m}"),
        EditError::InvalidValue(m) => format!("invalid value: {m}"),
        EditError::Forbidden(m) => format!("forbidden: {m}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules restate the `http` crate's parsers; they must accept exactly what it accepts,
    /// or the host would refuse with the wrong message.
    #[test]
    fn rules_agree_with_the_http_parsers() {
        for p in [
            "/",
            "/a/b%20c",
            "/a;b=c/{json}/\"q\"",
            "/[x]|~",
            "/<",
            "/>",
            "/`",
            "/a\\b",
        ] {
            assert_eq!(
                rules::path(p).is_ok(),
                PathAndQuery::try_from(p).is_ok(),
                "{p:?}"
            );
        }
        for q in [
            "",
            "a=1&b=%20",
            "x=?/{}`",
            "a\"b",
            "<",
            ">",
            "a|b",
            "a\\b",
            "a^b",
        ] {
            let parsed = PathAndQuery::try_from(format!("/?{q}").as_str()).is_ok();
            assert_eq!(rules::query(q).is_ok(), parsed, "{q:?}");
        }
        for a in [
            "example.com:8080",
            "[::1]:80",
            "[fe80::1%25eth0]",
            "a:1:2",
            "[::1",
            "a%20b",
            "a{b",
            "[[::1]]",
            "a|b",
        ] {
            assert_eq!(
                rules::authority(a).is_ok(),
                a.parse::<Authority>().is_ok(),
                "{a:?}"
            );
        }
        let long = ["a".repeat(65_535), "a".repeat(65_536)];
        for n in [
            "x-foo", "X-Foo", "a|b", "a\\b", "a{b", "a\"b", &long[0], &long[1],
        ] {
            assert_eq!(
                rules::header_name(n, Side::Response).is_ok(),
                HeaderName::from_bytes(n.as_bytes()).is_ok(),
                "{n:?}"
            );
        }
    }

    #[test]
    fn refusals_become_wit_edit_errors_with_the_same_text() {
        assert!(matches!(
            header_name("bad name", Side::Request),
            Err(EditError::InvalidName(_))
        ));
        let Err(EditError::Forbidden(message)) = header_name("host", Side::Request) else {
            panic!("host must be forbidden on requests")
        };
        assert_eq!(message, "`host` is edited with set-authority");
        assert_eq!(
            header_name("X-Foo", Side::Response).unwrap().as_str(),
            "x-foo"
        );
        assert!(header_value(&[0xff, b'a']).is_ok(), "obs-text is legal");
        assert!(matches!(status(600), Err(EditError::InvalidValue(_))));
        assert_eq!(authority("[::1]:80").unwrap().as_str(), "[::1]:80");
    }
}
