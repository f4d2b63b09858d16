//! `weir demo`: two small origin servers and weir in front of them running the example plugins
//! from an embedded config, so a new user can try every plugin with curl.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::config::{self, Config, ConfigError};

/// The embedded demo config; `{listen}`, `{proxy_listen}`, `{origin_a}`, `{origin_b}` are filled
/// in at start.
pub const DEMO_CONFIG: &str = include_str!("demo/weir-demo.toml");

/// The demo's reverse-proxy listener.
pub const REVERSE_LISTENER: &str = "demo";

/// The demo's forward-proxy listener.
pub const FORWARD_LISTENER: &str = "proxy";

/// Builds the demo config for the given addresses (`listen` for the reverse proxy,
/// `proxy_listen` for the forward proxy), resolving plugin paths in `plugins_dir`.
pub fn demo_config(
    listen: &str,
    proxy_listen: &str,
    origin_a: SocketAddr,
    origin_b: SocketAddr,
    plugins_dir: &Path,
) -> Result<Config, ConfigError> {
    let text = DEMO_CONFIG
        .replace("{listen}", listen)
        .replace("{proxy_listen}", proxy_listen)
        .replace("{origin_a}", &origin_a.to_string())
        .replace("{origin_b}", &origin_b.to_string());
    config::parse(&text, "embedded demo config", plugins_dir)
}

/// Starts an origin that answers every request with a JSON description of what it received
/// (method, path, query, headers) and its own name, and sets a session cookie.
pub async fn start_origin(name: &'static str) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = service_fn(move |req: Request<Incoming>| async move {
                Ok::<_, Infallible>(echo(name, &req))
            });
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

fn echo(name: &str, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into(),
            )
        })
        .collect();
    let body = serde_json::json!({
        "origin": name,
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "query": req.uri().query(),
        "headers": headers,
    });
    let mut response = Response::new(Full::new(Bytes::from(format!("{body:#}\n"))));
    let h = response.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    h.append(
        http::header::SET_COOKIE,
        http::HeaderValue::from_static("session=abc123; Path=/"),
    );
    h.append(
        http::header::SET_COOKIE,
        http::HeaderValue::from_static("theme=dark; Path=/"),
    );
    h.insert(
        http::header::SERVER,
        http::HeaderValue::from_static("demo-origin"),
    );
    response
}

/// The curl lines printed by `weir demo`: `addr` is the reverse proxy, `proxy` the forward proxy
/// and `origin` the main origin.
pub fn instructions(addr: SocketAddr, proxy: SocketAddr, origin: SocketAddr) -> String {
    format!(
        "\
weir demo is listening on http://{addr} (reverse proxy) and http://{proxy} (forward proxy)
Try the reverse proxy:
  curl -i http://{addr}/hello                          # headers: x-request-id, x-client-ip added; Set-Cookie made Secure/HttpOnly
  curl -s http://{addr}/old/page                       # url-rewrite: origin sees /new/page
  curl -i http://{addr}/moved/page                     # url-rewrite: 301 redirect to /new/page
  curl -s -H 'x-beta: 1' http://{addr}/               # router: served by origin \"beta\"
  curl -s -b 'tracking=1; keep=2' http://{addr}/       # cookies: tracking stripped, keep forwarded
  curl -i http://{addr}/admin                          # deny: 403 blocked by policy
  curl -i 'http://{addr}/search?q=casino'              # deny: pattern match
Try the forward proxy:
  curl -s -x http://{proxy} http://{origin}/page       # origin sees via: 1.1 weir and x-request-id
  curl -i -x http://{proxy} http://ads.example/         # web filter: 403, the name is never resolved
  curl -v -x http://{proxy} https://ads.example/        # CONNECT refused: 403 before any tunnel
Press Ctrl-C to stop."
    )
}
