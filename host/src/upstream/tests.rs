//! A forward listener's egress policy at the pool's connect: every address weir connects to for
//! a pool a filter selected, new or pooled, plain or upgraded, must pass the policy, whatever an
//! earlier check of the same name found.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::BodyExt;

use super::{
    BackendAddr, BackendPool, EgressPolicy, PoolSettings, TargetError, Tried, UpstreamBody,
    UpstreamError,
};

fn pool_of(addr: std::net::SocketAddr) -> BackendPool {
    let backends = vec![BackendAddr {
        authority: addr.to_string().parse().expect("an authority"),
        https: false,
        weight: 1,
    }];
    BackendPool::new(PoolSettings {
        connect_timeout: Duration::from_secs(2),
        response_timeout: Duration::from_secs(5),
        ..PoolSettings::new("shared", backends)
    })
}

fn assert_refused<T>(result: Result<T, UpstreamError>) {
    match result {
        Err(UpstreamError::Target(TargetError::Refused { addr, .. })) => {
            assert!(addr.is_loopback(), "{addr}");
        }
        Err(other) => panic!("expected the egress policy's refusal, got {other}"),
        Ok(_) => panic!("a loopback backend was connected under the default egress policy"),
    }
}

#[tokio::test]
async fn a_new_connection_goes_only_to_an_address_the_policy_allows() {
    let backend = weir_tests::Backend::start("b").await;
    let pool = pool_of(backend.addr());
    let policy = EgressPolicy::default();
    assert_refused(
        pool.connect(None, &mut Tried::default(), false, Some(&policy))
            .await,
    );
    assert_refused(pool.connect_for_upgrade(None, Some(&policy)).await);
    assert_eq!(backend.connections(), 0, "nothing reached the backend");
}

#[tokio::test]
async fn a_pooled_connection_made_for_a_reverse_listener_is_not_reused_past_the_policy() {
    let backend = weir_tests::Backend::start("b").await;
    let pool = pool_of(backend.addr());
    // A reverse listener's request (no policy) leaves a keep-alive connection in the pool.
    let attempt = pool
        .connect(None, &mut Tried::default(), false, None)
        .await
        .expect("the reverse listener connects");
    let request = Request::get("/")
        .header(http::header::HOST, backend.addr().to_string())
        .body(UpstreamBody::replay(Bytes::new()))
        .expect("a request");
    let response = pool
        .send(attempt, request, None, None)
        .await
        .expect("the backend answers");
    assert_eq!(response.status(), StatusCode::OK);
    response
        .into_body()
        .collect()
        .await
        .expect("the body arrives");
    let idle = &pool.backends()[0].conns;
    for _ in 0..200 {
        if idle.idle_connections() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        idle.idle_connections(),
        1,
        "the connection went back to the pool"
    );
    // A forward listener's request for the same pool must not ride on it.
    let policy = EgressPolicy::default();
    assert_refused(
        pool.connect(None, &mut Tried::default(), false, Some(&policy))
            .await,
    );
    assert_eq!(backend.count(), 1, "the refused request was not sent");
}
