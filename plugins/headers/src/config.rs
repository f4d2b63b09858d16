//! The headers plugin's config: the JSON the operator writes, validated into [`Config`].
//!
//! Parsing is two steps: `weir_sdk::config::from_json` reads the JSON into `File*` structs
//! (`deny_unknown_fields`, so a typo is an error), then [`Config::from_json`] checks header
//! names and parses templates. Every error is a `weir_sdk::config::ConfigError` naming the key
//! path of the bad field. Depends on nothing but serde, `weir_sdk::config` and the template
//! parser.

use std::collections::BTreeMap;

use serde::Deserialize;
use weir_sdk::config::{self, ConfigError, join_key_path};

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
    /// Whether to describe the downstream TLS session in `X-TLS-*` / `X-Client-Cert-*`
    /// request headers (and drop client-sent ones).
    pub(crate) tls_headers: bool,
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

impl Config {
    /// Parses and validates the JSON config; empty text means the empty config.
    pub(crate) fn from_json(text: &str) -> Result<Self, ConfigError> {
        let file: FileConfig = if text.trim().is_empty() {
            FileConfig::default()
        } else {
            config::from_json(text)?
        };
        Ok(Self {
            request: Section::from_file(file.request, "request")?,
            response: Section::from_file(file.response, "response")?,
            forwarded: file.forwarded,
            tls_headers: file.tls_headers,
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

/// `{ "request": {...}, "response": {...}, "forwarded": bool, "tls_headers": bool }`, as
/// written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    request: FileSection,
    #[serde(default)]
    response: FileSection,
    #[serde(default)]
    forwarded: bool,
    #[serde(default)]
    tls_headers: bool,
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
        let key_path = join_key_path(path, &name);
        let lower = header_name(&name, &key_path)?;
        if out.iter().any(|(seen, _)| *seen == lower) {
            return Err(ConfigError::new(
                key_path,
                format!("header `{lower}` is listed twice (header names are case-insensitive)"),
            ));
        }
        let template =
            Template::parse(&text).map_err(|err| ConfigError::new(key_path, err.to_string()))?;
        out.push((lower, template));
    }
    Ok(out)
}

/// Checks that `name` is an RFC 9110 §5.1 field name (a token) and lowercases it.
fn header_name(name: &str, path: &str) -> Result<String, ConfigError> {
    // RFC 9110 §5.6.2: token = 1*tchar
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(ConfigError::new(
            path,
            format!("`{name}` is not a valid header name (RFC 9110 token)"),
        ));
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests;
