//! Request-side cookie edits: plain functions over [`Request`].
//!
//! The rules run in the order strip, strip by prefix, rename, add. An edit the host refuses is
//! logged (without the cookie's value) and skipped; the request goes on.

use weir_sdk::Request;

use crate::config::RequestRules;
use crate::report::report;

/// Applies `rules` to the request's `Cookie` header.
pub(crate) fn apply_to_request(rules: &RequestRules, req: &mut Request) {
    for name in &rules.strip {
        req.remove_cookie(name);
    }
    if !rules.strip_prefix.is_empty() {
        strip_prefixed(&rules.strip_prefix, req);
    }
    if !rules.rename.is_empty() {
        rename(&rules.rename, req);
    }
    for (name, value) in &rules.add {
        if rules.overwrite || req.cookie(name).is_none() {
            report("request", "set-cookie", name, req.set_cookie(name, value));
        }
    }
}

/// Removes every cookie whose name starts with one of `prefixes`.
fn strip_prefixed(prefixes: &[String], req: &mut Request) {
    let mut doomed: Vec<String> = Vec::new();
    for (name, _) in req.cookies() {
        let matches = prefixes
            .iter()
            .any(|prefix| name.starts_with(prefix.as_str()));
        if matches && !doomed.contains(&name) {
            doomed.push(name);
        }
    }
    for name in doomed {
        req.remove_cookie(&name);
    }
}

/// Renames cookies. Every rename reads the cookies as they were before any rename, so `a → b`
/// with `b → a` swaps them. A renamed cookie replaces a cookie already holding the new name.
fn rename(renames: &[(String, String)], req: &mut Request) {
    let moved: Vec<(&str, &str, String)> = renames
        .iter()
        .filter_map(|(old, new)| {
            req.cookie(old)
                .map(|value| (old.as_str(), new.as_str(), value))
        })
        .collect();
    for (old, _, _) in &moved {
        req.remove_cookie(old);
    }
    for (_, new, value) in &moved {
        report("request", "set-cookie", new, req.set_cookie(new, value));
    }
}
