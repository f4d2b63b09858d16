//! The config as the operator writes it (JSON, from weir's `config = { ... }` table) and its
//! validation into a [`Policy`] and an [`Action`]. Every error names the key, and the index for
//! list entries (`block_patterns[1]: invalid regex: ...`).

use regex::{Regex, RegexSet};
use serde::Deserialize;
use weir_sdk::HostPattern;

use crate::action::Action;
use crate::policy::{Policy, normalize_path};

/// Statuses `redirect_status` may use.
const REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];

/// The whole config, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// Hosts to block: `example.com` or `*.example.com`. Default: none.
    #[serde(default)]
    block_hosts: Vec<String>,
    /// Path prefixes to block, e.g. `/admin`. Default: none.
    #[serde(default)]
    block_path_prefixes: Vec<String>,
    /// Regexes over `host + path + ?query`. Default: none.
    #[serde(default)]
    block_patterns: Vec<String>,
    /// Hosts never blocked, overriding every block rule. Default: none.
    #[serde(default)]
    allow_hosts: Vec<String>,
    /// Status of the block answer, 400..=599. Default: 403.
    #[serde(default)]
    status: Option<u16>,
    /// Text body of the block answer. Default: `blocked by policy\n`.
    #[serde(default)]
    body: Option<String>,
    /// Answer with a redirect to this URL instead; `{url}` is replaced by the blocked URL,
    /// percent-encoded. Default: none.
    #[serde(default)]
    redirect: Option<String>,
    /// Status of the redirect: 301, 302, 303, 307 or 308. Default: 302.
    #[serde(default)]
    redirect_status: Option<u16>,
}

/// Parses and validates the JSON config, compiling every pattern.
pub(crate) fn parse(config: &str) -> Result<(Policy, Action), String> {
    let file: ConfigFile = weir_sdk::config::from_json(config).map_err(|err| err.to_string())?;
    if file.block_hosts.is_empty()
        && file.block_path_prefixes.is_empty()
        && file.block_patterns.is_empty()
    {
        return Err(
            "no block rule: set block_hosts, block_path_prefixes or block_patterns".to_owned(),
        );
    }
    let policy = Policy {
        allow_hosts: host_patterns("allow_hosts", &file.allow_hosts)?,
        block_hosts: host_patterns("block_hosts", &file.block_hosts)?,
        block_path_prefixes: path_prefixes(&file.block_path_prefixes)?,
        block_patterns: patterns(&file.block_patterns)?,
    };
    let action = action(file.status, file.body, file.redirect, file.redirect_status)?;
    Ok((policy, action))
}

fn host_patterns(key: &str, hosts: &[String]) -> Result<Vec<HostPattern>, String> {
    hosts
        .iter()
        .enumerate()
        .map(|(i, host)| HostPattern::parse(host).map_err(|err| format!("{key}[{i}]: {err}")))
        .collect()
}

fn path_prefixes(prefixes: &[String]) -> Result<Vec<String>, String> {
    prefixes
        .iter()
        .enumerate()
        .map(|(i, prefix)| {
            if prefix.starts_with('/') {
                Ok(normalize_path(prefix))
            } else {
                Err(format!(
                    "block_path_prefixes[{i}]: `{prefix}` does not start with `/`"
                ))
            }
        })
        .collect()
}

/// Compiles each pattern alone first, so a bad one is reported with its index, then all of
/// them as one set.
fn patterns(patterns: &[String]) -> Result<RegexSet, String> {
    for (i, pattern) in patterns.iter().enumerate() {
        if pattern.is_empty() {
            return Err(format!(
                "block_patterns[{i}]: is empty (it would block every request)"
            ));
        }
        Regex::new(pattern).map_err(|err| format!("block_patterns[{i}]: invalid regex: {err}"))?;
    }
    RegexSet::new(patterns).map_err(|err| format!("block_patterns: {err}"))
}

fn action(
    status: Option<u16>,
    body: Option<String>,
    redirect: Option<String>,
    redirect_status: Option<u16>,
) -> Result<Action, String> {
    let Some(location) = redirect else {
        if redirect_status.is_some() {
            return Err("redirect_status: is set but redirect is not".to_owned());
        }
        let status = status.unwrap_or(403);
        if !(400..=599).contains(&status) {
            return Err(format!(
                "status: {status} is not an error status; use 400..=599 (or `redirect` to send the client elsewhere)"
            ));
        }
        return Ok(Action::Deny {
            status,
            body: body.unwrap_or_else(|| "blocked by policy\n".to_owned()),
        });
    };
    if status.is_some() || body.is_some() {
        return Err("redirect: cannot be combined with status or body".to_owned());
    }
    check_redirect_url(&location).map_err(|err| format!("redirect: {err}"))?;
    let status = redirect_status.unwrap_or(302);
    if !REDIRECT_STATUSES.contains(&status) {
        return Err(format!(
            "redirect_status: {status} is not a redirect status; use 301, 302, 303, 307 or 308"
        ));
    }
    Ok(Action::Redirect { status, location })
}

/// The `Location` must be an absolute http(s) URL or an absolute path, and a legal header
/// value. `{url}` only ever adds percent-encoded text, so checking the template suffices.
fn check_redirect_url(location: &str) -> Result<(), String> {
    let scheme_ok = ["http://", "https://"].iter().any(|scheme| {
        location
            .get(..scheme.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
    });
    if !scheme_ok && !location.starts_with('/') {
        return Err(format!(
            "`{location}` is not an http(s) URL or a path starting with `/`"
        ));
    }
    match location
        .chars()
        .find(|c| c.is_whitespace() || c.is_control())
    {
        Some(c) => Err(format!("contains {c:?}, which is not allowed in a URL")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
