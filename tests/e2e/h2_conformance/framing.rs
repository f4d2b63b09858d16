//! Cases of RFC 9113 §3 to §6: the connection preface, frame format and size, stream states
//! and identifiers, and each frame type's rules.

use weir_tests::h2raw::{
    PREFACE, code, flag, frame, get, header_block, kind, ping, priority, request_block, rst_stream,
    setting, settings, window_update,
};

use super::{Case, Expect, PAYLOAD, case, cat, post, with_end_stream};

pub(super) fn preface_and_frame_cases() -> Vec<Case> {
    use Expect::{Alive, Conn, PingAck, Status, Stream};
    let mut reserved_bit_ping = ping(0, PAYLOAD);
    reserved_bit_ping[5] |= 0x80;
    let big_block = header_block(&[
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "app.test"),
        (":path", "/"),
        ("x-big", &"a".repeat(16_400)),
    ]);
    vec![
        Case {
            name: "3.4/1 invalid connection preface",
            handshake: false,
            send: b"INVALID CONNECTION PREFACE\r\n\r\n".to_vec(),
            expect: Conn(code::PROTOCOL_ERROR),
            never_forwarded: None,
            h2_answers: None,
        },
        Case {
            name: "3.4/2 preface followed by PING instead of SETTINGS",
            handshake: false,
            send: cat(&[PREFACE.to_vec(), ping(0, PAYLOAD)]),
            expect: Conn(code::PROTOCOL_ERROR),
            never_forwarded: None,
            // The crate does not insist on SETTINGS first: it answers the PING and waits.
            h2_answers: Some(PingAck(PAYLOAD)),
        },
        case(
            "4.1/1 unknown frame type",
            frame(0x16, 0, 0, b"ignored!"),
            Alive,
        ),
        case(
            "4.1/2 undefined flags on PING",
            ping(0xfe, PAYLOAD),
            PingAck(PAYLOAD),
        ),
        case(
            "4.1/3 reserved bit set in the stream field",
            reserved_bit_ping,
            PingAck(PAYLOAD),
        ),
        case(
            "4.2/1 DATA of exactly 2^14 octets",
            cat(&[
                post(1, "/", &[]),
                frame(kind::DATA, flag::END_STREAM, 1, &[b'x'; 16_384]),
            ]),
            Status(1, 200),
        ),
        case(
            "4.2/2 DATA larger than SETTINGS_MAX_FRAME_SIZE",
            cat(&[
                post(1, "/", &[]),
                frame(kind::DATA, flag::END_STREAM, 1, &[b'x'; 16_385]),
            ]),
            Stream(1, code::FRAME_SIZE_ERROR),
        ),
        case(
            "4.2/3 HEADERS larger than SETTINGS_MAX_FRAME_SIZE",
            with_end_stream(kind::HEADERS, 1, &big_block),
            Conn(code::FRAME_SIZE_ERROR),
        ),
        case(
            "5.5/1 unknown frame type inside a header block",
            cat(&[
                frame(
                    kind::HEADERS,
                    flag::END_STREAM,
                    1,
                    &request_block("GET", "/", &[]),
                ),
                frame(0x16, 0, 1, b"ignored!"),
                frame(kind::CONTINUATION, flag::END_HEADERS, 1, &[]),
            ]),
            Conn(code::PROTOCOL_ERROR),
        ),
    ]
}

