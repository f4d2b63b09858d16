//! Validation of plugin edits: every value a plugin hands the host is checked here before it
//! touches a request or response. The rules follow RFC 9110 and RFC 6265; each refusal becomes a
//! WIT `edit-error` the plugin can see.

use http::header::{HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery};

use super::bindings::EditError;

/// Header fields that describe one connection, not the message (RFC 9110 §7.6.1), plus the
/// fields the host owns (`host` is the authority, `content-length` describes the body).
const FORBIDDEN_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
    "content-length",
];

/// Which message a header edit applies to; `host` may only be set through `set-authority`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Side {
    Request,
    Response,
}

/// Checks a header name for an edit and returns it in canonical (lowercase) form.
pub(crate) fn header_name(name: &str, side: Side) -> Result<HeaderName, EditError> {
    let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        EditError::InvalidName(format!("`{}` is not a header field name", clip(name)))
    })?;
    if FORBIDDEN_HEADERS.contains(&parsed.as_str()) {
        return Err(EditError::Forbidden(format!(
            "`{parsed}` is managed by the proxy and cannot be edited by filters"
        )));
    }
    if side == Side::Request && parsed == http::header::HOST {
        return Err(EditError::Forbidden(
            "`host` is edited with set-authority".to_owned(),
        ));
    }
    Ok(parsed)
}

/// Checks a header value: visible ASCII, obs-text, spaces and tabs; never CR, LF or NUL.
pub(crate) fn header_value(value: &[u8]) -> Result<HeaderValue, EditError> {
    if let Some(bad) = value.iter().find(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(EditError::InvalidValue(format!(
            "header value contains byte 0x{bad:02x} (CR, LF and NUL are not allowed)"
        )));
    }
    HeaderValue::from_bytes(value)
        .map_err(|_| EditError::InvalidValue("header value contains control characters".to_owned()))
}

/// Checks a new request path: absolute, no query or fragment, no whitespace or controls.
pub(crate) fn path(path: &str) -> Result<(), EditError> {
    if !path.starts_with('/') {
        return Err(EditError::InvalidValue(format!(
            "path `{}` must start with `/`",
            clip(path)
        )));
    }
    if path.contains(['?', '#']) {
        return Err(EditError::InvalidValue(
            "path must not contain `?` or `#` (use set-query)".to_owned(),
        ));
    }
    uri_chars(path, "path")?;
    PathAndQuery::try_from(path)
        .map(drop)
        .map_err(|_| EditError::InvalidValue(format!("`{}` is not a valid path", clip(path))))
}

/// Checks a new query string (without the leading `?`).
pub(crate) fn query(query: &str) -> Result<(), EditError> {
    if query.contains('#') {
        return Err(EditError::InvalidValue(
            "query must not contain `#`".to_owned(),
        ));
    }
    uri_chars(query, "query")?;
    PathAndQuery::try_from(format!("/?{query}").as_str())
        .map(drop)
        .map_err(|_| EditError::InvalidValue(format!("`{}` is not a valid query", clip(query))))
}

/// Checks a new authority: `host[:port]`, no user info.
pub(crate) fn authority(authority: &str) -> Result<Authority, EditError> {
    if authority.is_empty() || authority.contains('@') {
        return Err(EditError::InvalidValue(format!(
            "`{}` is not a valid authority (host[:port], no user info)",
            clip(authority)
        )));
    }
    uri_chars(authority, "authority")?;
    authority.parse::<Authority>().map_err(|_| {
        EditError::InvalidValue(format!("`{}` is not a valid authority", clip(authority)))
    })
}

/// Checks a scheme: only `http` and `https`.
pub(crate) fn scheme(scheme: &str) -> Result<(), EditError> {
    match scheme {
        "http" | "https" => Ok(()),
        other => Err(EditError::InvalidValue(format!(
            "scheme `{}` is not `http` or `https`",
            clip(other)
        ))),
    }
}

/// Checks a cookie name: an RFC 9110 token (RFC 6265 §4.1.1).
pub(crate) fn cookie_name(name: &str) -> Result<(), EditError> {
    if !name.is_empty() && name.bytes().all(is_tchar) {
        Ok(())
    } else {
        Err(EditError::InvalidName(format!(
            "`{}` is not a cookie name",
            clip(name)
        )))
    }
}

/// Checks a cookie value: cookie-octets, optionally in double quotes (RFC 6265 §4.1.1).
pub(crate) fn cookie_value(value: &str) -> Result<(), EditError> {
    let inner = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    if inner.bytes().all(is_cookie_octet) {
        Ok(())
    } else {
        Err(EditError::InvalidValue(format!(
            "`{}` is not a cookie value (no spaces, quotes, commas, semicolons or backslashes)",
            clip(value)
        )))
    }
}

/// Checks a cookie attribute value (`Domain`, `Path`, `Expires`): no `;` and no controls.
pub(crate) fn cookie_attribute(what: &str, value: &str) -> Result<(), EditError> {
    if value.bytes().any(|b| b == b';' || b.is_ascii_control()) {
        return Err(EditError::InvalidValue(format!(
            "cookie {what} `{}` contains `;` or control characters",
            clip(value)
        )));
    }
    Ok(())
}

