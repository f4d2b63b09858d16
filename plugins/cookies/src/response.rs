//! Response-side cookie edits: plain functions over [`Response`].
//!
//! The rules run in the order remove, rewrite, add, so a wildcard rewrite never touches the
//! cookies this filter adds. Rewrites go through the host's `rewrite-set-cookie`, which changes
//! only the named cookie's attributes and keeps every other `Set-Cookie` byte for byte.

use weir_sdk::{CookieAttributes, Response, SetCookie};

use crate::config::{CookieName, NewCookie, ResponseRules, Rewrite, SameSite};
use crate::report::report;

/// Applies `rules` to the response's `Set-Cookie` headers.
pub(crate) fn apply_to_response(rules: &ResponseRules, resp: &mut Response) {
    for name in &rules.remove {
        resp.remove_set_cookie(name);
    }
    if !rules.rewrite.is_empty() {
        rewrite_all(&rules.rewrite, resp);
    }
    for cookie in &rules.add {
        let result = resp.add_set_cookie(&to_set_cookie(cookie));
        report("response", "add-set-cookie", &cookie.name, result);
    }
}

/// Runs every rewrite rule in order; `"*"` rules apply to each cookie name in the response
/// (unparseable `Set-Cookie`s have no name the host can address, so they stay as they are).
fn rewrite_all(rules: &[Rewrite], resp: &mut Response) {
    let present = rules
        .iter()
        .any(|rule| rule.name == CookieName::Any)
        .then(|| distinct_names(resp));
    for rule in rules {
        let attributes = to_attributes(rule);
        match &rule.name {
            CookieName::Exact(name) => rewrite(resp, name, &attributes),
            CookieName::Any => {
                for name in present.iter().flatten() {
                    rewrite(resp, name, &attributes);
                }
            }
        }
    }
}

fn rewrite(resp: &mut Response, name: &str, attributes: &CookieAttributes) {
    let result = resp.rewrite_set_cookie(name, attributes).map(drop);
    report("response", "rewrite-set-cookie", name, result);
}

/// The names of the response's `Set-Cookie`s, each once, in order.
fn distinct_names(resp: &Response) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for cookie in resp.set_cookies() {
        if !names.contains(&cookie.name) {
            names.push(cookie.name);
        }
    }
    names
}

fn to_attributes(rule: &Rewrite) -> CookieAttributes {
    CookieAttributes {
        domain: rule.domain.clone(),
        path: rule.path.clone(),
        max_age: rule.max_age,
        secure: rule.secure,
        http_only: rule.http_only,
        same_site: rule.same_site.map(|same_site| same_site.map(to_same_site)),
    }
}

fn to_set_cookie(cookie: &NewCookie) -> SetCookie {
    let mut out = SetCookie::new(cookie.name.clone(), cookie.value.clone());
    out.path.clone_from(&cookie.path);
    out.domain.clone_from(&cookie.domain);
    out.max_age = cookie.max_age;
    out.secure = cookie.secure;
    out.http_only = cookie.http_only;
    out.same_site = cookie.same_site.map(to_same_site);
    out
}

fn to_same_site(same_site: SameSite) -> weir_sdk::SameSite {
    match same_site {
        SameSite::Strict => weir_sdk::SameSite::Strict,
        SameSite::Lax => weir_sdk::SameSite::Lax,
        SameSite::None => weir_sdk::SameSite::None,
    }
}
