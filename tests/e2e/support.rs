//! Helpers for the e2e suite: real weir in-process on loopback, and a real HTTP client.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use weir::server::Running;

/// Every network wait in the suite is bounded by this.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(20);

/// A weir started in-process from a TOML config.
pub(crate) struct TestWeir {
    running: Option<Running>,
    /// Address of the first listener.
    pub(crate) addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// A response with its body read.
#[derive(Debug)]
pub(crate) struct TestResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl TestResponse {
    /// The first value of a header as text ("" when absent).
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Every value of a header as text.
    pub(crate) fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }
}

/// A cache directory shared by every test, so each plugin is compiled once per run.
pub(crate) fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("weir-component-cache")
}

/// A `[runtime]` table sized for tests (many engines live in one test process).
pub(crate) fn runtime_table() -> String {
    format!(
        "[runtime]\nmax_instances = 32\ncache_dir = {:?}\n",
        cache_dir().display().to_string()
    )
}

/// One filter table.
pub(crate) fn filter(name: &str, plugin: &str, config_json: &str) -> String {
    format!("[[filter]]\nname = {name:?}\nplugin = {plugin:?}\nconfig_json = '''{config_json}'''\n")
}

/// A config with one listener, one pool `main` on `backend`, and one route `/` running `filters`
/// (names) over the filter tables in `filter_tables`.
pub(crate) fn config(backend: SocketAddr, filter_tables: &[String], chain: &[&str]) -> String {
    let chain: Vec<String> = chain.iter().map(|n| format!("{n:?}")).collect();
    format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\n\n[[pool]]\nname = \"main\"\nbackends = [\"{backend}\"]\n\n{}\n[[route]]\npath_prefix = \"/\"\npool = \"main\"\nfilters = [{}]\n",
        runtime_table(),
        filter_tables.join("\n"),
        chain.join(", ")
    )
}

/// Starts weir from `toml`, expecting it to fail, and returns the whole error chain.
pub(crate) async fn start_error(toml: &str) -> String {
    match TestWeir::try_start(toml).await {
        Ok(_) => panic!("weir started with:\n{toml}"),
        Err(e) => format!("{e:#}"),
    }
}

impl TestWeir {
    /// Parses `toml` and starts weir; panics with the error when it does not start.
    pub(crate) async fn start(toml: &str) -> Self {
        match Self::try_start(toml).await {
            Ok(weir) => weir,
            Err(e) => panic!("weir did not start: {e:#}\nconfig:\n{toml}"),
        }
    }

    /// Parses `toml` and starts weir.
    pub(crate) async fn try_start(toml: &str) -> anyhow::Result<Self> {
        let config = weir::config::parse(toml, "test.toml", std::path::Path::new("/"))?;
        Self::from_config(config).await
    }

    /// Starts weir from a config file (reloads re-read it).
    pub(crate) async fn start_file(path: &std::path::Path) -> Self {
        let config = weir::config::load(path).expect("the config file is valid");
        Self::from_config(config).await.expect("weir starts")
    }

    /// Starts weir from a parsed config.
    pub(crate) async fn from_config(config: weir::config::Config) -> anyhow::Result<Self> {
        let running = tokio::time::timeout(TIMEOUT, weir::server::start(config)).await??;
        let addr = running.addrs()[0].1;
        Ok(Self {
            running: Some(running),
            addr,
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// The address of the listener called `name`.
    pub(crate) fn addr_of(&self, name: &str) -> SocketAddr {
        self.running
            .as_ref()
            .expect("weir is running")
            .addr_of(name)
            .unwrap_or_else(|| panic!("no listener `{name}`"))
    }

    /// How many listeners serve.
    pub(crate) fn running_addrs(&self) -> usize {
        self.running
            .as_ref()
            .expect("weir is running")
            .addrs()
            .len()
    }

    /// The reload handle.
    pub(crate) fn control(&self) -> std::sync::Arc<weir::server::Control> {
        self.running
            .as_ref()
            .expect("weir is running")
            .control()
            .clone()
    }

    /// `GET http://<addr><path>` with `Host: <host>`.
    pub(crate) async fn get(&self, host: &str, path: &str) -> TestResponse {
        self.send(
            self.request("GET", host, path)
                .body(Full::default())
                .expect("valid request"),
        )
        .await
    }

    /// A request builder aimed at this weir.
    pub(crate) fn request(&self, method: &str, host: &str, path: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .header("host", host)
    }

    /// Sends a request and reads the whole response.
    pub(crate) async fn send(&self, request: Request<Full<Bytes>>) -> TestResponse {
        let response = tokio::time::timeout(TIMEOUT, self.client.request(request))
            .await
            .expect("weir answered in time")
            .expect("weir answered");
        let (parts, body) = response.into_parts();
        let body = tokio::time::timeout(TIMEOUT, body.collect())
            .await
            .expect("body arrived in time")
            .expect("body arrived")
            .to_bytes();
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// Graceful shutdown.
    /// The running weir, for tests that drive the stop themselves.
    pub(crate) fn into_running(mut self) -> Running {
        self.running.take().expect("weir is running")
    }

    pub(crate) async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            tokio::time::timeout(TIMEOUT, running.shutdown())
                .await
                .expect("shutdown in time");
        }
    }
}
