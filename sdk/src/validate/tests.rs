//! The edit rules refuse what the host refuses, with the host's variants.

use super::*;

#[test]
fn header_names_are_lowercased_tokens() {
    assert_eq!(header_name("X-Foo", Side::Request).unwrap(), "x-foo");
    for bad in ["bad name", "", ":path", "a\r\nb", "é"] {
        assert!(
            matches!(
                header_name(bad, Side::Request),
                Err(EditError::InvalidName(_))
            ),
            "{bad:?}"
        );
    }
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
        "content-length",
    ] {
        for side in [Side::Request, Side::Response] {
            assert!(
                matches!(header_name(name, side), Err(EditError::Forbidden(_))),
                "{name}"
            );
        }
    }
    assert!(matches!(
        header_name("Host", Side::Request),
        Err(EditError::Forbidden(_))
    ));
    assert_eq!(header_name("host", Side::Response).unwrap(), "host");
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
        assert!(
            matches!(header_value(bad), Err(EditError::InvalidValue(_))),
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
        assert!(
            matches!(path(bad), Err(EditError::InvalidValue(_))),
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
    assert!(matches!(cookie_name("a=b"), Err(EditError::InvalidName(_))));
    assert!(cookie_name("").is_err());
    assert!(cookie_value("abc123").is_ok());
    assert!(cookie_value("\"quoted\"").is_ok());
    assert!(cookie_value("").is_ok());
    for bad in ["a b", "a;b", "a,b", "a\\b", "a\"b", "é"] {
        assert!(
            matches!(cookie_value(bad), Err(EditError::InvalidValue(_))),
            "{bad}"
        );
    }
    assert!(cookie_attribute("path", "/app").is_ok());
    assert!(cookie_attribute("path", "/a;b").is_err());
    assert!(cookie_attribute("domain", "a\nb").is_err());
}

#[test]
fn pools_statuses_and_schemes() {
    assert!(pool_name("blue-v2.canary_1").is_ok());
    assert!(matches!(pool_name(""), Err(EditError::InvalidName(_))));
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
    let EditError::InvalidValue(msg) = err else {
        panic!("wrong variant")
    };
    assert!(msg.len() < 200, "{msg}");
    assert!(msg.contains('…'));
}
