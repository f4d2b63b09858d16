//! `mode = "tcp"` listeners: real TCP clients and servers on loopback, real stream-router
//! plugins (`plugins/sni-router`, `plugins/socks4-router`, `plugins/git-router`), a real rustls
//! client through TLS passthrough, limits, half-close, hot reload and world checks.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use weir_tests::{Backend, guests};

use crate::support::{TIMEOUT, TestWeir, filter, runtime_table, start_error};

/// A TCP server that reads each connection to its end, records the bytes, then answers
/// `name:<bytes read>` and closes: it sees exactly what weir sent, and answers only after the
/// client's half-close came through.
#[derive(Clone)]
struct ByteServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
}

impl ByteServer {
    async fn start(name: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let server = Self {
            addr: listener.local_addr().expect("addr"),
            seen: Arc::default(),
            accepted: Arc::default(),
        };
        let seen = server.seen.clone();
        let accepted = server.accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    let read = tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut got)).await;
                    if matches!(read, Ok(Ok(_))) {
                        let answer = format!("{name}:{}", got.len());
                        seen.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(got);
                        let _ = stream.write_all(answer.as_bytes()).await;
                        let _ = stream.shutdown().await;
                    }
                });
            }
        });
        server
    }

    /// Waits (bounded) until `n` connections were accepted.
    async fn wait_accepted(&self, n: usize) {
        for _ in 0..500 {
            if self.accepted.load(std::sync::atomic::Ordering::Relaxed) >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{n} connections were not accepted in time");
    }

    fn seen(&self) -> Vec<Vec<u8>> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A config with one TCP listener `tcp` running router `r` (`plugin` with `config_json`), the
/// `[listener.tcp]` keys in `tcp_keys`, and extra tables (pools). A stop cuts connections still
/// open after a second (keep-alive clients, say), so tests do not wait the default ten.
fn tcp_config(plugin: &str, config_json: &str, tcp_keys: &str, extra: &str) -> String {
    format!(
        "{}\n[server]\nshutdown_grace_ms = 1000\n{}\n[[listener]]\nname = \"tcp\"\nbind = \"127.0.0.1:0\"\nmode = \"tcp\"\n[listener.tcp]\nrouters = [\"r\"]\n{tcp_keys}\n\n{extra}\n",
        runtime_table(),
        filter("r", plugin, config_json),
    )
}

async fn connect(addr: SocketAddr) -> TcpStream {
    tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// Reads until the peer closes (bounded by the suite's timeout).
async fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut out))
        .await
        .expect("the connection ends in time");
    out
}

fn pkt(payload: &str) -> Vec<u8> {
    let mut line = format!("{:04x}", payload.len() + 4).into_bytes();
    line.extend_from_slice(payload.as_bytes());
    line
}

fn socks4_request(target: SocketAddr) -> Vec<u8> {
    let SocketAddr::V4(v4) = target else {
        panic!("loopback IPv4 expected")
    };
    let mut out = vec![4, 1];
    out.extend_from_slice(&v4.port().to_be_bytes());
    out.extend_from_slice(&v4.ip().octets());
    out.extend_from_slice(b"tester\0");
    out
}

pub(crate) mod sni_router {
    use weir_tests::tls::{Pki, client_config, https_get, server_config};

    use super::*;

    #[tokio::test]
    async fn a_rustls_client_reaches_the_tls_backend_its_sni_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = Pki::new(dir.path(), "sni");
        let a = Backend::start_tls("a", server_config(&pki.server("a", &["a.example"]))).await;
        let b = Backend::start_tls("b", server_config(&pki.server("b", &["b.example"]))).await;
        let pools = format!(
            "[[pool]]\nname = \"a\"\nbackends = [\"{}\"]\n[[pool]]\nname = \"b\"\nbackends = [\"{}\"]\n",
            a.addr(),
            b.addr()
        );
        let routes =
            r#"{"routes": [{"sni": "a.example", "pool": "a"}, {"sni": "*.example", "pool": "b"}]}"#;
        let weir = TestWeir::start(&tcp_config(guests::SNI_ROUTER, routes, "", &pools)).await;
        let client = client_config(pki.roots(), &["h2", "http/1.1"], None);

