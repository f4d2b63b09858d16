//! The edit rules, from both the host's and the SDK test kit's former suites.

use super::*;
use crate::RuleErrorKind;

/// The kind of refusal, or `None` when the value is accepted.
fn refusal<T>(result: Result<T, RuleError>) -> Option<RuleErrorKind> {
    result.err().map(|e| e.kind)
}

#[test]
fn header_names_are_lowercased_tokens() {
    assert_eq!(header_name("X-Foo", Side::Request).unwrap(), "x-foo");
    for bad in ["bad name", "", ":path", "a\r\nb", "é"] {
        assert_eq!(
            refusal(header_name(bad, Side::Request)),
            Some(RuleErrorKind::InvalidName),
            "{bad:?}"
        );
    }
    assert!(header_name(&"a".repeat(MAX_HEADER_NAME_LEN + 1), Side::Request).is_err());
}

#[test]
fn hop_by_hop_content_length_and_host_are_forbidden() {
    for name in [
        "Connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
        "content-length",
    ] {
        for side in [Side::Request, Side::Response] {
            assert_eq!(
                refusal(header_name(name, side)),
                Some(RuleErrorKind::Forbidden),
                "{name}"
            );
        }
    }
    assert_eq!(
        refusal(header_name("Host", Side::Request)),
        Some(RuleErrorKind::Forbidden)
    );
    assert_eq!(header_name("host", Side::Response).unwrap(), "host");
}

#[test]
fn a_local_response_may_carry_only_the_proxy_challenge() {
    assert_eq!(
        header_name("Proxy-Authenticate", Side::Local).unwrap(),
        "proxy-authenticate"
    );
    for name in [
        "connection",
        "proxy-authorization",
        "transfer-encoding",
        "upgrade",
    ] {
        assert_eq!(
            refusal(header_name(name, Side::Local)),
            Some(RuleErrorKind::Forbidden),
            "{name}"
        );
    }
    assert_eq!(header_name("host", Side::Local).unwrap(), "host");
}

#[test]
fn header_values_refuse_crlf_nul_and_controls() {
    assert!(header_value(b"ok value\twith tab").is_ok());
    assert!(header_value(&[0xff, b'a']).is_ok(), "obs-text is legal");
    assert!(header_value(b"").is_ok());
    for bad in [
        &b"a\r\nx-injected: 1"[..],
        b"a\nb",
        b"a\0b",
        b"a\x07b",
        b"a\x7fb",
    ] {
        assert_eq!(
            refusal(header_value(bad)),
            Some(RuleErrorKind::InvalidValue),
            "{bad:?}"
        );
    }
}

#[test]
fn paths_must_be_absolute_and_clean() {
    for good in ["/", "/a/b%20c", "/a;b=c/{json}/\"q\"", "/[x]|~"] {
        assert!(path(good).is_ok(), "{good:?}");
    }
    for bad in [
        "", "a/b", "/a b", "/a?b", "/a#b", "/é", "/a\r\n", "/a\tb", "/<", "/>", "/`",
    ] {
        assert_eq!(
            refusal(path(bad)),
            Some(RuleErrorKind::InvalidValue),
            "{bad:?}"
        );
    }
    assert!(path(&format!("/{}", "a".repeat(70_000))).is_err());
}

