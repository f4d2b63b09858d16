//! What a downstream TLS session looks like, for plugins and logs.

use rustls::ServerConnection;
use sha2::{Digest, Sha256};

/// Facts about a downstream TLS session, read once after the handshake.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFacts {
    /// The server name the client asked for (SNI), if any.
    pub sni: Option<String>,
    /// The negotiated ALPN protocol, e.g. `h2`.
    pub alpn: Option<String>,
    /// `TLSv1.2` or `TLSv1.3`.
    pub version: String,
    /// IANA name of the cipher suite, e.g. `TLS_AES_128_GCM_SHA256`.
    pub cipher_suite: String,
    /// Whether the session was resumed (ticket or cache) rather than fully negotiated.
    pub resumed: bool,
    /// The client certificate's subject (RFC 4514 text), when one was presented.
    pub client_cert_subject: Option<String>,
    /// The client certificate's SHA-256 fingerprint, lowercase hex, when one was presented.
    pub client_cert_sha256: Option<String>,
}

impl TlsFacts {
    /// Reads the facts of a connection whose handshake is complete.
    pub fn of(connection: &ServerConnection) -> Self {
        let version = match connection.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
            Some(other) => format!("{other:?}"),
            None => String::new(),
        };
        let cipher_suite = connection
            .negotiated_cipher_suite()
            .map(|s| iana_name(s.suite()))
            .unwrap_or_default();
        let client_cert = connection.peer_certificates().and_then(|c| c.first());
        Self {
            sni: connection.server_name().map(str::to_owned),
            alpn: connection
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            version,
            cipher_suite,
            resumed: connection.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
            client_cert_subject: client_cert.map(|der| subject(der.as_ref())),
            client_cert_sha256: client_cert.map(|der| hex(&Sha256::digest(der.as_ref()))),
        }
    }
}

/// rustls names suites `TLS13_AES_128_GCM_SHA256` / `TLS_ECDHE_…`; the IANA registry (and
/// OpenSSL's `-ciphersuites`, nginx's `$ssl_cipher` for 1.3) say `TLS_AES_128_GCM_SHA256`.
fn iana_name(suite: rustls::CipherSuite) -> String {
    let name = format!("{suite:?}");
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name,
    }
}

fn subject(der: &[u8]) -> String {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => cert.subject().to_string(),
        Err(_) => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
