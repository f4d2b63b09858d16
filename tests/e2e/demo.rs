//! `weir demo`'s embedded config, started with the example plugins built from `plugins/`: every
//! curl line the demo prints does what its comment says.

use std::path::Path;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir::demo;
use weir_tests::guests;

use crate::support::{TIMEOUT, TestWeir};

#[tokio::test]
async fn the_demo_config_runs_every_example_plugin_and_a_forward_proxy() {
    let origin_a = demo::start_origin("main").await.unwrap();
    let origin_b = demo::start_origin("beta").await.unwrap();
    let plugins_dir = Path::new(guests::DENY).parent().unwrap();
    let config = demo::demo_config(
        "127.0.0.1:0",
        "127.0.0.1:0",
        origin_a,
        origin_b,
        plugins_dir,
    )
    .unwrap();
    let weir = TestWeir::from_config(config).await.unwrap();
    let reverse = weir.addr_of(demo::REVERSE_LISTENER);
    let proxy = weir.addr_of(demo::FORWARD_LISTENER);
    let text = demo::instructions(reverse, proxy, origin_a);
    assert!(
        text.contains(&format!("http://{reverse}/old/page")),
        "{text}"
    );
    assert!(
        text.contains(&format!("-x http://{proxy} http://{origin_a}/")),
        "{text}"
    );

    // The reverse proxy, as the first curl lines use it.
    let host = reverse.to_string();
    let hello = weir.get(&host, "/hello").await;
    assert_eq!(hello.status, 200);
    assert_eq!(hello.header("x-served-by"), "weir-demo");
    assert!(
        hello
            .header_all("set-cookie")
            .iter()
            .all(|c| c.contains("Secure") && c.contains("HttpOnly")),
        "{:?}",
        hello.header_all("set-cookie")
    );
    let rewritten = weir.get(&host, "/old/page").await;
    assert!(
        rewritten.body.contains(r#""path": "/new/page""#),
        "{}",
        rewritten.body
    );
    assert_eq!(weir.get(&host, "/moved/page").await.status, 301);
    assert_eq!(weir.get(&host, "/admin").await.status, 403);
    let beta = weir
        .send(
            weir.request("GET", &host, "/")
                .header("x-beta", "1")
                .body(Default::default())
                .unwrap(),
        )
        .await;
    assert!(beta.body.contains(r#""origin": "beta""#), "{}", beta.body);

    // The forward proxy: an absolute URL to a (loopback) origin, and the web filter.
    let tcp = TcpStream::connect(proxy).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    for (url, status, needle) in [
        (
            format!("http://{origin_a}/page"),
            200,
            r#""via": "1.1 weir""#,
        ),
        (
            "http://ads.example/".to_owned(),
            403,
            "blocked by the demo web filter",
        ),
    ] {
        let request = Request::get(&url).body(Empty::<Bytes>::new()).unwrap();
        let response = tokio::time::timeout(TIMEOUT, sender.send_request(request))
            .await
            .expect("answer in time")
            .unwrap();
        assert_eq!(response.status(), status, "{url}");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains(needle), "{url}: {body}");
    }

    // CONNECT to a blocked host is refused before any tunnel opens.
    let mut tcp = TcpStream::connect(proxy).await.unwrap();
    tcp.write_all(b"CONNECT ads.example:443 HTTP/1.1\r\nHost: ads.example:443\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    tokio::time::timeout(TIMEOUT, tcp.read_exact(&mut head))
        .await
        .expect("answer in time")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 403");
    weir.stop().await;
}
