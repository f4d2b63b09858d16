//! The server side: an HTTPS listener's rustls configuration.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::server::{
    ClientHello, NoServerSessionStorage, ResolvesServerCert, ServerSessionMemoryCache,
    WebPkiClientVerifier,
};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};

use super::{TlsError, provider};

/// Which TLS versions a listener accepts. Older versions are never offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersions {
    /// TLS 1.2 and 1.3.
    Tls12And13,
    /// TLS 1.3 only.
    Tls13,
}

/// Whether a client certificate is required.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// Handshakes without a valid client certificate fail.
    Required,
    /// A client certificate is verified when presented; clients without one are served too.
    Optional,
}

/// One certificate of a listener and the server names it answers for.
#[derive(Clone, Debug)]
pub struct SniCertificate {
    /// Lowercase names; `*.example.com` matches one label.
    pub names: Vec<String>,
    /// The chain and its signing key.
    pub key: Arc<CertifiedKey>,
}

/// Validated settings of an HTTPS listener.
#[derive(Clone, Debug)]
pub struct ServerTls {
    /// Certificates in config order; the first is the default for unknown or absent SNI.
    pub certificates: Vec<SniCertificate>,
    /// Accepted versions.
    pub versions: TlsVersions,
    /// ALPN protocols offered, in preference order.
    pub alpn: Vec<Vec<u8>>,
    /// Whether stateless session tickets are issued.
    pub session_tickets: bool,
    /// Sessions kept in the server-side cache (0 = no cache).
    pub session_cache_size: usize,
    /// Client-certificate verification, when configured.
    pub client_auth: Option<(Arc<RootCertStore>, ClientAuth)>,
}

/// Builds the rustls server configuration for a listener.
pub fn server_config(settings: &ServerTls) -> Result<Arc<ServerConfig>, TlsError> {
    let rejected = |what: &str| {
        let what = what.to_owned();
        move |source| TlsError::Rejected { what, source }
    };
    let versions: &[&SupportedProtocolVersion] = match settings.versions {
        TlsVersions::Tls12And13 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersions::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(rejected("TLS versions"))?;
    let builder = match &settings.client_auth {
        None => builder.with_no_client_auth(),
        Some((roots, mode)) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider());
            let verifier = match mode {
                ClientAuth::Required => verifier,
                ClientAuth::Optional => verifier.allow_unauthenticated(),
            };
            let verifier = verifier.build().map_err(|e| TlsError::Rejected {
                what: "client CA".into(),
                source: rustls::Error::General(e.to_string()),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(SniResolver::new(&settings.certificates)));
    config.alpn_protocols = settings.alpn.clone();
    config.session_storage = if settings.session_cache_size == 0 {
        Arc::new(NoServerSessionStorage {})
    } else {
        ServerSessionMemoryCache::new(settings.session_cache_size)
    };
    if settings.session_tickets {
        config.ticketer =
            rustls::crypto::aws_lc_rs::Ticketer::new().map_err(rejected("session ticket keys"))?;
    } else if settings.session_cache_size == 0 {
        // Neither tickets nor a cache: TLS 1.3 tickets could never be redeemed, so send none.
        config.send_tls13_tickets = 0;
    }
    Ok(Arc::new(config))
}

/// Picks the certificate for a handshake by SNI: an exact name, then a wildcard one label up,
/// then the default (the first configured).
#[derive(Debug)]
struct SniResolver {
    exact: HashMap<String, Arc<CertifiedKey>>,
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl SniResolver {
    fn new(certificates: &[SniCertificate]) -> Self {
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        for cert in certificates {
            for name in &cert.names {
                let name = name.to_ascii_lowercase();
                // The first certificate that names a host wins, as in the config's order.
                match name.strip_prefix("*.") {
                    Some(suffix) => wildcard.entry(suffix.to_owned()),
                    None => exact.entry(name),
                }
                .or_insert_with(|| cert.key.clone());
            }
        }
        Self {
            exact,
            wildcard,
            default: certificates.first().map(|c| c.key.clone()),
        }
    }

    fn lookup(&self, sni: &str) -> Option<Arc<CertifiedKey>> {
        let sni = sni.to_ascii_lowercase();
        if let Some(key) = self.exact.get(&sni) {
            return Some(key.clone());
        }
        let (_, parent) = sni.split_once('.')?;
        self.wildcard.get(parent).cloned()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        hello
            .server_name()
            .and_then(|sni| self.lookup(sni))
            .or_else(|| self.default.clone())
    }
}

/// The DNS names (and IP addresses, as text) a certificate's subjectAltName lists, lowercase.
pub(crate) fn certificate_names(key: &CertifiedKey) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Some(der) = key.cert.first() else {
        return Vec::new();
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der.as_ref()) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(dns.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_for(names: &[&str]) -> Arc<CertifiedKey> {
        let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let cert = rcgen::generate_simple_self_signed(names).expect("certificate");
        let der = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der())
            .expect("key der");
        let signing = provider()
            .key_provider
            .load_private_key(der)
            .expect("signing key");
        Arc::new(CertifiedKey::new(vec![cert.cert.der().clone()], signing))
    }

    #[test]
    fn sni_picks_exact_then_wildcard_then_default() {
        let a = key_for(&["a.test"]);
        let wild = key_for(&["*.b.test"]);
        let resolver = SniResolver::new(&[
            SniCertificate {
                names: certificate_names(&a),
                key: a.clone(),
            },
            SniCertificate {
                names: certificate_names(&wild),
                key: wild.clone(),
            },
        ]);
        assert!(Arc::ptr_eq(&resolver.lookup("A.TEST").expect("exact"), &a));
        assert!(Arc::ptr_eq(
            &resolver.lookup("x.b.test").expect("wild"),
            &wild
        ));
        assert!(resolver.lookup("x.y.b.test").is_none());
        assert!(resolver.lookup("other.test").is_none());
        assert!(Arc::ptr_eq(resolver.default.as_ref().expect("default"), &a));
    }

    #[test]
    fn names_come_from_the_subject_alt_name() {
        let key = key_for(&["One.Test", "*.two.test"]);
        assert_eq!(certificate_names(&key), ["one.test", "*.two.test"]);
    }
}
