//! Upgraded connections: a real WebSocket echo server behind weir and real WebSocket clients,
//! over HTTP/1.1 `Upgrade` on reverse and forward listeners and over HTTP/2 extended CONNECT
//! (RFC 8441); filters refusing an upgrade; an upgrade surviving a reload; the idle timeout.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{self, Message};
use weir_tests::tls::{Pki, client_config};
use weir_tests::{Backend, guests};

use crate::support::{TIMEOUT, TestWeir, filter, runtime_table};

/// What the echo server saw of one handshake.
#[derive(Clone, Debug)]
struct Handshake {
    path: String,
    headers: HeaderMap,
}

/// A real WebSocket server on loopback that echoes every text and binary message.
#[derive(Clone)]
struct EchoServer {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    handshakes: Arc<Mutex<Vec<Handshake>>>,
}

impl EchoServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let server = Self {
            addr: listener.local_addr().expect("address"),
            connections: Arc::default(),
            handshakes: Arc::default(),
        };
        let state = server.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                state.connections.fetch_add(1, Ordering::Relaxed);
                let handshakes = state.handshakes.clone();
                tokio::spawn(async move {
                    let record = Recorder(handshakes);
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, record).await
                    else {
                        return;
                    };
                    while let Some(Ok(message)) = ws.next().await {
                        if (message.is_text() || message.is_binary())
                            && ws.send(message).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        server
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    fn last(&self) -> Handshake {
        self.handshakes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last()
            .cloned()
            .expect("a handshake")
    }
}

/// Records each handshake the echo server accepts.
struct Recorder(Arc<Mutex<Vec<Handshake>>>);

impl tungstenite::handshake::server::Callback for Recorder {
    fn on_request(
        self,
        request: &tungstenite::handshake::server::Request,
        response: tungstenite::handshake::server::Response,
    ) -> Result<
        tungstenite::handshake::server::Response,
        tungstenite::handshake::server::ErrorResponse,
    > {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Handshake {
                path: request.uri().path().to_owned(),
                headers: request.headers().clone(),
            });
        Ok(response)
    }
}

/// One pool `ws` on `backend` with `pool_keys`, one route, `filters` in its chain.
fn reverse_config(backend: SocketAddr, pool_keys: &str, tables: &str, filters: &str) -> String {
    format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\n\n[[pool]]\nname = \"ws\"\nbackends = [\"{backend}\"]\n{pool_keys}\n\n{tables}\n[[route]]\npath_prefix = \"/\"\npool = \"ws\"\nfilters = [{filters}]\n",
        runtime_table()
    )
}

/// A WebSocket client through weir's reverse listener at `weir`.
async fn connect_ws(weir: SocketAddr, path: &str) -> WebSocketStream<TcpStream> {
    let tcp = TcpStream::connect(weir).await.expect("connect to weir");
    let url = format!("ws://app.test{path}");
    let (ws, response) = tokio::time::timeout(TIMEOUT, tokio_tungstenite::client_async(url, tcp))
        .await
        .expect("handshake in time")
        .expect("handshake");
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws
}

/// Sends each message and expects it back.
async fn echo_round<S>(ws: &mut WebSocketStream<S>, messages: &[Message])
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    for message in messages {
        tokio::time::timeout(TIMEOUT, ws.send(message.clone()))
            .await
            .expect("sent in time")
            .expect("sent");
        let echoed = tokio::time::timeout(TIMEOUT, ws.next())
            .await
            .expect("echo in time")
            .expect("an echo")
            .expect("a valid frame");
        assert_eq!(&echoed, message);
    }
}

/// The client's close handshake: a Close frame out, the server's Close back, then the end.
async fn close<S>(mut ws: WebSocketStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    tokio::time::timeout(TIMEOUT, ws.close(None))
        .await
        .expect("close sent in time")
        .expect("close sent");
    loop {
        match tokio::time::timeout(TIMEOUT, ws.next())
            .await
            .expect("close answered in time")
        {
            Some(Ok(Message::Close(_))) => continue,
            None => return,
            Some(other) => panic!("after close: {other:?}"),
        }
    }
}

