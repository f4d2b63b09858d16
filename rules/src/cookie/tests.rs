//! Cookie parsing, rendering and editing, from both the host's and the SDK's former suites.

use super::*;

#[test]
fn cookie_header_skips_malformed_pieces() {
    let pairs = parse_cookie_header([
        &b"a=1; ; junk; =x; b = 2 "[..],
        b"c=3;",
        &[0xff, b'=', b'1'],
        &[0xff, b'='],
    ]);
    assert_eq!(
        pairs,
        vec![
            ("a".into(), "1".into()),
            ("b".into(), "2".into()),
            ("c".into(), "3".into())
        ]
    );
    assert_eq!(render_cookie_header(&pairs), "a=1; b=2; c=3");
    assert_eq!(render_cookie_header(&[]), "");
}

#[test]
fn cookie_values_may_contain_equals_signs() {
    let pairs = parse_cookie_header([&b"t=a=b=="[..]]);
    assert_eq!(pairs, vec![("t".into(), "a=b==".into())]);
}

#[test]
fn set_cookie_pair_replaces_the_first_and_drops_duplicates() {
    let mut pairs = parse_cookie_header([&b"a=1; b=2"[..], b"a=3"]);
    set_cookie_pair(&mut pairs, "a", "x");
    assert_eq!(render_cookie_header(&pairs), "a=x; b=2");
    set_cookie_pair(&mut pairs, "c", "\"q\"");
    assert_eq!(render_cookie_header(&pairs), "a=x; b=2; c=\"q\"");
}

#[test]
fn removing_cookie_pairs_reports_whether_one_was_there() {
    let mut pairs = parse_cookie_header([&b"a=1; b=2; a=3"[..]]);
    assert!(remove_cookie_pairs(&mut pairs, "a"));
    assert!(!remove_cookie_pairs(&mut pairs, "a"));
    assert!(remove_cookie_pairs(&mut pairs, "b"));
    assert!(pairs.is_empty());
}

#[test]
fn set_cookie_round_trips_with_attributes_in_canonical_order() {
    let parsed = SetCookie::parse(
        "sid=abc; path=/app; DOMAIN=example.com; Max-Age=60; secure; HttpOnly; SameSite=lax; \
         Expires=Wed, 21 Oct 2026 07:28:00 GMT",
    )
    .unwrap();
    assert_eq!(parsed.name, "sid");
    assert_eq!(parsed.path.as_deref(), Some("/app"));
    assert_eq!(parsed.domain.as_deref(), Some("example.com"));
    assert_eq!(parsed.max_age, Some(60));
    assert_eq!(
        parsed.expires.as_deref(),
        Some("Wed, 21 Oct 2026 07:28:00 GMT")
    );
    assert!(parsed.secure && parsed.http_only);
    assert_eq!(parsed.same_site, Some(SameSite::Lax));
    assert_eq!(
        parsed.to_string(),
        "sid=abc; Domain=example.com; Path=/app; Expires=Wed, 21 Oct 2026 07:28:00 GMT; \
         Max-Age=60; Secure; HttpOnly; SameSite=Lax"
    );
    assert_eq!(SetCookie::parse(&parsed.to_string()), Some(parsed));
}

#[test]
fn set_cookie_without_pair_is_rejected() {
    assert!(SetCookie::parse("novalue").is_none());
    assert!(SetCookie::parse("=x").is_none());
    assert!(SetCookie::parse("").is_none());
    assert!(SetCookie::parse_bytes(&[0xff]).is_none());
    assert!(SetCookie::parse_bytes(&[0xff, b'=', b'1']).is_none());
    assert_eq!(SetCookie::parse("a=").unwrap().value, "");
}

#[test]
fn unknown_or_broken_attributes_are_ignored() {
    let parsed =
        SetCookie::parse("a=1; Max-Age=soon; SameSite=sometimes; Priority=High; Path").unwrap();
    assert_eq!(parsed, SetCookie::new("a", "1"));
}

#[test]
fn unknown_attributes_are_kept_verbatim() {
    assert_eq!(
        other_attributes(b"a=1; Path=/; Partitioned; Priority=High; secure"),
        ["Partitioned", "Priority=High"]
    );
    assert!(other_attributes(&[0xff]).is_empty());
}

#[test]
fn attributes_can_be_set_and_removed() {
    let mut cookie = SetCookie::parse("a=1; Domain=x.test; Max-Age=5").unwrap();
    cookie.apply_attributes(&CookieAttributes {
        domain: Some(None),
        path: Some(Some("/".into())),
        max_age: None,
        secure: Some(true),
        http_only: None,
        same_site: Some(Some(SameSite::Strict)),
    });
    assert_eq!(
        cookie.to_string(),
        "a=1; Path=/; Max-Age=5; Secure; SameSite=Strict"
    );
    let before = cookie.clone();
    cookie.apply_attributes(&CookieAttributes::default());
    assert_eq!(cookie, before);
}

#[test]
fn rewrite_keeps_unknown_attributes_and_skips_other_cookies() {
    let change = CookieAttributes {
        domain: Some(None),
        secure: Some(true),
        ..CookieAttributes::default()
    };
    assert_eq!(
        rewrite_set_cookie(
            b"a=1; Domain=x.test; Partitioned; Priority=High",
            "a",
            &change
        )
        .as_deref(),
        Some("a=1; Secure; Partitioned; Priority=High")
    );
    assert!(rewrite_set_cookie(b"b=1", "a", &change).is_none());
    assert!(rewrite_set_cookie(b"junk", "a", &change).is_none());
}

#[test]
fn added_cookies_and_attribute_changes_are_checked() {
    let cookie = SetCookie {
        path: Some("/a;b".into()),
        ..SetCookie::new("a", "1")
    };
    assert_eq!(
        check_set_cookie(&cookie).unwrap_err().message,
        "cookie path `/a;b` contains `;` or control characters"
    );
    assert!(check_set_cookie(&SetCookie::new("a", "b c")).is_err());
    let change = CookieAttributes {
        domain: Some(Some("x\n".into())),
        ..CookieAttributes::default()
    };
    assert!(check_attributes(&change).is_err());
    assert!(check_attributes(&CookieAttributes::default()).is_ok());
}

#[test]
fn without_cookie_renders_what_parsing_removing_and_rendering_render() {
    let headers: [&[&[u8]]; 6] = [
        &[
            b"a=1; ; junk; =x; b = 2 ",
            b"c=3;",
            &[0xff, b'=', b'1'],
            b"a=4",
        ],
        &[b"a=1"],
        &[b"b=2"],
        &[b"a=1; a=2", b"a=3"],
        &[b" a = \"q\" ;b=", b"c=d=e"],
        &[],
    ];
    for values in headers {
        for name in ["a", "b", "c", "z"] {
            let mut pairs = parse_cookie_header(values.iter().copied());
            let removed = remove_cookie_pairs(&mut pairs, name);
            let stripped = without_cookie(|| values.iter().copied(), name);
            assert_eq!(stripped.is_some(), removed, "{values:?} without {name}");
            if let Some(bytes) = stripped {
                assert_eq!(bytes, render_cookie_header(&pairs).as_bytes());
                assert_eq!(bytes.len(), bytes.capacity(), "sized exactly");
            }
        }
    }
}

#[test]
fn borrowed_pairs_are_the_parsed_pairs() {
    let values: [&[u8]; 3] = [b"a=1; junk; b = 2 ", b"c=3;", &[0xff, b'=']];
    let borrowed: Vec<(String, String)> = cookie_pairs(values)
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(borrowed, parse_cookie_header(values));
}
