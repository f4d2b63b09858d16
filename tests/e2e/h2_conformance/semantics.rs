//! Cases of RFC 9113 §8 (HTTP semantics: fields, pseudo-headers, `content-length`), RFC 7541
//! (HPACK decoding errors), and weir's own HTTP/2 limits.

use weir_tests::h2raw::{code, flag, frame, header_block, integer, kind, request_block};

use super::{Case, Expect, case, cat, post, with_end_stream};

/// A whole request on stream 1 whose header block is these fields, which break a rule of
/// RFC 9113 §8; the backend must never see it.
fn malformed(name: &'static str, path: &'static str, fields: &[(&str, &str)]) -> Case {
    Case {
        name,
        handshake: true,
        send: with_end_stream(kind::HEADERS, 1, &header_block(fields)),
        expect: Expect::Refused(1, 400, code::PROTOCOL_ERROR),
        never_forwarded: Some((path, 0)),
        h2_answers: None,
    }
}

pub(super) fn semantics_cases() -> Vec<Case> {
    let m = |path| {
        [
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "app.test"),
            (":path", path),
        ]
    };
    let with = |path: &'static str, extra: (&'static str, &'static str)| {
        let mut fields = m(path).to_vec();
        fields.push(extra);
        fields
    };
    let short_body = cat(&[
        post(1, "/cl-short", &[("content-length", "10")]),
        frame(kind::DATA, flag::END_STREAM, 1, b"abc"),
    ]);
    let long_body = cat(&[
        post(1, "/cl-long", &[("content-length", "3")]),
        frame(kind::DATA, flag::END_STREAM, 1, b"abcdefghij"),
    ]);
    vec![
        malformed(
            "8.2.1/1 uppercase field name",
            "/upper",
            &with("/upper", ("X-Upper", "a")),
        ),
        malformed(
            "8.2.2/1 connection-specific field `connection`",
            "/conn",
            &with("/conn", ("connection", "keep-alive")),
        ),
        malformed(
            "8.2.2/2 `te` other than trailers",
            "/te",
            &with("/te", ("te", "gzip")),
        ),
        malformed(
            "8.3/1 unknown pseudo-header",
            "/unknown",
            &with("/unknown", (":foo", "bar")),
        ),
        malformed(
            "8.3/2 response pseudo-header in a request",
            "/status",
            &with("/status", (":status", "200")),
        ),
        malformed(
            "8.3/3 pseudo-header after a regular field",
            "/after",
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "app.test"),
                ("x-a", "b"),
                (":path", "/after"),
            ],
        ),
        malformed(
            "8.3.1/1 duplicate :method",
            "/dup",
            &[
                (":method", "GET"),
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "app.test"),
                (":path", "/dup"),
            ],
        ),
        malformed(
            "8.3.1/2 missing :method",
            "/nomethod",
            &[
                (":scheme", "https"),
                (":authority", "app.test"),
                (":path", "/nomethod"),
            ],
        ),
        malformed(
            "8.3.1/3 missing :scheme",
            "/noscheme",
            &[
                (":method", "GET"),
                (":authority", "app.test"),
                (":path", "/noscheme"),
            ],
        ),
        malformed(
            "8.3.1/4 missing :path",
            "/",
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "app.test"),
            ],
        ),
        malformed(
            "8.3.1/5 empty :path",
            "",
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "app.test"),
                (":path", ""),
            ],
        ),
        malformed(
            "8.3.1/6 :authority and Host name different origins",
            "/two-hosts",
            &with("/two-hosts", ("host", "other.test")),
        ),
        malformed(
            "8.5/1 CONNECT with :scheme and :path",
            "/connect-path",
            &[
                (":method", "CONNECT"),
                (":scheme", "https"),
                (":authority", "app.test:443"),
                (":path", "/connect-path"),
            ],
        ),
        case(
            "8.2.2/3 `te: trailers` is allowed",
            with_end_stream(
                kind::HEADERS,
                1,
                &header_block(&with("/te-trailers", ("te", "trailers"))),
            ),
            Expect::Status(1, 200),
        ),
        Case {
            name: "8.1.1/1 content-length larger than the DATA",
            handshake: true,
            send: short_body,
            expect: Expect::Refused(1, 400, code::PROTOCOL_ERROR),
            never_forwarded: Some(("/cl-short", 10)),
            h2_answers: None,
        },
        Case {
            name: "8.1.1/2 content-length smaller than the DATA",
            handshake: true,
            send: long_body,
            expect: Expect::Refused(1, 400, code::PROTOCOL_ERROR),
            never_forwarded: Some(("/cl-long", 3)),
            h2_answers: None,
        },
        case(
            "8.1/1 trailers without END_STREAM",
            cat(&[
                post(1, "/", &[]),
                frame(kind::DATA, 0, 1, b"data"),
                frame(
                    kind::HEADERS,
                    flag::END_HEADERS,
                    1,
                    &header_block(&[("x-trailer", "a")]),
                ),
            ]),
            Expect::Stream(1, code::PROTOCOL_ERROR),
        ),
    ]
}

pub(super) fn hpack_cases() -> Vec<Case> {
    use Expect::Conn;
    let mut size_update = Vec::new();
    integer(&mut size_update, 0x20, 5, 4097);
    size_update.extend_from_slice(&request_block("GET", "/", &[]));
    let mut late_update = request_block("GET", "/", &[]);
    integer(&mut late_update, 0x20, 5, 0);
    let mut truncated = request_block("GET", "/", &[]);
    truncated.extend_from_slice(&[0x00, 0x05, b'x']);
    vec![
        case(
            "hpack 2.3.3/1 indexed field past both tables",
            with_end_stream(kind::HEADERS, 1, &[0x80 | 70]),
            Conn(code::COMPRESSION_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "hpack 2.3.3/2 literal with a name index past both tables",
            with_end_stream(kind::HEADERS, 1, &[0x40 | 0x3f, 0x20, 0x01, b'a']),
            Conn(code::COMPRESSION_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "hpack 4.2/1 table size update above SETTINGS_HEADER_TABLE_SIZE",
            with_end_stream(kind::HEADERS, 1, &size_update),
            Conn(code::COMPRESSION_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "hpack 4.2/2 table size update after a field",
            with_end_stream(kind::HEADERS, 1, &late_update),
            Conn(code::COMPRESSION_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "hpack 5.2/1 string longer than the block",
            with_end_stream(kind::HEADERS, 1, &truncated),
            Conn(code::COMPRESSION_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
    ]
}

/// weir's own HTTP/2 limits (listener keys), in the same form.
pub(super) fn limit_cases() -> Vec<Case> {
    let field = |name: &'static str| header_block(&[(name, &"a".repeat(12_000))]);
    let mut head = request_block("GET", "/big-head", &[]);
    head.extend_from_slice(&field("x-a"));
    vec![Case {
        name: "limit/1 header list over max_header_bytes (32 KiB)",
        handshake: true,
        send: cat(&[
            frame(kind::HEADERS, flag::END_STREAM, 1, &head),
            frame(kind::CONTINUATION, 0, 1, &field("x-b")),
            frame(kind::CONTINUATION, flag::END_HEADERS, 1, &field("x-c")),
        ]),
        expect: Expect::Status(1, 431),
        never_forwarded: Some(("/big-head", 0)),
        h2_answers: None,
    }]
}