fn messages() -> Vec<Message> {
    vec![
        Message::text("hello"),
        Message::binary(vec![0u8, 1, 2, 255]),
        Message::text("x".repeat(100_000)),
        Message::text("bye"),
    ]
}

#[tokio::test]
async fn websocket_echoes_through_a_reverse_listener_and_closes_cleanly() {
    let echo = EchoServer::start().await;
    let weir = TestWeir::start(&reverse_config(echo.addr, "", "", "")).await;
    let mut ws = connect_ws(weir.addr, "/chat?room=1").await;
    echo_round(&mut ws, &messages()).await;
    close(ws).await;
    let seen = echo.last();
    assert_eq!(seen.path, "/chat");
    assert_eq!(seen.headers["upgrade"], "websocket");
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen.headers["via"], "1.1 weir");
    // A second WebSocket gets a connection of its own: upgraded ones are never pooled.
    let ws = connect_ws(weir.addr, "/again").await;
    close(ws).await;
    assert_eq!(echo.connections(), 2);
}

#[tokio::test]
async fn websocket_echoes_through_a_forward_listener() {
    let echo = EchoServer::start().await;
    let toml = format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\nmode = \"forward\"\n[listener.forward]\nallow_private_targets = true\nallow_ports = [\"1024-65535\"]\n",
        runtime_table()
    );
    let weir = TestWeir::start(&toml).await;
    // An absolute-form upgrade request, as a client configured with an HTTP proxy sends it.
    let tcp = TcpStream::connect(weir.addr)
        .await
        .expect("connect to weir");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("h1 handshake");
    tokio::spawn(conn.with_upgrades());
    let request = Request::get(format!("http://{}/chat", echo.addr))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(Empty::<Bytes>::new())
        .expect("request");
    let mut response = tokio::time::timeout(TIMEOUT, sender.send_request(request))
        .await
        .expect("answer in time")
        .expect("answer");
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(
        response.headers()["sec-websocket-accept"],
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    let upgraded = tokio::time::timeout(TIMEOUT, hyper::upgrade::on(&mut response))
        .await
        .expect("upgraded in time")
        .expect("upgraded");
    let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
    echo_round(&mut ws, &messages()).await;
    close(ws).await;
    assert_eq!(echo.last().path, "/chat");
    assert_eq!(echo.connections(), 1);
}

#[tokio::test]
async fn a_filter_refusing_the_upgrade_answers_and_no_backend_is_reached() {
    let echo = EchoServer::start().await;
    let deny = filter(
        "deny",
        guests::DENY,
        r#"{"block_path_prefixes":["/private"],"status":403,"body":"no\n"}"#,
    );
    let weir = TestWeir::start(&reverse_config(echo.addr, "", &deny, "\"deny\"")).await;
    let tcp = TcpStream::connect(weir.addr)
        .await
        .expect("connect to weir");
    let refused = tokio::time::timeout(
        TIMEOUT,
        tokio_tungstenite::client_async("ws://app.test/private/room", tcp),
    )
    .await
    .expect("answer in time");
    match refused {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
        }
        other => panic!("expected a refusal, got {:?}", other.map(|(_, r)| r)),
    }
    assert_eq!(echo.connections(), 0, "no backend connection for a refusal");
    // The filter saw an upgrade request and let others through.
    let mut ws = connect_ws(weir.addr, "/public").await;
    echo_round(&mut ws, &[Message::text("ok")]).await;
    close(ws).await;
    assert_eq!(echo.connections(), 1);
}

#[tokio::test]
async fn a_route_with_no_match_refuses_the_upgrade_before_any_backend() {
    let echo = EchoServer::start().await;
    let toml = reverse_config(echo.addr, "", "", "")
        .replace("path_prefix = \"/\"", "path_prefix = \"/ws/\"");
    let weir = TestWeir::start(&toml).await;
    let tcp = TcpStream::connect(weir.addr)
        .await
        .expect("connect to weir");
    let refused = tokio::time::timeout(
        TIMEOUT,
        tokio_tungstenite::client_async("ws://app.test/elsewhere", tcp),
    )
    .await
    .expect("answer in time");
    match refused {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
        }
        other => panic!("expected a refusal, got {:?}", other.map(|(_, r)| r)),
    }
    assert_eq!(echo.connections(), 0);
}

