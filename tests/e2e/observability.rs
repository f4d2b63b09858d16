//! The access records (every field and the decision trace, read back from the admin endpoint's
//! `/traces`), the metrics they feed, and the reload history, all from real traffic through a
//! real weir with real plugins. Metrics are process-wide and other tests run in this process:
//! the names here (route, listener, filters) are this file's own.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use weir_tests::{Backend, guests};

use crate::support::{TIMEOUT, TestWeir, filter, runtime_table};

/// Values that must never reach a record: credentials the client sent and a header value a
/// filter set.
const SECRETS: [&str; 4] = [
    "cookie-secret",
    "auth-secret",
    "proxy-secret",
    "team-value-secret",
];

/// One listener `obs-<tag>`, one route `obs-<tag>` running a header-setting filter and a trapping
/// fail-open filter (on `/boom` only).
pub(crate) fn observed(backend: &Backend, tag: &str) -> String {
    format!(
        "{}\n[[listener]]\nname = \"obs-{tag}\"\nbind = \"127.0.0.1:0\"\n\n[[pool]]\nname = \"main\"\nbackends = [\"{}\"]\n\n{}\n{}failure = \"fail-open\"\n\n[[route]]\nname = \"obs-{tag}\"\npath_prefix = \"/\"\npool = \"main\"\nfilters = [\"obs-{tag}-headers\", \"obs-{tag}-trap\"]\n",
        runtime_table(),
        backend.addr(),
        filter(
            &format!("obs-{tag}-headers"),
            guests::HEADERS,
            r#"{"request":{"set":{"x-team":"team-value-secret"},"remove":["x-drop"]}}"#,
        ),
        filter(
            &format!("obs-{tag}-trap"),
            guests::MISBEHAVE,
            r#"{"fault":"trap","when":"request","path":"/boom"}"#,
        ),
    )
}

