//! Checks for every value a plugin hands over in an edit (RFC 9110, RFC 3986, RFC 6265). Each
//! refusal is a [`RuleError`] whose message is what the plugin sees.
//!
//! The URI checks restate, without the `http` crate, what its parser accepts, so the host's
//! parser and these rules agree; the host still parses the value afterwards.

use crate::RuleError;

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

/// The longest header name the host's parser accepts.
const MAX_HEADER_NAME_LEN: usize = u16::MAX as usize;

/// The longest path or query the host's URI parser accepts.
const MAX_URI_LEN: usize = u16::MAX as usize - 1;

/// Which message a header edit applies to; `host` may only be set through `set-authority`.
///
/// ```
/// use weir_rules::validate::{Side, header_name};
///
/// assert!(header_name("host", Side::Request).is_err());
/// assert!(header_name("host", Side::Response).is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// A request edit.
    Request,
    /// A response edit.
    Response,
    /// A local response (a `respond` verdict): weir's own answer to the client, so it may carry
    /// weir's `proxy-authenticate` challenge with a 407 (RFC 9110 §11.7.1).
    Local,
}

/// Checks a header name for an edit and returns it lowercased.
///
/// ```
/// use weir_rules::validate::{Side, header_name};
///
/// assert_eq!(header_name("X-Foo", Side::Request).unwrap(), "x-foo");
/// assert!(header_name("Connection", Side::Response).is_err());
/// assert!(header_name("Proxy-Authenticate", Side::Response).is_err());
/// assert!(header_name("Proxy-Authenticate", Side::Local).is_ok());
/// ```
pub fn header_name(name: &str, side: Side) -> Result<String, RuleError> {
    check_header_name(name, side)?;
    Ok(name.to_ascii_lowercase())
}

/// Checks a header name for an edit as [`header_name`] does, without making the lowercase
/// copy: for callers that parse the name into their own type (the host's `HeaderName`
/// lowercases as it parses).
///
/// ```
/// use weir_rules::validate::{Side, check_header_name};
///
/// assert!(check_header_name("X-Foo", Side::Request).is_ok());
/// assert!(check_header_name("Transfer-Encoding", Side::Response).is_err());
/// assert!(check_header_name("HOST", Side::Request).is_err());
/// ```
pub fn check_header_name(name: &str, side: Side) -> Result<(), RuleError> {
    if name.is_empty() || name.len() > MAX_HEADER_NAME_LEN || !name.bytes().all(is_tchar) {
        return Err(RuleError::invalid_name(format!(
            "`{}` is not a header field name",
            clip(name)
        )));
    }
    if side == Side::Local && name.eq_ignore_ascii_case("proxy-authenticate") {
        return Ok(());
    }
    if FORBIDDEN_HEADERS
        .iter()
        .any(|forbidden| forbidden.eq_ignore_ascii_case(name))
    {
        return Err(RuleError::forbidden(format!(
            "`{}` is managed by the proxy and cannot be edited by filters",
            name.to_ascii_lowercase()
        )));
    }
    if side == Side::Request && name.eq_ignore_ascii_case("host") {
        return Err(RuleError::forbidden(
            "`host` is edited with set-authority".to_owned(),
        ));
    }
    Ok(())
}

/// Checks a header value: visible ASCII, obs-text, spaces and tabs; never CR, LF or NUL
/// (RFC 9110 §5.5).
///
/// ```
/// use weir_rules::validate::header_value;
///
/// assert!(header_value(b"a b\tc").is_ok());
/// assert!(header_value(b"a\r\nb").is_err());
/// ```
pub fn header_value(value: &[u8]) -> Result<(), RuleError> {
    if let Some(bad) = value.iter().find(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(RuleError::invalid_value(format!(
            "header value contains byte 0x{bad:02x} (CR, LF and NUL are not allowed)"
        )));
    }
    if value.iter().any(|&b| b != b'\t' && (b < 0x20 || b == 0x7f)) {
        return Err(RuleError::invalid_value(
            "header value contains control characters".to_owned(),
        ));
    }
    Ok(())
}

