//! Cross-request isolation: what one client's request leaves in a plugin instance, and which
//! `isolation` settings keep it from the next client's request. The `remember` guest copies each
//! request's `x-secret` into the next request its instance serves, on purpose.

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use weir_tests::{Backend, SeenRequest, guests};

use crate::support::{TestWeir, config, start_error};

fn remember(isolation: &str, config_json: &str) -> String {
    format!(
        "[[filter]]\nname = \"remember\"\nplugin = {:?}\nconfig_json = '{config_json}'\nisolation = {isolation:?}\n",
        guests::REMEMBER
    )
}

/// Sends three requests in a row, each with its own secret, and returns what the backend saw.
async fn three_clients(isolation: &str) -> Vec<SeenRequest> {
    let backend = Backend::start("a").await;
    let weir = TestWeir::start(&config(
        backend.addr(),
        &[remember(isolation, r#"{"tag":"from-init"}"#)],
        &["remember"],
    ))
    .await;
    for secret in ["alice-token", "bob-token", "carol-token"] {
        let request = weir
            .request("GET", "app.test", "/")
            .header("x-secret", secret)
            .body(Full::<Bytes>::default())
            .expect("valid request");
        let res = weir.send(request).await;
        assert_eq!(res.status, StatusCode::OK, "{isolation}: {}", res.body);
    }
    weir.stop().await;
    backend.requests()
}

#[tokio::test]
async fn pooled_instances_carry_one_clients_data_into_the_next_request() {
    // The leak the other settings stop: a warm instance remembers the previous client.
    let seen = three_clients("pooled").await;
    let previous: Vec<&str> = seen.iter().map(|r| r.header("x-previous")).collect();
    assert_eq!(previous, ["", "alice-token", "bob-token"]);
    assert_eq!(seen[2].header("x-calls"), "3");
}

#[tokio::test]
async fn reset_instances_start_every_request_from_the_post_init_snapshot() {
    let seen = three_clients("reset").await;
    assert_eq!(seen.len(), 3);
    for request in &seen {
        assert_eq!(request.header("x-previous"), "", "no client's secret leaks");
        assert_eq!(
            request.header("x-calls"),
            "1",
            "every call is an instance's first"
        );
        assert_eq!(
            request.header("x-tag"),
            "from-init",
            "the state `init` built is in the snapshot"
        );
    }
}

#[tokio::test]
async fn per_request_instances_never_see_an_earlier_request() {
    let seen = three_clients("per-request").await;
    assert_eq!(seen.len(), 3);
    for request in &seen {
        assert_eq!(request.header("x-previous"), "");
        assert_eq!(request.header("x-calls"), "1");
        assert_eq!(request.header("x-tag"), "from-init");
    }
}

#[tokio::test]
async fn reset_refuses_a_config_its_init_rejects_at_start() {
    let backend = Backend::start("a").await;
    let err = start_error(&config(
        backend.addr(),
        &[remember("reset", r#"{"label":"typo"}"#)],
        &["remember"],
    ))
    .await;
    assert!(
        err.contains("filter `remember` cannot start an instance: init rejected the config")
            && err.contains("unknown field `label`"),
        "{err}"
    );
}