        for (sni, backend, name) in [("a.example", &a, "a"), ("b.example", &b, "b")] {
            let path = format!("/via-sni/{name}");
            let got = https_get(weir.addr, sni, client.clone(), &path)
                .await
                .unwrap_or_else(|e| panic!("{sni}: {e}"));
            assert_eq!(got.status, 200, "{sni}");
            // TLS ended at the backend: ALPN was negotiated with it, and it saw the request.
            assert_eq!(got.alpn.as_deref(), Some("h2"));
            assert_eq!(backend.last().path, path);
        }
        assert_eq!(a.count(), 1);
        assert_eq!(b.count(), 1);

        // No rule and no default: the connection is closed, the handshake fails.
        let err = https_get(weir.addr, "c.other", client, "/")
            .await
            .expect_err("no route for c.other");
        assert!(err.contains("handshake"), "{err}");
        weir.stop().await;
    }
}

pub(crate) mod socks4_router {
    use super::*;

    #[tokio::test]
    async fn a_socks4_client_gets_a_grant_and_talks_http_to_the_address_it_asked_for() {
        let backend = Backend::start("socks-target").await;
        let config = tcp_config(
            guests::SOCKS4_ROUTER,
            "{}",
            "allow_address_targets = true\nallow_networks = [\"127.0.0.0/8\"]",
            "",
        );
        let weir = TestWeir::start(&config).await;
        let mut client = connect(weir.addr).await;
        client
            .write_all(&socks4_request(backend.addr()))
            .await
            .expect("write");
        let mut grant = [0u8; 8];
        tokio::time::timeout(TIMEOUT, client.read_exact(&mut grant))
            .await
            .expect("grant in time")
            .expect("grant");
        assert_eq!(grant[..2], [0, 0x5a], "request granted");
        client
            .write_all(b"GET /through-socks HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
            .await
            .expect("write");
        let answer = String::from_utf8_lossy(&read_all(&mut client).await).into_owned();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert_eq!(backend.last().path, "/through-socks");
        weir.stop().await;
    }

    #[tokio::test]
    async fn an_address_target_is_refused_unless_the_listener_allows_it() {
        let backend = Backend::start("not-reached").await;
        let other_port = if backend.addr().port() == 1 { 2 } else { 1 };
        for keys in [
            // Address targets off.
            String::new(),
            // On, but loopback is a reserved range that only allow_networks opens.
            "allow_address_targets = true".to_owned(),
            // Loopback opened, but not the backend's port.
            format!(
                "allow_address_targets = true\nallow_networks = [\"127.0.0.0/8\"]\nallow_ports = [{other_port}]"
            ),
            // Opened, then denied.
            "allow_address_targets = true\nallow_networks = [\"127.0.0.0/8\"]\ndeny_networks = [\"127.0.0.1/32\"]".to_owned(),
        ] {
            let weir = TestWeir::start(&tcp_config(guests::SOCKS4_ROUTER, "{}", &keys, "")).await;
            let mut client = connect(weir.addr).await;
            client
                .write_all(&socks4_request(backend.addr()))
                .await
                .expect("write");
            // Closed before the grant: the upstream was never connected.
            assert_eq!(read_all(&mut client).await, b"", "{keys}");
            assert_eq!(backend.connections(), 0, "{keys}");
            weir.stop().await;
        }
    }

    #[tokio::test]
    async fn a_connection_without_a_decision_is_closed_at_the_first_bytes_timeout() {
        let weir = TestWeir::start(&tcp_config(
            guests::SOCKS4_ROUTER,
            "{}",
            "first_bytes_timeout_ms = 200",
            "",
        ))
        .await;
        let mut client = connect(weir.addr).await;
        // Half a SOCKS4 request: the router keeps waiting.
        client.write_all(&[4, 1, 0]).await.expect("write");
        let started = tokio::time::Instant::now();
        assert_eq!(read_all(&mut client).await, b"");
        assert!(started.elapsed() >= Duration::from_millis(150));
        weir.stop().await;
    }

    #[tokio::test]
    async fn a_prefix_past_max_prefix_bytes_is_closed() {
        let weir = TestWeir::start(&tcp_config(
            guests::SOCKS4_ROUTER,
            "{}",
            "max_prefix_bytes = 64\nallow_address_targets = true\nallow_networks = [\"127.0.0.0/8\"]",
            "",
        ))
        .await;
        let mut client = connect(weir.addr).await;
        // A request whose user id never ends.
        let mut request = vec![4, 1, 0, 80, 127, 0, 0, 1];
        request.extend_from_slice(&[b'u'; 100]);
        let _ = client.write_all(&request).await;
        assert_eq!(read_all(&mut client).await, b"");
        weir.stop().await;
    }
}

pub(crate) mod git_router {
    use super::*;

