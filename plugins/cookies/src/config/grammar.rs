//! RFC 6265 syntax checks for the names, values and attributes in the config, so the hooks
//! only send edits the host accepts.

use weir_sdk::config::ConfigError;

/// Checks an RFC 6265 §4.1.1 cookie-name (an RFC 9110 token).
pub(crate) fn cookie_name(name: &str, path: &str) -> Result<(), ConfigError> {
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(ConfigError::new(
            path,
            format!("`{name}` is not a valid cookie name (RFC 6265 token)"),
        ));
    }
    Ok(())
}

/// Checks an RFC 6265 §4.1.1 cookie-value: cookie-octets, optionally in double quotes.
pub(crate) fn cookie_value(value: &str, path: &str) -> Result<(), ConfigError> {
    let inner = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    // cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
    let is_octet =
        |b: u8| matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E);
    if !inner.bytes().all(is_octet) {
        return Err(ConfigError::new(
            path,
            "not a valid cookie value (no spaces, quotes, commas, semicolons or backslashes)",
        ));
    }
    Ok(())
}

/// Checks an attribute value (`Domain`, `Path`): RFC 6265 §4.1.1 av-octets, so no `;` and no
/// control characters.
pub(crate) fn attribute(value: &str, path: &str) -> Result<(), ConfigError> {
    if value.chars().any(|c| c == ';' || c.is_control()) {
        return Err(ConfigError::new(
            path,
            format!("`{value}` contains `;` or a control character"),
        ));
    }
    Ok(())
}
