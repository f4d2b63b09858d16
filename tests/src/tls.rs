//! TLS for the tests: a certificate authority made at test time (rcgen), server and client
//! certificates it signs written as PEM files, rustls client configurations, and a real HTTPS
//! request over a fresh connection that reports what the handshake negotiated.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(20);

/// A test certificate authority that writes what it issues into a directory.
pub struct Pki {
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
}

/// A certificate and key written as PEM files.
#[derive(Clone, Debug)]
pub struct CertFiles {
    /// The certificate (chain of one).
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

impl Pki {
    /// A new CA named `name`, writing into `dir` (its certificate is `<name>-ca.crt`).
    pub fn new(dir: &Path, name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let ca = params.self_signed(&key).expect("CA certificate");
        let ca_pem = ca.pem();
        std::fs::write(dir.join(format!("{name}-ca.crt")), &ca_pem).expect("write CA");
        Self {
            dir: dir.to_path_buf(),
            issuer: Issuer::new(params, key),
            ca_pem,
        }
    }

    /// The CA certificate file.
    pub fn ca_file(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}-ca.crt"))
    }

    /// A root store trusting this CA.
    pub fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots
                .add(cert.expect("CA PEM"))
                .expect("CA is a valid anchor");
        }
        roots
    }

    /// A server certificate for `names` (DNS names or IP addresses), files `<file>.crt/.key`.
    pub fn server(&self, file: &str, names: &[&str]) -> CertFiles {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, file.to_owned());
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(file, params)
    }

    /// A client certificate with subject `CN=<common_name>, O=weir tests`.
    pub fn client(&self, file: &str, common_name: &str) -> CertFiles {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name.to_owned());
        params
            .distinguished_name
            .push(DnType::OrganizationName, "weir tests");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(file, params)
    }

    fn issue(&self, file: &str, params: CertificateParams) -> CertFiles {
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("signed leaf");
        let files = CertFiles {
            cert: self.dir.join(format!("{file}.crt")),
            key: self.dir.join(format!("{file}.key")),
        };
        std::fs::write(&files.cert, cert.pem()).expect("write cert");
        std::fs::write(&files.key, key.serialize_pem()).expect("write key");
        files
    }
}

/// A rustls client configuration trusting `roots`, offering `alpn`, optionally presenting a
/// client certificate. Its session store is kept across connections made with it, so a second
/// connection can resume.
pub fn client_config(
    roots: RootCertStore,
    alpn: &[&str],
    client_cert: Option<&CertFiles>,
) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("default versions")
    .with_root_certificates(roots);
    let mut config = match client_cert {
        None => builder.with_no_client_auth(),
        Some(files) => {
            let chain = CertificateDer::pem_file_iter(&files.cert)
                .expect("client cert file")
                .collect::<Result<Vec<_>, _>>()
                .expect("client cert PEM");
            let key = PrivateKeyDer::from_pem_file(&files.key).expect("client key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client certificate")
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Arc::new(config)
}

/// What one HTTPS exchange negotiated and got back.
#[derive(Debug)]
pub struct HttpsOutcome {
    /// The certificate the server presented (end-entity), DER.
    pub server_cert: Vec<u8>,
    /// Negotiated ALPN.
    pub alpn: Option<String>,
    /// Whether the session was resumed.
    pub resumed: bool,
    /// Response status.
    pub status: u16,
    /// Response headers.
    pub headers: http::HeaderMap,
    /// Response body.
    pub body: String,
}

/// Connects to `addr` with SNI `server_name`, completes the handshake and sends `GET path`
/// (HTTP/2 when ALPN chose h2). `Err` carries the handshake or HTTP error as text.
pub async fn https_get(
    addr: SocketAddr,
    server_name: &str,
    config: Arc<ClientConfig>,
    path: &str,
) -> Result<HttpsOutcome, String> {
    let tcp = tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| format!("connect: {e}"))?;
    https_over(tcp, server_name, config, path).await
}

/// Like [`https_get`] over a connection already open (e.g. a CONNECT tunnel).
pub async fn https_over<S>(
    tcp: S,
    server_name: &str,
    config: Arc<ClientConfig>,
    path: &str,
) -> Result<HttpsOutcome, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let name = ServerName::try_from(server_name.to_owned()).map_err(|e| e.to_string())?;
    let tls = tokio::time::timeout(
        WAIT,
        tokio_rustls::TlsConnector::from(config).connect(name, tcp),
    )
    .await
    .map_err(|_| "handshake timed out".to_owned())?
    .map_err(|e| format!("handshake: {e}"))?;
    let (_, session) = tls.get_ref();
    let server_cert = session
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .unwrap_or_default();
    let alpn = session
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let resumed = session.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    let io = TokioIo::new(tls);
    let request = Request::builder()
        .uri(path)
        .header("host", server_name)
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = if alpn.as_deref() == Some("h2") {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| format!("h2 handshake: {e}"))?;
        tokio::spawn(conn);
        let mut request = request;
        *request.uri_mut() = format!("https://{server_name}{path}")
            .parse()
            .map_err(|e: http::uri::InvalidUri| e.to_string())?;
        tokio::time::timeout(WAIT, sender.send_request(request)).await
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| format!("h1 handshake: {e}"))?;
        tokio::spawn(conn);
        tokio::time::timeout(WAIT, sender.send_request(request)).await
    }
    .map_err(|_| "no response in time".to_owned())?
    .map_err(|e| format!("request: {e}"))?;
    let (parts, body) = response.into_parts();
    let body = tokio::time::timeout(WAIT, body.collect())
        .await
        .map_err(|_| "body timed out".to_owned())?
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok(HttpsOutcome {
        server_cert,
        alpn,
        resumed,
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// A rustls server configuration for a test origin: `cert`, ALPN h2 and http/1.1.
pub fn server_config(cert: &CertFiles) -> Arc<rustls::ServerConfig> {
    let chain = CertificateDer::pem_file_iter(&cert.cert)
        .expect("cert file")
        .collect::<Result<Vec<_>, _>>()
        .expect("cert PEM");
    let key = PrivateKeyDer::from_pem_file(&cert.key).expect("key file");
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("default versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server certificate");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}
