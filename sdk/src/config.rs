//! Reading a plugin's JSON config with errors that name the key path of the bad field.
//!
//! weir hands `init` the filter's config as JSON text. [`from_json`] deserializes it with
//! serde and, when that fails, turns the line and column `serde_json` reports into the key path
//! of the value it was reading (`request.set.x-id`, `routes[1].pool`), so the operator sees
//! *which* key is wrong and not only where. [`ConfigError`] carries that path and is also the
//! error for a plugin's own checks after deserializing; [`join_key_path`] builds paths for
//! them.
//!
//! Depends on serde and serde_json only; no host calls.
//!
//! ```
//! use serde::Deserialize;
//! use weir_sdk::config::{self, ConfigError};
//!
//! #[derive(Debug, Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Limits {
//!     max_items: u32,
//! }
//!
//! fn parse(text: &str) -> Result<Limits, ConfigError> {
//!     let limits: Limits = config::from_json(text)?;
//!     if limits.max_items == 0 {
//!         return Err(ConfigError::new("max_items", "must be at least 1"));
//!     }
//!     Ok(limits)
//! }
//!
//! assert_eq!(parse(r#"{"max_items": 10}"#).unwrap().max_items, 10);
//! assert_eq!(
//!     parse(r#"{"max_items": 0}"#).unwrap_err().to_string(),
//!     "invalid config at `max_items`: must be at least 1",
//! );
//! let err = parse(r#"{"max_items": "ten"}"#).unwrap_err();
//! assert_eq!(err.path(), "max_items");
//! assert!(err.message().starts_with("invalid type: string \"ten\", expected u32"));
//! ```

mod key_path;

use serde::de::DeserializeOwned;

/// A config error: the key path of the bad field and what is wrong with it.
///
/// It displays as ``invalid config at `path`: message``, or `invalid config: message` when the
/// path is empty (the whole document is wrong, e.g. not JSON). A filter's `init` returns that
/// text (`err.to_string()`), and weir prints it with the filter's name.
///
/// ```
/// use weir_sdk::config::ConfigError;
///
/// let err = ConfigError::new("response.remove[1]", "`x:y` is not a valid header name");
/// assert_eq!(err.path(), "response.remove[1]");
/// assert_eq!(
///     err.to_string(),
///     "invalid config at `response.remove[1]`: `x:y` is not a valid header name",
/// );
/// assert_eq!(ConfigError::new("", "expected `{`").to_string(), "invalid config: expected `{`");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid config{}: {message}", at_path(.path))]
pub struct ConfigError {
    path: String,
    message: String,
}

impl ConfigError {
    /// An error about the value at `path` (empty for the whole document); `message` says what
    /// is wrong, lowercase and without a trailing period.
    ///
    /// ```
    /// use weir_sdk::config::ConfigError;
    ///
    /// let err = ConfigError::new("routes[0].pool", "is empty");
    /// assert_eq!(err.message(), "is empty");
    /// ```
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The key path of the bad value, e.g. `request.set.x-id` or `routes[2]`; empty when the
    /// error is about the whole document.
    ///
    /// ```
    /// let err = weir_sdk::config::from_json::<Vec<u8>>("[1, 2, -3]").unwrap_err();
    /// assert_eq!(err.path(), "[2]");
    /// ```
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong, without the path. For a serde error, its whole text (which ends with
    /// the line and column).
    ///
    /// ```
    /// let err = weir_sdk::config::from_json::<Vec<u8>>("[1,").unwrap_err();
    /// assert_eq!(err.message(), "EOF while parsing a value at line 1 column 3");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Deserializes the JSON config `text` into `T`. On failure, the error names the key path of
/// the value `serde_json` was reading (an unknown key names itself, a missing key names the
/// object that lacks it) and keeps serde's message, line and column.
///
/// Empty text is not JSON and fails; a plugin that allows an empty config checks for it first.
///
/// ```
/// use std::collections::BTreeMap;
///
/// use weir_sdk::config;
///
/// type Sections = BTreeMap<String, BTreeMap<String, String>>;
///
/// let ok: Sections = config::from_json(r#"{"request": {"x-a": "1"}}"#).unwrap();
/// assert_eq!(ok["request"]["x-a"], "1");
///
/// let err = config::from_json::<Sections>(r#"{"request": {"x-a": 1}}"#).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid config at `request.x-a`: invalid type: integer `1`, expected a string at line 1 column 21",
/// );
/// ```
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    serde_json::from_str(text).map_err(|err| ConfigError {
        path: key_path::key_path_at(text, err.line(), err.column()),
        message: err.to_string(),
    })
}

/// The key path of `key` inside `parent`: `parent.key`, or `parent["key"]` when the key is not
/// a plain identifier (letters, digits, `_` and `-`), as in the paths [`from_json`] reports.
/// An empty `parent` is the top level.
///
/// ```
/// use weir_sdk::config::join_key_path;
///
/// assert_eq!(join_key_path("request.set", "x-id"), "request.set.x-id");
/// assert_eq!(join_key_path("request.set", "bad name"), r#"request.set["bad name"]"#);
/// assert_eq!(join_key_path("", "routes"), "routes");
/// ```
pub fn join_key_path(parent: &str, key: &str) -> String {
    let mut path = parent.to_owned();
    key_path::push_key(&mut path, key);
    path
}

/// `` at `path` `` for a non-empty path, for the error message.
fn at_path(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" at `{path}`")
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "in tests a panic is the failure report; see STYLE §9 allow-unwrap-in-tests"
)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialized, to provoke errors")]
    struct Rules {
        rules: Vec<BTreeMap<String, u16>>,
    }

    #[test]
    fn error_inside_a_key_names_its_path() {
        let err = from_json::<Rules>(r#"{"rules": [{"a": 1}, {"b": "x"}]}"#).unwrap_err();
        assert_eq!(err.path(), "rules[1].b");
        assert!(
            err.to_string()
                .starts_with("invalid config at `rules[1].b`: invalid type: string \"x\""),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_is_rejected_with_its_name_and_position() {
        let err = from_json::<Rules>("{\n  \"rule\": []\n}").unwrap_err();
        assert_eq!(err.path(), "rule");
        assert!(err.message().contains("unknown field `rule`"), "{err}");
        assert!(err.message().ends_with("at line 2 column 8"), "{err}");
    }

    #[test]
    fn text_that_is_not_json_has_no_path() {
        for text in ["", "rules = []", "[]"] {
            let err = from_json::<Rules>(text).unwrap_err();
            assert_eq!(err.path(), "", "{text:?}");
            assert!(err.to_string().starts_with("invalid config: "), "{err}");
        }
    }

    #[test]
    fn message_is_serdes_text_unchanged() {
        let text = r#"{"rules": 5}"#;
        let serde_err = serde_json::from_str::<Rules>(text).unwrap_err();
        assert_eq!(
            from_json::<Rules>(text).unwrap_err().message(),
            serde_err.to_string()
        );
    }

    #[test]
    fn joined_key_paths_match_the_paths_from_json_reports() {
        assert_eq!(join_key_path("a", "b_c-1"), "a.b_c-1");
        assert_eq!(join_key_path("a", ""), r#"a[""]"#);
        assert_eq!(join_key_path("a", "x.y"), r#"a["x.y"]"#);
        assert_eq!(join_key_path("", "x y"), r#"["x y"]"#);
    }
}
