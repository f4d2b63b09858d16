//! The edit rules of the in-memory test backend. They are the host's rules
//! (`host/src/runtime/validate.rs`), restated without the `http` crate, so a plugin's native unit
//! tests refuse exactly the edits weir refuses. The error texts match the host's too.
//!
//! Depends on nothing but [`EditError`]; the host stays the authority, these rules follow it.

use crate::EditError;

/// Header fields that describe one connection, not the message (RFC 9110 §7.6.1), plus the
/// fields the host owns (`content-length` describes the body).
const FORBIDDEN_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// The longest path or query the host's URI parser accepts.
const MAX_URI_LEN: usize = u16::MAX as usize - 1;

/// Which message a header edit applies to; `host` may only be set through `set-authority`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Request,
    Response,
}

/// Checks a header name for an edit and returns it lowercased.
pub(crate) fn header_name(name: &str, side: Side) -> Result<String, EditError> {
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(EditError::InvalidName(format!(
            "`{}` is not a header field name",
            clip(name)
        )));
    }
    let name = name.to_ascii_lowercase();
    if FORBIDDEN_HEADERS.contains(&name.as_str()) {
        return Err(EditError::Forbidden(format!(
            "`{name}` is managed by the proxy and cannot be edited by filters"
        )));
    }
    if side == Side::Request && name == "host" {
        return Err(EditError::Forbidden(
            "`host` is edited with set-authority".to_owned(),
        ));
    }
    Ok(name)
}

/// Checks a header value: visible ASCII, obs-text, spaces and tabs; never CR, LF or NUL
/// (RFC 9110 §5.5).
pub(crate) fn header_value(value: &[u8]) -> Result<(), EditError> {
    if let Some(bad) = value.iter().find(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(EditError::InvalidValue(format!(
            "header value contains byte 0x{bad:02x} (CR, LF and NUL are not allowed)"
        )));
    }
    if value.iter().any(|&b| b != b'\t' && (b < 0x20 || b == 0x7f)) {
        return Err(EditError::InvalidValue(
            "header value contains control characters".to_owned(),
        ));
    }
    Ok(())
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
    // RFC 3986 §3.3 leaves `<`, `>` and `` ` `` out of a path.
    if path.len() > MAX_URI_LEN || path.contains(['<', '>', '`']) {
        return Err(EditError::InvalidValue(format!(
            "`{}` is not a valid path",
            clip(path)
        )));
    }
    Ok(())
}

/// Checks a new query string (without the leading `?`).
pub(crate) fn query(query: &str) -> Result<(), EditError> {
    if query.contains('#') {
        return Err(EditError::InvalidValue(
            "query must not contain `#`".to_owned(),
        ));
    }
    uri_chars(query, "query")?;
    // RFC 3986 §3.4 leaves `"`, `<` and `>` out of a query.
    if query.len() + 2 > MAX_URI_LEN || query.contains(['"', '<', '>']) {
        return Err(EditError::InvalidValue(format!(
            "`{}` is not a valid query",
            clip(query)
        )));
    }
    Ok(())
}

/// Checks a new authority: `host[:port]`, no user info (RFC 3986 §3.2).
pub(crate) fn authority(authority: &str) -> Result<(), EditError> {
    if authority.is_empty() || authority.contains('@') {
        return Err(EditError::InvalidValue(format!(
            "`{}` is not a valid authority (host[:port], no user info)",
            clip(authority)
        )));
    }
    uri_chars(authority, "authority")?;
    if authority_shape_is_valid(authority) {
        Ok(())
    } else {
        Err(EditError::InvalidValue(format!(
            "`{}` is not a valid authority",
            clip(authority)
        )))
    }
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

/// Checks a pool name: 1 to 64 characters of `[A-Za-z0-9._-]`. The host also checks that the
/// pool exists, which the test backend cannot know.
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

/// Checks a final status code (RFC 9110 §15: 1xx are interim).
pub(crate) fn status(status: u16) -> Result<(), EditError> {
    if (200..=599).contains(&status) {
        Ok(())
    } else {
        Err(EditError::InvalidValue(format!(
            "status {status} is not a final status (200-599)"
        )))
    }
}

/// RFC 9110 §5.6.2 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 6265 §4.1.1 `cookie-octet`.
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

/// Shortens untrusted text quoted in an error, as the host does.
fn clip(text: &str) -> String {
    const MAX: usize = 64;
    if text.len() <= MAX {
        return text.escape_debug().to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = text.get(..end).unwrap_or_default();
    format!("{}…", head.escape_debug())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "in tests a panic is the failure report; see STYLE §9 allow-unwrap-in-tests"
)]
mod tests;
