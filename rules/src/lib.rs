//! The rules every plugin edit follows, written once: header, URI, cookie, pool and status
//! checks ([`validate`]) and the `Cookie` / `Set-Cookie` syntax ([`cookie`], RFC 6265 §4).
//!
//! The host (`weir`) and the SDK's native test kit (`weir-sdk`) both use this crate, so a
//! plugin's unit tests refuse exactly the edits weir refuses, with the same messages. It is pure
//! and std-only: it builds natively and for `wasm32-wasip2`, and must never depend on the host,
//! the SDK, or any HTTP or runtime crate. Each side converts [`RuleError`] and the plain data
//! types here into its own (WIT `edit-error`, the SDK's `EditError`).
//!
//! ```
//! use weir_rules::validate::{self, Side};
//! use weir_rules::RuleErrorKind;
//!
//! assert_eq!(validate::header_name("X-Trace", Side::Request).unwrap(), "x-trace");
//! let err = validate::header_name("host", Side::Request).unwrap_err();
//! assert_eq!(err.kind, RuleErrorKind::Forbidden);
//! assert_eq!(err.message, "`host` is edited with set-authority");
//! ```

#![deny(missing_docs)]

pub mod context;
pub mod cookie;
pub mod journal;
pub mod path;
pub mod validate;

use std::fmt;

pub use cookie::{CookieAttributes, SameSite, SetCookie};

/// Why a rule refused a value; mirrors the WIT `edit-error` cases.
///
/// ```
/// use weir_rules::{RuleErrorKind, validate};
///
/// assert_eq!(validate::pool_name("a/b").unwrap_err().kind, RuleErrorKind::InvalidName);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleErrorKind {
    /// A header, cookie or pool name is not legal.
    InvalidName,
    /// A value contains bytes or characters that are not allowed.
    InvalidValue,
    /// The edit is legal HTTP but not allowed to filters.
    Forbidden,
}

/// A refused value: which kind of refusal, and the message the plugin sees.
///
/// ```
/// use weir_rules::{RuleErrorKind, validate};
///
/// let err = validate::status(101).unwrap_err();
/// assert_eq!(err.kind, RuleErrorKind::InvalidValue);
/// assert_eq!(err.to_string(), "status 101 is not a final status (200-599)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RuleError {
    /// The kind of refusal.
    pub kind: RuleErrorKind,
    /// Lowercase, no trailing period; quotes the offending input clipped and escaped.
    pub message: String,
}

impl RuleError {
    pub(crate) fn invalid_name(message: String) -> Self {
        Self {
            kind: RuleErrorKind::InvalidName,
            message,
        }
    }

    pub(crate) fn invalid_value(message: String) -> Self {
        Self {
            kind: RuleErrorKind::InvalidValue,
            message,
        }
    }

    pub(crate) fn forbidden(message: String) -> Self {
        Self {
            kind: RuleErrorKind::Forbidden,
            message,
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RuleError {}
