//! Header reads and edits shared by the request and response views: the same lookups, the
//! same validation and journal lines, only the side (which fields are forbidden) differs.

use http::header::HeaderMap;

use super::bindings::EditError;
use super::budget::check_header_count;
use super::journal::{Journal, ShownValue};
use super::validate::{self, Side};

/// Every value of a header, in order (name is case-insensitive: `http` lowercases a `&str` key
/// on the stack as it looks it up, so no lowercase copy is made here).
pub(crate) fn values<'h>(headers: &'h HeaderMap, name: &str) -> impl Iterator<Item = &'h [u8]> {
    headers.get_all(name).into_iter().map(|v| v.as_bytes())
}

/// Sets (or appends) a header after validating it, and journals the edit. The value is the
/// plugin's bytes as wasmtime lifted them: they become the `HeaderValue` without a copy. An edit that would
/// give the message more than `max_fields` fields is refused, and so is one the map cannot hold
/// (`http`'s `insert` and `append` panic there; the `try_` forms report it).
pub(crate) fn edit(
    headers: &mut HeaderMap,
    journal: &mut Journal,
    side: Side,
    (name, value): (&str, Vec<u8>),
    append: bool,
    max_fields: usize,
) -> Result<(), EditError> {
    let name = validate::header_name(name, side)?;
    let value = validate::header_value_owned(value)?;
    let adds = append || !headers.contains_key(&name);
    check_header_count(headers.len(), adds, max_fields)?;
    let verb = if append {
        "append-header"
    } else {
        "set-header"
    };
    let shown = ShownValue {
        name: name.as_str(),
        value: value.as_bytes(),
    };
    // The line is made before the name moves into the map: inserting a borrowed name would
    // clone it, which allocates for a non-standard one. It is kept only if the edit is stored.
    let line = Journal::line(format_args!("{verb} {name} {shown}"));
    let stored = if append {
        headers.try_append(name, value).map(drop)
    } else {
        headers.try_insert(name, value).map(drop)
    };
    stored.map_err(|_| full())?;
    journal.record_line(line);
    Ok(())
}

/// The refusal for a header map that cannot take another field.
pub(crate) fn full() -> EditError {
    EditError::Forbidden("the message cannot hold more header fields".to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn edit_one(
        headers: &mut HeaderMap,
        name: &str,
        append: bool,
        max: usize,
    ) -> Result<(), EditError> {
        let mut journal = Journal::default();
        edit(
            headers,
            &mut journal,
            Side::Request,
            (name, b"v".to_vec()),
            append,
            max,
        )
    }

    #[test]
    fn a_full_header_map_refuses_the_edit_instead_of_panicking() {
        // `HeaderMap` holds at most 24576 distinct names (its `MAX_SIZE` is 32768 slots at a
        // load factor of 3/4); `insert` panics past that. The edit must be refused instead.
        let mut headers = HeaderMap::new();
        let mut refused = None;
        for i in 0..40_000 {
            if let Err(e) = edit_one(&mut headers, &format!("x-{i}"), false, usize::MAX) {
                refused = Some((i, e));
                break;
            }
        }
        let (at, error) = refused.expect("the map fills up before 40000 names");
        assert!(at > 1_000, "refused only when full, at {at}");
        assert!(matches!(error, EditError::Forbidden(_)), "{error:?}");
        assert_eq!(headers.keys_len(), at, "the refused edit changed nothing");
        assert!(edit_one(&mut headers, "x-more", true, usize::MAX).is_err());
    }

    #[test]
    fn edits_past_the_field_limit_are_refused_but_replacements_pass() {
        let mut headers = HeaderMap::new();
        edit_one(&mut headers, "a", false, 2).unwrap();
        edit_one(&mut headers, "a", true, 2).unwrap();
        assert!(edit_one(&mut headers, "b", false, 2).is_err());
        assert!(edit_one(&mut headers, "a", true, 2).is_err());
        edit_one(&mut headers, "a", false, 2).unwrap();
        assert_eq!(headers.len(), 1, "set-header replaced both values");
    }
}
