//! How an edit's value is shown in the journal, the same in the host and the test kit.

/// Renders a header value for the journal without leaking secrets: values of credential-bearing
/// headers become their length, and long values are cut at 128 bytes on a character boundary,
/// ending in `… (N bytes)`, the whole value's length.
///
/// ```
/// assert_eq!(weir_rules::journal::show_value("cookie", b"a=1"), "<3 bytes>");
/// assert_eq!(weir_rules::journal::show_value("x-a", b"1"), "1");
/// ```
pub fn show_value(name: &str, value: &[u8]) -> String {
    const SECRET: &[&str] = &[
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
    ];
    if SECRET.contains(&name) {
        return format!("<{} bytes>", value.len());
    }
    let text = String::from_utf8_lossy(value);
    if text.len() > 128 {
        let mut end = 128;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!(
            "{}… ({} bytes)",
            text.get(..end).unwrap_or_default(),
            value.len()
        )
    } else {
        text.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_replaced_by_their_length() {
        assert_eq!(show_value("authorization", b"Bearer x"), "<8 bytes>");
        assert_eq!(show_value("proxy-authorization", b"x"), "<1 bytes>");
        assert_eq!(show_value("set-cookie", b"a=1"), "<3 bytes>");
        assert_eq!(show_value("x-a", b"1"), "1");
    }

    #[test]
    fn long_values_are_cut_on_a_char_boundary() {
        let shown = show_value("x-a", "é".repeat(100).as_bytes());
        assert!(shown.ends_with("é… (200 bytes)"), "{shown}");
        assert!(shown.len() <= 128 + "… (200 bytes)".len());
    }
}
