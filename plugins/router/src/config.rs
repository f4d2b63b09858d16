//! The config as the operator writes it (JSON, from weir's `config = { ... }` table) and its
//! validation into routes. Every error names the key path, e.g. `routes[1].split[0].pool: ...`.

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use weir_sdk::HostPattern;

use crate::Affinity;
use crate::route::{HeaderCondition, Route, Target, ValueMatch};
use crate::split::Split;

/// The whole config, as written. Routes stay raw JSON at this stage and are parsed one by one,
/// so that an error can name the route's index (`routes[2]: unknown field ...`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// Routes, tried in order; the first whose conditions all hold wins. Default: none.
    #[serde(default)]
    routes: Vec<Value>,
    /// Pool for requests no route matches. Default: none (weir's own choice stands).
    #[serde(default)]
    default_pool: Option<String>,
    /// Where the affinity key comes from. Default: none.
    #[serde(default)]
    affinity: Option<AffinityFile>,
}

/// `affinity = { cookie = "name" }`, `{ header = "name" }` or `"client_ip"`.
#[derive(Debug, Deserialize)]
// The variant names are the config's values (`"client_ip"`) and keys (`cookie`, `header`);
// Rust spells them in CamelCase.
#[serde(rename_all = "snake_case")]
enum AffinityFile {
    Cookie(String),
    Header(String),
    ClientIp,
}

/// One route, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteFile {
    /// `example.com` or `*.example.com`, port ignored.
    #[serde(default)]
    host: Option<String>,
    /// Plain string prefix of the path.
    #[serde(default)]
    path_prefix: Option<String>,
    /// A header that must be present with a value.
    #[serde(default)]
    header: Option<HeaderFile>,
    /// A cookie that must be present with a value.
    #[serde(default)]
    cookie: Option<CookieFile>,
    /// The pool to send matching requests to (or `split`).
    #[serde(default)]
    pool: Option<String>,
    /// Weighted pools to send matching requests to (or `pool`).
    #[serde(default)]
    split: Option<Vec<SplitFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderFile {
    name: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    value_regex: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CookieFile {
    name: String,
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SplitFile {
    pool: String,
    weight: u32,
}

/// The validated config.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) routes: Vec<Route>,
    pub(crate) default_pool: Option<String>,
    pub(crate) affinity: Option<Affinity>,
}

/// Parses and validates the JSON config, compiling every regex.
pub(crate) fn parse(config: &str) -> Result<Config, String> {
    let file: ConfigFile = weir_sdk::config::from_json(config).map_err(|err| err.to_string())?;
    if file.routes.is_empty() && file.default_pool.is_none() {
        return Err("no route: set routes or default_pool".to_owned());
    }
    let routes = file
        .routes
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            let raw: RouteFile =
                serde_json::from_value(value).map_err(|err| format!("routes[{index}]: {err}"))?;
            raw.validate()
                .map_err(|err| format!("routes[{index}]{err}"))
        })
        .collect::<Result<_, _>>()?;
    if let Some(pool) = &file.default_pool {
        check_pool(pool).map_err(|err| format!("default_pool: {err}"))?;
    }
    let affinity = file
        .affinity
        .map(|affinity| match affinity {
            AffinityFile::Cookie(name) => check_token(&name)
                .map(|()| Affinity::Cookie(name))
                .map_err(|err| format!("affinity.cookie: {err}")),
            AffinityFile::Header(name) => check_token(&name)
                .map(|()| Affinity::Header(name))
                .map_err(|err| format!("affinity.header: {err}")),
            AffinityFile::ClientIp => Ok(Affinity::ClientIp),
        })
        .transpose()?;
    Ok(Config {
        routes,
        default_pool: file.default_pool,
        affinity,
    })
}

impl RouteFile {
    /// Turns the route into its runtime form. Errors start with `.key: ` or `: ` so that the
    /// caller can put the route index in front.
    fn validate(self) -> Result<Route, String> {
        let host = self
            .host
            .as_deref()
            .map(HostPattern::parse)
            .transpose()
            .map_err(|err| format!(".host: {err}"))?;
        if let Some(prefix) = &self.path_prefix
            && !prefix.starts_with('/')
        {
            return Err(format!(".path_prefix: `{prefix}` does not start with `/`"));
        }
        let header = self.header.map(HeaderFile::validate).transpose()?;
        let cookie = self
            .cookie
            .map(|c| {
                check_token(&c.name)
                    .map(|()| (c.name, c.value))
                    .map_err(|err| format!(".cookie.name: {err}"))
            })
            .transpose()?;
        let target = match (self.pool, self.split) {
            (Some(pool), None) => {
                check_pool(&pool).map_err(|err| format!(".pool: {err}"))?;
                Target::Pool(pool)
            }
            (None, Some(split)) => Target::Split(validate_split(split)?),
            (Some(_), Some(_)) => return Err(": has both pool and split; set one".to_owned()),
            (None, None) => return Err(": has no target; set pool or split".to_owned()),
        };
        Ok(Route {
            host,
            path_prefix: self.path_prefix,
            header,
            cookie,
            target,
        })
    }
}

impl HeaderFile {
    fn validate(self) -> Result<HeaderCondition, String> {
        check_token(&self.name).map_err(|err| format!(".header.name: {err}"))?;
        let value = match (self.value, self.value_regex) {
            (Some(value), None) => ValueMatch::Exact(value.into_bytes()),
            (None, Some(pattern)) => ValueMatch::Regex(
                Regex::new(&pattern)
                    .map_err(|err| format!(".header.value_regex: invalid regex: {err}"))?,
            ),
            (Some(_), Some(_)) => {
                return Err(".header: has both value and value_regex; set one".to_owned());
            }
            (None, None) => return Err(".header: set value or value_regex".to_owned()),
        };
        Ok(HeaderCondition {
            name: self.name.to_ascii_lowercase(),
            value,
        })
    }
}

fn validate_split(split: Vec<SplitFile>) -> Result<Split, String> {
    if split.is_empty() {
        return Err(".split: is empty".to_owned());
    }
    for (i, entry) in split.iter().enumerate() {
        check_pool(&entry.pool).map_err(|err| format!(".split[{i}].pool: {err}"))?;
    }
    let entries = split.into_iter().map(|e| (e.pool, e.weight)).collect();
    Split::new(entries).ok_or_else(|| ".split: the weights add up to 0".to_owned())
}

/// The host's rule for pool names: non-empty, `[A-Za-z0-9._-]`.
fn check_pool(pool: &str) -> Result<(), String> {
    let valid = !pool.is_empty()
        && pool
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{pool}` is not a valid pool name (use letters, digits, `.`, `_` and `-`)"
        ))
    }
}

/// Header and cookie names are RFC 9110 tokens (§5.6.2).
fn check_token(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(format!("`{name}` is not a valid name (an RFC 9110 token)"))
    }
}

#[cfg(test)]
mod tests;
