//! Behaviour of the filter's hooks, driven through `weir_sdk::testing`.

use weir_sdk::host::Level;
use weir_sdk::testing::{self, TestRequest, TestResponse};
use weir_sdk::{Filter, Request, Response, Verdict};

use super::*;
use crate::apply::forwarded_element;

fn filter(config: &str) -> HeadersFilter {
    HeadersFilter::init(config).expect("the config is valid")
}

fn run_request(filter: &mut HeadersFilter, req: &mut Request) {
    assert!(matches!(filter.on_request(req), Verdict::Continue));
}

fn run_response(filter: &mut HeadersFilter, req: &Request, resp: &mut Response) {
    assert!(matches!(filter.on_response(req, resp), Verdict::Continue));
}

fn text(values: Vec<Vec<u8>>) -> Vec<String> {
    values
        .into_iter()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .collect()
}

fn request_values(req: &Request, name: &str) -> Vec<String> {
    text(req.header_all(name))
}

fn response_values(resp: &Response, name: &str) -> Vec<String> {
    text(resp.header_all(name))
}

fn warnings() -> Vec<String> {
    testing::logs()
        .into_iter()
        .filter(|(level, _)| matches!(level, Level::Warn))
        .map(|(_, message)| message)
        .collect()
}

#[test]
fn empty_config_edits_nothing() {
    let mut filter = filter("{}");
    let mut req = TestRequest::get("/").header("x-a", "1").build();
    let mut resp = TestResponse::new(200).header("x-b", "2").build();
    run_request(&mut filter, &mut req);
    run_response(&mut filter, &req, &mut resp);
    assert!(testing::edits(&req).is_empty());
    assert!(testing::response_edits(&resp).is_empty());
}

#[test]
fn request_set_replaces_every_existing_value() {
    let mut filter = filter(r#"{"request": {"set": {"X-Env": "prod"}}}"#);
    let mut req = TestRequest::get("/")
        .header("x-env", "dev")
        .header("x-env", "test")
        .build();
    run_request(&mut filter, &mut req);
    assert_eq!(request_values(&req, "x-env"), ["prod"]);
}

#[test]
fn request_append_keeps_existing_values() {
    let mut filter = filter(r#"{"request": {"append": {"via": "1.1 weir"}}}"#);
    let mut req = TestRequest::get("/").header("via", "1.1 cdn").build();
    run_request(&mut filter, &mut req);
    assert_eq!(request_values(&req, "via"), ["1.1 cdn", "1.1 weir"]);
}

#[test]
fn request_remove_drops_every_value_and_ignores_absent_headers() {
    let mut filter = filter(r#"{"request": {"remove": ["X-Debug", "x-absent"]}}"#);
    let mut req = TestRequest::get("/")
        .header("x-debug", "1")
        .header("x-debug", "2")
        .header("x-keep", "yes")
        .build();
    run_request(&mut filter, &mut req);
    assert!(req.header("x-debug").is_none());
    assert_eq!(request_values(&req, "x-keep"), ["yes"]);
    assert!(warnings().is_empty());
}

#[test]
fn remove_then_set_then_append_run_in_that_order() {
    let mut filter = filter(
        r#"{"request": {
            "append": {"x-a": "appended"},
            "set": {"x-a": "set"},
            "remove": ["x-a"]
        }}"#,
    );
    let mut req = TestRequest::get("/")
        .header("x-a", "old1")
        .header("x-a", "old2")
        .build();
    run_request(&mut filter, &mut req);
    assert_eq!(request_values(&req, "x-a"), ["set", "appended"]);
}

#[test]
fn request_templates_fill_every_placeholder() {
    let mut filter = filter(
        r#"{"request": {"set": {
            "x-info": "{client_ip} {client_port} {request_id} {host} {method} {path} {scheme}"
        }}}"#,
    );
    let mut req = TestRequest::new("POST", "/api/items?q=1")
        .authority("app.test:8443")
        .client("203.0.113.7:5555")
        .scheme("https")
        .id("req-42")
        .build();
    run_request(&mut filter, &mut req);
    assert_eq!(
        request_values(&req, "x-info"),
        ["203.0.113.7 5555 req-42 app.test POST /api/items https"]
    );
}

