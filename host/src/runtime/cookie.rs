//! Cookie handling for plugin edits: the request `Cookie` header as an ordered list of pairs, and
//! `Set-Cookie` values parsed into the WIT `set-cookie` record and rendered back (RFC 6265 §4).
//!
//! Parsing is lenient (a malformed piece is skipped, never an error) because the input comes from
//! the network; rendering is strict because the output goes back onto the wire.

use super::bindings::{CookieAttributes, SameSite, SetCookie};

/// Splits `Cookie` header values into `(name, value)` pairs, in order. Pieces without `=` or
/// with an empty name are skipped.
pub(crate) fn parse_cookie_header<'a>(
    values: impl Iterator<Item = &'a [u8]>,
) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for value in values {
        let Ok(text) = std::str::from_utf8(value) else {
            continue;
        };
        for piece in text.split(';') {
            let Some((name, value)) = piece.split_once('=') else {
                continue;
            };
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            pairs.push((name.to_owned(), value.trim().to_owned()));
        }
    }
    pairs
}

/// Renders pairs as one `Cookie` header value (`a=1; b=2`).
pub(crate) fn render_cookie_header(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// Parses one `Set-Cookie` value; `None` when it has no `name=value` pair.
pub(crate) fn parse_set_cookie(value: &[u8]) -> Option<SetCookie> {
    let text = std::str::from_utf8(value).ok()?;
    let mut parts = text.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let mut cookie = SetCookie {
        name: name.to_owned(),
        value: value.trim().to_owned(),
        domain: None,
        path: None,
        max_age: None,
        expires: None,
        secure: false,
        http_only: false,
        same_site: None,
    };
    for attribute in parts {
        let (key, val) = match attribute.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (attribute.trim(), None),
        };
        match (key.to_ascii_lowercase().as_str(), val) {
            ("domain", Some(v)) => cookie.domain = Some(v.to_owned()),
            ("path", Some(v)) => cookie.path = Some(v.to_owned()),
            ("max-age", Some(v)) => cookie.max_age = v.parse().ok(),
            ("expires", Some(v)) => cookie.expires = Some(v.to_owned()),
            ("secure", _) => cookie.secure = true,
            ("httponly", _) => cookie.http_only = true,
            ("samesite", Some(v)) => cookie.same_site = parse_same_site(v),
            _ => {}
        }
    }
    Some(cookie)
}

/// Renders a `Set-Cookie` value with attributes in a fixed order.
pub(crate) fn render_set_cookie(cookie: &SetCookie) -> String {
    let mut out = format!("{}={}", cookie.name, cookie.value);
    if let Some(domain) = &cookie.domain {
        out.push_str("; Domain=");
        out.push_str(domain);
    }
    if let Some(path) = &cookie.path {
        out.push_str("; Path=");
        out.push_str(path);
    }
    if let Some(expires) = &cookie.expires {
        out.push_str("; Expires=");
        out.push_str(expires);
    }
    if let Some(max_age) = cookie.max_age {
        out.push_str(&format!("; Max-Age={max_age}"));
    }
    if cookie.secure {
        out.push_str("; Secure");
    }
    if cookie.http_only {
        out.push_str("; HttpOnly");
    }
    if let Some(same_site) = cookie.same_site {
        out.push_str("; SameSite=");
        out.push_str(same_site_name(same_site));
    }
    out
}

/// The attributes of a `Set-Cookie` value that the WIT record does not carry (`Partitioned`,
/// `Priority`, extensions), verbatim, so a rewrite keeps them.
pub(crate) fn other_attributes(value: &[u8]) -> Vec<String> {
    const KNOWN: &[&str] = &[
        "domain", "path", "max-age", "expires", "secure", "httponly", "samesite",
    ];
    let Ok(text) = std::str::from_utf8(value) else {
        return Vec::new();
    };
    text.split(';')
        .skip(1)
        .map(str::trim)
        .filter(|attribute| {
            let key = attribute.split('=').next().unwrap_or_default().trim();
            !attribute.is_empty() && !KNOWN.contains(&key.to_ascii_lowercase().as_str())
        })
        .map(str::to_owned)
        .collect()
}

/// Applies an attribute change to a parsed `Set-Cookie`.
pub(crate) fn apply_attributes(cookie: &mut SetCookie, change: &CookieAttributes) {
    if let Some(domain) = &change.domain {
        cookie.domain.clone_from(domain);
    }
    if let Some(path) = &change.path {
        cookie.path.clone_from(path);
    }
    if let Some(max_age) = change.max_age {
        cookie.max_age = max_age;
    }
    if let Some(secure) = change.secure {
        cookie.secure = secure;
    }
    if let Some(http_only) = change.http_only {
        cookie.http_only = http_only;
    }
    if let Some(same_site) = change.same_site {
        cookie.same_site = same_site;
    }
}

/// The attribute spelling used on the wire.
pub(crate) fn same_site_name(same_site: SameSite) -> &'static str {
    match same_site {
        SameSite::Strict => "Strict",
        SameSite::Lax => "Lax",
        SameSite::None => "None",
    }
}

fn parse_same_site(value: &str) -> Option<SameSite> {
    match value.to_ascii_lowercase().as_str() {
        "strict" => Some(SameSite::Strict),
        "lax" => Some(SameSite::Lax),
        "none" => Some(SameSite::None),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_header_skips_malformed_pieces() {
        let pairs = parse_cookie_header(
            [
                &b"a=1; ; junk; =x; b = 2 "[..],
                b"c=3;",
                &[0xff, b'=', b'1'],
            ]
            .into_iter(),
        );
        assert_eq!(
            pairs,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "2".into()),
                ("c".into(), "3".into())
            ]
        );
        assert_eq!(render_cookie_header(&pairs), "a=1; b=2; c=3");
    }

    #[test]
    fn set_cookie_round_trips_with_attributes() {
        let parsed = parse_set_cookie(
            b"sid=abc; path=/app; DOMAIN=example.com; Max-Age=60; secure; HttpOnly; SameSite=lax",
        )
        .unwrap();
        assert_eq!(parsed.name, "sid");
        assert_eq!(parsed.path.as_deref(), Some("/app"));
        assert_eq!(parsed.domain.as_deref(), Some("example.com"));
        assert_eq!(parsed.max_age, Some(60));
        assert!(parsed.secure && parsed.http_only);
        assert_eq!(parsed.same_site, Some(SameSite::Lax));
        assert_eq!(
            render_set_cookie(&parsed),
            "sid=abc; Domain=example.com; Path=/app; Max-Age=60; Secure; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn set_cookie_without_pair_is_rejected() {
        assert!(parse_set_cookie(b"novalue").is_none());
        assert!(parse_set_cookie(b"=x").is_none());
        assert!(parse_set_cookie(&[0xff]).is_none());
    }

    #[test]
    fn unknown_attributes_are_kept_verbatim() {
        assert_eq!(
            other_attributes(b"a=1; Path=/; Partitioned; Priority=High; secure"),
            ["Partitioned", "Priority=High"]
        );
    }

    #[test]
    fn attributes_can_be_set_and_removed() {
        let mut cookie = parse_set_cookie(b"a=1; Domain=x.test; Max-Age=5").unwrap();
        apply_attributes(
            &mut cookie,
            &CookieAttributes {
                domain: Some(None),
                path: Some(Some("/".into())),
                max_age: None,
                secure: Some(true),
                http_only: None,
                same_site: Some(Some(SameSite::Strict)),
            },
        );
        assert_eq!(
            render_set_cookie(&cookie),
            "a=1; Path=/; Max-Age=5; Secure; SameSite=Strict"
        );
    }
}
