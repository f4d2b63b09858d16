//! The headers plugin's config: the JSON the operator writes, validated into [`Config`].
//!
//! Parsing is two steps: serde reads the JSON into `File*` structs (`deny_unknown_fields`, so a
//! typo is an error), then [`Config::from_json`] checks header names and parses templates. Every
//! error names the key path of the bad field. Depends on nothing but serde and the template
//! parser.

mod field_path;

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::template::{Placeholder, Template};

/// The validated config.
#[derive(Debug, Default)]
pub(crate) struct Config {
    /// Edits to the request.
    pub(crate) request: Section,
    /// Edits to the response.
    pub(crate) response: Section,
    /// Whether to add an RFC 7239 `Forwarded` element to the request.
    pub(crate) forwarded: bool,
}

/// The edits for one side, applied in the order remove, set, append.
#[derive(Debug, Default)]
pub(crate) struct Section {
    /// Lowercase header names to remove.
    pub(crate) remove: Vec<String>,
    /// Lowercase header names to set (replacing every value), with their value templates.
    pub(crate) set: Vec<(String, Template)>,
    /// Lowercase header names to append a value to, with their value templates.
    pub(crate) append: Vec<(String, Template)>,
}

/// A config error: the key path of the bad field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError {
    /// Dotted key path, e.g. `request.set.x-id`; empty for the whole document.
    pub(crate) path: String,
    /// What is wrong.
    pub(crate) message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "invalid config: {}", self.message)
        } else {
            write!(f, "invalid config at `{}`: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Parses and validates the JSON config; empty text means the empty config.
    pub(crate) fn from_json(text: &str) -> Result<Self, ConfigError> {
        let file: FileConfig = if text.trim().is_empty() {
            FileConfig::default()
        } else {
            serde_json::from_str(text).map_err(|err| ConfigError {
                path: field_path::field_path_at(text, err.line(), err.column()),
                message: err.to_string(),
            })?
        };
        Ok(Self {
            request: Section::from_file(file.request, "request")?,
            response: Section::from_file(file.response, "response")?,
            forwarded: file.forwarded,
        })
    }
}

impl Section {
    /// Whether any of the section's templates inserts `placeholder`.
    pub(crate) fn uses(&self, placeholder: Placeholder) -> bool {
        self.set
            .iter()
            .chain(&self.append)
            .any(|(_, template)| template.uses(placeholder))
    }

    /// Whether the section edits nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.set.is_empty() && self.append.is_empty()
    }

    fn from_file(file: FileSection, path: &str) -> Result<Self, ConfigError> {
        let remove = file
            .remove
            .iter()
            .enumerate()
            .map(|(i, name)| header_name(name, &format!("{path}.remove[{i}]")))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            remove,
            set: templates(file.set, &format!("{path}.set"))?,
            append: templates(file.append, &format!("{path}.append"))?,
        })
    }
}

/// `{ "request": {...}, "response": {...}, "forwarded": bool }`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    request: FileSection,
    #[serde(default)]
    response: FileSection,
    #[serde(default)]
    forwarded: bool,
}

/// `{ "set": {name: template}, "append": {name: template}, "remove": [name] }`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSection {
    #[serde(default)]
    set: BTreeMap<String, String>,
    #[serde(default)]
    append: BTreeMap<String, String>,
    #[serde(default)]
    remove: Vec<String>,
}

/// Validates a `name → template` map into lowercase names and parsed templates.
fn templates(
    map: BTreeMap<String, String>,
    path: &str,
) -> Result<Vec<(String, Template)>, ConfigError> {
    let mut out: Vec<(String, Template)> = Vec::with_capacity(map.len());
    for (name, text) in map {
        let key_path = child_path(path, &name);
        let lower = header_name(&name, &key_path)?;
        if out.iter().any(|(seen, _)| *seen == lower) {
            return Err(ConfigError {
                path: key_path,
                message: format!(
                    "header `{lower}` is listed twice (header names are case-insensitive)"
                ),
            });
        }
        let template = Template::parse(&text).map_err(|err| ConfigError {
            path: key_path,
            message: err.to_string(),
        })?;
        out.push((lower, template));
    }
    Ok(out)
}

/// Checks that `name` is an RFC 9110 §5.1 field name (a token) and lowercases it.
fn header_name(name: &str, path: &str) -> Result<String, ConfigError> {
    // RFC 9110 §5.6.2: token = 1*tchar
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(ConfigError {
            path: path.to_owned(),
            message: format!("`{name}` is not a valid header name (RFC 9110 token)"),
        });
    }
    Ok(name.to_ascii_lowercase())
}

/// `parent.key`, or `parent["key"]` when the key is not a plain identifier (as in errors
/// from serde).
fn child_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        format!("{parent}.{key}")
    } else {
        format!("{parent}[{key:?}]")
    }
}

#[cfg(test)]
mod tests;
