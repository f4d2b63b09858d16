//! The cookies plugin's config: the JSON the operator writes, validated into [`Config`].
//!
//! `weir_sdk::config::from_json` reads the JSON into `File*` structs (`deny_unknown_fields`, so
//! a typo is an error); [`Config::from_json`] then checks names, values and attributes against
//! RFC 6265 so that the hooks only ever send edits the host accepts. Every error is a
//! `weir_sdk::config::ConfigError` naming the key path of the bad field.

mod grammar;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use weir_sdk::config::{self, ConfigError, join_key_path};

use self::grammar::{attribute, cookie_name, cookie_value};

/// The validated config.
#[derive(Debug, Default)]
pub(crate) struct Config {
    /// Edits to the request's `Cookie` header.
    pub(crate) request: RequestRules,
    /// Edits to the response's `Set-Cookie` headers.
    pub(crate) response: ResponseRules,
}

/// Request-side edits, applied in the order strip, strip by prefix, rename, add.
#[derive(Debug, Default)]
pub(crate) struct RequestRules {
    /// Cookie names to remove.
    pub(crate) strip: Vec<String>,
    /// Cookie name prefixes: every cookie whose name starts with one is removed.
    pub(crate) strip_prefix: Vec<String>,
    /// `(old, new)` names; every rename reads the cookies as they were before renaming.
    pub(crate) rename: Vec<(String, String)>,
    /// `(name, value)` cookies to add.
    pub(crate) add: Vec<(String, String)>,
    /// Whether `add` replaces a cookie that is already present.
    pub(crate) overwrite: bool,
}

/// Response-side edits, applied in the order remove, rewrite, add.
#[derive(Debug, Default)]
pub(crate) struct ResponseRules {
    /// Cookie names whose `Set-Cookie`s are removed.
    pub(crate) remove: Vec<String>,
    /// Attribute rewrites, in order.
    pub(crate) rewrite: Vec<Rewrite>,
    /// Complete `Set-Cookie`s to add.
    pub(crate) add: Vec<NewCookie>,
}

/// Which `Set-Cookie`s a rewrite applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CookieName {
    /// `"*"`: every cookie name present in the response.
    Any,
    /// One cookie name.
    Exact(String),
}

/// One `set_cookie` rule: `None` leaves an attribute unchanged, `Some(None)` removes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rewrite {
    pub(crate) name: CookieName,
    pub(crate) secure: Option<bool>,
    pub(crate) http_only: Option<bool>,
    pub(crate) same_site: Option<Option<SameSite>>,
    pub(crate) domain: Option<Option<String>>,
    pub(crate) path: Option<Option<String>>,
    pub(crate) max_age: Option<Option<i64>>,
}

/// One `add_set_cookie` entry: a complete cookie.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewCookie {
    pub(crate) name: String,
    pub(crate) value: String,
    #[serde(default)]
    pub(crate) path: Option<String>,
    #[serde(default)]
    pub(crate) domain: Option<String>,
    #[serde(default)]
    pub(crate) max_age: Option<i64>,
    #[serde(default)]
    pub(crate) secure: bool,
    #[serde(default)]
    pub(crate) http_only: bool,
    #[serde(default)]
    pub(crate) same_site: Option<SameSite>,
}

/// The `SameSite` attribute, spelled as in the header: `"Strict"`, `"Lax"` or `"None"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum SameSite {
    Strict,
    Lax,
    None,
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
            request: RequestRules::from_file(file.request)?,
            response: ResponseRules::from_file(file.response)?,
        })
    }
}

impl RequestRules {
    /// Whether the rules change nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.strip.is_empty()
            && self.strip_prefix.is_empty()
            && self.rename.is_empty()
            && self.add.is_empty()
    }

    fn from_file(file: FileRequest) -> Result<Self, ConfigError> {
        for (i, name) in file.strip.iter().enumerate() {
            cookie_name(name, &format!("request.strip[{i}]"))?;
        }
        for (i, prefix) in file.strip_prefix.iter().enumerate() {
            // A prefix is the start of a name, so it must be a token too (and not empty,
            // which would strip every cookie).
            cookie_name(prefix, &format!("request.strip_prefix[{i}]"))?;
        }
        let mut rename: Vec<(String, String)> = Vec::with_capacity(file.rename.len());
        for (old, new) in file.rename {
            let path = join_key_path("request.rename", &old);
            cookie_name(&old, &path)?;
            cookie_name(&new, &path)?;
            if let Some((other, _)) = rename.iter().find(|(_, seen)| *seen == new) {
                return Err(ConfigError::new(
                    path,
                    format!("`{other}` is already renamed to `{new}`"),
                ));
            }
            rename.push((old, new));
        }
        let mut add = Vec::with_capacity(file.add.len());
        for (name, value) in file.add {
            let path = join_key_path("request.add", &name);
            cookie_name(&name, &path)?;
            cookie_value(&value, &path)?;
            add.push((name, value));
        }
        Ok(Self {
            strip: file.strip,
            strip_prefix: file.strip_prefix,
            rename,
            add,
            overwrite: file.overwrite,
        })
    }
}