/// Checks a new request path: absolute, no query or fragment, no whitespace or controls.
///
/// ```
/// use weir_rules::validate::path;
///
/// assert!(path("/a/b%20c").is_ok());
/// assert!(path("relative").is_err());
/// ```
pub fn path(path: &str) -> Result<(), RuleError> {
    if !path.starts_with('/') {
        return Err(RuleError::invalid_value(format!(
            "path `{}` must start with `/`",
            clip(path)
        )));
    }
    if path.contains(['?', '#']) {
        return Err(RuleError::invalid_value(
            "path must not contain `?` or `#` (use set-query)".to_owned(),
        ));
    }
    uri_chars(path, "path")?;
    // RFC 3986 §3.3 leaves `<`, `>` and `` ` `` out of a path.
    if path.len() > MAX_URI_LEN || path.contains(['<', '>', '`']) {
        return Err(RuleError::invalid_value(format!(
            "`{}` is not a valid path",
            clip(path)
        )));
    }
    Ok(())
}

/// Checks a new query string (without the leading `?`).
///
/// ```
/// use weir_rules::validate::query;
///
/// assert!(query("a=1&b=%20").is_ok());
/// assert!(query("a#b").is_err());
/// ```
pub fn query(query: &str) -> Result<(), RuleError> {
    if query.contains('#') {
        return Err(RuleError::invalid_value(
            "query must not contain `#`".to_owned(),
        ));
    }
    uri_chars(query, "query")?;
    // RFC 3986 §3.4 leaves `"`, `<` and `>` out of a query.
    if query.len() + 2 > MAX_URI_LEN || query.contains(['"', '<', '>']) {
        return Err(RuleError::invalid_value(format!(
            "`{}` is not a valid query",
            clip(query)
        )));
    }
    Ok(())
}

/// Checks a new authority: `host[:port]`, no user info (RFC 3986 §3.2).
///
/// ```
/// use weir_rules::validate::authority;
///
/// assert!(authority("[::1]:8080").is_ok());
/// assert!(authority("user@example.com").is_err());
/// ```
pub fn authority(authority: &str) -> Result<(), RuleError> {
    if authority.is_empty() || authority.contains('@') {
        return Err(RuleError::invalid_value(format!(
            "`{}` is not a valid authority (host[:port], no user info)",
            clip(authority)
        )));
    }
    uri_chars(authority, "authority")?;
    if authority_shape_is_valid(authority) {
        Ok(())
    } else {
        Err(RuleError::invalid_value(format!(
            "`{}` is not a valid authority",
            clip(authority)
        )))
    }
}

/// Checks a scheme: only `http` and `https`.
///
/// ```
/// use weir_rules::validate::scheme;
///
/// assert!(scheme("https").is_ok());
/// assert!(scheme("ftp").is_err());
/// ```
pub fn scheme(scheme: &str) -> Result<(), RuleError> {
    match scheme {
        "http" | "https" => Ok(()),
        other => Err(RuleError::invalid_value(format!(
            "scheme `{}` is not `http` or `https`",
            clip(other)
        ))),
    }
}

/// Checks a cookie name: an RFC 9110 token (RFC 6265 §4.1.1).
///
/// ```
/// use weir_rules::validate::cookie_name;
///
/// assert!(cookie_name("session_id").is_ok());
/// assert!(cookie_name("a=b").is_err());
/// ```
pub fn cookie_name(name: &str) -> Result<(), RuleError> {
    if !name.is_empty() && name.bytes().all(is_tchar) {
        Ok(())
    } else {
        Err(RuleError::invalid_name(format!(
            "`{}` is not a cookie name",
            clip(name)
        )))
    }
}

/// Checks a cookie value: cookie-octets, optionally in double quotes (RFC 6265 §4.1.1).
///
/// ```
/// use weir_rules::validate::cookie_value;
///
/// assert!(cookie_value("\"quoted\"").is_ok());
/// assert!(cookie_value("a;b").is_err());
/// ```
pub fn cookie_value(value: &str) -> Result<(), RuleError> {
    let inner = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    if inner.bytes().all(is_cookie_octet) {
        Ok(())
    } else {
        Err(RuleError::invalid_value(format!(
            "`{}` is not a cookie value (no spaces, quotes, commas, semicolons or backslashes)",
            clip(value)
        )))
    }
}

