//! [`Journal`]: the accepted edits of an in-memory request or response, rendered exactly as the
//! host's journal renders them (`set-path /new/x`, `set-header x-a 1`).

/// An ordered list of accepted edits.
#[derive(Clone, Debug, Default)]
pub(crate) struct Journal(Vec<String>);

impl Journal {
    /// Records one accepted edit.
    pub(crate) fn record(&mut self, edit: String) {
        self.0.push(edit);
    }

    /// The recorded edits, oldest first.
    pub(crate) fn entries(&self) -> Vec<String> {
        self.0.clone()
    }
}

/// Renders a header value for the journal without leaking secrets: values of credential-bearing
/// headers become their length, and long values are cut at 128 bytes.
pub(crate) fn show_value(name: &str, value: &[u8]) -> String {
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
        format!("{}…", text.get(..end).unwrap_or_default())
    } else {
        text.into_owned()
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
    fn secrets_are_replaced_by_their_length() {
        assert_eq!(show_value("authorization", b"Bearer x"), "<8 bytes>");
        assert_eq!(show_value("cookie", b"a=1"), "<3 bytes>");
        assert_eq!(show_value("x-a", b"1"), "1");
    }

    #[test]
    fn long_values_are_cut_on_a_char_boundary() {
        let shown = show_value("x-a", "é".repeat(100).as_bytes());
        assert!(shown.ends_with('…'));
        assert!(shown.len() <= 128 + '…'.len_utf8());
    }
}
