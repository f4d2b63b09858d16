//! The server side: an HTTPS listener's rustls configuration.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::pki_types::TrustAnchor;
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

/// An HTTPS listener's TLS: its rustls configuration, and the settings its session resumption
/// depends on, which decide whether a reload may keep its ticket keys and session cache.
#[derive(Clone, Debug)]
pub struct ListenerTls {
    /// What the listener's handshakes use.
    pub config: Arc<ServerConfig>,
    resumption: Resumption,
}

/// What a resumed session was accepted under: a session from before a reload may only be
/// resumed after it when all of this is unchanged. Certificates are not part of it: a resumed
/// session keeps the server identity it was made with, as in any TLS server.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Resumption {
    session_tickets: bool,
    session_cache_size: usize,
    versions: TlsVersions,
    /// The client CA's trust anchors and the mode: a session made under an older client CA must
    /// not let a client skip the new one.
    client_auth: Option<(Vec<TrustAnchor<'static>>, ClientAuth)>,
}

impl ListenerTls {
    /// This (reloaded) listener's TLS with `previous`'s ticket keys and session cache, when the
    /// settings resumption depends on are the same, so returning clients keep resuming across a
    /// reload instead of all doing full handshakes at once. Otherwise `self` unchanged.
    #[must_use]
    pub fn keep_sessions_of(self, previous: &ListenerTls) -> ListenerTls {
        if self.resumption != previous.resumption {
            return self;
        }
        let mut config = (*self.config).clone();
        config.session_storage = previous.config.session_storage.clone();
        config.ticketer = previous.config.ticketer.clone();
        ListenerTls {
            config: Arc::new(config),
            resumption: self.resumption,
        }
    }
}

/// Builds the rustls server configuration for a listener.
pub fn server_config(settings: &ServerTls) -> Result<ListenerTls, TlsError> {
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
    Ok(ListenerTls {
        config: Arc::new(config),
        resumption: Resumption {
            session_tickets: settings.session_tickets,
            session_cache_size: settings.session_cache_size,
            versions: settings.versions,
            client_auth: settings
                .client_auth
                .as_ref()
                .map(|(roots, mode)| (roots.roots.clone(), *mode)),
        },
    })
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

    fn settings(client_ca: Option<&[&str]>) -> ServerTls {
        let key = key_for(&["app.test"]);
        let client_auth = client_ca.map(|names| {
            let mut roots = RootCertStore::empty();
            let ca = key_for(names);
            roots.add(ca.cert[0].clone()).expect("trust anchor");
            (Arc::new(roots), ClientAuth::Required)
        });
        ServerTls {
            certificates: vec![SniCertificate {
                names: certificate_names(&key),
                key,
            }],
            versions: TlsVersions::Tls12And13,
            alpn: vec![b"http/1.1".to_vec()],
            session_tickets: true,
            session_cache_size: 100,
            client_auth,
        }
    }

    fn keeps_sessions(previous: &ListenerTls, next: ListenerTls) -> bool {
        let kept = next.keep_sessions_of(previous);
        let same_cache = Arc::ptr_eq(
            &kept.config.session_storage,
            &previous.config.session_storage,
        );
        let same_keys = Arc::ptr_eq(&kept.config.ticketer, &previous.config.ticketer);
        assert_eq!(same_cache, same_keys);
        same_cache
    }

    #[test]
    fn a_reload_keeps_sessions_unless_what_they_depend_on_changed() {
        let previous = server_config(&settings(None)).unwrap();
        // New certificates: sessions carry over.
        assert!(keeps_sessions(
            &previous,
            server_config(&settings(None)).unwrap()
        ));
        let mut smaller = settings(None);
        smaller.session_cache_size = 10;
        assert!(!keeps_sessions(&previous, server_config(&smaller).unwrap()));
        let mut tls13 = settings(None);
        tls13.versions = TlsVersions::Tls13;
        assert!(!keeps_sessions(&previous, server_config(&tls13).unwrap()));
        // A session made without (or under another) client CA must not skip the new one.
        let mtls = server_config(&settings(Some(&["ca-one"]))).unwrap();
        assert!(!keeps_sessions(&previous, mtls.clone()));
        assert!(!keeps_sessions(
            &mtls,
            server_config(&settings(Some(&["ca-two"]))).unwrap()
        ));
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