    #[tokio::test]
    async fn git_requests_go_by_repository_and_unknown_ones_get_an_err_line() {
        let team = ByteServer::start("team").await;
        let rest = ByteServer::start("rest").await;
        let pools = format!(
            "[[pool]]\nname = \"team\"\nbackends = [\"{}\"]\n",
            team.addr
        );
        let routes = format!(
            r#"{{"routes": [{{"prefix": "/team/", "pool": "team"}}, {{"prefix": "/pub/", "address": "{}"}}]}}"#,
            rest.addr
        );
        let weir = TestWeir::start(&tcp_config(
            guests::GIT_ROUTER,
            &routes,
            "allow_address_targets = true\nallow_networks = [\"127.0.0.0/8\"]",
            &pools,
        ))
        .await;

        for (repo, server, name) in [
            ("/team/tool.git", &team, "team"),
            ("/pub/x.git", &rest, "rest"),
        ] {
            let request = pkt(&format!("git-upload-pack {repo}\0host=git.example\0"));
            let mut client = connect(weir.addr).await;
            // The pkt-line in two writes: the router waits for the whole line.
            client.write_all(&request[..7]).await.expect("write");
            client.flush().await.expect("flush");
            tokio::time::sleep(Duration::from_millis(20)).await;
            client.write_all(&request[7..]).await.expect("write");
            client.shutdown().await.expect("half-close");
            let answer = read_all(&mut client).await;
            assert_eq!(answer, format!("{name}:{}", request.len()).as_bytes());
            assert_eq!(
                server.seen().last(),
                Some(&request),
                "the request went upstream unchanged"
            );
        }

        let mut client = connect(weir.addr).await;
        client
            .write_all(&pkt("git-upload-pack /secret.git\0"))
            .await
            .expect("write");
        let answer = read_all(&mut client).await;
        assert_eq!(answer, pkt("ERR no such repository: /secret.git\n"));
        weir.stop().await;
    }

