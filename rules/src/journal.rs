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
    ShownValue { name, value }.to_string()
}

/// [`show_value`] as a `Display`, for writing the shown value straight into a journal line
/// without an intermediate `String`.
///
/// ```
/// use weir_rules::journal::ShownValue;
///
/// let line = format!("set-header x-a {}", ShownValue { name: "x-a", value: b"1" });
/// assert_eq!(line, "set-header x-a 1");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ShownValue<'a> {
    /// The header (or `cookie`, `path`) the value belongs to, lowercase.
    pub name: &'a str,
    /// The value as the plugin gave it.
    pub value: &'a [u8],
}

impl std::fmt::Display for ShownValue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SECRET: &[&str] = &[
            "authorization",
            "proxy-authorization",
            "cookie",
            "set-cookie",
        ];
        let value = self.value;
        if SECRET.contains(&self.name) {
            return write!(f, "<{} bytes>", value.len());
        }
        // Borrowed unless the value is not UTF-8.
        let text = String::from_utf8_lossy(value);
        if text.len() > 128 {
            let mut end = 128;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            write!(
                f,
                "{}… ({} bytes)",
                text.get(..end).unwrap_or_default(),
                value.len()
            )
        } else {
            f.write_str(&text)
        }
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
