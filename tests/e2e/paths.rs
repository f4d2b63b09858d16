//! Path normalisation through real weir: hostile spellings of a path reach the route, the
//! filters and the backend as one normalised path; encoded separators are refused (or kept
//! encoded when configured); a filter's `set-path` cannot leave its route's prefix; the raw
//! path stays readable by filters. Requests go out on raw TCP, because an HTTP client library
//! may clean a path up before sending it.

use std::net::SocketAddr;

use weir_tests::raw::RawClient;
use weir_tests::{Backend, guests};

use crate::support::{TIMEOUT, TestWeir, filter, runtime_table};

/// Sends `GET <target>` with `Host: app.test` on a new connection; returns the status.
async fn raw_get(weir: SocketAddr, target: &str) -> u16 {
    let mut client = RawClient::connect(weir, TIMEOUT).await.expect("connect");
    let request = format!("GET {target} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n");
    client
        .request(request.as_bytes())
        .await
        .expect("weir answered")
}

/// Two routes: `/public/` to pool `a` and `/admin/` to pool `b`, each with its own chain
/// (filter names), over `filters` tables; `server` keys go in `[server]`.
fn two_routes(
    a: &Backend,
    b: &Backend,
    server: &str,
    filters: &[String],
    chains: (&str, &str),
) -> String {
    format!(
        "{}\n[server]\n{server}\n[[listener]]\nbind = \"127.0.0.1:0\"\n\n\
         [[pool]]\nname = \"a\"\nbackends = [\"{}\"]\n\n\
         [[pool]]\nname = \"b\"\nbackends = [\"{}\"]\n\n{}\n\
         [[route]]\npath_prefix = \"/public/\"\npool = \"a\"\nfilters = [{}]\n\n\
         [[route]]\npath_prefix = \"/admin/\"\npool = \"b\"\nfilters = [{}]\n",
        runtime_table(),
        a.addr(),
        b.addr(),
        filters.join("\n"),
        chains.0,
        chains.1,
    )
}

#[tokio::test]
async fn encoded_dot_segments_route_by_the_normalised_path_and_filters_see_both() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let show = filter("show", guests::EDITS, r#"{"request":[["show-paths"]]}"#);
    let weir = TestWeir::start(&two_routes(&a, &b, "", &[show], ("", "\"show\""))).await;
    for (target, pool, path) in [
        ("/public/%2e%2e/admin/x", "b", "/admin/x"),
        ("/public/%2E%2E/%61dmin/y", "b", "/admin/y"),
        ("/public/.%2e/admin//z", "b", "/admin/z"),
        ("/public/..;/admin/w", "b", "/admin/w"),
        ("/admin/../public/p", "a", "/public/p"),
        ("//public//./q", "a", "/public/q"),
        ("/%70ublic/r?x=/../admin", "a", "/public/r"),
    ] {
        assert_eq!(raw_get(weir.addr, target).await, 200, "{target}");
        let backend = if pool == "a" { &a } else { &b };
        let seen = backend.last();
        assert_eq!(seen.path, path, "{target}");
        if pool == "b" {
            assert_eq!(seen.header("x-seen-path"), path, "{target}");
            assert_eq!(seen.header("x-seen-raw-path"), target, "{target}");
        }
    }
    assert_eq!(
        a.last().query.as_deref(),
        Some("x=/../admin"),
        "query untouched"
    );
    assert_eq!((a.count(), b.count()), (3, 4));
    weir.stop().await;
}

#[tokio::test]
async fn a_route_level_deny_cannot_be_bypassed_by_encodings() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    // Everything under `/admin/` is denied by the route's filter; `/public/` has none.
    let deny = filter("deny", guests::DENY, r#"{"block_path_prefixes":["/"]}"#);
    let weir = TestWeir::start(&two_routes(&a, &b, "", &[deny], ("", "\"deny\""))).await;
    for target in [
        "/admin/x",
        "/public/../admin/x",
        "/public/%2e%2e/admin/x",
        "/public/%2e%2e%2fadmin/x",
        "/%61dmin/x",
        "//admin//x",
        "/public/..;/admin/x",
        "/admin;jsessionid=1/x",
        "/public/./../admin/",
        "/public\\..\\admin/x",
    ] {
        let status = raw_get(weir.addr, target).await;
        assert!(status == 403 || status == 400, "{target}: {status}");
    }
    assert_eq!(b.count(), 0, "nothing reached the admin pool");
    assert_eq!(a.count(), 0, "nothing reached the public pool either");
    weir.stop().await;
}

