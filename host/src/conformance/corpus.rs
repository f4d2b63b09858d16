//! The awkward-but-legal inputs every plugin must handle: requests and responses a real proxy
//! sees on a bad day. None is malformed HTTP (weir's HTTP layer refuses that before filters).

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};

use http::uri::PathAndQuery;

use crate::runtime::{
    EncodedSeparators, Journal, PathContext, RequestId, RequestView, ResponseView, normalise_target,
};

use super::quote;

mod everyday;

/// A request with the given target and headers, from a fixed client and id so runs compare.
pub(crate) fn request(
    method: Method,
    path: &str,
    query: Option<&str>,
    headers: &[(&str, &[u8])],
) -> RequestView {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            map.append(name, value);
        }
    }
    let target = match query {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let received =
        PathAndQuery::try_from(target).unwrap_or_else(|_| PathAndQuery::from_static("/"));
    // As the proxy's route phase does: filters see the normalised path, and the received one
    // as `raw-path`. A target weir would refuse is kept as it is (the callers check).
    let (path_and_query, path_context) =
        match normalise_target(&received, EncodedSeparators::Reject) {
            Ok(Some(normal)) => (
                normal,
                Some(Arc::new(PathContext {
                    raw_target: Some(received),
                    ..PathContext::DEFAULT
                })),
            ),
            Ok(None) | Err(_) => (received, None),
        };
    RequestView {
        method,
        scheme: "http",
        authority: None,
        path_and_query,
        path_context,
        version: Version::HTTP_11,
        headers: map,
        client: "203.0.113.7:51000"
            .parse()
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 1))),
        id: RequestId::fixed("conformance", 0),
        tls: None,
        backend: None,
        journal: Journal::default(),
    }
}

/// A response with the given status and headers.
pub(crate) fn response(status: StatusCode, headers: &[(&str, &[u8])]) -> ResponseView {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            map.append(name, value);
        }
    }
    response_with(status, map)
}

/// A response with the given status and header map.
pub(crate) fn response_with(status: StatusCode, headers: HeaderMap) -> ResponseView {
    ResponseView {
        status,
        headers,
        journal: Journal::default(),
    }
}

/// A copy of a corpus response, with a fresh journal (a `ResponseView` is not `Clone`).
pub(crate) fn copy(response: &ResponseView) -> ResponseView {
    response_with(response.status, response.headers.clone())
}

/// The request every corpus response answers: `GET /` with `Host: app.example.test`.
/// Its id is `conformance-response-0`, which no corpus request has.
pub(crate) fn response_request() -> RequestView {
    let mut view = request(Method::GET, "/", None, &[("host", b"app.example.test")]);
    view.id = RequestId::fixed("conformance-response", 0);
    view
}

/// The request corpus, by name: the awkward inputs, then the everyday ones. Each request has
/// its own id, `conformance-N` (N from 0, in this order), as each request in the proxy does:
/// a plugin that keys state by request id sees different requests as different.
pub(crate) fn requests() -> Vec<(&'static str, RequestView)> {
    let mut all = awkward_requests();
    all.extend(everyday::requests());
    for (n, (_, view)) in (0u64..).zip(all.iter_mut()) {
        view.id = RequestId::fixed("conformance", n);
    }
    all
}

/// The response corpus, by name: the awkward inputs, then the everyday ones.
pub(crate) fn responses() -> Vec<(&'static str, ResponseView)> {
    let mut all = awkward_responses();
    all.extend(everyday::responses());
    all
}