    #[tokio::test]
    async fn a_reload_routes_new_connections_while_established_ones_continue() {
        let old = ByteServer::start("old").await;
        let new = ByteServer::start("new").await;
        let config_for = |server: &ByteServer| {
            tcp_config(
                guests::GIT_ROUTER,
                &format!(
                    r#"{{"routes": [{{"prefix": "/", "address": "{}"}}]}}"#,
                    server.addr
                ),
                "allow_address_targets = true\nallow_networks = [\"127.0.0.0/8\"]",
                "",
            )
        };
        let weir = TestWeir::start(&config_for(&old)).await;
        let request = pkt("git-upload-pack /r.git\0");
        let mut established = connect(weir.addr).await;
        established.write_all(&request).await.expect("write");
        // Routed (and joined to the old upstream) before the reload.
        old.wait_accepted(1).await;

        let next = weir::config::parse(&config_for(&new), "next.toml", std::path::Path::new("/"))
            .expect("valid config");
        weir.control().reload(next).await.expect("reload applies");

        let mut fresh = connect(weir.addr).await;
        fresh.write_all(&request).await.expect("write");
        fresh.shutdown().await.expect("half-close");
        assert_eq!(
            read_all(&mut fresh).await,
            format!("new:{}", request.len()).as_bytes()
        );

        // The connection routed before the reload still reaches the old upstream.
        established.write_all(b"more").await.expect("write");
        established.shutdown().await.expect("half-close");
        assert_eq!(
            read_all(&mut established).await,
            format!("old:{}", request.len() + 4).as_bytes()
        );
        weir.stop().await;
    }
}

#[tokio::test]
async fn a_stream_router_in_a_route_and_a_filter_on_a_tcp_listener_are_refused() {
    let backend = Backend::start("unused").await;
    let in_route = format!(
        "{}\n{}\n[[listener]]\nbind = \"127.0.0.1:0\"\n[[pool]]\nname = \"p\"\nbackends = [\"{}\"]\n[[route]]\npool = \"p\"\nfilters = [\"r\"]\n",
        runtime_table(),
        filter("r", guests::SNI_ROUTER, r#"{"routes": []}"#),
        backend.addr()
    );
    let err = start_error(&in_route).await;
    assert!(
        err.contains("`route[0].filters` names filter `r`, a stream-router plugin; it needs a http-filter plugin"),
        "{err}"
    );
    let on_tcp = tcp_config(guests::HEADERS, "{}", "", "");
    let err = start_error(&on_tcp).await;
    assert!(
        err.contains("`listener[0].tcp.routers` names filter `r`, a http-filter plugin"),
        "{err}"
    );
}

mod failures {
    use super::*;

    /// A TCP listener whose chain is the misbehaving router `bad` (with `failure` and `fault`),
    /// then the git router sending everything to `server`.
    fn chain(fault: &str, failure: &str, server: &ByteServer) -> String {
        let bad = format!(
            "[[filter]]\nname = \"bad\"\nplugin = {:?}\nconfig_json = '\"{fault}\"'\nfailure = \"{failure}\"\ndeadline_ms = 20\nmemory_limit_bytes = 8388608\nmax_local_response_body_bytes = 1024\n",
            guests::STREAM_MISBEHAVE
        );
        let git = filter(
            "git",
            guests::GIT_ROUTER,
            &format!(
                r#"{{"routes": [{{"prefix": "/", "address": "{}"}}]}}"#,
                server.addr
            ),
        );
        format!(
            "{}\n{bad}\n{git}\n[[listener]]\nbind = \"127.0.0.1:0\"\nmode = \"tcp\"\n[listener.tcp]\nrouters = [\"bad\", \"git\"]\nallow_address_targets = true\nallow_networks = [\"127.0.0.0/8\"]\n",
            runtime_table()
        )
    }

    /// Sends a git request and returns what came back before the connection ended.
    async fn exchange(weir: &TestWeir) -> Vec<u8> {
        let mut client = connect(weir.addr).await;
        client
            .write_all(&pkt("git-upload-pack /r.git\0"))
            .await
            .expect("write");
        let _ = client.shutdown().await;
        read_all(&mut client).await
    }

    #[tokio::test]
    async fn a_faulting_fail_closed_router_closes_the_connection() {
        let server = ByteServer::start("upstream").await;
        for fault in ["trap", "loop", "hog", "oversized"] {
            let weir = TestWeir::start(&chain(fault, "fail-closed", &server)).await;
            assert_eq!(
                exchange(&weir).await,
                b"",
                "{fault}: closed with nothing sent"
            );
            weir.stop().await;
        }
        assert!(server.seen().is_empty(), "no connection was routed");
    }

    #[tokio::test]
    async fn a_faulting_fail_open_router_is_skipped_and_the_next_one_decides() {
        let server = ByteServer::start("upstream").await;
        for fault in ["trap", "loop", "oversized"] {
            let weir = TestWeir::start(&chain(fault, "fail-open", &server)).await;
            let request_len = pkt("git-upload-pack /r.git\0").len();
            assert_eq!(
                exchange(&weir).await,
                format!("upstream:{request_len}").as_bytes(),
                "{fault}"
            );
            weir.stop().await;
        }
    }
}

#[tokio::test]
async fn a_pool_backend_that_refuses_is_skipped_and_marked_down() {
    let live = ByteServer::start("live").await;
    let dead = weir_tests::closed_port().await;
    let pools = format!(
        "[[pool]]\nname = \"git\"\nbackends = [\"{dead}\", \"{}\"]\n",
        live.addr
    );
    let routes = r#"{"routes": [{"prefix": "/", "pool": "git"}]}"#;
    let weir = TestWeir::start(&tcp_config(guests::GIT_ROUTER, routes, "", &pools)).await;
    let request = pkt("git-upload-pack /r.git\0");
    for _ in 0..4 {
        let mut client = connect(weir.addr).await;
        client.write_all(&request).await.expect("write");
        client.shutdown().await.expect("half-close");
        assert_eq!(
            read_all(&mut client).await,
            format!("live:{}", request.len()).as_bytes()
        );
    }
    assert_eq!(live.seen().len(), 4);
    let pool = weir.control().state().pools["git"].clone();
    let now = pool.now_ms();
    assert!(
        pool.backends()[0].health().is_ejected(now),
        "the refusing backend was ejected by its connect error"
    );
    weir.stop().await;
}

#[tokio::test]
async fn a_router_can_route_at_open_so_the_server_speaks_first() {
    // An SMTP-like server: it greets before the client says anything.
    let server = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server_addr = server.local_addr().expect("addr");
    tokio::spawn(async move {
        if let Ok((mut stream, _)) = server.accept().await {
            let _ = stream.write_all(b"220 ready\r\n").await;
            let mut line = [0u8; 6];
            if stream.read_exact(&mut line).await.is_ok() {
                let _ = stream.write_all(b"221 bye\r\n").await;
            }
        }
    });
    let pools = format!("[[pool]]\nname = \"smtp\"\nbackends = [\"{server_addr}\"]\n");
    let weir = TestWeir::start(&tcp_config(guests::STREAM_FIXED, "\"smtp\"", "", &pools)).await;
    let mut client = connect(weir.addr).await;
    let mut greeting = [0u8; 11];
    tokio::time::timeout(TIMEOUT, client.read_exact(&mut greeting))
        .await
        .expect("greeting in time")
        .expect("greeting");
    assert_eq!(&greeting, b"220 ready\r\n");
    client.write_all(b"QUIT\r\n").await.expect("write");
    assert_eq!(read_all(&mut client).await, b"221 bye\r\n");
    // The client closes its side too, so the stop has nothing to wait for.
    drop(client);
    weir.stop().await;
}

#[tokio::test]
async fn behind_a_balancer_the_router_sees_the_proxy_headers_client_and_the_header_is_not_forwarded()
 {
    let server = ByteServer::start("sink").await;
    let pools = format!(
        "[[pool]]\nname = \"sink\"\nbackends = [\"{}\"]\n",
        server.addr
    );
    let config = tcp_config(guests::STREAM_FIXED, "\"sink+client\"", "", &pools).replace(
        "mode = \"tcp\"\n",
        "mode = \"tcp\"\nproxy_protocol = true\n",
    );
    let weir = TestWeir::start(&config).await;
    let mut client = connect(weir.addr).await;
    client
        .write_all(b"PROXY TCP4 192.0.2.7 198.51.100.1 40123 443\r\nhello")
        .await
        .expect("write");
    client.shutdown().await.expect("half-close");
    let answer = String::from_utf8(read_all(&mut client).await).expect("text");
    assert_eq!(answer, "client 192.0.2.7 40123\nsink:5");
    assert_eq!(
        server.seen(),
        [b"hello".to_vec()],
        "only the client's own bytes went upstream"
    );
    weir.stop().await;
}

#[tokio::test]
async fn a_graceful_stop_refuses_new_connections_and_waits_for_routed_ones() {
    let server = ByteServer::start("sink").await;
    let pools = format!(
        "[[pool]]\nname = \"sink\"\nbackends = [\"{}\"]\n",
        server.addr
    );
    let weir = TestWeir::start(&tcp_config(
        guests::STREAM_FIXED,
        "\"sink+client\"",
        "",
        &pools,
    ))
    .await;
    let addr = weir.addr;
    let mut established = connect(addr).await;
    established.write_all(b"before").await.expect("write");
    // The router's reply arrives once the connection is routed (accepted, tracked, joined).
    let local_port = established.local_addr().expect("local addr").port();
    let told = format!("client 127.0.0.1 {local_port}\n");
    let mut reply = vec![0u8; told.len()];
    tokio::time::timeout(TIMEOUT, established.read_exact(&mut reply))
        .await
        .expect("routed in time")
        .expect("reply");
    assert_eq!(reply, told.as_bytes());
    let running = weir.into_running();
    let stopper = running.stopper();
    let mut stopped = tokio::spawn(running.stopped());
    stopper.graceful();
    // The listener closes: a new connection is refused (bounded retries while it closes).
    let mut refused = false;
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the listener stopped accepting");
    // The stop waits for the routed connection, which still works.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut stopped)
            .await
            .is_err(),
        "the stop waits for the open connection"
    );
    established.write_all(b" after").await.expect("write");
    established.shutdown().await.expect("half-close");
    assert_eq!(read_all(&mut established).await, b"sink:12");
    let complete = tokio::time::timeout(TIMEOUT, stopped)
        .await
        .expect("the stop ends once the connection ended")
        .expect("join");
    assert!(complete, "nothing had to be cut");
}

#[tokio::test]
async fn a_routed_connection_with_no_bytes_either_way_is_closed_at_the_idle_timeout() {
    let server = ByteServer::start("sink").await;
    let pools = format!(
        "[[pool]]\nname = \"sink\"\nbackends = [\"{}\"]\n",
        server.addr
    );
    let weir = TestWeir::start(&tcp_config(
        guests::STREAM_FIXED,
        "\"sink+client\"",
        "idle_timeout_ms = 200",
        &pools,
    ))
    .await;
    let mut client = connect(weir.addr).await;
    let started = tokio::time::Instant::now();
    // The reply (then nothing) arrives; weir closes the quiet connection after 200 ms.
    let got = read_all(&mut client).await;
    assert!(got.starts_with(b"client 127.0.0.1 "), "{got:?}");
    assert!(started.elapsed() >= Duration::from_millis(150));
    weir.stop().await;
}

/// A `git daemon` on loopback serving `base`, killed when dropped.
struct GitDaemon {
    child: std::process::Child,
    port: u16,
}

impl GitDaemon {
    async fn start(base: &std::path::Path) -> Self {
        // A free port: bound, read, released for the daemon.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // The daemon binary itself, not `git daemon`, which runs it as a child that a kill of
        // the `git` process would leave behind (holding the test's output open).
        let exec_path = std::process::Command::new("git")
            .arg("--exec-path")
            .output()
            .expect("git runs");
        let exec_path = String::from_utf8_lossy(&exec_path.stdout).trim().to_owned();
        let child = std::process::Command::new(format!("{exec_path}/git-daemon"))
            .args(["--reuseaddr", "--export-all", "--listen=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("git daemon starts");
        let daemon = Self { child, port };
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return daemon;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("git daemon did not listen on {port}");
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `git` with `args` (off the async threads, bounded by the suite's timeout).
async fn git(args: Vec<String>) -> std::process::Output {
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new("git")
            .args(&args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .expect("git runs")
    });
    tokio::time::timeout(TIMEOUT, run)
        .await
        .expect("git ends in time")
        .expect("join")
}

#[tokio::test]
async fn a_real_git_client_lists_refs_through_the_git_router() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("repos");
    let work = dir.path().join("work");
    let s = |p: &std::path::Path| p.display().to_string();
    for args in [
        vec!["init".into(), "-q".into(), s(&work)],
        vec![
            "-C".into(),
            s(&work),
            "-c".into(),
            "user.name=weir".into(),
            "-c".into(),
            "user.email=weir@example.invalid".into(),
            "commit".into(),
            "-q".into(),
            "--allow-empty".into(),
            "-m".into(),
            "first".into(),
        ],
        vec![
            "clone".into(),
            "-q".into(),
            "--bare".into(),
            s(&work),
            s(&base.join("team/tool.git")),
        ],
    ] {
        let out = git(args).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let daemon = GitDaemon::start(&base).await;
    let routes = format!(
        r#"{{"routes": [{{"prefix": "/team/", "address": "127.0.0.1:{}"}}]}}"#,
        daemon.port
    );
    let weir = TestWeir::start(&tcp_config(
        guests::GIT_ROUTER,
        &routes,
        "allow_address_targets = true\nallow_networks = [\"127.0.0.0/8\"]",
        "",
    ))
    .await;

    let url = format!("git://{}/team/tool.git", weir.addr);
    let out = git(vec!["ls-remote".into(), url]).await;
    let refs = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(refs.contains("\tHEAD"), "{refs}");

    let url = format!("git://{}/secret.git", weir.addr);
    let out = git(vec!["ls-remote".into(), url]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no such repository: /secret.git"),
        "{stderr}"
    );
    weir.stop().await;
    drop(daemon);
}
