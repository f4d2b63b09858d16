//! The pool key `protocol`: HTTP/2 with prior knowledge to a cleartext backend (`h2`), where a
//! real HTTP/2-only hyper server sees HTTP/2 requests, all on one shared connection; and what
//! ALPN offers to `https://` backends.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::{Response, StatusCode, Version};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use weir_tests::Backend;
use weir_tests::tls::{Pki, server_config};

use crate::support::{TestWeir, runtime_table};

/// The version and `:scheme` of one request.
type Seen = (Version, Option<String>);

/// An HTTP/2-only server (no HTTP/1.1, no upgrade): it answers `<version> <path>` and records
/// the version and `:scheme` of each request and the connections it accepted.
#[derive(Clone, Default)]
struct H2Only {
    connections: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl H2Only {
    async fn start(&self) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let state = self.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                state.connections.fetch_add(1, Ordering::Relaxed);
                let seen = state.seen.clone();
                let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let scheme = request.uri().scheme_str().map(str::to_owned);
                        seen.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push((request.version(), scheme));
                        let body = format!("{:?} {}", request.version(), request.uri().path());
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        addr
    }
}

fn config(backend: SocketAddr, protocol: &str) -> String {
    format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\n\n[[pool]]\nname = \"h2\"\nbackends = [\"{backend}\"]\nprotocol = \"{protocol}\"\n\n[[route]]\npath_prefix = \"/\"\npool = \"h2\"\n",
        runtime_table()
    )
}

#[tokio::test]
async fn an_h2_pool_speaks_http2_with_prior_knowledge_on_one_connection() {
    let backend = H2Only::default();
    let addr = backend.start().await;
    let weir = TestWeir::start(&config(addr, "h2")).await;
    let first = weir.get("app.test", "/first").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body, "HTTP/2.0 /first");
    // Concurrent requests multiplex on the shared connection.
    let mut tasks = Vec::new();
    let weir = Arc::new(weir);
    for n in 0..8 {
        let weir = weir.clone();
        tasks.push(tokio::spawn(async move {
            weir.get("app.test", &format!("/r{n}")).await
        }));
    }
    for task in tasks {
        let response = task.await.expect("join");
        assert_eq!(response.status, StatusCode::OK);
        assert!(
            response.body.starts_with("HTTP/2.0 /r"),
            "{}",
            response.body
        );
    }
    let seen = backend.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 9);
    for (version, scheme) in seen {
        assert_eq!(version, Version::HTTP_2);
        assert_eq!(
            scheme.as_deref(),
            Some("http"),
            "h2c requests carry :scheme http"
        );
    }
    assert_eq!(backend.connections.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn an_auto_pool_speaks_http1_to_a_cleartext_backend() {
    // The HTTP/2-only server cannot parse HTTP/1.1: the default stays HTTP/1.1 on cleartext.
    let backend = H2Only::default();
    let addr = backend.start().await;
    let weir = TestWeir::start(&config(addr, "auto")).await;
    let response = weir.get("app.test", "/").await;
    assert_eq!(response.status, StatusCode::BAD_GATEWAY);
    assert!(backend.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn protocol_limits_what_alpn_offers_to_https_backends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = Pki::new(dir.path(), "alpn");
    let cert = pki.server("origin", &["localhost"]);
    // The backend offers h2 and http/1.1; the pool's protocol decides what weir offers.
    let origin = Backend::start_tls("origin", server_config(&cert)).await;
    for (protocol, expected) in [("http1", Version::HTTP_11), ("h2", Version::HTTP_2)] {
        let toml = format!(
            "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\n[[pool]]\nname = \"secure\"\nbackends = [\"https://localhost:{}\"]\nprotocol = \"{protocol}\"\ntls_ca_file = {:?}\n[[route]]\npool = \"secure\"\n",
            runtime_table(),
            origin.addr().port(),
            pki.ca_file("alpn").display().to_string()
        );
        let weir = TestWeir::start(&toml).await;
        let got = weir.get("app.test", "/alpn").await;
        assert_eq!(got.status, StatusCode::OK, "{}", got.body);
        assert_eq!(origin.last().version, expected, "protocol = {protocol}");
        weir.stop().await;
    }
}
