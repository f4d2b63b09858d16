//! Entry points for the `cargo fuzz` targets in `fuzz/` (compiled only with `--cfg fuzzing`,
//! which `cargo fuzz` sets): each takes arbitrary bytes, drives one parser or validator that
//! network or plugin input reaches, and panics only where a property the code promises breaks.
//! See `docs/security.md` ("Fuzzing") for how to run them.

use std::net::SocketAddr;
use std::path::Path;

use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Version};
use wasmtime::component::Resource;

use crate::runtime::bindings::weir::filter::types::{Header, HostRequest, LocalResponse};
use crate::runtime::{EncodedSeparators, RequestId, RequestView};

/// The PROXY protocol parsers (v1 text line, v2 binary header).
pub fn proxy_protocol(data: &[u8]) {
    let _ = crate::server::proxy_protocol::parse_v1(data);
    let _ = crate::server::proxy_protocol::parse_v2(data);
}

/// The config parser and checker: any text gives a config or an error naming the file, never
/// a panic.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) = crate::config::parse(text, "fuzz.toml", Path::new("/nonexistent-weir")) {
        let shown = error.to_string();
        assert!(
            shown.contains("fuzz.toml"),
            "an error that does not name the file: {shown}"
        );
    }
}

/// Path normalisation: whatever it accepts, it accepts again unchanged (one normal form), and
/// the result has no dot segment.
pub fn path(data: &[u8]) {
    let Ok(target) = PathAndQuery::try_from(data) else {
        return;
    };
    for separators in [EncodedSeparators::Reject, EncodedSeparators::Keep] {
        let Ok(normal) = crate::runtime::normalise_target(&target, separators) else {
            continue;
        };
        let normal = normal.unwrap_or_else(|| target.clone());
        let again = crate::runtime::normalise_target(&normal, separators);
        assert!(
            matches!(again, Ok(None)),
            "{normal:?} normalised again to {again:?} ({separators:?})"
        );
        let path = normal.path();
        assert!(
            !path.split('/').any(|s| s == "." || s == ".."),
            "a dot segment left in {path:?}"
        );
    }
}

/// Reads bytes as a sequence of length-prefixed strings.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*first)
    }

    fn bytes(&mut self) -> Option<Vec<u8>> {
        let len = usize::from(self.byte()?);
        let len = len.min(self.0.len());
        let (taken, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(taken.to_vec())
    }

    fn text(&mut self) -> Option<String> {
        Some(String::from_utf8_lossy(&self.bytes()?).into_owned())
    }
}

/// A plugin's request edits, through the same host functions a guest calls, in any order and
/// with any arguments: every one is accepted or refused with an error, the view stays a valid
/// request (its fields can be sent), and the call budget holds.
pub fn request_edits(data: &[u8]) {
    let mut input = Input(data);
    let mut headers = HeaderMap::new();
    headers.insert(http::header::HOST, HeaderValue::from_static("app.test"));
    headers.insert(
        http::header::COOKIE,
        HeaderValue::from_static("session=abc; theme=dark"),
    );
    let view = RequestView {
        method: Method::GET,
        scheme: "http",
        authority: None,
        path_and_query: PathAndQuery::from_static("/app/page?x=1"),
        path_context: None,
        version: Version::HTTP_11,
        headers,
        client: SocketAddr::from(([203, 0, 113, 7], 51000)),
        id: RequestId::fixed("fuzz", 1),
        tls: None,
        backend: None,
        journal: crate::runtime::Journal::default(),
    };
    let limits = crate::config::default_plugin_limits();
    let mut state = crate::runtime::fuzz_state(view, limits);
    let req = || Resource::<RequestView>::new_borrow(0);
    while let Some(op) = input.byte() {
        let outcome = match op % 12 {
            0 => input.text().map(|p| state.set_path(req(), p).map(drop)),
            1 => input.text().map(|q| {
                let query = (!q.is_empty()).then_some(q);
                state.set_query(req(), query).map(drop)
            }),
            2 => input
                .text()
                .map(|a| state.set_authority(req(), a).map(drop)),
            3 => input.text().map(|s| state.set_scheme(req(), s).map(drop)),
            4 => input
                .text()
                .zip(input.bytes())
                .map(|(n, v)| state.set_header(req(), n, v).map(drop)),
            5 => input
                .text()
                .zip(input.bytes())
                .map(|(n, v)| state.append_header(req(), n, v).map(drop)),
            6 => input
                .text()
                .map(|n| state.remove_header(req(), n).map(drop)),
            7 => input
                .text()
                .zip(input.text())
                .map(|(n, v)| state.set_cookie(req(), n, v).map(drop)),
            8 => input
                .text()
                .map(|n| state.remove_cookie(req(), n).map(drop)),
            9 => input.text().zip(input.text()).map(|(p, k)| {
                let key = (!k.is_empty()).then_some(k);
                state.select_backend(req(), p, key).map(drop)
            }),
            10 => Some(state.headers(req()).map(drop)),
            _ => Some(state.cookies(req()).map(drop)),
        };
        // An edit error or a trap (how the host refuses a call outright) are both fine; the
        // input ran out when there is no outcome.
        if outcome.is_none() {
            break;
        }
    }
    let view = crate::runtime::fuzz_take(state);
    // What the upstream write does with the view: every field must be sendable.
    for (name, value) in &view.headers {
        assert!(HeaderName::from_bytes(name.as_str().as_bytes()).is_ok());
        assert!(HeaderValue::from_bytes(value.as_bytes()).is_ok());
    }
    let path = view.path();
    assert!(path.starts_with('/'), "{path:?}");
    assert!(!path.split('/').any(|s| s == ".."), "{path:?}");
}

