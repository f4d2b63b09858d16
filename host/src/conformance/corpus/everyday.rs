//! The everyday part of the corpus: request and response features a proxy sees all day
//! (credentials, every common method, conditional and range requests, upgrades, proxy chains;
//! conditional, partial, auth and not-found answers). Faults that only show with one of these
//! slipped through a corpus of odd inputs alone.

use http::{Method, StatusCode, Version};

use crate::runtime::{RequestView, ResponseView};

use super::{request, response};

const HOST: (&str, &[u8]) = ("host", b"app.example.test");

/// Everyday requests, by name.
pub(super) fn requests() -> Vec<(&'static str, RequestView)> {
    let long_query: String = (0..200)
        .map(|i| format!("parameter{i}=some-value-{i}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut grpc = request(
        Method::POST,
        "/weir.test.Echo/Say",
        None,
        &[
            ("content-type", b"application/grpc"),
            ("grpc-timeout", b"1S"),
        ],
    );
    grpc.version = Version::HTTP_2;
    grpc.authority = Some(http::uri::Authority::from_static("app.example.test"));
    vec![
        (
            "a bearer token and a session cookie",
            request(
                Method::GET,
                "/api/v1/me",
                None,
                &[
                    HOST,
                    (
                        "authorization",
                        b"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl",
                    ),
                    ("cookie", b"session=s3cr3t; csrf=t0k3n"),
                    ("accept", b"application/json"),
                ],
            ),
        ),
        (
            "Basic credentials and an API key",
            request(
                Method::GET,
                "/admin",
                None,
                &[
                    HOST,
                    ("authorization", b"Basic dXNlcjpwYXNzd29yZA=="),
                    ("x-api-key", b"k-0123456789abcdef"),
                ],
            ),
        ),
        ("HEAD", request(Method::HEAD, "/index.html", None, &[HOST])),
        (
            "a CORS preflight (OPTIONS)",
            request(
                Method::OPTIONS,
                "/api/v1/items",
                None,
                &[
                    HOST,
                    ("origin", b"https://other.example.test"),
                    ("access-control-request-method", b"PUT"),
                    (
                        "access-control-request-headers",
                        b"authorization, content-type",
                    ),
                ],
            ),
        ),
        (
            "OPTIONS * (the whole server)",
            request(Method::OPTIONS, "*", None, &[HOST]),
        ),
        (
            "PUT with a JSON body",
            request(
                Method::PUT,
                "/api/v1/items/7",
                None,
                &[
                    HOST,
                    ("content-type", b"application/json"),
                    ("content-length", b"27"),
                    ("if-match", b"\"v6\""),
                ],
            ),
        ),
        (
            "PATCH",
            request(
                Method::PATCH,
                "/api/v1/items/7",
                None,
                &[
                    HOST,
                    ("content-type", b"application/merge-patch+json"),
                    ("content-length", b"12"),
                ],
            ),
        ),
        (
            "DELETE",
            request(Method::DELETE, "/api/v1/items/7", None, &[HOST]),
        ),
        (
            "a 5 KiB query of 200 parameters",
            request(Method::GET, "/search", Some(&long_query), &[HOST]),
        ),
        (
            "a conditional GET",
            request(
                Method::GET,
                "/style.css",
                None,
                &[
                    HOST,
                    ("if-none-match", b"\"abc\", W/\"def\""),
                    ("if-modified-since", b"Tue, 01 Dec 2026 10:00:00 GMT"),
                    ("cache-control", b"max-age=0"),
                ],
            ),
        ),
        (
            "a range request",
            request(
                Method::GET,
                "/video.mp4",
                None,
                &[
                    HOST,
                    ("range", b"bytes=0-1023, 4096-"),
                    ("if-range", b"\"v1\""),
                ],
            ),
        ),
        (
            "a WebSocket upgrade",
            request(
                Method::GET,
                "/ws",
                None,
                // weir removes `Connection` and `Upgrade` (hop-by-hop) before the filters.
                &[
                    HOST,
                    ("sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
                    ("sec-websocket-version", b"13"),
                    ("origin", b"https://app.example.test"),
                ],
            ),
        ),
        (
            "behind two other proxies",
            request(
                Method::GET,
                "/",
                None,
                &[
                    HOST,
                    ("x-forwarded-for", b"198.51.100.1, 2001:db8::1"),
                    ("x-forwarded-for", b"192.0.2.9"),
                    ("x-forwarded-proto", b"https"),
                    ("x-forwarded-host", b"www.example.test"),
                    (
                        "forwarded",
                        b"for=198.51.100.1;proto=https, for=\"[2001:db8::1]\"",
                    ),
                    ("via", b"1.1 edge-1, 1.1 edge-2"),
                    ("x-real-ip", b"198.51.100.1"),
                ],
            ),
        ),
        (
            "content negotiation",
            request(
                Method::GET,
                "/docs",
                None,
                &[
                    HOST,
                    ("accept", b"text/html;q=0.9, application/xhtml+xml"),
                    ("accept-encoding", b"gzip, deflate, br, zstd"),
                    ("accept-language", b"fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5"),
                    ("user-agent", b"curl/8.5.0"),
                ],
            ),
        ),
        ("a gRPC call over HTTP/2", grpc),
    ]
}

/// Everyday upstream responses, by name.
pub(super) fn responses() -> Vec<(&'static str, ResponseView)> {
    let long_value = vec![b'v'; 8 * 1024];
    vec![
        (
            "304 Not Modified",
            response(
                StatusCode::NOT_MODIFIED,
                &[("etag", b"\"abc\""), ("cache-control", b"max-age=60")],
            ),
        ),
        (
            "206 Partial Content",
            response(
                StatusCode::PARTIAL_CONTENT,
                &[
                    ("content-range", b"bytes 0-1023/146515"),
                    ("accept-ranges", b"bytes"),
                    ("content-length", b"1024"),
                ],
            ),
        ),
        (
            "401 with a WWW-Authenticate challenge",
            response(
                StatusCode::UNAUTHORIZED,
                &[
                    (
                        "www-authenticate",
                        b"Bearer realm=\"api\", error=\"invalid_token\"",
                    ),
                    ("www-authenticate", b"Basic realm=\"api\""),
                ],
            ),
        ),
        (
            "403 Forbidden",
            response(StatusCode::FORBIDDEN, &[("content-type", b"text/plain")]),
        ),
        (
            "404 Not Found",
            response(
                StatusCode::NOT_FOUND,
                &[("content-type", b"text/html"), ("content-length", b"153")],
            ),
        ),
        (
            "301 to an absolute URL",
            response(
                StatusCode::MOVED_PERMANENTLY,
                &[("location", b"https://www.example.test/new/place?x=1")],
            ),
        ),
        (
            "429 Too Many Requests",
            response(
                StatusCode::TOO_MANY_REQUESTS,
                &[("retry-after", b"Wed, 09 Dec 2026 07:28:00 GMT")],
            ),
        ),
        (
            "500 Internal Server Error",
            response(StatusCode::INTERNAL_SERVER_ERROR, &[]),
        ),
        (
            "a compressed, cacheable 200",
            response(
                StatusCode::OK,
                &[
                    ("content-encoding", b"gzip"),
                    ("vary", b"Accept-Encoding, Origin"),
                    ("cache-control", b"public, max-age=3600"),
                    ("etag", b"W/\"5e-1\""),
                    ("access-control-allow-origin", b"*"),
                ],
            ),
        ),
        (
            "an 8 KiB header value",
            response(StatusCode::OK, &[("x-long", &long_value)]),
        ),
    ]
}
