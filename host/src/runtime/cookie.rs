//! Cookie handling for plugin edits: conversions between the WIT `set-cookie` and
//! `cookie-attributes` records and the `weir-rules` types, which hold the parsing, rendering and
//! checks (RFC 6265 §4) shared with the SDK's test kit.

use weir_rules::cookie as rules;

use super::bindings::{CookieAttributes, EditError, SameSite, SetCookie};

pub(crate) use weir_rules::cookie::{
    cookie_pairs, parse_cookie_header, render_cookie_header, set_cookie_pair, without_cookie,
};

/// Parses one `Set-Cookie` value; `None` when it has no `name=value` pair.
pub(crate) fn parse_set_cookie(value: &[u8]) -> Option<SetCookie> {
    rules::SetCookie::parse_bytes(value).map(to_wit)
}

/// Checks a cookie a plugin adds and renders it as a header value.
pub(crate) fn check_set_cookie(cookie: &SetCookie) -> Result<String, EditError> {
    Ok(rules::check_set_cookie(&from_wit(cookie))?)
}

/// Checks an attribute change a plugin asks for.
pub(crate) fn check_attributes(change: &CookieAttributes) -> Result<(), EditError> {
    Ok(rules::check_attributes(&attributes_from_wit(change))?)
}

/// Rewrites one `Set-Cookie` value named `name`, keeping unknown attributes; `None` leaves it
/// unchanged.
pub(crate) fn rewrite_set_cookie(
    value: &[u8],
    name: &str,
    change: &CookieAttributes,
) -> Option<String> {
    rules::rewrite_set_cookie(value, name, &attributes_from_wit(change))
}

fn to_wit(cookie: rules::SetCookie) -> SetCookie {
    SetCookie {
        name: cookie.name,
        value: cookie.value,
        domain: cookie.domain,
        path: cookie.path,
        max_age: cookie.max_age,
        expires: cookie.expires,
        secure: cookie.secure,
        http_only: cookie.http_only,
        same_site: cookie.same_site.map(same_site_to_wit),
    }
}

fn from_wit(cookie: &SetCookie) -> rules::SetCookie {
    rules::SetCookie {
        name: cookie.name.clone(),
        value: cookie.value.clone(),
        domain: cookie.domain.clone(),
        path: cookie.path.clone(),
        max_age: cookie.max_age,
        expires: cookie.expires.clone(),
        secure: cookie.secure,
        http_only: cookie.http_only,
        same_site: cookie.same_site.map(same_site_from_wit),
    }
}

fn attributes_from_wit(change: &CookieAttributes) -> rules::CookieAttributes {
    rules::CookieAttributes {
        domain: change.domain.clone(),
        path: change.path.clone(),
        max_age: change.max_age,
        secure: change.secure,
        http_only: change.http_only,
        same_site: change.same_site.map(|s| s.map(same_site_from_wit)),
    }
}

fn same_site_to_wit(same_site: rules::SameSite) -> SameSite {
    match same_site {
        rules::SameSite::Strict => SameSite::Strict,
        rules::SameSite::Lax => SameSite::Lax,
        rules::SameSite::None => SameSite::None,
    }
}

fn same_site_from_wit(same_site: SameSite) -> rules::SameSite {
    match same_site {
        SameSite::Strict => rules::SameSite::Strict,
        SameSite::Lax => rules::SameSite::Lax,
        SameSite::None => rules::SameSite::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wit_records_survive_the_round_trip() {
        let parsed = parse_set_cookie(b"sid=abc; Path=/; Secure; SameSite=Lax").unwrap();
        assert_eq!(parsed.same_site, Some(SameSite::Lax));
        assert_eq!(
            check_set_cookie(&parsed).unwrap(),
            "sid=abc; Path=/; Secure; SameSite=Lax"
        );
        let change = CookieAttributes {
            domain: None,
            path: Some(None),
            max_age: None,
            secure: Some(false),
            http_only: Some(true),
            same_site: Some(Some(SameSite::Strict)),
        };
        assert_eq!(
            rewrite_set_cookie(b"sid=abc; Path=/; Secure; Partitioned", "sid", &change).as_deref(),
            Some("sid=abc; HttpOnly; SameSite=Strict; Partitioned")
        );
    }
}
