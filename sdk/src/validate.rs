//! The edit rules of the in-memory test backend: the host's rules, from `weir-rules`, with their
//! refusals turned into [`EditError`]. A plugin's native unit tests therefore refuse exactly the
//! edits weir refuses, with the host's messages.

pub(crate) use weir_rules::validate::Side;
use weir_rules::{RuleError, RuleErrorKind};

use crate::EditError;

impl From<RuleError> for EditError {
    fn from(error: RuleError) -> Self {
        match error.kind {
            RuleErrorKind::InvalidName => Self::InvalidName(error.message),
            RuleErrorKind::InvalidValue => Self::InvalidValue(error.message),
            RuleErrorKind::Forbidden => Self::Forbidden(error.message),
        }
    }
}

/// Checks a header name for an edit and returns it lowercased.
pub(crate) fn header_name(name: &str, side: Side) -> Result<String, EditError> {
    Ok(weir_rules::validate::header_name(name, side)?)
}

/// Checks a header value (RFC 9110 §5.5).
pub(crate) fn header_value(value: &[u8]) -> Result<(), EditError> {
    Ok(weir_rules::validate::header_value(value)?)
}

/// Checks a new request path.
pub(crate) fn path(path: &str) -> Result<(), EditError> {
    Ok(weir_rules::validate::path(path)?)
}

/// Checks a new query string (without the leading `?`).
pub(crate) fn query(query: &str) -> Result<(), EditError> {
    Ok(weir_rules::validate::query(query)?)
}

/// Checks a new authority: `host[:port]`, no user info.
pub(crate) fn authority(authority: &str) -> Result<(), EditError> {
    Ok(weir_rules::validate::authority(authority)?)
}

/// Checks a scheme: only `http` and `https`.
pub(crate) fn scheme(scheme: &str) -> Result<(), EditError> {
    Ok(weir_rules::validate::scheme(scheme)?)
}

/// Checks a cookie name.
pub(crate) fn cookie_name(name: &str) -> Result<(), EditError> {
    Ok(weir_rules::validate::cookie_name(name)?)
}

/// Checks a cookie value.
pub(crate) fn cookie_value(value: &str) -> Result<(), EditError> {
    Ok(weir_rules::validate::cookie_value(value)?)
}

/// Checks a pool name. The host also checks that the pool exists, which the test backend cannot
/// know.
pub(crate) fn pool_name(pool: &str) -> Result<(), EditError> {
    Ok(weir_rules::validate::pool_name(pool)?)
}

/// Checks a final status code.
pub(crate) fn status(status: u16) -> Result<(), EditError> {
    Ok(weir_rules::validate::status(status)?)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "in tests a panic is the failure report; see STYLE §9 allow-unwrap-in-tests"
)]
mod tests {
    use super::*;

    #[test]
    fn rule_refusals_keep_their_kind_and_message() {
        assert_eq!(
            header_name("host", Side::Request).unwrap_err(),
            EditError::Forbidden("`host` is edited with set-authority".to_owned())
        );
        assert!(matches!(pool_name(""), Err(EditError::InvalidName(_))));
        assert!(matches!(status(101), Err(EditError::InvalidValue(_))));
    }
}