#[test]
fn doubled_braces_render_as_literal_braces() {
    let mut filter = filter(r#"{"request": {"set": {"x-a": "{{host}}={host}"}}}"#);
    let mut req = TestRequest::get("/").authority("app.test").build();
    run_request(&mut filter, &mut req);
    assert_eq!(request_values(&req, "x-a"), ["{host}=app.test"]);
}

#[test]
fn host_placeholder_is_empty_without_an_authority() {
    let mut filter = filter(r#"{"request": {"set": {"x-a": "[{host}]"}}}"#);
    let mut req = TestRequest::get("/").build();
    run_request(&mut filter, &mut req);
    assert_eq!(request_values(&req, "x-a"), ["[]"]);
}

#[test]
fn response_sections_set_append_and_remove() {
    let mut filter = filter(
        r#"{"response": {
            "set": {"cache-control": "no-store"},
            "append": {"vary": "origin"},
            "remove": ["server", "x-powered-by"]
        }}"#,
    );
    let req = TestRequest::get("/").build();
    let mut resp = TestResponse::new(200)
        .header("cache-control", "max-age=60")
        .header("vary", "accept")
        .header("server", "nginx")
        .header("x-powered-by", "php")
        .header("x-other", "kept")
        .build();
    run_response(&mut filter, &req, &mut resp);
    assert_eq!(response_values(&resp, "cache-control"), ["no-store"]);
    assert_eq!(response_values(&resp, "vary"), ["accept", "origin"]);
    assert!(resp.header("server").is_none());
    assert!(resp.header("x-powered-by").is_none());
    assert_eq!(response_values(&resp, "x-other"), ["kept"]);
}

