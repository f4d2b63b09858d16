//! Header reads and edits shared by the request and response views: the same lookups, the
//! same validation and journal lines, only the side (which fields are forbidden) differs.

use http::header::HeaderMap;

use super::bindings::EditError;
use super::journal::{Journal, show_value};
use super::validate::{self, Side};

/// Every value of a header, in order (name is case-insensitive).
pub(crate) fn values<'h>(headers: &'h HeaderMap, name: &str) -> impl Iterator<Item = &'h [u8]> {
    headers
        .get_all(name.to_ascii_lowercase().as_str())
        .into_iter()
        .map(|v| v.as_bytes())
}

/// Sets (or appends) a header after validating it, and journals the edit.
pub(crate) fn edit(
    headers: &mut HeaderMap,
    journal: &mut Journal,
    side: Side,
    (name, value): (&str, &[u8]),
    append: bool,
) -> Result<(), EditError> {
    let name = validate::header_name(name, side)?;
    let value = validate::header_value(value)?;
    let shown = show_value(name.as_str(), value.as_bytes());
    let verb = if append {
        "append-header"
    } else {
        "set-header"
    };
    journal.record(format_args!("{verb} {name} {shown}"));
    if append {
        headers.append(name, value);
    } else {
        headers.insert(name, value);
    }
    Ok(())
}

/// Removes every value of a header after validating the name; journals it when present.
pub(crate) fn remove(
    headers: &mut HeaderMap,
    journal: &mut Journal,
    side: Side,
    name: &str,
) -> Result<(), EditError> {
    let name = validate::header_name(name, side)?;
    if headers.remove(&name).is_some() {
        journal.record(format_args!("remove-header {name}"));
    }
    Ok(())
}