#[tokio::test]
async fn an_h2c_upgrade_request_is_forwarded_as_a_plain_request() {
    let backend = Backend::start("plain").await;
    let weir = TestWeir::start(&reverse_config(backend.addr(), "", "", "")).await;
    let request = weir
        .request("GET", "app.test", "/h2c")
        .header("connection", "Upgrade, HTTP2-Settings")
        .header("upgrade", "h2c")
        .header("http2-settings", "AAMAAABkAARAAAAAAAIAAAAA")
        .body(http_body_util::Full::default())
        .expect("request");
    let response = weir.send(request).await;
    assert_eq!(response.status, StatusCode::OK);
    let seen = backend.last();
    assert_eq!(seen.version, http::Version::HTTP_11);
    for field in ["upgrade", "connection", "http2-settings"] {
        assert!(
            !seen.headers.contains_key(field),
            "{field} reached the backend"
        );
    }
}

#[tokio::test]
async fn a_websocket_opened_before_a_reload_keeps_echoing_after_it() {
    let echo = EchoServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("weir.toml");
    std::fs::write(&path, reverse_config(echo.addr, "", "", "")).expect("write config");
    let weir = TestWeir::start_file(&path).await;
    let mut ws = connect_ws(weir.addr, "/chat").await;
    echo_round(&mut ws, &[Message::text("before")]).await;
    let before = weir.control().state().generation;
    std::fs::write(
        &path,
        reverse_config(echo.addr, "connect_timeout_ms = 2000", "", ""),
    )
    .expect("rewrite config");
    weir.control()
        .reload_from_source()
        .await
        .expect("reload applies");
    assert!(weir.control().state().generation > before, "a new state");
    echo_round(
        &mut ws,
        &[Message::text("after"), Message::binary(vec![7u8; 10])],
    )
    .await;
    close(ws).await;
    // New WebSockets use the new state.
    let ws = connect_ws(weir.addr, "/chat").await;
    close(ws).await;
}

#[tokio::test]
async fn a_silent_upgraded_connection_is_closed_after_the_idle_timeout() {
    let echo = EchoServer::start().await;
    let weir = TestWeir::start(&reverse_config(
        echo.addr,
        "upgrade_idle_timeout_ms = 300",
        "",
        "",
    ))
    .await;
    let mut ws = connect_ws(weir.addr, "/quiet").await;
    echo_round(&mut ws, &[Message::text("one")]).await;
    let started = tokio::time::Instant::now();
    // No Close frame: weir drops both sides, which the client sees as the stream ending.
    let ended = tokio::time::timeout(TIMEOUT, ws.next())
        .await
        .expect("weir closed the silent connection in time");
    assert!(
        !matches!(ended, Some(Ok(Message::Text(_) | Message::Binary(_)))),
        "{ended:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn shutdown_closes_open_websockets_after_the_grace_period() {
    let echo = EchoServer::start().await;
    let grace = "[server]\nshutdown_grace_ms = 200\n";
    let weir = TestWeir::start(&reverse_config(echo.addr, "", grace, "")).await;
    let mut ws = connect_ws(weir.addr, "/chat").await;
    echo_round(&mut ws, &[Message::text("still here")]).await;
    let started = tokio::time::Instant::now();
    weir.stop().await;
    let ended = tokio::time::timeout(TIMEOUT, ws.next())
        .await
        .expect("the WebSocket ends after the grace period, not never");
    assert!(
        !matches!(ended, Some(Ok(Message::Text(_) | Message::Binary(_)))),
        "{ended:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
}

/// Opens a WebSocket by extended CONNECT (RFC 8441) on an HTTP/2 connection over `io`, to
/// `base` (`scheme://authority`) + `/chat`, and checks weir's `200`.
async fn extended_connect<I>(
    io: I,
    base: &str,
) -> WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    // A first request makes sure weir's SETTINGS (with ENABLE_CONNECT_PROTOCOL) arrived.
    let warm = Request::get(format!("{base}/"))
        .body(Empty::<Bytes>::new())
        .expect("request");
    let _ = tokio::time::timeout(TIMEOUT, sender.send_request(warm))
        .await
        .expect("answer in time");
    let mut request = Request::connect(format!("{base}/chat"))
        .header("sec-websocket-version", "13")
        .header("sec-websocket-protocol", "echo")
        .body(Empty::<Bytes>::new())
        .expect("request");
    request
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let mut response = tokio::time::timeout(TIMEOUT, sender.send_request(request))
        .await
        .expect("answer in time")
        .expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("sec-websocket-accept").is_none());
    let upgraded = tokio::time::timeout(TIMEOUT, hyper::upgrade::on(&mut response))
        .await
        .expect("upgraded in time")
        .expect("upgraded");
    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await
}