#[test]
fn request_section_does_not_touch_the_response() {
    let mut filter = filter(r#"{"request": {"set": {"x-a": "1"}}}"#);
    let mut req = TestRequest::get("/").build();
    let mut resp = TestResponse::new(200).build();
    run_request(&mut filter, &mut req);
    run_response(&mut filter, &req, &mut resp);
    assert!(resp.header("x-a").is_none());
    assert!(testing::response_edits(&resp).is_empty());
}

#[test]
fn response_templates_read_the_request_passed_to_on_response() {
    let mut filter = filter(
        r#"{"response": {"set": {"x-trace": "{request_id} {method} {path} {scheme} {client_ip}:{client_port}"}}}"#,
    );
    let mut req = TestRequest::new("PUT", "/v2/users")
        .client("198.51.100.9:4000")
        .id("req-7")
        .build();
    let mut resp = TestResponse::new(201).build();
    run_request(&mut filter, &mut req);
    run_response(&mut filter, &req, &mut resp);
    assert_eq!(
        response_values(&resp, "x-trace"),
        ["req-7 PUT /v2/users http 198.51.100.9:4000"]
    );
}

#[test]
fn response_host_is_the_host_captured_in_on_request() {
    let mut filter = filter(r#"{"response": {"set": {"x-original-host": "{host}"}}}"#);
    let mut original = TestRequest::get("/")
        .authority("public.test")
        .id("r1")
        .build();
    run_request(&mut filter, &mut original);
    // A later filter rewrote the authority before the request went upstream.
    let sent_upstream = TestRequest::get("/")
        .authority("internal.test")
        .id("r1")
        .build();
    let mut resp = TestResponse::new(200).build();
    run_response(&mut filter, &sent_upstream, &mut resp);
    assert_eq!(response_values(&resp, "x-original-host"), ["public.test"]);
}

#[test]
fn response_host_falls_back_to_the_request_when_nothing_was_captured_for_it() {
    let mut filter = filter(r#"{"response": {"set": {"x-original-host": "{host}"}}}"#);
    let mut other = TestRequest::get("/")
        .authority("other.test")
        .id("r1")
        .build();
    run_request(&mut filter, &mut other);
    let req = TestRequest::get("/").authority("app.test").id("r2").build();
    let mut resp = TestResponse::new(200).build();
    run_response(&mut filter, &req, &mut resp);
    assert_eq!(response_values(&resp, "x-original-host"), ["app.test"]);
}

#[test]
fn forwarded_is_off_by_default() {
    let mut filter = filter("{}");
    let mut req = TestRequest::get("/").authority("app.test").build();
    run_request(&mut filter, &mut req);
    assert!(req.header("forwarded").is_none());
}

#[test]
fn forwarded_describes_ipv4_client_host_and_scheme() {
    let mut filter = filter(r#"{"forwarded": true}"#);
    let mut req = TestRequest::get("/")
        .authority("app.test")
        .client("203.0.113.7:5555")
        .scheme("https")
        .build();
    run_request(&mut filter, &mut req);
    assert_eq!(
        request_values(&req, "forwarded"),
        ["for=203.0.113.7;host=app.test;proto=https"]
    );
}

#[test]
fn forwarded_brackets_and_quotes_an_ipv6_client() {
    let mut filter = filter(r#"{"forwarded": true}"#);
    let mut req = TestRequest::get("/")
        .authority("app.test")
        .client("[2001:db8:cafe::17]:5555")
        .build();
    run_request(&mut filter, &mut req);
    assert_eq!(
        request_values(&req, "forwarded"),
        [r#"for="[2001:db8:cafe::17]";host=app.test;proto=http"#]
    );
}

#[test]
fn forwarded_quotes_a_host_with_a_port() {
    let mut filter = filter(r#"{"forwarded": true}"#);
    let mut req = TestRequest::get("/")
        .authority("app.test:8080")
        .client("192.0.2.60:1234")
        .build();
    run_request(&mut filter, &mut req);
    assert_eq!(
        request_values(&req, "forwarded"),
        [r#"for=192.0.2.60;host="app.test:8080";proto=http"#]
    );
}

#[test]
fn forwarded_is_appended_after_existing_elements() {
    let mut filter = filter(r#"{"forwarded": true}"#);
    let mut req = TestRequest::get("/")
        .authority("app.test")
        .client("192.0.2.60:1234")
        .header("forwarded", "for=198.51.100.1")
        .build();
    run_request(&mut filter, &mut req);
    assert_eq!(
        request_values(&req, "forwarded"),
        [
            "for=198.51.100.1",
            "for=192.0.2.60;host=app.test;proto=http"
        ]
    );
}

#[test]
fn forwarded_from_the_client_can_be_removed_before_ours_is_added() {
    let mut filter = filter(r#"{"forwarded": true, "request": {"remove": ["forwarded"]}}"#);
    let mut req = TestRequest::get("/")
        .authority("app.test")
        .client("192.0.2.60:1234")
        .header("forwarded", "for=6.6.6.6")
        .build();
    run_request(&mut filter, &mut req);
    assert_eq!(
        request_values(&req, "forwarded"),
        ["for=192.0.2.60;host=app.test;proto=http"]
    );
}

#[test]
fn forwarded_element_leaves_out_a_missing_host_and_escapes_quotes() {
    assert_eq!(
        forwarded_element("192.0.2.1", None, "http"),
        "for=192.0.2.1;proto=http"
    );
    assert_eq!(
        forwarded_element("unknown", Some(r#"a"b\c"#), "https"),
        r#"for=unknown;host="a\"b\\c";proto=https"#
    );
}

#[test]
fn refused_request_edit_is_logged_and_later_edits_still_apply() {
    // `connection` is hop-by-hop: the host refuses to let filters set it.
    let mut filter = filter(r#"{"request": {"set": {"connection": "close", "x-b": "1"}}}"#);
    let mut req = TestRequest::get("/").build();
    run_request(&mut filter, &mut req);
    assert_eq!(request_values(&req, "x-b"), ["1"]);
    assert!(req.header("connection").is_none());
    let warnings = warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("refused"), "{warnings:?}");
}

#[test]
fn refused_response_edit_is_logged_and_later_edits_still_apply() {
    let mut filter =
        filter(r#"{"response": {"remove": ["transfer-encoding"], "append": {"x-b": "1"}}}"#);
    let req = TestRequest::get("/").build();
    let mut resp = TestResponse::new(200).build();
    run_response(&mut filter, &req, &mut resp);
    assert_eq!(response_values(&resp, "x-b"), ["1"]);
    assert_eq!(warnings().len(), 1);
}

#[test]
fn init_error_names_the_bad_field_and_placeholder() {
    let err = HeadersFilter::init(r#"{"request": {"set": {"x-a": "{nope}"}}}"#)
        .expect_err("{nope} is unknown");
    assert!(err.contains("request.set.x-a"), "{err}");
    assert!(err.contains("{nope}"), "{err}");
}

#[test]
fn init_rejects_unknown_keys() {
    let err =
        HeadersFilter::init(r#"{"forwarded": true, "extra": 1}"#).expect_err("extra is unknown");
    assert!(err.contains("`extra`"), "{err}");
}

#[test]
fn tls_headers_describe_the_session_and_replace_forged_ones() {
    let mut filter = filter(r#"{"tls_headers": true}"#);
    let tls = weir_sdk::TlsInfo {
        sni: Some("app.test".into()),
        alpn: Some("h2".into()),
        version: "TLSv1.3".into(),
        cipher_suite: "TLS_AES_128_GCM_SHA256".into(),
        resumed: true,
        client_cert_subject: Some("CN=alice,O=Example".into()),
        client_cert_sha256: Some("ab".repeat(32)),
    };
    let mut req = TestRequest::get("/")
        .header("x-client-cert-subject", "CN=mallory")
        .tls(tls)
        .build();
    run_request(&mut filter, &mut req);
    assert_eq!(
        request_values(&req, "x-client-cert-subject"),
        ["CN=alice,O=Example"]
    );
    assert_eq!(
        request_values(&req, "x-client-cert-sha256"),
        ["ab".repeat(32)]
    );
    assert_eq!(request_values(&req, "x-tls-version"), ["TLSv1.3"]);
    assert_eq!(
        request_values(&req, "x-tls-cipher"),
        ["TLS_AES_128_GCM_SHA256"]
    );
    assert_eq!(request_values(&req, "x-tls-sni"), ["app.test"]);
    assert_eq!(request_values(&req, "x-tls-alpn"), ["h2"]);
    assert_eq!(request_values(&req, "x-tls-resumed"), ["1"]);
}

#[test]
fn tls_headers_on_cleartext_only_remove_forged_ones() {
    let mut filter = filter(r#"{"tls_headers": true}"#);
    let mut req = TestRequest::get("/")
        .header("x-client-cert-subject", "CN=mallory")
        .header("x-tls-version", "TLSv1.3")
        .build();
    run_request(&mut filter, &mut req);
    for name in crate::apply::TLS_HEADERS {
        assert!(req.header(name).is_none(), "{name}");
    }
}

#[test]
fn tls_headers_are_off_by_default() {
    let mut filter = filter("{}");
    let mut req = TestRequest::get("/")
        .header("x-client-cert-subject", "CN=mallory")
        .tls(weir_sdk::TlsInfo::default())
        .build();
    run_request(&mut filter, &mut req);
    assert_eq!(
        request_values(&req, "x-client-cert-subject"),
        ["CN=mallory"]
    );
}
