//! Bounded quoting for reports: every value a report shows is cut, with its length shown, and
//! every reason and input is bounded as a whole, so one failing check cannot turn a report
//! into megabytes (a plugin chooses its bodies, headers and edits).

/// Characters of one quoted value a report shows.
pub(crate) const VALUE_CHARS: usize = 80;
/// Items of one quoted list a report shows.
pub(crate) const LIST_ITEMS: usize = 8;
/// Bytes of one reason (or input) a report keeps: room for a trap's backtrace.
pub(crate) const REASON_BYTES: usize = 6 * 1024;

/// `text` when it has at most `max` characters, else its first `max` and `… (N bytes)`.
pub(crate) fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}… ({} bytes)", &text[..end], text.len()),
    }
}

/// A value quoted like Rust's `{:?}`, cut at [`VALUE_CHARS`] with its length: `"abc"`, or
/// `"aaaa…" (4194304 bytes)`.
pub(crate) fn text(value: &str) -> String {
    match value.char_indices().nth(VALUE_CHARS) {
        None => format!("{value:?}"),
        Some((end, _)) => format!(
            "{:?} ({} bytes)",
            format!("{}…", &value[..end]),
            value.len()
        ),
    }
}

/// Bytes quoted as text (invalid UTF-8 shown as U+FFFD), cut like [`text`].
pub(crate) fn bytes(value: &[u8]) -> String {
    let head = String::from_utf8_lossy(value.get(..VALUE_CHARS * 4).unwrap_or(value));
    let end = head
        .char_indices()
        .nth(VALUE_CHARS)
        .map_or(head.len(), |(i, _)| i);
    if end < head.len() || value.len() > VALUE_CHARS * 4 {
        format!("{:?} ({} bytes)", format!("{}…", &head[..end]), value.len())
    } else {
        format!("{head:?}")
    }
}

/// An optional value: [`text`], or `none`.
pub(crate) fn opt(value: Option<&str>) -> String {
    value.map_or_else(|| "none".to_owned(), text)
}

/// A list of values, each quoted with [`text`], at most [`LIST_ITEMS`] of them:
/// `["a", "b"]`, or `["a", …] (12 in all)`.
pub(crate) fn list<S: AsRef<str>>(values: &[S]) -> String {
    let shown: Vec<String> = values
        .iter()
        .take(LIST_ITEMS)
        .map(|v| text(v.as_ref()))
        .collect();
    if values.len() > LIST_ITEMS {
        format!("[{}, …] ({} in all)", shown.join(", "), values.len())
    } else {
        format!("[{}]", shown.join(", "))
    }
}

/// A whole reason or input, bounded at `max` bytes: cut on a character boundary and ended with
/// `… (N bytes in all)`.
pub(crate) fn bound(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_quoted_whole() {
        assert_eq!(text("a\"b"), r#""a\"b""#);
        assert_eq!(bytes(b"x\xffy"), "\"x\u{fffd}y\"");
        assert_eq!(opt(None), "none");
        assert_eq!(list(&["a", "b"]), r#"["a", "b"]"#);
    }

    #[test]
    fn long_values_are_cut_with_their_length() {
        let long = "v".repeat(4 << 20);
        let quoted = text(&long);
        assert_eq!(quoted, format!("\"{}…\" (4194304 bytes)", "v".repeat(80)));
        let quoted = bytes(long.as_bytes());
        assert_eq!(quoted, format!("\"{}…\" (4194304 bytes)", "v".repeat(80)));
        assert_eq!(cut("/abcdef", 3), "/ab… (7 bytes)");
        let many: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        let shown = list(&many);
        assert!(shown.ends_with(", …] (20 in all)"), "{shown}");
        assert_eq!(shown.matches('"').count(), 2 * LIST_ITEMS);
    }

    #[test]
    fn a_reason_is_bounded_as_a_whole() {
        let reason = bound("é".repeat(10_000), 101);
        assert!(reason.ends_with("… (20000 bytes in all)"), "{reason}");
        assert!(reason.len() < 140);
        assert_eq!(bound("short".into(), 100), "short");
    }
}
