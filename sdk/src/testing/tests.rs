//! The in-memory backends behave like the host: validation, journal lines, cookie rewriting,
//! and the builders.

use super::*;
use crate::host::{self, Level};
use crate::{CookieAttributes, EditError, SameSite, SetCookie};

fn header_strings(values: Vec<Vec<u8>>) -> Vec<String> {
    values
        .into_iter()
        .map(|v| String::from_utf8(v).unwrap())
        .collect()
}

#[test]
fn target_is_split_into_path_and_query() {
    let req = TestRequest::get("/a/b?x=1&y=2#frag").build();
    assert_eq!(req.path(), "/a/b");
    assert_eq!(req.query().as_deref(), Some("x=1&y=2"));
    assert_eq!(TestRequest::get("").build().path(), "/");
    assert_eq!(TestRequest::get("?q").build().path(), "/");
    assert_eq!(TestRequest::get("/?").build().query().as_deref(), Some(""));
}

#[test]
fn builder_defaults_are_documented_values() {
    let req = TestRequest::get("/").build();
    assert_eq!(req.scheme(), "http");
    assert_eq!(req.authority(), None);
    assert_eq!(req.host(), None);
    assert_eq!(req.version(), HttpVersion::Http11);
    assert_eq!(req.client_addr(), "127.0.0.1");
    assert_eq!(req.client_port(), 50000);
    assert_eq!(req.id(), "test-request");
    assert!(req.headers().is_empty());
}

#[test]
#[should_panic(expected = "is not an ip:port socket address")]
fn client_without_port_is_a_setup_mistake() {
    let _ = TestRequest::get("/").client("203.0.113.7");
}

#[test]
fn authority_replaces_the_host_header() {
    let req = TestRequest::get("/")
        .header("host", "stale")
        .authority("app.test")
        .build();
    assert_eq!(header_strings(req.header_all("host")), ["app.test"]);
}

#[test]
fn header_lookups_ignore_case() {
    let req = TestRequest::get("/").header("X-Mixed", "1").build();
    assert_eq!(req.header("x-mixed"), Some(b"1".to_vec()));
    assert_eq!(req.header("X-MIXED"), Some(b"1".to_vec()));
    assert_eq!(req.header("x-other"), None);
    assert!(req.header_all("x-other").is_empty());
}

#[test]
fn refused_edits_leave_the_request_unchanged_and_unjournaled() {
    let mut req = TestRequest::get("/a?q=1")
        .authority("app.test")
        .header("x-a", "1")
        .build();
    assert!(matches!(
        req.set_path("/a b"),
        Err(EditError::InvalidValue(_))
    ));
    assert!(matches!(
        req.set_path("/a?b"),
        Err(EditError::InvalidValue(_))
    ));
    assert!(matches!(
        req.set_query(Some("a#b")),
        Err(EditError::InvalidValue(_))
    ));
    assert!(matches!(
        req.set_authority("u@h"),
        Err(EditError::InvalidValue(_))
    ));
    assert!(matches!(
        req.set_scheme("ws"),
        Err(EditError::InvalidValue(_))
    ));
    assert!(matches!(
        req.set_header("x a", "1"),
        Err(EditError::InvalidName(_))
    ));
    assert!(matches!(
        req.set_header("x-a", "1\n"),
        Err(EditError::InvalidValue(_))
    ));
    assert!(matches!(
        req.append_header("x-a", [0]),
        Err(EditError::InvalidValue(_))
    ));
    assert!(matches!(
        req.set_header("Host", "x"),
        Err(EditError::Forbidden(_))
    ));
    assert!(matches!(
        req.remove_header("host"),
        Err(EditError::Forbidden(_))
    ));
    assert!(matches!(
        req.set_header("transfer-encoding", "chunked"),
        Err(EditError::Forbidden(_))
    ));
    assert!(matches!(
        req.set_header("content-length", "0"),
        Err(EditError::Forbidden(_))
    ));
    assert!(matches!(
        req.set_cookie("a b", "1"),
        Err(EditError::InvalidName(_))
    ));
    assert!(matches!(
        req.set_cookie("a", "1;2"),
        Err(EditError::InvalidValue(_))
    ));
    assert!(matches!(
        req.select_backend("no/slash", None),
        Err(EditError::InvalidName(_))
    ));
    assert_eq!(req.path(), "/a");
    assert_eq!(req.query().as_deref(), Some("q=1"));
    assert_eq!(req.authority().as_deref(), Some("app.test"));
    assert_eq!(req.scheme(), "http");
    assert_eq!(header_strings(req.header_all("x-a")), ["1"]);
    assert_eq!(req.header("cookie"), None);
    assert_eq!(selected_backend(&req), None);
    assert!(edits(&req).is_empty());
}

