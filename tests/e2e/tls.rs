//! HTTPS listeners and upstream TLS: real handshakes on loopback with certificates made at test
//! time — SNI selection, ALPN h2, session resumption, mTLS, TLS facts for plugins, and upstream
//! verification.

use std::path::Path;

use weir_tests::tls::{CertFiles, Pki, client_config, https_get, server_config};
use weir_tests::{Backend, guests};

use crate::support::{TestWeir, filter, runtime_table};

/// A config whose listener serves HTTPS with `tls_table` (the body of `[listener.tls]`), routing
/// to `backend` through the headers plugin with `tls_headers` on.
fn https_config(backend: std::net::SocketAddr, tls_table: &str) -> String {
    format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\n[listener.tls]\n{tls_table}\n[[pool]]\nname = \"main\"\nbackends = [\"{backend}\"]\n{}\n[[route]]\npool = \"main\"\nfilters = [\"tls\"]\n",
        runtime_table(),
        filter("tls", guests::HEADERS, r#"{"tls_headers": true}"#),
    )
}

fn cert_entry(files: &CertFiles, names: Option<&[&str]>) -> String {
    let names = names.map_or(String::new(), |n| format!(", server_names = {n:?}"));
    format!(
        "{{ cert = {:?}, key = {:?}{names} }}",
        files.cert.display().to_string(),
        files.key.display().to_string()
    )
}

fn der_of(files: &CertFiles) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_file(&files.cert)
        .expect("cert PEM")
        .as_ref()
        .to_vec()
}

#[tokio::test]
async fn sni_selects_the_certificate_and_unknown_names_get_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "sni");
    // The default certificate also covers fallback.test, but only answers a.test by SNI.
    let a = pki.server("a", &["a.test", "fallback.test"]);
    let b = pki.server("b", &["b.test"]);
    let backend = Backend::start("origin").await;
    let table = format!(
        "certificates = [{}, {}]",
        cert_entry(&a, Some(&["a.test"])),
        cert_entry(&b, None)
    );
    let weir = TestWeir::start(&https_config(backend.addr(), &table)).await;
    let config = client_config(pki.roots(), &["http/1.1"], None);
    let to_b = https_get(weir.addr, "b.test", config.clone(), "/b")
        .await
        .unwrap();
    assert_eq!(to_b.server_cert, der_of(&b));
    assert_eq!(to_b.status, 200);
    assert_eq!(backend.last().header("x-tls-sni"), "b.test");
    let to_a = https_get(weir.addr, "a.test", config.clone(), "/a")
        .await
        .unwrap();
    assert_eq!(to_a.server_cert, der_of(&a));
    let unknown = https_get(weir.addr, "fallback.test", config, "/")
        .await
        .unwrap();
    assert_eq!(
        unknown.server_cert,
        der_of(&a),
        "the first certificate is the default"
    );
    weir.stop().await;
}

#[tokio::test]
async fn alpn_h2_is_negotiated_and_plugins_see_the_tls_facts() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "alpn");
    let cert = pki.server("app", &["app.test"]);
    let backend = Backend::start("origin").await;
    let table = format!("certificates = [{}]", cert_entry(&cert, None));
    let weir = TestWeir::start(&https_config(backend.addr(), &table)).await;

    let h2 = client_config(pki.roots(), &["h2", "http/1.1"], None);
    let got = https_get(weir.addr, "app.test", h2, "/over/h2")
        .await
        .unwrap();
    assert_eq!(got.alpn.as_deref(), Some("h2"));
    assert_eq!((got.status, got.body.as_str()), (200, "origin /over/h2"));
    let seen = backend.last();
    assert_eq!(seen.header("x-tls-alpn"), "h2");
    assert_eq!(seen.header("x-tls-version"), "TLSv1.3");
    assert!(seen.header("x-tls-cipher").starts_with("TLS_"), "{seen:?}");
    assert_eq!(seen.header("x-tls-resumed"), "0");
    assert_eq!(seen.header("x-forwarded-proto"), "https");
    assert_eq!(
        seen.header("x-client-cert-subject"),
        "",
        "no client certificate"
    );

    let h1 = client_config(pki.roots(), &["http/1.1"], None);
    let got = https_get(weir.addr, "app.test", h1, "/over/h1")
        .await
        .unwrap();
    assert_eq!(got.alpn.as_deref(), Some("http/1.1"));
    assert_eq!(backend.last().header("x-tls-alpn"), "http/1.1");
    weir.stop().await;
}