/// Checks a cookie attribute value (`Domain`, `Path`, `Expires`): no `;` and no controls.
/// `what` names the attribute in the message.
///
/// ```
/// use weir_rules::validate::cookie_attribute;
///
/// assert!(cookie_attribute("path", "/app").is_ok());
/// assert!(cookie_attribute("path", "/a;b").is_err());
/// ```
pub fn cookie_attribute(what: &str, value: &str) -> Result<(), RuleError> {
    if value.bytes().any(|b| b == b';' || b.is_ascii_control()) {
        return Err(RuleError::invalid_value(format!(
            "cookie {what} `{}` contains `;` or control characters",
            clip(value)
        )));
    }
    Ok(())
}

/// Checks a pool name: 1 to 64 characters of `[A-Za-z0-9._-]`. Whether the pool exists is the
/// host's business.
///
/// ```
/// use weir_rules::validate::pool_name;
///
/// assert!(pool_name("blue-v2.canary").is_ok());
/// assert!(pool_name("").is_err());
/// ```
pub fn pool_name(pool: &str) -> Result<(), RuleError> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if (1..=64).contains(&pool.len()) && pool.chars().all(legal) {
        Ok(())
    } else {
        Err(RuleError::invalid_name(format!(
            "`{}` is not a pool name (1-64 of A-Z a-z 0-9 . _ -)",
            clip(pool)
        )))
    }
}

/// Checks a final status code (RFC 9110 §15: 1xx are interim).
///
/// ```
/// use weir_rules::validate::status;
///
/// assert!(status(204).is_ok());
/// assert!(status(101).is_err());
/// ```
pub fn status(status: u16) -> Result<(), RuleError> {
    if (200..=599).contains(&status) {
        Ok(())
    } else {
        Err(RuleError::invalid_value(format!(
            "status {status} is not a final status (200-599)"
        )))
    }
}

/// RFC 9110 §5.6.2 `tchar`.
///
/// ```
/// use weir_rules::validate::is_tchar;
///
/// assert!(is_tchar(b'~'));
/// assert!(!is_tchar(b' '));
/// ```
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Shortens untrusted text quoted in an error so a hostile plugin cannot flood the logs (a cut
/// text ends in `… (N bytes)`, its whole length), and escapes it so it cannot forge log lines.
///
/// ```
/// use weir_rules::validate::clip;
///
/// assert_eq!(clip("a\nb"), "a\\nb");
/// assert!(clip(&"x".repeat(100)).ends_with("x… (100 bytes)"));
/// ```
pub fn clip(text: &str) -> String {
    const MAX: usize = 64;
    if text.len() <= MAX {
        return text.escape_debug().to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = text.get(..end).unwrap_or_default();
    format!("{}… ({} bytes)", head.escape_debug(), text.len())
}

/// RFC 6265 §4.1.1 `cookie-octet`.
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

fn uri_chars(value: &str, what: &str) -> Result<(), RuleError> {
    if value
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b >= 0x80)
    {
        return Err(RuleError::invalid_value(format!(
            "{what} contains whitespace, control or non-ASCII characters (percent-encode them)"
        )));
    }
    Ok(())
}

/// The authority grammar the host's parser enforces: URI characters only, at most one port
/// colon outside an IPv6 literal, one balanced `[...]`, and `%` only inside the brackets
/// (an RFC 6874 zone id).
fn authority_shape_is_valid(authority: &str) -> bool {
    let mut colons = 0;
    let mut opened = false;
    let mut closed = false;
    let mut percent = false;
    for b in authority.bytes() {
        match b {
            b'%' => percent = true,
            b':' => {
                colons += 1;
                // The longest IPv6 literal with a port has 8 colons.
                if colons > 8 {
                    return false;
                }
            }
            b'[' if !percent && !opened => opened = true,
            b']' if opened && !closed => {
                closed = true;
                colons = 0;
                percent = false;
            }
            b'!' | b'$' | b'&'..=b'.' | b'0'..=b'9' | b';' | b'=' | b'A'..=b'Z' | b'_' => {}
            b'a'..=b'z' | b'~' => {}
            _ => return false,
        }
    }
    opened == closed && colons <= 1 && !percent
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "in tests a panic is the failure report; see STYLE §9 allow-unwrap-in-tests"
)]
mod tests;