#[test]
fn accepted_edits_are_journaled_in_the_hosts_words() {
    let mut req = TestRequest::get("/old?a=1").cookie("sid", "s").build();
    req.set_path("/new").unwrap();
    req.set_query(Some("b=2")).unwrap();
    req.set_query(None).unwrap();
    req.set_authority("app.test:8080").unwrap();
    req.set_scheme("https").unwrap();
    req.set_header("X-A", "1").unwrap();
    req.append_header("x-a", "2").unwrap();
    req.remove_header("x-a").unwrap();
    req.remove_header("x-absent").unwrap();
    req.set_cookie("theme", "dark").unwrap();
    assert!(req.remove_cookie("sid"));
    req.select_backend("blue", Some("user-1")).unwrap();
    req.select_backend("green", None).unwrap();
    assert_eq!(
        edits(&req),
        [
            "set-path /new",
            "set-query b=2",
            "remove-query",
            "set-authority app.test:8080",
            "set-scheme https",
            "set-header x-a 1",
            "append-header x-a 2",
            "remove-header x-a",
            "set-cookie theme <4 bytes>",
            "remove-cookie sid",
            "select-backend blue affinity=6",
            "select-backend green",
        ]
    );
    assert_eq!(selected_backend(&req), Some(("green".to_owned(), None)));
}

#[test]
fn set_header_stores_lowercase_and_replaces_every_value() {
    let mut req = TestRequest::get("/")
        .header("x-a", "1")
        .header("x-b", "2")
        .header("X-A", "3")
        .build();
    req.set_header("X-A", "9").unwrap();
    let headers = req.headers();
    assert_eq!(headers.len(), 2);
    assert_eq!(headers[0], Header::new("x-a", "9"));
    assert_eq!(headers[1], Header::new("x-b", "2"));
}

#[test]
fn cookies_are_parsed_from_every_cookie_header_skipping_junk() {
    let req = TestRequest::get("/")
        .header("cookie", "a=1; ; junk; =x; b = 2 ")
        .header("cookie", "c=3")
        .header("cookie", [0xff, b'=', b'1'])
        .build();
    assert_eq!(
        req.cookies(),
        [
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned()),
            ("c".to_owned(), "3".to_owned())
        ]
    );
    assert_eq!(req.cookie("c").as_deref(), Some("3"));
}

#[test]
fn set_cookie_replaces_the_first_and_drops_duplicates() {
    let mut req = TestRequest::get("/")
        .header("cookie", "a=1; b=2")
        .header("cookie", "a=3")
        .build();
    req.set_cookie("a", "\"quoted\"").unwrap();
    assert_eq!(
        header_strings(req.header_all("cookie")),
        ["a=\"quoted\"; b=2"]
    );
}

#[test]
fn removing_the_last_cookie_removes_the_header() {
    let mut req = TestRequest::get("/")
        .cookie("a", "1")
        .cookie("b", "2")
        .build();
    assert!(req.remove_cookie("a"));
    assert_eq!(req.header_str("cookie").as_deref(), Some("b=2"));
    assert!(req.remove_cookie("b"));
    assert_eq!(req.header("cookie"), None);
    assert!(!req.remove_cookie("b"));
    assert_eq!(edits(&req), ["remove-cookie a", "remove-cookie b"]);
}

#[test]
fn set_authority_rewrites_host() {
    let mut req = TestRequest::get("/").authority("old.test").build();
    req.set_authority("[::1]:8443").unwrap();
    assert_eq!(req.host().as_deref(), Some("[::1]"));
    assert_eq!(header_strings(req.header_all("host")), ["[::1]:8443"]);
}

#[test]
fn response_edits_are_validated_and_journaled() {
    let mut resp = TestResponse::new(200).header("server", "x").build();
    assert!(resp.set_status(99).is_err());
    assert!(resp.set_status(600).is_err());
    assert!(matches!(
        resp.set_header("connection", "close"),
        Err(EditError::Forbidden(_))
    ));
    resp.set_header("host", "allowed-on-responses").unwrap();
    resp.set_status(404).unwrap();
    resp.append_header("vary", "a").unwrap();
    resp.remove_header("server").unwrap();
    resp.remove_header("server").unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        response_edits(&resp),
        [
            "set-header host allowed-on-responses",
            "set-status 404",
            "append-header vary a",
            "remove-header server",
        ]
    );
}