pub(super) fn stream_cases() -> Vec<Case> {
    use Expect::{Conn, Status, Stream};
    // Nine streams left open (no END_STREAM), one past h2_max_concurrent_streams = 8.
    let too_many: Vec<Vec<u8>> = (0..9).map(|i| post(1 + 2 * i, "/open", &[])).collect();
    vec![
        case(
            "5.1/1 DATA on an idle stream",
            frame(kind::DATA, 0, 1, b"data"),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "5.1/2 RST_STREAM on an idle stream",
            rst_stream(1, code::CANCEL),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "5.1/3 WINDOW_UPDATE on an idle stream",
            window_update(1, 100),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "5.1/4 CONTINUATION on an idle stream",
            frame(
                kind::CONTINUATION,
                flag::END_HEADERS,
                1,
                &request_block("GET", "/", &[]),
            ),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "5.1/5 DATA on a half-closed (remote) stream",
            cat(&[get(1, "/"), frame(kind::DATA, flag::END_STREAM, 1, b"data")]),
            Stream(1, code::STREAM_CLOSED),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "5.1/6 HEADERS on a half-closed (remote) stream",
            cat(&[get(1, "/"), get(1, "/")]),
            Stream(1, code::STREAM_CLOSED),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "5.1/7 DATA on a stream the client reset",
            cat(&[
                post(1, "/", &[]),
                rst_stream(1, code::CANCEL),
                frame(kind::DATA, 0, 1, b"data"),
            ]),
            Stream(1, code::STREAM_CLOSED),
        ),
        case(
            "5.3.1/1 PRIORITY making a stream depend on itself",
            cat(&[post(1, "/", &[]), priority(1, 1, 16)]),
            Stream(1, code::PROTOCOL_ERROR),
        ),
        case(
            "5.1.1/1 even-numbered stream identifier",
            get(2, "/"),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "5.1.1/2 stream identifier lower than a previous one",
            cat(&[get(5, "/"), get(3, "/")]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "5.1.2/1 streams past SETTINGS_MAX_CONCURRENT_STREAMS",
            too_many.concat(),
            Stream(17, code::REFUSED_STREAM),
        ),
        case("5.1/8 a valid GET is answered", get(1, "/"), Status(1, 200)),
    ]
}

pub(super) fn frame_definition_cases() -> Vec<Case> {
    use Expect::{Alive, Conn, PingAck, Stream};
    let mut padded_data = vec![10u8];
    padded_data.extend_from_slice(b"short");
    let mut padded_headers = vec![200u8];
    padded_headers.extend_from_slice(&request_block("GET", "/", &[]));
    let mut self_dependent = 1u32.to_be_bytes().to_vec();
    self_dependent.push(16);
    self_dependent.extend_from_slice(&request_block("GET", "/", &[]));
    let block = request_block("GET", "/", &[]);
    let (first, rest) = block.split_at(10);
    vec![
        case(
            "6.1/1 DATA on stream 0",
            frame(kind::DATA, 0, 0, b"data"),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.1/2 DATA with a pad length past the payload",
            cat(&[
                post(1, "/", &[]),
                frame(kind::DATA, flag::PADDED | flag::END_STREAM, 1, &padded_data),
            ]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.2/1 HEADERS on stream 0",
            with_end_stream(kind::HEADERS, 0, &block),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.2/2 HEADERS with a pad length past the payload",
            frame(
                kind::HEADERS,
                flag::END_HEADERS | flag::END_STREAM | flag::PADDED,
                1,
                &padded_headers,
            ),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.2/3 HEADERS depending on its own stream",
            frame(
                kind::HEADERS,
                flag::END_HEADERS | flag::END_STREAM | flag::PRIORITY,
                1,
                &self_dependent,
            ),
            Stream(1, code::PROTOCOL_ERROR),
        ),
        case(
            "6.2/4 HEADERS without END_HEADERS, then PRIORITY",
            cat(&[
                frame(kind::HEADERS, flag::END_STREAM, 1, first),
                priority(1, 0, 16),
            ]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.3/1 PRIORITY on stream 0",
            priority(0, 1, 16),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.3/2 PRIORITY of length 4",
            frame(kind::PRIORITY, 0, 1, &[0, 0, 0, 3]),
            Stream(1, code::FRAME_SIZE_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "6.3/3 PRIORITY on an idle stream",
            priority(3, 0, 16),
            Alive,
        ),
        case(
            "6.4/1 RST_STREAM on stream 0",
            rst_stream(0, code::CANCEL),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.4/2 RST_STREAM of length 3",
            cat(&[post(1, "/", &[]), frame(kind::RST_STREAM, 0, 1, &[0, 0, 8])]),
            Conn(code::FRAME_SIZE_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "6.5/1 SETTINGS ACK with a payload",
            frame(kind::SETTINGS, flag::ACK, 0, &[0, 2, 0, 0, 0, 0]),
            Conn(code::FRAME_SIZE_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "6.5/2 SETTINGS on a stream",
            frame(kind::SETTINGS, 0, 1, &[0, 2, 0, 0, 0, 0]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.5/3 SETTINGS of length 5",
            frame(kind::SETTINGS, 0, 0, &[0, 2, 0, 0, 0]),
            Conn(code::FRAME_SIZE_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "6.5.2/1 SETTINGS_ENABLE_PUSH = 2",
            settings(&[(setting::ENABLE_PUSH, 2)]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.5.2/2 SETTINGS_INITIAL_WINDOW_SIZE = 2^31",
            settings(&[(setting::INITIAL_WINDOW_SIZE, 1 << 31)]),
            Conn(code::FLOW_CONTROL_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "6.5.2/3 SETTINGS_MAX_FRAME_SIZE = 16383",
            settings(&[(setting::MAX_FRAME_SIZE, 16_383)]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.5.2/4 SETTINGS_MAX_FRAME_SIZE = 2^24",
            settings(&[(setting::MAX_FRAME_SIZE, 1 << 24)]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.5.2/5 unknown SETTINGS identifier",
            settings(&[(0xff, 1)]),
            Alive,
        ),
        // Without the handshake, so the first ACK is for this SETTINGS frame.
        Case {
            name: "6.5.3/1 SETTINGS is acknowledged",
            handshake: false,
            send: cat(&[
                PREFACE.to_vec(),
                settings(&[(setting::INITIAL_WINDOW_SIZE, 100_000)]),
            ]),
            expect: Expect::SettingsAck,
            never_forwarded: None,
            h2_answers: None,
        },
        case("6.7/1 PING", ping(0, PAYLOAD), PingAck(PAYLOAD)),
        case(
            "6.7/2 PING on a stream",
            frame(kind::PING, 0, 1, &PAYLOAD),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.7/3 PING of length 7",
            frame(kind::PING, 0, 0, &PAYLOAD[..7]),
            Conn(code::FRAME_SIZE_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "6.8/1 GOAWAY on a stream",
            frame(kind::GOAWAY, 0, 1, &[0, 0, 0, 0, 0, 0, 0, 0]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.9/1 WINDOW_UPDATE of 0 on the connection",
            window_update(0, 0),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.9/2 WINDOW_UPDATE of 0 on a stream",
            cat(&[post(1, "/", &[]), window_update(1, 0)]),
            Stream(1, code::PROTOCOL_ERROR),
        ),
        case(
            "6.9/3 WINDOW_UPDATE of length 3",
            frame(kind::WINDOW_UPDATE, 0, 0, &[0, 0, 1]),
            Conn(code::FRAME_SIZE_ERROR),
        )
        .h2_answers(Expect::Conn(code::PROTOCOL_ERROR)),
        case(
            "6.9.1/1 connection window past 2^31-1",
            cat(&[window_update(0, 0x7fff_ffff), window_update(0, 0x7fff_ffff)]),
            Conn(code::FLOW_CONTROL_ERROR),
        ),
        case(
            "6.9.1/2 stream window past 2^31-1",
            cat(&[
                post(1, "/", &[]),
                window_update(1, 0x7fff_ffff),
                window_update(1, 0x7fff_ffff),
            ]),
            Stream(1, code::FLOW_CONTROL_ERROR),
        ),
        case(
            "6.9.2/1 SETTINGS_INITIAL_WINDOW_SIZE pushing a stream window past 2^31-1",
            cat(&[
                post(1, "/", &[]),
                window_update(1, 0x7fff_ffff - 65_535),
                settings(&[(setting::INITIAL_WINDOW_SIZE, 65_536)]),
            ]),
            Conn(code::FLOW_CONTROL_ERROR),
        ),
        case(
            "6.10/1 CONTINUATION completes a header block",
            cat(&[
                frame(kind::HEADERS, flag::END_STREAM, 1, first),
                frame(kind::CONTINUATION, flag::END_HEADERS, 1, rest),
            ]),
            Expect::Status(1, 200),
        ),
        case(
            "6.10/2 CONTINUATION after END_HEADERS",
            cat(&[
                post(1, "/", &[]),
                frame(
                    kind::CONTINUATION,
                    flag::END_HEADERS,
                    1,
                    &header_block(&[("x-a", "b")]),
                ),
            ]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.10/3 CONTINUATION on stream 0",
            cat(&[
                frame(kind::HEADERS, flag::END_STREAM, 1, first),
                frame(kind::CONTINUATION, flag::END_HEADERS, 0, rest),
            ]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.10/4 DATA between HEADERS and CONTINUATION",
            cat(&[
                frame(kind::HEADERS, 0, 1, first),
                frame(kind::DATA, 0, 1, b"data"),
                frame(kind::CONTINUATION, flag::END_HEADERS, 1, rest),
            ]),
            Conn(code::PROTOCOL_ERROR),
        ),
        case(
            "6.10/5 CONTINUATION on another stream",
            cat(&[
                frame(kind::HEADERS, flag::END_STREAM, 1, first),
                frame(kind::CONTINUATION, flag::END_HEADERS, 3, rest),
            ]),
            Conn(code::PROTOCOL_ERROR),
        ),
    ]
}