/// What the echo server must have seen of a translated extended CONNECT.
fn assert_translated(seen: &Handshake) {
    assert_eq!(seen.path, "/chat");
    assert_eq!(seen.headers["upgrade"], "websocket");
    assert_eq!(seen.headers["sec-websocket-version"], "13");
    assert_eq!(seen.headers["sec-websocket-protocol"], "echo");
    assert_eq!(
        seen.headers["sec-websocket-key"].len(),
        24,
        "a generated key"
    );
}

#[tokio::test]
async fn rfc_8441_extended_connect_over_h2c_reaches_the_websocket_backend() {
    let echo = EchoServer::start().await;
    let toml = reverse_config(echo.addr, "", "", "").replacen(
        "bind = \"127.0.0.1:0\"\n",
        "bind = \"127.0.0.1:0\"\nprotocol = \"h2c\"\n",
        1,
    );
    let weir = TestWeir::start(&toml).await;
    let tcp = TcpStream::connect(weir.addr)
        .await
        .expect("connect to weir");
    let mut ws = extended_connect(tcp, &format!("http://{}", weir.addr)).await;
    echo_round(&mut ws, &messages()).await;
    close(ws).await;
    assert_translated(&echo.last());
}

#[tokio::test]
async fn rfc_8441_extended_connect_over_tls_h2_reaches_the_websocket_backend() {
    let echo = EchoServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = Pki::new(dir.path(), "ws");
    let cert = pki.server("weir", &["app.test"]);
    let table = format!(
        "[listener.tls]\ncertificates = [{{ cert = {:?}, key = {:?} }}]\n",
        cert.cert.display().to_string(),
        cert.key.display().to_string()
    );
    let toml = reverse_config(echo.addr, "", "", "").replacen(
        "bind = \"127.0.0.1:0\"\n",
        &format!("bind = \"127.0.0.1:0\"\n{table}"),
        1,
    );
    let weir = TestWeir::start(&toml).await;
    let tcp = TcpStream::connect(weir.addr)
        .await
        .expect("connect to weir");
    let name = rustls::pki_types::ServerName::try_from("app.test").expect("name");
    let config = client_config(pki.roots(), &["h2"], None);
    let tls = tokio::time::timeout(
        TIMEOUT,
        tokio_rustls::TlsConnector::from(config).connect(name, tcp),
    )
    .await
    .expect("handshake in time")
    .expect("handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut ws = extended_connect(tls, "https://app.test").await;
    echo_round(&mut ws, &messages()).await;
    close(ws).await;
    assert_translated(&echo.last());
}

#[tokio::test]
async fn rfc_8441_extended_connect_through_a_forward_listener_reaches_the_origin() {
    let echo = EchoServer::start().await;
    let toml = format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\nmode = \"forward\"\nprotocol = \"h2c\"\n[listener.forward]\nallow_private_targets = true\nallow_ports = [\"1024-65535\"]\n",
        runtime_table()
    );
    let weir = TestWeir::start(&toml).await;
    let tcp = TcpStream::connect(weir.addr)
        .await
        .expect("connect to weir");
    // :scheme and :authority name the origin, as an HTTP/2 client of a proxy sends them.
    let mut ws = extended_connect(tcp, &format!("http://{}", echo.addr)).await;
    echo_round(&mut ws, &messages()).await;
    close(ws).await;
    assert_translated(&echo.last());
}