#[test]
fn add_set_cookie_validates_name_value_and_attributes() {
    let mut resp = TestResponse::new(200).build();
    let good = SetCookie {
        path: Some("/".into()),
        same_site: Some(SameSite::None),
        secure: true,
        ..SetCookie::new("sid", "abc")
    };
    resp.add_set_cookie(&good).unwrap();
    for bad in [
        SetCookie::new("", "x"),
        SetCookie::new("a;b", "x"),
        SetCookie::new("a", "x y"),
        SetCookie {
            path: Some("/a;b".into()),
            ..SetCookie::new("a", "1")
        },
        SetCookie {
            domain: Some("a\r\nb".into()),
            ..SetCookie::new("a", "1")
        },
        SetCookie {
            expires: Some("x;y".into()),
            ..SetCookie::new("a", "1")
        },
    ] {
        assert!(resp.add_set_cookie(&bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        header_strings(resp.header_all("set-cookie")),
        ["sid=abc; Path=/; Secure; SameSite=None"]
    );
    assert_eq!(resp.set_cookies(), [good]);
    assert_eq!(response_edits(&resp), ["add-set-cookie sid"]);
}

#[test]
fn rewrite_set_cookie_changes_only_matching_cookies() {
    let mut resp = TestResponse::new(200)
        .set_cookie("sid=1; path=/app; domain=x.test")
        .header("x-between", "1")
        .set_cookie("other=2;Path=/  ; weird")
        .set_cookie("not a cookie")
        .set_cookie("sid=3")
        .build();
    let change = CookieAttributes {
        domain: Some(None),
        secure: Some(true),
        http_only: Some(true),
        same_site: Some(Some(SameSite::Strict)),
        max_age: Some(Some(0)),
        ..CookieAttributes::default()
    };
    assert_eq!(resp.rewrite_set_cookie("sid", &change).unwrap(), 2);
    assert_eq!(
        header_strings(resp.header_all("set-cookie")),
        [
            "sid=1; Path=/app; Max-Age=0; Secure; HttpOnly; SameSite=Strict",
            "other=2;Path=/  ; weird",
            "not a cookie",
            "sid=3; Max-Age=0; Secure; HttpOnly; SameSite=Strict",
        ]
    );
    let names: Vec<String> = resp.headers().into_iter().map(|h| h.name).collect();
    assert_eq!(
        names,
        [
            "set-cookie",
            "x-between",
            "set-cookie",
            "set-cookie",
            "set-cookie"
        ]
    );
    assert_eq!(resp.rewrite_set_cookie("absent", &change).unwrap(), 0);
    assert_eq!(response_edits(&resp), ["rewrite-set-cookie sid (2)"]);
}

#[test]
fn rewrite_set_cookie_refuses_illegal_attributes() {
    let mut resp = TestResponse::new(200).set_cookie("sid=1").build();
    let change = CookieAttributes {
        path: Some(Some("/a;b".into())),
        ..CookieAttributes::default()
    };
    assert!(matches!(
        resp.rewrite_set_cookie("sid", &change),
        Err(EditError::InvalidValue(_))
    ));
    assert_eq!(resp.header_str("set-cookie").as_deref(), Some("sid=1"));
    assert!(response_edits(&resp).is_empty());
}

#[test]
fn remove_set_cookie_counts_and_keeps_others_intact() {
    let mut resp = TestResponse::new(200)
        .set_cookie("a=1")
        .set_cookie("b=2;  Path=/")
        .set_cookie("a=3; Max-Age=1")
        .build();
    assert_eq!(resp.remove_set_cookie("a"), 2);
    assert_eq!(resp.remove_set_cookie("a"), 0);
    assert_eq!(
        header_strings(resp.header_all("set-cookie")),
        ["b=2;  Path=/"]
    );
    assert_eq!(response_edits(&resp), ["remove-set-cookie a (2)"]);
}

#[test]
fn host_calls_are_recorded_per_thread() {
    clear_records();
    host::log(Level::Debug, "one", &[]);
    host::log(Level::Error, "two", &[("k", "v")]);
    host::counter_add("c", u64::MAX);
    host::counter_add("c", 1);
    assert_eq!(
        logs(),
        [
            (Level::Debug, "one".to_owned()),
            (Level::Error, "two".to_owned())
        ]
    );
    assert_eq!(counters(), [("c".to_owned(), u64::MAX)]);
    let other = std::thread::spawn(|| (logs(), counters())).join().unwrap();
    assert_eq!(other, (Vec::new(), Vec::new()));
}
