//! Reporting edits the host refused.

use weir_sdk::EditError;
use weir_sdk::host::{self, Level};

/// Logs a refused cookie edit at warn level; the filter goes on with its next edit.
///
/// Only the kind of refusal is logged, never its text: the host's message may quote the
/// cookie's value, and weir never logs cookie values.
pub(crate) fn report(side: &str, edit: &str, cookie: &str, result: Result<(), EditError>) {
    if let Err(err) = result {
        let reason = match err {
            EditError::InvalidName(_) => "invalid name",
            EditError::InvalidValue(_) => "invalid value",
            EditError::Forbidden(_) => "forbidden",
        };
        host::log(
            Level::Warn,
            "cookie edit refused",
            &[
                ("side", side),
                ("edit", edit),
                ("cookie", cookie),
                ("reason", reason),
            ],
        );
    }
}