/// A plugin's local response (a `respond` verdict): accepted within the limits or refused,
/// never a panic, whatever its status, fields and body.
pub fn local_response(data: &[u8]) {
    let mut input = Input(data);
    let status = u16::from_le_bytes([input.byte().unwrap_or(0), input.byte().unwrap_or(0)]);
    let count = usize::from(input.byte().unwrap_or(0));
    let mut headers = Vec::new();
    for _ in 0..count {
        let (Some(name), Some(value)) = (input.text(), input.bytes()) else {
            break;
        };
        headers.push(Header { name, value });
    }
    let body = input.0.to_vec();
    let limits = crate::config::default_plugin_limits();
    let local = LocalResponse {
        status,
        headers,
        body,
    };
    if let Ok(response) = crate::filters::into_http_response_within(local, &limits) {
        assert!((200..=599).contains(&response.status().as_u16()));
    }
}

/// Each entry point on a few seeds, so that the targets keep compiling and their properties
/// hold on known inputs; `cargo fuzz` explores from there (the same seeds are in
/// `fuzz/corpus/`).
#[cfg(test)]
mod tests {
    #[test]
    fn the_entry_points_hold_on_their_seeds() {
        for seed in [
            &b"PROXY TCP4 192.0.2.1 198.51.100.2 51000 443\r\n"[..],
            b"PROXY UNKNOWN\r\n",
            b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c\xc0\x00\x02\x01\xc6\x33\x64\x02\xc7\x38\x01\xbb",
            b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff",
        ] {
            super::proxy_protocol(seed);
        }
        for seed in [
            "[[listener]]\nbind = \"127.0.0.1:0\"\n",
            "[[pool]]\nname = \"a\"\nbackends = [\"127.0.0.1:1\"]\n[[route]]\npool = \"a\"\n",
            "[listener\n",
            "[[route]]\npath_prefix = 5\n",
        ] {
            super::config(seed.as_bytes());
        }
        for seed in [
            "/a/./b/../c",
            "/%2e%2E/admin",
            "//x//y/%41%7e?q=/../",
            "/a%2Fb%5c",
            "/%25%32%65",
        ] {
            super::path(seed.as_bytes());
        }
        let mut edits = Vec::new();
        for (op, args) in [
            (0u8, vec![&b"/x/../../etc"[..]]),
            (4, vec![b"x-a", b"1"]),
            (4, vec![b"bad name", b"v"]),
            (5, vec![b"x-a", b"\r\nevil"]),
            (7, vec![b"session", b"new"]),
            (2, vec![b"user@host:99999"]),
            (9, vec![b"pool", b"key"]),
            (10, vec![]),
        ] {
            edits.push(op);
            for arg in args {
                edits.push(u8::try_from(arg.len()).unwrap_or(u8::MAX));
                edits.extend_from_slice(arg);
            }
        }
        super::request_edits(&edits);
        super::request_edits(&[4, 255]);
        super::local_response(&[
            0xc8, 0x00, 1, 4, b'x', b'-', b'a', b'b', 1, b'v', b'b', b'o',
        ]);
        super::local_response(&[0x00, 0x00, 200]);
    }
}