/// Checks a pool name: 1 to 64 characters of `[A-Za-z0-9._-]`.
pub(crate) fn pool_name(pool: &str) -> Result<(), EditError> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if (1..=64).contains(&pool.len()) && pool.chars().all(legal) {
        Ok(())
    } else {
        Err(EditError::InvalidName(format!(
            "`{}` is not a pool name (1-64 of A-Z a-z 0-9 . _ -)",
            clip(pool)
        )))
    }
}

/// Checks a final status code.
pub(crate) fn status(status: u16) -> Result<http::StatusCode, EditError> {
    if !(200..=599).contains(&status) {
        return Err(EditError::InvalidValue(format!(
            "status {status} is not a final status (200-599)"
        )));
    }
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

/// RFC 9110 §5.6.2 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

fn uri_chars(value: &str, what: &str) -> Result<(), EditError> {
    if value
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b >= 0x80)
    {
        return Err(EditError::InvalidValue(format!(
            "{what} contains whitespace, control or non-ASCII characters (percent-encode them)"
        )));
    }
    Ok(())
}

/// Shortens untrusted text quoted in an error so a hostile plugin cannot flood the logs.
fn clip(text: &str) -> String {
    const MAX: usize = 64;
    if text.len() <= MAX {
        return text.escape_debug().to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text[..end].escape_debug())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_lowercased_tokens() {
        assert_eq!(
            header_name("X-Foo", Side::Request).unwrap().as_str(),
            "x-foo"
        );
        assert!(matches!(
            header_name("bad name", Side::Request),
            Err(EditError::InvalidName(_))
        ));
        assert!(matches!(
            header_name("", Side::Request),
            Err(EditError::InvalidName(_))
        ));
        assert!(matches!(
            header_name(":path", Side::Request),
            Err(EditError::InvalidName(_))
        ));
    }

    #[test]
    fn hop_by_hop_and_host_are_forbidden() {
        for name in [
            "Connection",
            "transfer-encoding",
            "upgrade",
            "te",
            "content-length",
        ] {
            assert!(
                matches!(
                    header_name(name, Side::Request),
                    Err(EditError::Forbidden(_))
                ),
                "{name}"
            );
        }
        assert!(matches!(
            header_name("host", Side::Request),
            Err(EditError::Forbidden(_))
        ));
        assert!(header_name("host", Side::Response).is_ok());
    }

    #[test]
    fn header_values_refuse_crlf_and_nul() {
        assert!(header_value(b"ok value\twith tab").is_ok());
        assert!(header_value(&[0xff, b'a']).is_ok(), "obs-text is legal");
        for bad in [&b"a\r\nx-injected: 1"[..], b"a\nb", b"a\0b", b"a\x07b"] {
            assert!(matches!(header_value(bad), Err(EditError::InvalidValue(_))));
        }
    }

    #[test]
    fn paths_must_be_absolute_and_clean() {
        assert!(path("/a/b%20c").is_ok());
        assert!(path("/").is_ok());
        for bad in ["", "a/b", "/a b", "/a?b", "/a#b", "/é", "/a\r\n"] {
            assert!(path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn queries_and_authorities_are_checked() {
        assert!(query("a=1&b=%20").is_ok());
        assert!(query("a b").is_err());
        assert!(query("a#b").is_err());
        assert!(authority("example.com:8080").is_ok());
        assert!(authority("[::1]:80").is_ok());
        assert!(authority("user@example.com").is_err());
        assert!(authority("").is_err());
        assert!(authority("a b").is_err());
    }

    #[test]
    fn cookies_follow_rfc6265() {
        assert!(cookie_name("session_id").is_ok());
        assert!(cookie_name("a=b").is_err());
        assert!(cookie_name("").is_err());
        assert!(cookie_value("abc123").is_ok());
        assert!(cookie_value("\"quoted\"").is_ok());
        assert!(cookie_value("").is_ok());
        for bad in ["a b", "a;b", "a,b", "a\\b", "a\"b"] {
            assert!(cookie_value(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pools_statuses_and_schemes() {
        assert!(pool_name("blue-v2.canary").is_ok());
        assert!(pool_name("").is_err());
        assert!(pool_name("a/b").is_err());
        assert!(pool_name(&"a".repeat(65)).is_err());
        assert!(status(200).is_ok());
        assert!(status(599).is_ok());
        assert!(status(101).is_err());
        assert!(status(600).is_err());
        assert!(scheme("https").is_ok());
        assert!(scheme("ftp").is_err());
    }

    #[test]
    fn quoted_input_is_clipped() {
        let long = "é".repeat(100);
        let err = authority(&format!("{long}@x")).unwrap_err();
        let EditError::InvalidValue(msg) = err else {
            panic!("wrong variant")
        };
        assert!(msg.len() < 200, "{msg}");
    }
}
