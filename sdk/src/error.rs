//! [`EditError`]: why an edit was refused, by the host or by the in-memory test backend.

/// Why the host refused an edit (mirrors the WIT `edit-error`). The edit is not applied and the
/// request or response is unchanged.
///
/// The text in each variant is a human-readable reason, meant for logs; match on the variant,
/// not on the text.
///
/// ```
/// use weir_sdk::{EditError, testing::TestRequest};
///
/// let mut req = TestRequest::get("/").build();
/// let err = req.set_header("bad name", "x").unwrap_err();
/// assert!(matches!(err, EditError::InvalidName(_)));
/// assert!(err.to_string().starts_with("invalid name: "));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The header, cookie or pool name is not legal (for example not an RFC 9110 token).
    #[error("invalid name: {0}")]
    InvalidName(String),
    /// The value contains bytes or characters that are not allowed (for example CR, LF or NUL).
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// The edit is legal HTTP but not allowed to filters (hop-by-hop fields, `host`,
    /// `content-length`).
    #[error("forbidden edit: {0}")]
    Forbidden(String),
}

impl EditError {
    /// The reason text carried by the variant.
    ///
    /// ```
    /// use weir_sdk::EditError;
    ///
    /// let err = EditError::Forbidden("`te` is managed by the proxy".to_owned());
    /// assert_eq!(err.reason(), "`te` is managed by the proxy");
    /// ```
    pub fn reason(&self) -> &str {
        match self {
            Self::InvalidName(reason) | Self::InvalidValue(reason) | Self::Forbidden(reason) => {
                reason
            }
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "in tests a panic is the failure report; see STYLE §9 allow-unwrap-in-tests"
)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_kind_of_refusal() {
        assert_eq!(
            EditError::InvalidValue("x".into()).to_string(),
            "invalid value: x"
        );
        assert_eq!(
            EditError::Forbidden("y".into()).to_string(),
            "forbidden edit: y"
        );
    }
}
