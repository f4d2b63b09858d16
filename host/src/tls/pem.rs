//! Certificates, keys and CA bundles from PEM files, with errors that name the file.

use std::path::Path;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use super::{TlsError, provider};

/// Reads a certificate chain: the end-entity certificate first, then its intermediates.
pub fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, &e))?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_path_buf(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(chain)
}

/// Reads a private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::Pem {
            path: path.to_path_buf(),
            reason: "no PRIVATE KEY block".into(),
        },
        other => pem_error(path, &other),
    })
}

/// Reads a certificate and its key and checks that they belong together.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = load_chain(cert)?;
    let der = load_key(key)?;
    let signing = provider()
        .key_provider
        .load_private_key(der)
        .map_err(|source| TlsError::Rejected {
            what: format!("key {}", key.display()),
            source,
        })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyMismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        }),
        Err(source) => Err(TlsError::Rejected {
            what: format!("certificate {}", cert.display()),
            source,
        }),
    }
}

/// Reads a CA bundle: every certificate in the file becomes a trust anchor.
pub fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_chain(path)? {
        roots.add(cert).map_err(|source| TlsError::Rejected {
            what: format!("CA certificate in {}", path.display()),
            source,
        })?;
    }
    Ok(roots)
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn pem_error(path: &Path, error: &rustls::pki_types::pem::Error) -> TlsError {
    TlsError::Pem {
        path: path.to_path_buf(),
        reason: format!("not valid PEM: {error}"),
    }
}