#[test]
fn queries_are_checked() {
    for good in ["", "a=1&b=%20", "x=?/{}`"] {
        assert!(query(good).is_ok(), "{good:?}");
    }
    for bad in ["a b", "a#b", "a\"b", "<", ">", "é", "a\nb"] {
        assert!(query(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn authorities_are_host_and_optional_port() {
    for good in [
        "example.com",
        "example.com:8080",
        "[::1]:80",
        "[fe80::1%25eth0]",
        "127.0.0.1",
    ] {
        assert!(authority(good).is_ok(), "{good:?}");
    }
    for bad in [
        "",
        "user@example.com",
        "a b",
        "a:1:2",
        "[::1",
        "::1]",
        "a%20b",
        "a/b",
        "a?b",
        "a#b",
        "a\"b",
        "a{b",
        "[[::1]]",
    ] {
        assert!(authority(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn cookies_follow_rfc6265() {
    assert!(cookie_name("session_id").is_ok());
    assert_eq!(
        refusal(cookie_name("a=b")),
        Some(RuleErrorKind::InvalidName)
    );
    assert!(cookie_name("").is_err());
    assert!(cookie_value("abc123").is_ok());
    assert!(cookie_value("\"quoted\"").is_ok());
    assert!(cookie_value("").is_ok());
    for bad in ["a b", "a;b", "a,b", "a\\b", "a\"b", "é"] {
        assert_eq!(
            refusal(cookie_value(bad)),
            Some(RuleErrorKind::InvalidValue),
            "{bad}"
        );
    }
    assert!(cookie_attribute("path", "/app").is_ok());
    assert!(cookie_attribute("path", "/a;b").is_err());
    assert!(cookie_attribute("domain", "a\nb").is_err());
}

#[test]
fn pools_statuses_and_schemes() {
    assert!(pool_name("blue-v2.canary").is_ok());
    assert!(pool_name("blue-v2.canary_1").is_ok());
    assert_eq!(refusal(pool_name("")), Some(RuleErrorKind::InvalidName));
    assert!(pool_name("a/b").is_err());
    assert!(pool_name(&"a".repeat(64)).is_ok());
    assert!(pool_name(&"a".repeat(65)).is_err());
    assert!(status(200).is_ok());
    assert!(status(599).is_ok());
    assert!(status(101).is_err());
    assert!(status(199).is_err());
    assert!(status(600).is_err());
    assert!(scheme("https").is_ok());
    assert!(scheme("http").is_ok());
    assert!(scheme("HTTP").is_err());
    assert!(scheme("ftp").is_err());
}

#[test]
fn quoted_input_is_clipped() {
    let long = "é".repeat(100);
    let err = authority(&format!("{long}@x")).unwrap_err();
    assert_eq!(err.kind, RuleErrorKind::InvalidValue);
    assert!(err.message.len() < 200, "{}", err.message);
    assert!(err.message.contains('…'));
}

#[test]
fn messages_are_the_hosts() {
    let message = |r: Result<(), RuleError>| r.unwrap_err().message;
    assert_eq!(
        header_name("Upgrade", Side::Response).unwrap_err().message,
        "`upgrade` is managed by the proxy and cannot be edited by filters"
    );
    assert_eq!(
        message(header_value(b"a\nb")),
        "header value contains byte 0x0a (CR, LF and NUL are not allowed)"
    );
    assert_eq!(message(path("x")), "path `x` must start with `/`");
    assert_eq!(
        message(query("a b")),
        "query contains whitespace, control or non-ASCII characters (percent-encode them)"
    );
    assert_eq!(
        message(pool_name("a/b")),
        "`a/b` is not a pool name (1-64 of A-Z a-z 0-9 . _ -)"
    );
}

#[test]
fn checking_a_header_name_agrees_with_lowercasing_it() {
    let names = [
        "X-Foo",
        "x-foo",
        "Connection",
        "TRANSFER-ENCODING",
        "Host",
        "host",
        "Proxy-Authenticate",
        "proxy-authorization",
        "Content-Length",
        "bad name",
        "",
        "é",
    ];
    for side in [Side::Request, Side::Response, Side::Local] {
        for name in names {
            let checked = check_header_name(name, side);
            let lowered = header_name(name, side);
            assert_eq!(
                checked.as_ref().err().map(|e| &e.message),
                lowered.as_ref().err().map(|e| &e.message),
                "{name} on {side:?}"
            );
            if let Ok(lower) = lowered {
                assert_eq!(lower, name.to_ascii_lowercase());
            }
        }
    }
    let refused = check_header_name("Keep-Alive", Side::Request).unwrap_err();
    assert!(
        refused.message.contains("`keep-alive` is managed"),
        "{}",
        refused.message
    );
}