fn awkward_requests() -> Vec<(&'static str, RequestView)> {
    let host: (&str, &[u8]) = ("host", b"app.example.test");
    let many_headers: Vec<(String, Vec<u8>)> = (0..300)
        .map(|i| (format!("x-filler-{i}"), format!("value {i}").into_bytes()))
        .collect();
    let many_headers: Vec<(&str, &[u8])> = std::iter::once(host)
        .chain(many_headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())))
        .collect();
    let long_value = vec![b'v'; 8 * 1024];
    let long_path = format!("/{}", "segment/".repeat(500));
    let many_cookies: String = (0..100)
        .map(|i| format!("c{i}=v{i}"))
        .collect::<Vec<_>>()
        .join("; ");

    let mut ipv6 = request(Method::GET, "/", None, &[host]);
    ipv6.client = "[2001:db8::7]:443".parse().unwrap_or(ipv6.client);
    let mut h2 = request(Method::GET, "/h2", Some("x=1"), &[("accept", b"*/*")]);
    h2.version = Version::HTTP_2;
    h2.authority = Some(http::uri::Authority::from_static("app.example.test"));
    let mut http10 = request(Method::GET, "/", None, &[]);
    http10.version = Version::HTTP_10;
    let mut https = request(Method::GET, "/secure", None, &[host]);
    https.scheme = "https";
    https.tls = Some(Arc::new(crate::tls::TlsFacts {
        sni: Some("app.example.test".to_owned()),
        alpn: Some("h2".to_owned()),
        version: "TLSv1.3".to_owned(),
        cipher_suite: "TLS_AES_128_GCM_SHA256".to_owned(),
        resumed: true,
        client_cert_subject: Some("CN=client.example.test, O=Example".to_owned()),
        client_cert_sha256: Some("5e".repeat(32)),
    }));
    let mut connect = request(
        Method::CONNECT,
        "/",
        None,
        &[
            ("host", b"app.example.test:443"),
            ("proxy-authorization", b"Basic dXNlcjpwYXNz"),
        ],
    );
    connect.authority = Some(http::uri::Authority::from_static("app.example.test:443"));

    vec![
        ("no headers at all", request(Method::GET, "/", None, &[])),
        ("HTTP/1.0 without Host", http10),
        (
            "a typical browser request",
            request(
                Method::GET,
                "/index.html",
                Some("utm_source=x&page=2"),
                &[
                    host,
                    ("user-agent", b"Mozilla/5.0 (X11; Linux x86_64)"),
                    ("accept", b"text/html,*/*;q=0.8"),
                    ("cookie", b"session=abc123; theme=dark"),
                    ("x-forwarded-for", b"198.51.100.1"),
                ],
            ),
        ),
        (
            "300 header fields",
            request(Method::GET, "/", None, &many_headers),
        ),
        (
            "an 8 KiB header value and a 4 KiB path",
            request(
                Method::GET,
                &long_path,
                None,
                &[host, ("x-long", &long_value)],
            ),
        ),
        (
            "non-UTF-8 header bytes",
            request(
                Method::GET,
                "/",
                None,
                &[host, ("x-bytes", &[0xff, 0xfe, b'a', 0x80])],
            ),
        ),
        (
            "repeated header names",
            request(
                Method::GET,
                "/",
                None,
                &[
                    host,
                    ("x-dup", b"1"),
                    ("x-dup", b"2"),
                    ("accept", b"a"),
                    ("accept", b"b"),
                ],
            ),
        ),
        ("an IPv6 client", ipv6),
        (
            "odd but valid path and query",
            request(
                Method::GET,
                "/a//b/./c/%2e%2e/%F0%9F%98%80;p=1",
                Some("a=&=b&&c=%00&d"),
                &[host],
            ),
        ),
        (
            "an empty query",
            request(Method::GET, "/x", Some(""), &[host]),
        ),
        (
            "an empty Cookie header",
            request(Method::GET, "/", None, &[host, ("cookie", b"")]),
        ),
        (
            "a malformed Cookie header",
            request(
                Method::GET,
                "/",
                None,
                &[host, ("cookie", b"=; ;a;b=c=d; ;=x; \"q\"=1")],
            ),
        ),
        (
            "100 cookies in two Cookie fields",
            request(
                Method::GET,
                "/",
                None,
                &[
                    host,
                    ("cookie", many_cookies.as_bytes()),
                    ("cookie", b"last=1"),
                ],
            ),
        ),
        ("an h2-style request (no Host, :authority only)", h2),
        ("an https request with a client certificate", https),
        ("a CONNECT through a forward proxy", connect),
        (
            "POST with a body announced",
            request(
                Method::POST,
                "/upload",
                None,
                &[
                    host,
                    ("content-type", b"application/json"),
                    ("content-length", b"1048576"),
                ],
            ),
        ),
        (
            "an extension method",
            request(
                Method::from_bytes(b"PURGE").unwrap_or(Method::DELETE),
                "/cache/x",
                None,
                &[host],
            ),
        ),
        (
            "an uppercase host with a port",
            request(
                Method::GET,
                "/",
                None,
                &[("host", b"APP.Example.TEST:8443")],
            ),
        ),
    ]
}

fn awkward_responses() -> Vec<(&'static str, ResponseView)> {
    let many: Vec<String> = (0..50)
        .map(|i| format!("c{i}=v{i}; Path=/; Max-Age={i}"))
        .collect();
    let many: Vec<(&str, &[u8])> = many.iter().map(|v| ("set-cookie", v.as_bytes())).collect();
    vec![
        ("204 with no headers", response(StatusCode::NO_CONTENT, &[])),
        ("200 with content headers", response(StatusCode::OK, &[("content-type", b"text/html"), ("server", b"origin/1")])),
        ("50 Set-Cookie fields", response(StatusCode::OK, &many)),
        ("malformed and attribute-heavy Set-Cookies", response(StatusCode::OK, &[
            ("set-cookie", b"novalue"),
            ("set-cookie", b"=x"),
            ("set-cookie", b"a=1; Domain=; Path; Max-Age=abc; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Partitioned; SameSite=Weird"),
            ("set-cookie", &[b'b', b'=', 0xff]),
        ])),
        ("non-UTF-8 header bytes", response(StatusCode::OK, &[("x-bytes", &[0xff, 0x80])])),
        ("a 302 redirect", response(StatusCode::FOUND, &[("location", b"/elsewhere")])),
        ("a 503 from the upstream", response(StatusCode::SERVICE_UNAVAILABLE, &[("retry-after", b"5")])),
    ]
}

/// Describes a request for failure reports: `GET app.test/path?query`, with a long path or
/// query cut and its length shown.
pub(crate) fn describe(view: &RequestView) -> String {
    let mut text = format!(
        "{} {}{}",
        view.method,
        view.authority().unwrap_or(""),
        quote::cut(view.path(), 120)
    );
    if let Some(q) = view.query() {
        text.push('?');
        text.push_str(&quote::cut(q, 60));
    }
    text
}