#[tokio::test]
async fn encoded_separators_are_refused_by_default() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let weir = TestWeir::start(&two_routes(&a, &b, "", &[], ("", ""))).await;
    let res = weir.get("app.test", "/public/a%2Fb").await;
    assert_eq!(res.status.as_u16(), 400);
    assert_eq!(res.header("x-weir-error"), "bad-path");
    for target in [
        "/public/..%2fadmin/x",
        "/public/a%5cb",
        "/public/a\\b",
        "/public/a%00b",
        "/public/a%0d%0ax",
        "/public/%zz",
        "/public/%4",
    ] {
        assert_eq!(raw_get(weir.addr, target).await, 400, "{target}");
    }
    assert_eq!(a.count() + b.count(), 0);
    weir.stop().await;
}

#[tokio::test]
async fn encoded_separators_are_kept_encoded_when_configured() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let weir = TestWeir::start(&two_routes(
        &a,
        &b,
        "path_encoded_separators = \"keep\"",
        &[],
        ("", ""),
    ))
    .await;
    for (target, path) in [
        ("/public/a%2fb", "/public/a%2Fb"),
        ("/public/..%2Fadmin/x", "/public/..%2Fadmin/x"),
        ("/public/a\\b", "/public/a%5Cb"),
        ("/public/%2e%2e%5cadmin", "/public/..%5Cadmin"),
    ] {
        assert_eq!(raw_get(weir.addr, target).await, 200, "{target}");
        assert_eq!(a.last().path, path, "{target}");
    }
    assert_eq!(raw_get(weir.addr, "/public/%zz").await, 400);
    assert_eq!(b.count(), 0);
    weir.stop().await;
}

#[tokio::test]
async fn set_path_is_normalised_and_cannot_leave_the_route_prefix() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let escape = filter(
        "escape",
        guests::EDITS,
        r#"{"request":[["set-path","/public/../admin/x"],["set-path","/public/%2e%2e/admin"],["set-path","/admin/y"],["show-paths"]]}"#,
    );
    let tidy = filter(
        "tidy",
        guests::EDITS,
        r#"{"request":[["set-path","/admin/./y//%7Ez/."],["show-paths"]]}"#,
    );
    let weir = TestWeir::start(&two_routes(
        &a,
        &b,
        "",
        &[escape, tidy],
        ("\"escape\"", "\"tidy\""),
    ))
    .await;
    assert_eq!(raw_get(weir.addr, "/public/p").await, 200);
    let seen = a.last();
    assert_eq!(
        seen.path, "/public/p",
        "every escaping set-path was refused"
    );
    let errors = seen.headers.get_all("x-edit-error").iter().count();
    assert_eq!(errors, 3, "{:?}", seen.headers);
    assert!(
        seen.header("x-edit-error")
            .contains("leaves the route's prefix `/public/`"),
        "{}",
        seen.header("x-edit-error")
    );
    assert_eq!(b.count(), 0);

    assert_eq!(raw_get(weir.addr, "/admin/%2e/q").await, 200);
    let seen = b.last();
    assert_eq!(seen.path, "/admin/y/~z/");
    assert_eq!(seen.header("x-seen-path"), "/admin/y/~z/");
    assert_eq!(seen.header("x-seen-raw-path"), "/admin/%2e/q");
    assert_eq!(seen.header("x-edit-error"), "");
    weir.stop().await;
}

#[tokio::test]
async fn forward_proxy_requests_reach_the_origin_with_the_normalised_path() {
    let origin = Backend::start("origin").await;
    let weir = TestWeir::start(&format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\nmode = \"forward\"\n[listener.forward]\nallow_private_targets = true\nallow_ports = [\"1024-65535\"]\n",
        runtime_table()
    ))
    .await;
    let port = origin.addr().port();
    let target = format!("http://127.0.0.1:{port}/a/%2e%2e/b//c/./%7Ed?q=/../x");
    assert_eq!(raw_get(weir.addr, &target).await, 200);
    let seen = origin.last();
    assert_eq!(seen.path, "/b/c/~d");
    assert_eq!(seen.query.as_deref(), Some("q=/../x"));
    let bad = format!("http://127.0.0.1:{port}/a%2fb");
    assert_eq!(raw_get(weir.addr, &bad).await, 400);
    assert_eq!(origin.count(), 1);
    weir.stop().await;
}