impl ResponseRules {
    /// Whether the rules change nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.rewrite.is_empty() && self.add.is_empty()
    }

    fn from_file(file: FileResponse) -> Result<Self, ConfigError> {
        for (i, name) in file.remove_set_cookie.iter().enumerate() {
            cookie_name(name, &format!("response.remove_set_cookie[{i}]"))?;
        }
        let rewrite = file
            .set_cookie
            .into_iter()
            .enumerate()
            .map(|(i, rule)| Rewrite::from_file(rule, &format!("response.set_cookie[{i}]")))
            .collect::<Result<_, _>>()?;
        for (i, cookie) in file.add_set_cookie.iter().enumerate() {
            cookie.validate(&format!("response.add_set_cookie[{i}]"))?;
        }
        Ok(Self {
            remove: file.remove_set_cookie,
            rewrite,
            add: file.add_set_cookie,
        })
    }
}

impl Rewrite {
    fn from_file(file: FileRewrite, path: &str) -> Result<Self, ConfigError> {
        let name = if file.name == "*" {
            CookieName::Any
        } else {
            cookie_name(&file.name, &format!("{path}.name"))?;
            CookieName::Exact(file.name)
        };
        if let Some(Some(domain)) = &file.domain {
            attribute(domain, &format!("{path}.domain"))?;
        }
        if let Some(Some(cookie_path)) = &file.path {
            attribute(cookie_path, &format!("{path}.path"))?;
        }
        let rewrite = Self {
            name,
            secure: file.secure,
            http_only: file.http_only,
            same_site: file.same_site,
            domain: file.domain,
            path: file.path,
            max_age: file.max_age,
        };
        if rewrite.changes_nothing() {
            return Err(ConfigError::new(
                path,
                "the rule changes nothing; give at least one of `secure`, `http_only`, \
                 `same_site`, `domain`, `path`, `max_age`",
            ));
        }
        Ok(rewrite)
    }

    fn changes_nothing(&self) -> bool {
        self.secure.is_none()
            && self.http_only.is_none()
            && self.same_site.is_none()
            && self.domain.is_none()
            && self.path.is_none()
            && self.max_age.is_none()
    }
}

impl NewCookie {
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        cookie_name(&self.name, &format!("{path}.name"))?;
        cookie_value(&self.value, &format!("{path}.value"))?;
        if let Some(domain) = &self.domain {
            attribute(domain, &format!("{path}.domain"))?;
        }
        if let Some(cookie_path) = &self.path {
            attribute(cookie_path, &format!("{path}.path"))?;
        }
        // Browsers drop `SameSite=None` cookies that are not `Secure`.
        if self.same_site == Some(SameSite::None) && !self.secure {
            return Err(ConfigError::new(
                format!("{path}.same_site"),
                "`SameSite=None` needs `\"secure\": true`; browsers reject it otherwise",
            ));
        }
        Ok(())
    }
}

/// `{ "request": {...}, "response": {...} }`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    request: FileRequest,
    #[serde(default)]
    response: FileResponse,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRequest {
    #[serde(default)]
    strip: Vec<String>,
    #[serde(default)]
    strip_prefix: Vec<String>,
    #[serde(default)]
    rename: BTreeMap<String, String>,
    #[serde(default)]
    add: BTreeMap<String, String>,
    #[serde(default)]
    overwrite: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileResponse {
    #[serde(default)]
    set_cookie: Vec<FileRewrite>,
    #[serde(default)]
    add_set_cookie: Vec<NewCookie>,
    #[serde(default)]
    remove_set_cookie: Vec<String>,
}

/// One `set_cookie` rule as written. An absent key leaves the attribute unchanged; `null`
/// removes it (not allowed for the flags, which are only ever on or off).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRewrite {
    name: String,
    #[serde(default, deserialize_with = "present")]
    secure: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    http_only: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    same_site: Option<Option<SameSite>>,
    #[serde(default, deserialize_with = "present")]
    domain: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    path: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    max_age: Option<Option<i64>>,
}

/// Deserializes a key that is present as `Some(value)`; with `#[serde(default)]`, an absent
/// key is `None`. For `Option<Option<T>>` fields this keeps `null` (`Some(None)`) apart from
/// absent (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests;