#[tokio::test]
async fn a_second_connection_resumes_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "resume");
    let cert = pki.server("app", &["app.test"]);
    let backend = Backend::start("origin").await;
    for table in [
        // Tickets (the default) and, separately, the server-side cache alone.
        format!("certificates = [{}]", cert_entry(&cert, None)),
        format!(
            "certificates = [{}]\nsession_tickets = false\nsession_cache_size = 100",
            cert_entry(&cert, None)
        ),
    ] {
        let weir = TestWeir::start(&https_config(backend.addr(), &table)).await;
        let config = client_config(pki.roots(), &["http/1.1"], None);
        let first = https_get(weir.addr, "app.test", config.clone(), "/1")
            .await
            .unwrap();
        assert!(!first.resumed);
        let second = https_get(weir.addr, "app.test", config, "/2")
            .await
            .unwrap();
        assert!(second.resumed, "second connection resumed with {table}");
        assert_eq!(backend.last().header("x-tls-resumed"), "1");
        weir.stop().await;
    }
}

#[tokio::test]
async fn resumption_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "noresume");
    let cert = pki.server("app", &["app.test"]);
    let backend = Backend::start("origin").await;
    let table = format!(
        "certificates = [{}]\nsession_tickets = false\nsession_cache_size = 0",
        cert_entry(&cert, None)
    );
    let weir = TestWeir::start(&https_config(backend.addr(), &table)).await;
    let config = client_config(pki.roots(), &["http/1.1"], None);
    https_get(weir.addr, "app.test", config.clone(), "/1")
        .await
        .unwrap();
    let second = https_get(weir.addr, "app.test", config, "/2")
        .await
        .unwrap();
    assert!(!second.resumed);
    weir.stop().await;
}

#[tokio::test]
async fn mtls_accepts_a_trusted_client_certificate_and_refuses_others() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "mtls");
    let stranger = Pki::new(dir.path(), "stranger");
    let cert = pki.server("app", &["app.test"]);
    let alice = pki.client("alice", "alice");
    let mallory = stranger.client("mallory", "mallory");
    let backend = Backend::start("origin").await;
    let table = format!(
        "certificates = [{}]\nclient_ca = {:?}",
        cert_entry(&cert, None),
        pki.ca_file("mtls").display().to_string()
    );
    let weir = TestWeir::start(&https_config(backend.addr(), &table)).await;

    let with_alice = client_config(pki.roots(), &["http/1.1"], Some(&alice));
    let got = https_get(weir.addr, "app.test", with_alice, "/me")
        .await
        .unwrap();
    assert_eq!(got.status, 200);
    let seen = backend.last();
    assert!(
        seen.header("x-client-cert-subject").contains("CN=alice"),
        "{seen:?}"
    );
    let fingerprint = seen.header("x-client-cert-sha256");
    assert_eq!(fingerprint.len(), 64);
    assert!(fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));

    let count = backend.count();
    for config in [
        client_config(pki.roots(), &["http/1.1"], None),
        client_config(pki.roots(), &["http/1.1"], Some(&mallory)),
    ] {
        let refused = https_get(weir.addr, "app.test", config, "/me").await;
        assert!(refused.is_err(), "{refused:?}");
    }
    assert_eq!(
        backend.count(),
        count,
        "refused clients never reach the backend"
    );
    weir.stop().await;
}

/// A pool with one `https://` backend and the given extra pool keys.
fn upstream_tls_config(origin: std::net::SocketAddr, pool_keys: &str) -> String {
    format!(
        "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\n[[pool]]\nname = \"secure\"\nbackends = [\"https://localhost:{}\"]\n{pool_keys}\n[[route]]\npool = \"secure\"\n",
        runtime_table(),
        origin.port()
    )
}

fn ca_key(path: &Path) -> String {
    format!("tls_ca_file = {:?}", path.display().to_string())
}

#[tokio::test]
async fn upstream_tls_is_verified_and_speaks_h2() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "upstream");
    let origin_cert = pki.server("origin", &["localhost"]);
    let origin = Backend::start_tls("secure-origin", server_config(&origin_cert)).await;
    let weir = TestWeir::start(&upstream_tls_config(
        origin.addr(),
        &ca_key(&pki.ca_file("upstream")),
    ))
    .await;
    let got = weir.get("app.test", "/tls").await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body, "secure-origin /tls");
    assert_eq!(
        origin.last().version,
        http::Version::HTTP_2,
        "ALPN h2 upstream"
    );
    weir.stop().await;
}

