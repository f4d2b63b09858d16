//! Validation of `[[pool]]`: backends (`host:port`, `http://…`, `https://…`), balancing and
//! its `hash_key`, timeouts, and the TLS settings for `https://` backends.

use std::sync::Arc;
use std::time::Duration;

use http::uri::Authority;

use super::{ConfigError, PoolConfig, Validator, file};
use crate::tls::{self, UpstreamTlsFiles};
use crate::upstream::{BackendAddr, Balance, HashKey};

impl Validator<'_> {
    pub(super) fn pool(&self, i: usize, raw: &file::Pool) -> Result<PoolConfig, ConfigError> {
        let key = |k: &str| format!("pool[{i}].{k}");
        self.name(&raw.name, key("name"))?;
        if raw.backends.is_empty() {
            return self.invalid(
                raw.name.span(),
                key("backends"),
                "a pool needs at least one backend",
            );
        }
        let mut backends = Vec::with_capacity(raw.backends.len());
        for (j, backend) in raw.backends.iter().enumerate() {
            let (addr, weight) = match backend.get_ref() {
                file::Backend::Addr(addr) => (addr.as_str(), 1),
                file::Backend::Weighted(w) => (w.addr.as_str(), w.weight),
            };
            let Some(parsed) = backend_addr(addr, weight) else {
                return self.invalid(
                    backend.span(),
                    format!("pool[{i}].backends[{j}]"),
                    format!("`{addr}` is not host:port, http://host[:port] or https://host[:port]"),
                );
            };
            if weight == 0 {
                return self.invalid(
                    backend.span(),
                    format!("pool[{i}].backends[{j}].weight"),
                    "must be at least 1",
                );
            }
            backends.push(parsed);
        }
        let balance = match raw.balance.get_ref().as_str() {
            "round-robin" => Balance::RoundRobin,
            "random" => Balance::Random,
            "least-requests" => Balance::LeastRequests,
            "p2c" => Balance::P2c,
            "consistent-hash" => Balance::ConsistentHash,
            other => {
                return self.invalid(
                    raw.balance.span(),
                    key("balance"),
                    format!(
                        "`{other}` is not one of round-robin, random, least-requests, p2c, consistent-hash"
                    ),
                );
            }
        };
        let hash_key = self.hash_key(i, raw, balance)?;
        self.positive(
            &key,
            &[
                ("connect_timeout_ms", raw.connect_timeout_ms),
                ("response_timeout_ms", raw.response_timeout_ms),
            ],
        )?;
        let tls = self.pool_tls(i, raw, backends.iter().any(|b| b.https))?;
        Ok(PoolConfig {
            name: Arc::from(raw.name.get_ref().as_str()),
            backends,
            balance,
            hash_key,
            connect_timeout: Duration::from_millis(raw.connect_timeout_ms),
            response_timeout: Duration::from_millis(raw.response_timeout_ms),
            idle_timeout: Duration::from_millis(raw.idle_timeout_ms),
            max_idle_per_backend: raw.max_idle_per_backend,
            tls,
        })
    }

    /// `hash_key`: required by `consistent-hash` and refused elsewhere (a filter's affinity
    /// key hashes on any pool, so a key source on another policy would be a silent no-op).
    fn hash_key(
        &self,
        i: usize,
        raw: &file::Pool,
        balance: Balance,
    ) -> Result<Option<HashKey>, ConfigError> {
        let key = format!("pool[{i}].hash_key");
        match (&raw.hash_key, balance) {
            (None, Balance::ConsistentHash) => self.invalid(
                raw.balance.span(),
                key,
                "balance = \"consistent-hash\" needs a hash_key: client-addr, header:<name> or cookie:<name>",
            ),
            (None, _) => Ok(None),
            (Some(text), Balance::ConsistentHash) => match HashKey::parse(text.get_ref()) {
                Ok(source) => Ok(Some(source)),
                Err(reason) => self.invalid(text.span(), key, reason),
            },
            (Some(text), _) => self.invalid(
                text.span(),
                key,
                "only applies with balance = \"consistent-hash\"",
            ),
        }
    }

    fn pool_tls(
        &self,
        i: usize,
        raw: &file::Pool,
        has_https: bool,
    ) -> Result<Option<tls::UpstreamTls>, ConfigError> {
        let key = |k: &str| format!("pool[{i}].{k}");
        let set = [
            ("tls_ca_file", raw.tls_ca_file.as_ref().map(|s| s.span())),
            (
                "tls_client_cert",
                raw.tls_client_cert.as_ref().map(|s| s.span()),
            ),
            (
                "tls_client_key",
                raw.tls_client_key.as_ref().map(|s| s.span()),
            ),
            (
                "tls_server_name",
                raw.tls_server_name.as_ref().map(|s| s.span()),
            ),
        ];
        if !has_https {
            if let Some((name, Some(span))) = set.iter().find(|(_, span)| span.is_some()) {
                return self.invalid(
                    span.clone(),
                    key(name),
                    "only applies to https:// backends, and this pool has none",
                );
            }
            return Ok(None);
        }
        let client_cert = match (&raw.tls_client_cert, &raw.tls_client_key) {
            (None, None) => None,
            (Some(cert), Some(client_key)) => Some((
                self.base.join(cert.get_ref()),
                self.base.join(client_key.get_ref()),
            )),
            (Some(cert), None) => {
                return self.invalid(
                    cert.span(),
                    key("tls_client_key"),
                    "tls_client_cert needs tls_client_key",
                );
            }
            (None, Some(client_key)) => {
                return self.invalid(
                    client_key.span(),
                    key("tls_client_cert"),
                    "tls_client_key needs tls_client_cert",
                );
            }
        };
        if let Some(name) = &raw.tls_server_name
            && rustls::pki_types::ServerName::try_from(name.get_ref().as_str()).is_err()
        {
            return self.invalid(
                name.span(),
                key("tls_server_name"),
                "is not a DNS name or IP address",
            );
        }
        let files = UpstreamTlsFiles {
            ca_file: raw
                .tls_ca_file
                .as_ref()
                .map(|f| self.base.join(f.get_ref())),
            client_cert,
            server_name: raw.tls_server_name.as_ref().map(|n| n.get_ref().clone()),
            verify: !raw.danger_accept_invalid_upstream_certs,
        };
        if !files.verify {
            tracing::warn!(
                pool = %raw.name.get_ref(),
                "danger_accept_invalid_upstream_certs = true: upstream certificates are NOT verified; anyone on the path can impersonate these backends"
            );
        }
        let failing_key = |e: &tls::TlsError| match e {
            tls::TlsError::Read { path, .. } | tls::TlsError::Pem { path, .. }
                if Some(path) == files.ca_file.as_ref() =>
            {
                ("tls_ca_file", raw.tls_ca_file.as_ref().map(|s| s.span()))
            }
            tls::TlsError::KeyMismatch { .. } => (
                "tls_client_key",
                raw.tls_client_key.as_ref().map(|s| s.span()),
            ),
            tls::TlsError::Read { path, .. } | tls::TlsError::Pem { path, .. }
                if files.client_cert.as_ref().is_some_and(|(_, k)| k == path) =>
            {
                (
                    "tls_client_key",
                    raw.tls_client_key.as_ref().map(|s| s.span()),
                )
            }
            _ if files.client_cert.is_some() => (
                "tls_client_cert",
                raw.tls_client_cert.as_ref().map(|s| s.span()),
            ),
            _ => ("tls_ca_file", raw.tls_ca_file.as_ref().map(|s| s.span())),
        };
        tls::client_config(&files).map(Some).or_else(|e| {
            let (name, span) = failing_key(&e);
            self.invalid(
                span.unwrap_or(raw.name.span()),
                key(name),
                crate::upstream::error_chain(&e),
            )
        })
    }
}

/// Parses `host:port`, `http://host[:port]` or `https://host[:port]` (a trailing `/` allowed).
fn backend_addr(addr: &str, weight: u32) -> Option<BackendAddr> {
    let (https, bare, default_port) = if let Some(rest) = addr.strip_prefix("https://") {
        (true, rest, Some(443))
    } else if let Some(rest) = addr.strip_prefix("http://") {
        (false, rest, Some(80))
    } else {
        (false, addr, None)
    };
    let bare = bare.trim_end_matches('/');
    if bare.contains(['@', '/', '?', '#']) || bare.is_empty() {
        return None;
    }
    let authority = bare.parse::<Authority>().ok()?;
    let authority = match (authority.port_u16(), default_port) {
        (Some(_), _) => authority,
        (None, Some(port)) => format!("{bare}:{port}").parse().ok()?,
        (None, None) => return None,
    };
    Some(BackendAddr {
        authority,
        https,
        weight,
    })
}
