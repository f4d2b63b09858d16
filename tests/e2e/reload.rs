//! Hot reload: a new state is built off the data path and swapped in whole; requests in flight
//! finish on the state they started with; a reload that fails keeps the old state serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use weir_tests::{Backend, Behaviour, guests};

use crate::support::{TIMEOUT, TestWeir, runtime_table};

/// A config file and a plugin file in a temporary directory, rewritten between reloads.
struct Files {
    dir: tempfile::TempDir,
    backend: std::net::SocketAddr,
    watch: bool,
}

impl Files {
    fn new(backend: &Backend) -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
            backend: backend.addr(),
            watch: false,
        }
    }

    fn watched(backend: &Backend) -> Self {
        Self {
            watch: true,
            ..Self::new(backend)
        }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("weir.toml")
    }

    fn plugin_path(&self) -> PathBuf {
        self.dir.path().join("filter.wasm")
    }

    /// Installs version `n` of the filter: odd versions are the headers plugin, even ones the
    /// edits guest, both setting `x-version: v<n>` — a different module each time.
    fn install_version(&self, n: usize) {
        let (source, config) = if n % 2 == 1 {
            (
                guests::HEADERS,
                format!(r#"{{"request":{{"set":{{"x-version":"v{n}"}}}}}}"#),
            )
        } else {
            (
                guests::EDITS,
                format!(r#"{{"request":[["set-header","x-version","v{n}"]]}}"#),
            )
        };
        self.install(Path::new(source), &config);
    }

    /// Writes the plugin (atomically, as a deploy tool would) and a config that uses it.
    fn install(&self, plugin: &Path, config_json: &str) {
        let tmp = self.dir.path().join("filter.wasm.tmp");
        std::fs::copy(plugin, &tmp).expect("copy the plugin");
        std::fs::rename(&tmp, self.plugin_path()).expect("install the plugin");
        let toml = format!(
            "{}\n[server]\nwatch = {}\nwatch_interval_ms = 20\nwatch_debounce_ms = 400\n[[listener]]\nbind = \"127.0.0.1:0\"\n[[pool]]\nname = \"main\"\nbackends = [\"{}\"]\n[[filter]]\nname = \"versioned\"\nplugin = {:?}\nconfig_json = '{config_json}'\n[[route]]\npool = \"main\"\nfilters = [\"versioned\"]\n",
            runtime_table(),
            self.watch,
            self.backend,
            self.plugin_path().display().to_string()
        );
        std::fs::write(self.config_path(), toml).expect("write the config");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_plugin_swaps_under_load_fail_no_request() {
    let backend = Backend::start("a").await;
    let files = Files::new(&backend);
    files.install_version(1);
    let weir = TestWeir::start_file(&files.config_path()).await;
    let control = weir.control();

    // A client sending requests back to back for the whole test (bounded in count and time).
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let load = {
        let (stop, sent, failed, addr) = (stop.clone(), sent.clone(), failed.clone(), weir.addr);
        tokio::spawn(async move {
            let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed)
                && sent.load(Ordering::Relaxed) < 100_000
                && tokio::time::Instant::now() < deadline
            {
                let uri = format!("http://{addr}/load").parse().unwrap();
                let ok = match tokio::time::timeout(TIMEOUT, client.get(uri)).await {
                    Ok(Ok(res)) => {
                        res.status() == StatusCode::OK && res.into_body().collect().await.is_ok()
                    }
                    _ => false,
                };
                sent.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };

    for n in 2..=21 {
        files.install_version(n);
        let generation = control.reload_from_source().await.expect("reload applies");
        assert_eq!(generation, n as u64);
        // Every request that starts after the swap sees the new version.
        let path = format!("/check/{n}");
        assert_eq!(weir.get("app.test", &path).await.status, StatusCode::OK);
        let seen = backend
            .requests()
            .into_iter()
            .find(|r| r.path == path)
            .expect("check request arrived");
        assert_eq!(seen.header("x-version"), format!("v{n}"));
    }
    stop.store(true, Ordering::Relaxed);
    tokio::time::timeout(TIMEOUT, load).await.unwrap().unwrap();
    assert!(
        sent.load(Ordering::Relaxed) > 20,
        "the load ran during the swaps"
    );
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "no request failed across 20 swaps"
    );
    assert_eq!(control.stats().applied, 20);
}

#[tokio::test]
async fn broken_modules_are_refused_and_the_old_one_keeps_serving() {
    let backend = Backend::start("a").await;
    let files = Files::new(&backend);
    files.install_version(1);
    let weir = TestWeir::start_file(&files.config_path()).await;
    let control = weir.control();

    let garbage = files.dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"\0asm\x0d\0\x01\0 truncated").unwrap();
    let broken: [(&Path, &str, &str); 3] = [
        (&garbage, "{}", "is not a loadable WebAssembly component"),
        (
            Path::new(guests::MISBEHAVE),
            r#"{"fault":"trap","when":"init"}"#,
            "cannot start an instance",
        ),
        (
            Path::new(guests::WRONG_WORLD),
            "{}",
            "does not implement weir:filter@0.1.0",
        ),
    ];
    for (i, (plugin, config, reason)) in broken.into_iter().enumerate() {
        files.install(plugin, config);
        let err = format!(
            "{:#}",
            anyhow::Error::new(
                control
                    .reload_from_source()
                    .await
                    .expect_err("reload is refused")
            )
        );
        assert!(err.contains("filter `versioned`"), "{err}");
        assert!(err.contains(reason), "{err}");
        let stats = control.stats();
        assert_eq!(stats.failed, i as u64 + 1);
        assert!(stats.last_error.unwrap().contains(reason));
        let res = weir.get("app.test", "/still-v1").await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(
            backend.last().header("x-version"),
            "v1",
            "the old plugin still serves"
        );
    }
    assert_eq!(control.state().generation, 1);
}

#[tokio::test]
async fn a_long_streaming_response_survives_a_reload() {
    const SIZE: u64 = 32 * 1024 * 1024;
    let backend = Backend::start_with("big", Behaviour::Stream(SIZE)).await;
    let files = Files::new(&backend);
    files.install_version(1);
    let weir = TestWeir::start_file(&files.config_path()).await;

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let res = client
        .get(format!("http://{}/big", weir.addr).parse().unwrap())
        .await
        .unwrap();
    let mut body = res.into_body();
    let mut received = 0u64;
    // Read a first part, reload twice, then read the rest.
    while received < SIZE / 4 {
        let frame = tokio::time::timeout(TIMEOUT, body.frame())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        received += frame.data_ref().map_or(0, |d| d.len() as u64);
    }
    for n in 2..=3 {
        files.install_version(n);
        weir.control()
            .reload_from_source()
            .await
            .expect("reload applies");
    }
    while let Some(frame) = tokio::time::timeout(TIMEOUT, body.frame()).await.unwrap() {
        received += frame.unwrap().data_ref().map_or(0, |d| d.len() as u64);
    }
    assert_eq!(received, SIZE, "every byte arrived across the reloads");
}

#[tokio::test]
async fn admin_endpoint_lists_plugins_reloads_and_exports_metrics() {
    let backend = Backend::start("a").await;
    let files = Files::new(&backend);
    files.install_version(1);
    let weir = TestWeir::start_file(&files.config_path()).await;
    let admin = weir::admin::serve("127.0.0.1:0".parse().unwrap(), weir.control())
        .await
        .unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let call = |method: &'static str, path: &str| {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", admin.addr))
            .body(Full::default())
            .unwrap();
        let client = client.clone();
        async move {
            let res = tokio::time::timeout(TIMEOUT, client.request(request))
                .await
                .unwrap()
                .unwrap();
            let status = res.status();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };

    assert_eq!(
        call("GET", "/health").await,
        (StatusCode::OK, "ok\n".to_owned())
    );
    let (_, body) = call("GET", "/plugins").await;
    let plugins: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(plugins["generation"], 1);
    assert_eq!(plugins["plugins"][0]["name"], "versioned");
    let sha = plugins["plugins"][0]["sha256"].as_str().unwrap();
    assert_eq!(plugins["plugins"][0]["world"], "http-filter");
    assert_eq!(sha.len(), 64, "a SHA-256 in hex");
    assert!(plugins["plugins"][0]["loaded_at_unix_ms"].as_u64().unwrap() > 0);

    // Reloading the same module is a cache hit: no compilation.
    let (status, body) = call("POST", "/reload").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let outcome: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (outcome["outcome"].as_str(), outcome["generation"].as_u64()),
        (Some("applied"), Some(2))
    );
    let (_, body) = call("GET", "/plugins").await;
    let plugins: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(plugins["plugins"][0]["sha256"], sha);
    assert_eq!(plugins["plugins"][0]["compiled"], "memory");

    // A refused reload answers 500 with the reason.
    std::fs::write(files.plugin_path(), b"not wasm").unwrap();
    let (status, body) = call("POST", "/reload").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let outcome: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(outcome["outcome"], "refused");
    assert!(
        outcome["error"]
            .as_str()
            .unwrap()
            .contains("filter `versioned`"),
        "{body}"
    );

    assert_eq!(
        weir.get("app.test", "/counted").await.status,
        StatusCode::OK
    );
    let (_, metrics) = call("GET", "/metrics").await;
    assert!(metrics.contains("weir_config_generation 2\n"), "{metrics}");
    assert!(
        metrics.contains("weir_reloads_total{outcome=\"applied\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("weir_reloads_total{outcome=\"refused\"} 1\n"),
        "{metrics}"
    );
    // Traffic counters are process-wide (other tests run in this process): this test's own
    // request makes the 2xx count positive.
    let ok_responses = metrics
        .lines()
        .find_map(|l| l.strip_prefix("weir_responses_total{class=\"2xx\"} "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(ok_responses.is_some_and(|n| n > 0), "{metrics}");
    assert!(metrics.contains("weir_tunnels_open "), "{metrics}");
    assert_eq!(call("GET", "/nope").await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        call("DELETE", "/reload").await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn a_changed_plugin_file_is_reloaded_by_the_watcher() {
    let backend = Backend::start("a").await;
    let files = Files::watched(&backend);
    files.install_version(1);
    let weir = TestWeir::start_file(&files.config_path()).await;
    let mut generations = weir.control().subscribe();
    // A deploy replaces the module and its config.
    let config = std::fs::read_to_string(files.config_path()).unwrap();
    let tmp = files.dir.path().join("next.wasm");
    std::fs::copy(guests::EDITS, &tmp).unwrap();
    std::fs::write(
        files.config_path(),
        config.replace(
            r#"{"request":{"set":{"x-version":"v1"}}}"#,
            r#"{"request":[["set-header","x-version","v2"]]}"#,
        ),
    )
    .unwrap();
    std::fs::rename(&tmp, files.plugin_path()).unwrap();
    let reloaded = tokio::time::timeout(TIMEOUT, generations.wait_for(|g| *g == 2)).await;
    assert!(reloaded.is_ok(), "no reload: {:?}", weir.control().stats());
    weir.get("app.test", "/after").await;
    assert_eq!(backend.last().header("x-version"), "v2");
}

#[tokio::test]
async fn a_config_written_in_several_steps_is_loaded_once_complete() {
    let backend = Backend::start("a").await;
    let files = Files::watched(&backend);
    files.install_version(1);
    let weir = TestWeir::start_file(&files.config_path()).await;
    let control = weir.control();
    let mut generations = control.subscribe();
    // A slow writer: the new config arrives in three parts, 40 ms apart (the watcher polls every
    // 20 ms and waits for 400 ms of quiet). A half-written file is never loaded.
    files.install_version(3);
    let full = std::fs::read(files.config_path()).unwrap();
    let third = full.len() / 3;
    std::fs::write(files.config_path(), &full[..third]).unwrap();
    for end in [2 * third, full.len()] {
        tokio::time::sleep(Duration::from_millis(40)).await;
        std::fs::write(files.config_path(), &full[..end]).unwrap();
    }
    tokio::time::timeout(TIMEOUT, generations.wait_for(|g| *g == 2))
        .await
        .unwrap()
        .unwrap();
    let stats = control.stats();
    assert_eq!(
        (stats.applied, stats.failed),
        (1, 0),
        "one reload, of the complete file: {:?}",
        stats.last_error
    );
    weir.get("app.test", "/after").await;
    assert_eq!(backend.last().header("x-version"), "v3");
}

#[tokio::test]
async fn an_unchanged_pool_keeps_its_upstream_connections_across_reloads() {
    let backend = Backend::start("a").await;
    let files = Files::new(&backend);
    files.install_version(1);
    let weir = TestWeir::start_file(&files.config_path()).await;
    for n in 2..=4 {
        assert_eq!(weir.get("app.test", "/").await.status, StatusCode::OK);
        files.install_version(n);
        weir.control()
            .reload_from_source()
            .await
            .expect("reload applies");
    }
    assert_eq!(weir.get("app.test", "/").await.status, StatusCode::OK);
    assert_eq!(backend.count(), 4);
    assert_eq!(
        backend.connections(),
        1,
        "the pool and its keep-alive connection were carried over"
    );
}

fn listeners_config(backend: std::net::SocketAddr, extra: Option<std::net::SocketAddr>) -> String {
    let extra = extra.map_or(String::new(), |addr| {
        format!("[[listener]]\nname = \"extra\"\nbind = \"{addr}\"\n")
    });
    format!(
        "{}\n[[listener]]\nname = \"main\"\nbind = \"127.0.0.1:0\"\n{extra}[[pool]]\nname = \"main\"\nbackends = [\"{backend}\"]\nresponse_timeout_ms = 5000\n[[route]]\npool = \"main\"\n",
        runtime_table()
    )
}

#[tokio::test]
async fn listeners_are_added_drained_and_refused_on_reload() {
    let backend = Backend::start_with("slow", Behaviour::Delay(Duration::from_millis(300))).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weir.toml");
    std::fs::write(&path, listeners_config(backend.addr(), None)).unwrap();
    let weir = TestWeir::start_file(&path).await;
    let control = weir.control();

    // Add a listener: it serves at once; the first keeps its address.
    let extra = weir_tests::closed_port().await;
    std::fs::write(&path, listeners_config(backend.addr(), Some(extra))).unwrap();
    control.reload_from_source().await.expect("reload applies");
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let res = client
        .get(format!("http://{extra}/").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(weir.get("app.test", "/").await.status, StatusCode::OK);

    // Remove it while a request on it is in flight: the request completes, then it is closed.
    let in_flight = tokio::spawn({
        let client = client.clone();
        async move {
            let res = client
                .get(format!("http://{extra}/in-flight").parse().unwrap())
                .await
                .unwrap();
            (
                res.status(),
                res.into_body().collect().await.unwrap().to_bytes(),
            )
        }
    });
    let arrived = backend.count() + 1;
    assert!(backend.wait_for(arrived, TIMEOUT).await);
    std::fs::write(&path, listeners_config(backend.addr(), None)).unwrap();
    control.reload_from_source().await.expect("reload applies");
    let (status, body) = tokio::time::timeout(TIMEOUT, in_flight)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (status, body.as_ref()),
        (StatusCode::OK, &b"slow /in-flight"[..])
    );
    let refused = tokio::time::timeout(TIMEOUT, async {
        loop {
            if tokio::net::TcpStream::connect(extra).await.is_err() {
                break;
            }
            tokio::task::yield_now().await;
        }
    });
    assert!(
        refused.await.is_ok(),
        "the removed listener stops accepting"
    );

    // A new address that is busy refuses the reload; everything keeps serving.
    let squatter = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let busy = squatter.local_addr().unwrap();
    std::fs::write(&path, listeners_config(backend.addr(), Some(busy))).unwrap();
    let err = format!(
        "{:#}",
        anyhow::Error::new(control.reload_from_source().await.expect_err("refused"))
    );
    assert!(
        err.contains(&format!("listener `extra`: cannot bind {busy}")),
        "{err}"
    );
    assert_eq!(weir.get("app.test", "/").await.status, StatusCode::OK);
    assert_eq!(weir.running_addrs(), 1);
}
