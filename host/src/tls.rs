//! TLS with rustls: the server side of HTTPS listeners (certificates chosen by SNI, ALPN,
//! session resumption, client certificates), the client side towards `https://` upstreams
//! (verification on by default), and the facts of a downstream TLS session that plugins see.
//!
//! Everything here is built from files once, off the data path (at start and on reload), and
//! shared as `Arc<rustls::ServerConfig>` / `Arc<rustls::ClientConfig>`. One crypto provider
//! (aws-lc-rs) serves both sides. Depends on nothing else in weir.

mod client;
mod facts;
mod pem;
mod server;

use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;

pub use client::{UpstreamTls, UpstreamTlsFiles, client_config};
pub use facts::TlsFacts;
pub use pem::{load_certified_key, load_chain, load_key, load_roots};
pub(crate) use server::certificate_names;
pub use server::{ClientAuth, ListenerTls, ServerTls, SniCertificate, TlsVersions, server_config};

/// Why a TLS configuration could not be built. Each variant names the file it came from.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate, key or CA file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not the PEM it should be.
    #[error("{path}: {reason}")]
    Pem {
        /// File.
        path: PathBuf,
        /// What is wrong, e.g. "no CERTIFICATE block".
        reason: String,
    },
    /// The private key does not belong to the certificate.
    #[error("the key in {key} does not match the certificate in {cert}")]
    KeyMismatch {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
    },
    /// rustls refused a certificate, key or setting.
    #[error("{what}: {source}")]
    Rejected {
        /// What was being built.
        what: String,
        /// Cause.
        #[source]
        source: rustls::Error,
    },
}

/// The crypto provider both sides use.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: std::sync::OnceLock<Arc<CryptoProvider>> = std::sync::OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}
