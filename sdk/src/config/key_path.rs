//! Names the config field at the position of a `serde_json` error.
//!
//! `serde_json` reports *where* a value was wrong (line and column) but not *which key* it
//! belonged to. This module rescans the config text up to that position and rebuilds the key
//! path, so an init error reads ``invalid config at `request.set.x-id`: invalid type ...``
//! instead of only a line number. It only needs the text, so it works for any config shape; it
//! depends on nothing.

/// One open JSON container while scanning.
enum Frame {
    /// An object; `key` is the key whose value is being read, if one has been read.
    Object {
        key: Option<String>,
        expect_key: bool,
    },
    /// An array; `index` is the element being read, once one has started.
    Array { index: usize, started: bool },
}

/// Returns the key path (`request.set.x-id`, `response.set_cookie[1].same_site`) of the value
/// being read at `line`/`column` as `serde_json::Error` reports them, or an empty string at the
/// top level. Keys that are not plain identifiers are written `["x.y"]`.
pub(super) fn key_path_at(text: &str, line: usize, column: usize) -> String {
    let bytes = text.as_bytes();
    let end = byte_offset(bytes, line, column).min(bytes.len());
    let mut stack: Vec<Frame> = Vec::new();
    let mut string: Option<(Vec<u8>, bool)> = None; // (bytes so far, is a key)
    let mut escaped = false;

    for &byte in bytes.get(..end).unwrap_or(bytes) {
        if let Some((buf, is_key)) = string.as_mut() {
            if escaped {
                escaped = false;
                buf.push(byte);
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                let is_key = *is_key;
                let key = String::from_utf8_lossy(buf).into_owned();
                string = None;
                if is_key && let Some(Frame::Object { key: slot, .. }) = stack.last_mut() {
                    *slot = Some(key);
                }
            } else {
                buf.push(byte);
            }
            continue;
        }
        match byte {
            b'{' => {
                start_value(&mut stack);
                stack.push(Frame::Object {
                    key: None,
                    expect_key: true,
                });
            }
            b'[' => {
                start_value(&mut stack);
                stack.push(Frame::Array {
                    index: 0,
                    started: false,
                });
            }
            b'}' | b']' => {
                stack.pop();
            }
            b'"' => {
                let is_key = matches!(
                    stack.last(),
                    Some(Frame::Object {
                        expect_key: true,
                        ..
                    })
                );
                if !is_key {
                    start_value(&mut stack);
                }
                string = Some((Vec::new(), is_key));
            }
            b':' => {
                if let Some(Frame::Object { expect_key, .. }) = stack.last_mut() {
                    *expect_key = false;
                }
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { key, expect_key }) => {
                    *key = None;
                    *expect_key = true;
                }
                Some(Frame::Array { index, started }) => {
                    *index += 1;
                    *started = false;
                }
                None => {}
            },
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ => start_value(&mut stack),
        }
    }
    render(&stack)
}

/// Marks that a value has begun inside the innermost container (counts array elements).
fn start_value(stack: &mut [Frame]) {
    if let Some(Frame::Array { started, .. }) = stack.last_mut() {
        *started = true;
    }
}

/// The byte offset of a 1-based line and a column counted in bytes from the line's start.
fn byte_offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        bytes
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .nth(line - 2)
            .map_or(bytes.len(), |(i, _)| i + 1)
    };
    line_start + column
}

fn render(stack: &[Frame]) -> String {
    let mut path = String::new();
    for frame in stack {
        match frame {
            Frame::Object { key: Some(key), .. } => push_key(&mut path, key),
            Frame::Array {
                index,
                started: true,
            } => path.push_str(&format!("[{index}]")),
            _ => {}
        }
    }
    path
}

/// Appends `key` to `path`: `.key` (no dot at the top level), or `["key"]` when the key is
/// not a plain identifier (letters, digits, `_` and `-`).
pub(super) fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push_str(&format!("[{key:?}]"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The path `serde_json` would blame for `text`, using the position of its error.
    fn blamed<T: serde::de::DeserializeOwned + std::fmt::Debug>(text: &str) -> String {
        let err = serde_json::from_str::<T>(text).expect_err("the text is invalid for T");
        key_path_at(text, err.line(), err.column())
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialized, to provoke errors")]
    struct Outer {
        inner: Option<Inner>,
        list: Option<Vec<Inner>>,
        map: Option<std::collections::BTreeMap<String, String>>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialized, to provoke errors")]
    struct Inner {
        flag: bool,
    }

    #[test]
    fn wrong_type_is_blamed_on_its_key() {
        assert_eq!(blamed::<Outer>(r#"{"inner": {"flag": 3}}"#), "inner.flag");
    }

    #[test]
    fn unknown_key_is_blamed_on_itself() {
        assert_eq!(
            blamed::<Outer>(r#"{"inner": {"flga": true}}"#),
            "inner.flga"
        );
    }

    #[test]
    fn array_elements_are_numbered() {
        let text = r#"{"list": [{"flag": true}, {"flag": "yes"}]}"#;
        assert_eq!(blamed::<Outer>(text), "list[1].flag");
    }

    #[test]
    fn missing_key_is_blamed_on_its_object() {
        assert_eq!(
            blamed::<Outer>(r#"{"list": [{"flag": true}, {}]}"#),
            "list[1]"
        );
    }

    #[test]
    fn wrong_container_is_blamed_on_the_key_not_an_element() {
        assert_eq!(blamed::<Outer>(r#"{"map": [1]}"#), "map");
    }

    #[test]
    fn keys_with_dots_or_spaces_are_quoted() {
        assert_eq!(blamed::<Outer>(r#"{"map": {"a.b": 1}}"#), r#"map["a.b"]"#);
    }

    #[test]
    fn position_on_a_later_line_is_found() {
        let text = "{\n  \"inner\": {\n    \"flag\": null\n  }\n}";
        assert_eq!(blamed::<Outer>(text), "inner.flag");
    }

    #[test]
    fn escaped_quotes_inside_strings_do_not_end_them() {
        let text = r#"{"map": {"a": "x\"}", "b": 2}}"#;
        assert_eq!(blamed::<Outer>(text), "map.b");
    }

    #[test]
    fn top_level_error_has_an_empty_path() {
        assert_eq!(blamed::<Outer>("[]"), "");
    }
}