/// `GET` or `POST` on the admin endpoint; status and body.
pub(crate) async fn admin(addr: std::net::SocketAddr, path: &str) -> (StatusCode, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = http::Request::get(format!("http://{addr}{path}"))
        .body(Full::default())
        .expect("request");
    let response = tokio::time::timeout(TIMEOUT, client.request(request))
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

/// Waits (at most 10 s) until `/traces` holds a record whose target is `target`; that record
/// and the whole `/traces` text.
async fn record_of(addr: std::net::SocketAddr, target: &str) -> (serde_json::Value, String) {
    record_where(addr, |r| r["http.target"] == target).await
}

/// Waits (at most 10 s) until `/traces` holds a record `wanted` accepts; that record and the
/// whole `/traces` text.
async fn record_where(
    addr: std::net::SocketAddr,
    wanted: impl Fn(&serde_json::Value) -> bool,
) -> (serde_json::Value, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = admin(addr, "/traces").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let traces: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let found = traces["records"]
            .as_array()
            .expect("records")
            .iter()
            .find(|r| wanted(r))
            .cloned();
        if let Some(record) = found {
            return (record, body);
        }
        assert!(Instant::now() < deadline, "no such record: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn access_records_carry_every_field_and_the_decision_trace_but_no_secret() {
    let backend = Backend::start("obs").await;
    let weir = TestWeir::start(&observed(&backend, "fields")).await;
    let admin_server = weir::admin::serve("127.0.0.1:0".parse().expect("addr"), weir.control())
        .await
        .expect("admin endpoint");
    let request = weir
        .request("POST", "app.test", "/fine?q=1")
        .header("cookie", "session=cookie-secret")
        .header("authorization", "Bearer auth-secret")
        .header("proxy-authorization", "Basic proxy-secret")
        .header("x-drop", "gone")
        .body(Full::new(Bytes::from_static(b"hello")))
        .expect("request");
    let response = weir.send(request).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(backend.last().header("x-team"), "team-value-secret");

    let (record, text) = record_of(admin_server.addr, "/fine?q=1").await;
    assert_eq!(record["kind"], "request");
    assert_eq!(record["http.method"], "POST");
    assert_eq!(record["http.version"], "HTTP/1.1");
    assert_eq!(record["http.status"], 200);
    assert_eq!(record["route"], "obs-fields");
    assert_eq!(record["listener"], "obs-fields");
    assert_eq!(record["generation"], 1);
    assert_eq!(record["bytes_in"], 5);
    assert_eq!(record["bytes_out"], response.body.len());
    assert_eq!(record["upstream.addr"], backend.addr().to_string());
    assert_eq!(record["upstream.retries"], 0);
    assert!(record["error"].is_null(), "{record}");
    assert!(record["tls.version"].is_null(), "{record}");
    assert!(
        record["client.addr"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:")),
        "{record}"
    );
    assert_eq!(record["client.addr"], record["peer.addr"]);
    let duration = record["duration_us"].as_u64().expect("duration");
    let ttfb = record["upstream.ttfb_us"].as_u64().expect("ttfb");
    assert!(0 < ttfb && ttfb <= duration, "{record}");
    assert!(
        record["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{record}"
    );
    let trace = record["trace"].as_array().expect("trace");
    // Request hooks in chain order, then response hooks in reverse order.
    assert_eq!(trace.len(), 4, "{record}");
    assert_eq!(trace[0]["filter"], "obs-fields-headers");
    assert_eq!(trace[0]["hook"], "on_request");
    assert_eq!(trace[0]["verdict"], "continue");
    assert_eq!(
        trace[0]["edits"],
        serde_json::json!(["remove-header x-drop", "set-header x-team"])
    );
    assert!(trace[0]["fault"].is_null());
    assert_eq!(trace[1]["filter"], "obs-fields-trap");
    assert_eq!(trace[1]["verdict"], "continue");
    assert_eq!(
        trace[1]["edits"],
        serde_json::json!(["set-header x-guest-ok"])
    );
    assert_eq!(
        (&trace[2]["filter"], &trace[2]["hook"]),
        (
            &serde_json::json!("obs-fields-trap"),
            &serde_json::json!("on_response")
        )
    );
    assert_eq!(trace[3]["filter"], "obs-fields-headers");
    for step in trace {
        assert!(step["time_us"].as_u64().is_some(), "{step}");
    }
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} in {text}");
    }

    // A faulting fail-open filter is skipped and its fault traced.
    assert_eq!(weir.get("app.test", "/boom").await.status, StatusCode::OK);
    let (record, _) = record_of(admin_server.addr, "/boom").await;
    let trap = &record["trace"][1];
    assert_eq!(
        (&trap["filter"], &trap["verdict"], &trap["fault"]),
        (
            &serde_json::json!("obs-fields-trap"),
            &serde_json::json!("skipped"),
            &serde_json::json!("trap")
        ),
        "{record}"
    );

    // A request without a route is recorded with weir's own error.
    let res = weir
        .send(
            weir.request("GET", "[::1", "/x")
                .body(Full::default())
                .expect("request"),
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let (record, _) = record_of(admin_server.addr, "/x").await;
    assert_eq!(record["http.status"], 400);
    assert!(record["error"].is_string(), "{record}");
    assert!(record["upstream.addr"].is_null(), "{record}");
}

/// The value of the sample line `series` (name and labels) in `/metrics`.
pub(crate) fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_filter_calls_faults_and_connections_from_real_traffic() {
    let backend = Backend::start("obs").await;
    let weir = TestWeir::start(&observed(&backend, "metrics")).await;
    let admin_server = weir::admin::serve("127.0.0.1:0".parse().expect("addr"), weir.control())
        .await
        .expect("admin endpoint");
    for path in ["/a", "/b", "/boom"] {
        assert_eq!(weir.get("app.test", path).await.status, StatusCode::OK);
    }
    // Records (and the request metrics) are finished when the response body ends: wait for the
    // last one.
    record_of(admin_server.addr, "/boom").await;
    let (status, metrics) = admin(admin_server.addr, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");
    for (series, expected) in [
        (
            "weir_requests_total{route=\"obs-metrics\",status_class=\"2xx\",listener=\"obs-metrics\"}",
            3.0,
        ),
        (
            "weir_request_duration_seconds_count{route=\"obs-metrics\",listener=\"obs-metrics\"}",
            3.0,
        ),
        (
            "weir_upstream_response_seconds_count{route=\"obs-metrics\",listener=\"obs-metrics\"}",
            3.0,
        ),
        (
            "weir_filter_calls_total{filter=\"obs-metrics-headers\",hook=\"on_request\"}",
            3.0,
        ),
        (
            "weir_filter_call_duration_seconds_count{filter=\"obs-metrics-headers\",hook=\"on_request\"}",
            3.0,
        ),
        (
            "weir_filter_faults_total{filter=\"obs-metrics-trap\",kind=\"trap\"}",
            1.0,
        ),
        (
            "weir_filter_instances{filter=\"obs-metrics-headers\",state=\"busy\"}",
            0.0,
        ),
        (
            "weir_downstream_connections_total{listener=\"obs-metrics\"}",
            1.0,
        ),
        (
            "weir_downstream_connections_open{listener=\"obs-metrics\"}",
            1.0,
        ),
        ("weir_config_generation", 1.0),
        (
            &format!(
                "weir_upstream_backend_up{{pool=\"main\",backend=\"{}\",state=\"healthy\"}}",
                backend.addr()
            ),
            1.0,
        ),
    ] {
        assert_eq!(
            sample(&metrics, series),
            Some(expected),
            "{series} in\n{metrics}"
        );
    }
    assert!(
        sample(
            &metrics,
            "weir_filter_instances{filter=\"obs-metrics-headers\",state=\"pooled\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    assert!(
        sample(&metrics, "weir_log_lines_dropped_total").is_some(),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_reload_history_keeps_each_outcome_and_refusal_reason() {
    let backend = Backend::start("obs").await;
    let weir = TestWeir::start(&observed(&backend, "reloads")).await;
    let control = weir.control();
    let admin_server = weir::admin::serve("127.0.0.1:0".parse().expect("addr"), control.clone())
        .await
        .expect("admin endpoint");
    let good = weir::config::parse(
        &observed(&backend, "reloads"),
        "test.toml",
        std::path::Path::new("/"),
    )
    .expect("config");
    control.reload(good).await.expect("applied");
    let mut bad = weir::config::parse(
        &observed(&backend, "reloads"),
        "test.toml",
        std::path::Path::new("/"),
    )
    .expect("config");
    bad.admin = Some(weir::config::AdminConfig {
        bind: "127.0.0.1:1".parse().expect("addr"),
        token: None,
    });
    control.reload(bad).await.expect_err("refused");
    let (status, body) = admin(admin_server.addr, "/reloads").await;
    assert_eq!(status, StatusCode::OK);
    let reloads: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(reloads["generation"], 2);
    assert_eq!(
        (&reloads["applied"], &reloads["refused"]),
        (&1.into(), &1.into())
    );
    let history = reloads["history"].as_array().expect("history");
    assert_eq!(history.len(), 2, "{body}");
    assert_eq!(history[0]["outcome"], "applied");
    assert_eq!(history[0]["generation"], 2);
    assert!(history[0]["error"].is_null());
    assert_eq!(history[1]["outcome"], "refused");
    assert!(
        history[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("[admin] cannot change on reload")),
        "{body}"
    );
}

#[tokio::test]
async fn records_count_retries_on_another_backend_and_refused_edits_are_faults() {
    let live = Backend::start("live").await;
    let dead = weir_tests::closed_port().await;
    let toml = format!(
        "{}\n[[listener]]\nname = \"obs-retry\"\nbind = \"127.0.0.1:0\"\n\n[[pool]]\nname = \"two\"\nbackends = [\"{dead}\", \"{}\"]\n\n{}\n[[route]]\nname = \"obs-retry\"\npath_prefix = \"/\"\npool = \"two\"\nfilters = [\"obs-retry-hop\"]\n",
        runtime_table(),
        live.addr(),
        filter(
            "obs-retry-hop",
            guests::HEADERS,
            r#"{"request":{"set":{"connection":"close"}}}"#,
        ),
    );
    let weir = TestWeir::start(&toml).await;
    let admin_server = weir::admin::serve("127.0.0.1:0".parse().expect("addr"), weir.control())
        .await
        .expect("admin endpoint");
    // Round robin: one of the first two requests goes to the dead backend first.
    for n in 0..2 {
        let path = format!("/r{n}");
        assert_eq!(weir.get("app.test", &path).await.status, StatusCode::OK);
    }
    let mut retried = 0;
    for n in 0..2 {
        let (record, _) = record_of(admin_server.addr, &format!("/r{n}")).await;
        assert_eq!(record["upstream.addr"], live.addr().to_string(), "{record}");
        retried += record["upstream.retries"].as_u64().expect("retries");
        let refused = &record["trace"][0]["refused"];
        assert!(
            refused[0]
                .as_str()
                .is_some_and(|r| r.starts_with("set-header")),
            "{record}"
        );
    }
    assert_eq!(retried, 1, "exactly one request met the dead backend first");
    let (_, metrics) = admin(admin_server.addr, "/metrics").await;
    assert_eq!(
        sample(
            &metrics,
            "weir_filter_faults_total{filter=\"obs-retry-hop\",kind=\"invalid_edit\"}"
        ),
        Some(2.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_connect_tunnel_gets_a_record_of_its_own_when_it_closes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // An echo origin: reads until the client's end of stream, sends it all back, closes.
    let origin = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let target = origin.local_addr().expect("address");
    tokio::spawn(async move {
        if let Ok((mut stream, _)) = origin.accept().await {
            let mut heard = Vec::new();
            let _ = stream.read_to_end(&mut heard).await;
            let _ = stream.write_all(&heard).await;
        }
    });
    let toml = format!(
        "{}\n[[listener]]\nname = \"obs-tunnel\"\nbind = \"127.0.0.1:0\"\nmode = \"forward\"\n[listener.forward]\nallow_private_targets = true\nconnect_ports = [{}]\n",
        runtime_table(),
        target.port()
    );
    let weir = TestWeir::start(&toml).await;
    let admin_server = weir::admin::serve("127.0.0.1:0".parse().expect("addr"), weir.control())
        .await
        .expect("admin endpoint");
    let mut tcp = tokio::net::TcpStream::connect(weir.addr)
        .await
        .expect("connect");
    tcp.write_all(
        format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: Basic proxy-secret\r\n\r\n")
            .as_bytes(),
    )
    .await
    .expect("send CONNECT");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(TIMEOUT, tcp.read(&mut byte))
            .await
            .expect("answer in time")
            .expect("read");
        assert_eq!(n, 1, "weir closed before answering");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    tcp.write_all(b"ping!").await.expect("send");
    tcp.shutdown().await.expect("half-close");
    let mut echoed = Vec::new();
    tokio::time::timeout(TIMEOUT, tcp.read_to_end(&mut echoed))
        .await
        .expect("echo in time")
        .expect("echo");
    assert_eq!(echoed, b"ping!");
    drop(tcp);

    let target = target.to_string();
    let (opened, _) = record_where(admin_server.addr, |r| {
        r["kind"] == "request" && r["http.target"] == target.as_str()
    })
    .await;
    assert_eq!(
        (
            &opened["http.method"],
            &opened["http.status"],
            &opened["listener"]
        ),
        (&"CONNECT".into(), &200.into(), &"obs-tunnel".into()),
        "{opened}"
    );
    assert!(opened["route"].is_null(), "{opened}");
    let (tunnel, text) = record_where(admin_server.addr, |r| r["kind"] == "tunnel").await;
    assert_eq!(tunnel["request.id"], opened["request.id"], "{tunnel}");
    assert_eq!(tunnel["http.target"], target.as_str());
    assert_eq!(tunnel["upstream.addr"], target.as_str());
    assert_eq!(
        (&tunnel["bytes_in"], &tunnel["bytes_out"]),
        (&5.into(), &5.into())
    );
    assert_eq!(tunnel["error"], "closed");
    assert!(tunnel["duration_us"].as_u64().is_some(), "{tunnel}");
    assert!(!text.contains("proxy-secret"), "{text}");
}

#[tokio::test]
async fn a_response_the_client_abandons_is_recorded_with_the_bytes_it_got() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let backend = Backend::start_with("big", weir_tests::Behaviour::Stream(64 << 20)).await;
    let weir = TestWeir::start(&observed(&backend, "abandon")).await;
    let admin_server = weir::admin::serve("127.0.0.1:0".parse().expect("addr"), weir.control())
        .await
        .expect("admin endpoint");
    let mut tcp = tokio::net::TcpStream::connect(weir.addr)
        .await
        .expect("connect");
    tcp.write_all(b"GET /big HTTP/1.1\r\nhost: app.test\r\n\r\n")
        .await
        .expect("send");
    // Read some of the 64 MiB, then go away.
    let mut got = vec![0u8; 256 * 1024];
    let mut read = 0;
    while read < got.len() {
        let n = tokio::time::timeout(TIMEOUT, tcp.read(&mut got[read..]))
            .await
            .expect("bytes in time")
            .expect("read");
        assert!(n > 0, "weir closed early");
        read += n;
    }
    drop(tcp);
    let (record, _) = record_of(admin_server.addr, "/big").await;
    assert_eq!(record["http.status"], 200);
    assert_eq!(record["error"], "downstream-closed", "{record}");
    let sent = record["bytes_out"].as_u64().expect("bytes_out");
    assert!(0 < sent && sent < 64 << 20, "{record}");
}
