//! The admin endpoint's readiness, drain and bearer token, on a real weir with a real backend.

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use weir_tests::Backend;

use crate::support::{TIMEOUT, TestWeir, config};

const TOKEN: &str = "s3cret-token-0123456789";

async fn call(
    admin: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("http://{admin}{path}"));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = tokio::time::timeout(
        TIMEOUT,
        client.request(request.body(Full::default()).expect("request")),
    )
    .await
    .expect("in time")
    .expect("answered");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn a_token_guards_everything_but_the_probes_and_drain_turns_readiness_off() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&config(backend.addr(), &[], &[])).await;
    let admin = weir::admin::serve_with(
        "127.0.0.1:0".parse().expect("addr"),
        Some(Arc::from(TOKEN)),
        weir.control(),
    )
    .await
    .expect("admin endpoint");
    // Probes need no token.
    assert_eq!(
        call(admin.addr, "GET", "/health", None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(admin.addr, "GET", "/ready", None).await,
        (StatusCode::OK, "ready\n".to_owned())
    );
    // Everything else does, and a wrong one is as good as none.
    for (method, path) in [
        ("GET", "/metrics"),
        ("GET", "/upstreams"),
        ("POST", "/reload"),
        ("POST", "/drain"),
    ] {
        assert_eq!(
            call(admin.addr, method, path, None).await.0,
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        assert_eq!(
            call(admin.addr, method, path, Some("s3cret-token-0123456788"))
                .await
                .0,
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
    }
    assert_eq!(
        call(admin.addr, "GET", "/metrics", Some(TOKEN)).await.0,
        StatusCode::OK
    );
    // Drain: not ready, still serving.
    assert_eq!(
        call(admin.addr, "POST", "/drain", Some(TOKEN)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(admin.addr, "GET", "/ready", None).await,
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n".to_owned())
    );
    assert_eq!(weir.get("app.test", "/").await.status, StatusCode::OK);
}

#[tokio::test]
async fn readiness_turns_off_when_a_stop_begins() {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&config(backend.addr(), &[], &[])).await;
    let control = weir.control();
    assert!(control.is_ready());
    weir.stop().await;
    assert!(!control.is_ready());
}
