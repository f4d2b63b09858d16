//! The config as the operator writes it (JSON, from weir's `config = { ... }` table) and its
//! validation into [`Rule`]s. Every error names the key path, e.g. `rules[2].redirect: ...`.

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use weir_sdk::HostPattern;

use crate::rule::Rule;

/// The redirect statuses a rule may use.
const REDIRECT_STATUSES: [u16; 4] = [301, 302, 307, 308];

/// The whole config, as written. Rules stay raw JSON at this stage and are parsed one by one,
/// so that an error can name the rule's index (`rules[2]: unknown field ...`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// The rules, tried in order. Required, and not empty.
    rules: Vec<Value>,
}

/// One rule, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    /// Regex over the path (or `path?query` with `include_query`).
    r#match: String,
    /// Replacement for the matched text; `$1`, `${name}`, `$$` for a literal `$`.
    replace: String,
    /// Match against `path?query`. Default: false.
    #[serde(default)]
    include_query: bool,
    /// Apply only to this host (`example.com` or `*.example.com`). Default: any host.
    #[serde(default)]
    host: Option<String>,
    /// New authority (`host[:port]`) when the rule matches. Default: unchanged.
    #[serde(default)]
    set_host: Option<String>,
    /// Redirect status (301, 302, 307, 308) instead of a silent rewrite. Default: none.
    #[serde(default)]
    redirect: Option<u16>,
    /// Stop after this rule when it matches. Default: true.
    #[serde(default = "default_last")]
    last: bool,
}

fn default_last() -> bool {
    true
}

/// Parses and validates the JSON config into rules, compiling every regex.
pub(crate) fn parse(config: &str) -> Result<Vec<Rule>, String> {
    let file: ConfigFile = weir_sdk::config::from_json(config).map_err(|err| err.to_string())?;
    if file.rules.is_empty() {
        return Err("rules: is empty; add at least one rule".to_owned());
    }
    file.rules
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            let raw: RuleFile =
                serde_json::from_value(value).map_err(|err| format!("rules[{index}]: {err}"))?;
            raw.validate()
                .map_err(|err| format!("rules[{index}].{err}"))
        })
        .collect()
}

impl RuleFile {
    /// Turns the rule into its runtime form. Errors start with the key they are about.
    fn validate(self) -> Result<Rule, String> {
        if self.r#match.is_empty() {
            return Err("match: is empty".to_owned());
        }
        let pattern =
            Regex::new(&self.r#match).map_err(|err| format!("match: invalid regex: {err}"))?;
        check_template(&self.replace, &pattern).map_err(|err| format!("replace: {err}"))?;
        let host = self
            .host
            .as_deref()
            .map(HostPattern::parse)
            .transpose()
            .map_err(|err| format!("host: {err}"))?;
        if let Some(authority) = &self.set_host {
            check_authority(authority).map_err(|err| format!("set_host: {err}"))?;
        }
        if let Some(status) = self.redirect
            && !REDIRECT_STATUSES.contains(&status)
        {
            return Err(format!(
                "redirect: {status} is not a redirect status; use 301, 302, 307 or 308"
            ));
        }
        Ok(Rule {
            pattern,
            replace: self.replace,
            include_query: self.include_query,
            host,
            set_host: self.set_host,
            redirect: self.redirect,
            last: self.last,
        })
    }
}

/// Every capture group the template refers to must exist in `pattern`: the `regex` crate
/// silently expands a missing group to nothing, and `$1a` means the group named `1a`.
fn check_template(template: &str, pattern: &Regex) -> Result<(), String> {
    for name in group_references(template) {
        let exists = match name.parse::<usize>() {
            Ok(index) => index < pattern.captures_len(),
            Err(_) => pattern.capture_names().flatten().any(|n| n == name),
        };
        if !exists {
            let digits = leading_digits(name);
            let hint = if !digits.is_empty() && digits.len() < name.len() {
                format!(" (to follow a group with text, write `${{{digits}}}`)")
            } else {
                String::new()
            };
            return Err(format!(
                "`${name}` refers to a capture group that `match` does not have{hint}"
            ));
        }
    }
    Ok(())
}

/// The group names and numbers in a replacement template, with the `regex` crate's syntax:
/// `$$` is a literal `$`, `${name}` is braced, and `$name` takes the longest run of
/// `[0-9A-Za-z_]`.
fn group_references(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        rest = rest.get(dollar + 1..).unwrap_or_default();
        if let Some(after) = rest.strip_prefix('$') {
            rest = after;
        } else if let Some(braced) = rest.strip_prefix('{') {
            if let Some((name, after)) = braced.split_once('}') {
                names.push(name);
                rest = after;
            }
        } else {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if len > 0 {
                names.extend(rest.get(..len));
            }
            rest = rest.get(len..).unwrap_or_default();
        }
    }
    names
}

fn leading_digits(name: &str) -> &str {
    let len = name
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(name.len());
    name.get(..len).unwrap_or(name)
}

/// `set_host` is an authority: a host name or IP literal with an optional port.
fn check_authority(authority: &str) -> Result<(), String> {
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !authority.ends_with(']') => (host, Some(port)),
        _ => (authority, None),
    };
    HostPattern::check_host_name(host).map_err(|err| err.to_string())?;
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err(format!("`{authority}` has an invalid port `{port}`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
