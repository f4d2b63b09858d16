//! The client side: how weir speaks TLS to `https://` upstreams.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use super::{TlsError, load_chain, load_key, load_roots, provider};

/// What a pool's upstream TLS is built from (validated config).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpstreamTlsFiles {
    /// CA bundle; `None` uses the system's trust store.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key presented to the upstream.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// SNI and verification name; `None` uses each backend's host.
    pub server_name: Option<String>,
    /// `false` only with the `danger_accept_invalid_upstream_certs` key.
    pub verify: bool,
}

/// A pool's upstream TLS: the rustls client configuration and the name to verify.
#[derive(Clone, Debug)]
pub struct UpstreamTls {
    /// rustls client configuration (ALPN is set by the connector).
    pub config: ClientConfig,
    /// SNI override.
    pub server_name: Option<String>,
    /// Digest of every input (files' contents included), so a reload keeps a pool whose TLS
    /// inputs did not change and rebuilds one whose certificate files did.
    identity: [u8; 32],
}

impl PartialEq for UpstreamTls {
    fn eq(&self, other: &Self) -> bool {
        self.identity == other.identity
    }
}

impl Eq for UpstreamTls {}

/// Builds a pool's upstream TLS from files.
pub fn client_config(files: &UpstreamTlsFiles) -> Result<UpstreamTls, TlsError> {
    let mut identity = Sha256::new();
    identity.update(format!("{files:?}").as_bytes());
    let roots = match &files.ca_file {
        Some(path) => {
            identity.update(std::fs::read(path).unwrap_or_default());
            Arc::new(load_roots(path)?)
        }
        None => system_roots()?,
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|source| TlsError::Rejected {
            what: "TLS versions".into(),
            source,
        })?
        .with_root_certificates(roots);
    let mut config = match &files.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            identity.update(std::fs::read(cert).unwrap_or_default());
            identity.update(std::fs::read(key).unwrap_or_default());
            // Checks the pair the same way a listener's certificate is checked.
            super::load_certified_key(cert, key)?;
            builder
                .with_client_auth_cert(load_chain(cert)?, load_key(key)?)
                .map_err(|source| TlsError::Rejected {
                    what: format!("client certificate {}", cert.display()),
                    source,
                })?
        }
    };
    if !files.verify {
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(AcceptAnyCertificate));
    }
    Ok(UpstreamTls {
        config,
        server_name: files.server_name.clone(),
        identity: identity.finalize().into(),
    })
}

/// The system's trust store, read once per process.
fn system_roots() -> Result<Arc<RootCertStore>, TlsError> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    if let Some(roots) = ROOTS.get() {
        return Ok(roots.clone());
    }
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(TlsError::Pem {
            path: PathBuf::from("(system trust store)"),
            reason: "no CA certificates found; set tls_ca_file".into(),
        });
    }
    Ok(ROOTS.get_or_init(|| Arc::new(roots)).clone())
}

/// Accepts any upstream certificate. Only reachable through the config key
/// `danger_accept_invalid_upstream_certs = true`, which is logged as a warning on every load.
/// Signatures are still checked, so the handshake is at least with the holder of the key it
/// presented.
#[derive(Debug)]
struct AcceptAnyCertificate;

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