#[tokio::test]
async fn an_untrusted_upstream_certificate_is_502_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "real");
    let other = Pki::new(dir.path(), "other");
    let origin_cert = pki.server("origin", &["localhost"]);
    let origin = Backend::start_tls("secure-origin", server_config(&origin_cert)).await;
    let weir = TestWeir::start(&upstream_tls_config(
        origin.addr(),
        &ca_key(&other.ca_file("other")),
    ))
    .await;
    let got = weir.get("app.test", "/").await;
    assert_eq!(got.status, 502);
    assert_eq!(got.header("x-weir-error"), "upstream-tls", "{}", got.body);
    assert!(got.body.contains("certificate"), "{}", got.body);
    assert_eq!(origin.count(), 0);
    weir.stop().await;

    // The loudly named key turns verification off.
    let weir = TestWeir::start(&upstream_tls_config(
        origin.addr(),
        "danger_accept_invalid_upstream_certs = true",
    ))
    .await;
    assert_eq!(weir.get("app.test", "/").await.status, 200);
    weir.stop().await;
}

#[tokio::test]
async fn a_wrong_upstream_name_is_refused_unless_tls_server_name_says_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "names");
    let origin_cert = pki.server("origin", &["internal.test"]);
    let origin = Backend::start_tls("named-origin", server_config(&origin_cert)).await;
    let ca = ca_key(&pki.ca_file("names"));
    let weir = TestWeir::start(&upstream_tls_config(origin.addr(), &ca)).await;
    assert_eq!(weir.get("app.test", "/").await.status, 502);
    weir.stop().await;
    let keys = format!("{ca}\ntls_server_name = \"internal.test\"");
    let weir = TestWeir::start(&upstream_tls_config(origin.addr(), &keys)).await;
    assert_eq!(weir.get("app.test", "/").await.status, 200);
    weir.stop().await;
}

#[tokio::test]
async fn a_reload_turns_a_cleartext_listener_into_https_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "upgrade");
    let cert = pki.server("app", &["app.test"]);
    let backend = Backend::start("origin").await;
    let path = dir.path().join("weir.toml");
    let table = format!("certificates = [{}]", cert_entry(&cert, None));
    let https = https_config(backend.addr(), &table);
    let cleartext = https.replace(&format!("[listener.tls]\n{table}\n"), "");
    assert_ne!(cleartext, https);
    std::fs::write(&path, &cleartext).unwrap();
    let weir = TestWeir::start_file(&path).await;
    assert_eq!(weir.get("app.test", "/").await.status, 200);

    std::fs::write(&path, &https).unwrap();
    weir.control().reload_from_source().await.expect("reload");
    let config = client_config(pki.roots(), &["http/1.1"], None);
    let got = https_get(weir.addr, "app.test", config, "/now-https")
        .await
        .expect("the same address speaks HTTPS after the reload");
    assert_eq!(got.status, 200);

    std::fs::write(&path, &cleartext).unwrap();
    weir.control().reload_from_source().await.expect("reload");
    assert_eq!(weir.get("app.test", "/").await.status, 200);
    weir.stop().await;
}

#[tokio::test]
async fn a_reload_swaps_certificates_without_rebinding_and_keeps_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "rotate");
    let old = pki.server("old", &["app.test"]);
    let new = pki.server("new", &["app.test"]);
    let backend = Backend::start("origin").await;
    let path = dir.path().join("weir.toml");
    let write = |cert: &CertFiles, extra: &str| {
        let table = format!("certificates = [{}]\n{extra}", cert_entry(cert, None));
        std::fs::write(&path, https_config(backend.addr(), &table)).expect("write config");
    };
    write(&old, "");
    let weir = TestWeir::start_file(&path).await;
    let returning = client_config(pki.roots(), &["http/1.1"], None);
    let before = https_get(weir.addr, "app.test", returning.clone(), "/")
        .await
        .unwrap();
    assert_eq!(before.server_cert, der_of(&old));

    write(&new, "");
    weir.control().reload_from_source().await.expect("reload");
    let fresh = client_config(pki.roots(), &["http/1.1"], None);
    let after = https_get(weir.addr, "app.test", fresh, "/").await.unwrap();
    assert_eq!(
        after.server_cert,
        der_of(&new),
        "same address, new certificate"
    );
    assert_eq!(after.status, 200);
    // The ticket keys and session cache were kept: a returning client still resumes.
    let resumed = https_get(weir.addr, "app.test", returning.clone(), "/")
        .await
        .unwrap();
    assert!(resumed.resumed, "a session from before the reload resumes");
    assert_eq!(resumed.status, 200);

    // A reload that changes what resumption depends on starts over: a full handshake.
    write(&new, "session_cache_size = 50");
    weir.control().reload_from_source().await.expect("reload");
    let full = https_get(weir.addr, "app.test", returning, "/")
        .await
        .unwrap();
    assert!(!full.resumed, "resumption settings changed");
    assert_eq!(full.server_cert, der_of(&new));
    weir.stop().await;
}
