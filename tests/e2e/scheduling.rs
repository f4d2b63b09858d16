//! Per-core and work-stealing scheduling (`[server] scheduler`, `workers`) on a real weir:
//! connections spread over the workers' `SO_REUSEPORT` sockets, idle upstream connections are
//! shared between workers, a port something already listens on is refused, and the settings'
//! errors name their key. Metrics are process-wide: the listener names here are this file's.

use std::net::SocketAddr;
use std::time::Duration;

use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir_tests::Backend;

use crate::observability::{admin, sample};
use crate::support::{TIMEOUT, TestWeir, runtime_table, start_error};

fn scheduled(backend: SocketAddr, listener: &str, bind: &str, server: &str) -> String {
    format!(
        "{}\n[server]\n{server}\n\n[[listener]]\nname = \"{listener}\"\nbind = \"{bind}\"\n\n[[pool]]\nname = \"main\"\nbackends = [\"{backend}\"]\n\n[[route]]\npool = \"main\"\n",
        runtime_table(),
    )
}

/// A weir on any port with `server` in its `[server]` table.
async fn start_scheduled(backend: &Backend, listener: &str, server: &str) -> TestWeir {
    TestWeir::start(&scheduled(backend.addr(), listener, "127.0.0.1:0", server)).await
}

/// One request on a connection of its own, closed after the response; it must be a 200.
async fn served_on_a_new_connection(addr: SocketAddr) {
    let mut stream = TcpStream::connect(addr).await.expect("connect to weir");
    stream
        .write_all(b"GET /x HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut response = Vec::new();
    tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut response))
        .await
        .expect("answered in time")
        .expect("read");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

/// Connections `listener` of `weir` accepted on each of `workers` workers, from `/metrics`.
async fn per_worker(weir: &TestWeir, listener: &str, workers: usize) -> Vec<u64> {
    let admin_server = weir::admin::serve("127.0.0.1:0".parse().expect("addr"), weir.control())
        .await
        .expect("admin endpoint");
    let (status, metrics) = admin(admin_server.addr, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    (0..workers)
        .map(|worker| {
            let series = format!(
                "weir_worker_connections_total{{listener=\"{listener}\",worker=\"{worker}\"}}"
            );
            sample(&metrics, &series).map_or(0, |count| count as u64)
        })
        .collect()
}

#[tokio::test]
async fn per_core_workers_share_the_connections_and_the_idle_upstream_connections() {
    let backend = Backend::start("sched").await;
    let weir = start_scheduled(
        &backend,
        "sched-per-core",
        "scheduler = \"per-core\"\nworkers = 4",
    )
    .await;
    for _ in 0..40 {
        served_on_a_new_connection(weir.addr).await;
        // Let the upstream connection go back to its worker's idle list.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let counts = per_worker(&weir, "sched-per-core", 4).await;
    assert_eq!(counts.iter().sum::<u64>(), 40, "{counts:?}");
    // The kernel hashes each connection to one of the four sockets: 40 connections all on
    // one worker would be a 1 in 4^39 chance.
    assert!(
        counts.iter().filter(|c| **c > 0).count() >= 2,
        "every connection landed on one worker: {counts:?}"
    );
    // Each worker that found its own idle list empty borrowed the one idle upstream
    // connection of another worker instead of opening its own.
    assert_eq!(backend.connections(), 1, "upstream connections opened");
}

#[tokio::test]
async fn work_stealing_serves_every_connection_from_one_socket() {
    let backend = Backend::start("sched").await;
    let weir = start_scheduled(
        &backend,
        "sched-work-stealing",
        "scheduler = \"work-stealing\"\nworkers = 2",
    )
    .await;
    for _ in 0..5 {
        served_on_a_new_connection(weir.addr).await;
    }
    let counts = per_worker(&weir, "sched-work-stealing", 2).await;
    assert_eq!(
        counts,
        vec![5, 0],
        "no per-core workers: every count is worker 0's"
    );
}

#[tokio::test]
async fn a_port_something_already_listens_on_is_refused_even_with_so_reuseport() {
    let backend = Backend::start("sched").await;
    let first = start_scheduled(&backend, "sched-first", "workers = 2").await;
    // Another weir asking for the same port with SO_REUSEPORT sockets of its own would share
    // the first one's connections if weir did not probe the port first.
    let error = start_error(&scheduled(
        backend.addr(),
        "sched-second",
        &first.addr.to_string(),
        "workers = 2",
    ))
    .await;
    assert!(
        error.contains(&format!(
            "listener `sched-second`: cannot bind {}",
            first.addr
        )),
        "{error}"
    );
    assert!(error.contains("in use"), "{error}");
    served_on_a_new_connection(first.addr).await;
}

#[test]
fn scheduler_settings_are_checked_with_their_key() {
    let backend: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    for (server, key, reason) in [
        (
            "scheduler = \"fast\"",
            "`server.scheduler`",
            "`fast` is not per-core or work-stealing",
        ),
        (
            "workers = 5000",
            "`server.workers`",
            "must be 0 (one per core) to 1024",
        ),
    ] {
        let toml = scheduled(backend, "sched-config", "127.0.0.1:0", server);
        let error = match weir::config::parse(&toml, "test.toml", std::path::Path::new("/")) {
            Ok(_) => panic!("accepted: {server}"),
            Err(e) => e.to_string(),
        };
        assert!(error.starts_with("test.toml:"), "{error}");
        assert!(error.contains(key), "{error}");
        assert!(error.contains(reason), "{error}");
    }
}

#[tokio::test]
async fn the_scheduler_cannot_change_on_reload() {
    let backend = Backend::start("sched").await;
    let weir = start_scheduled(&backend, "sched-reload", "workers = 2").await;
    let next = scheduled(backend.addr(), "sched-reload", "127.0.0.1:0", "workers = 3");
    let next = weir::config::parse(&next, "test.toml", std::path::Path::new("/")).expect("valid");
    let error = weir
        .control()
        .reload(next)
        .await
        .expect_err("refused")
        .to_string();
    assert_eq!(
        error,
        "[server] scheduler and workers cannot change on reload; restart weir to apply it"
    );
    served_on_a_new_connection(weir.addr).await;
}
