//! Validation of `[[pool]]`: backends (`host:port`, `http://…`, `https://…`), balancing and
//! its `hash_key`, timeouts, health, limits and retries, the TLS settings for `https://`
//! backends, and `[pool.health_check]`.

use std::sync::Arc;
use std::time::Duration;

use http::uri::Authority;

use super::{ConfigError, PoolConfig, Validator, file};
use crate::tls::{self, UpstreamTlsFiles};
use crate::upstream::{
    BackendAddr, Balance, HashKey, HealthCheck, Limits, PassiveHealth, Retries, UpstreamProtocol,
};

/// The longest `interval_ms` of a health check: a day.
const MAX_HEALTH_CHECK_INTERVAL_MS: u64 = 86_400_000;

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
        let protocol = match raw.protocol.get_ref().as_str() {
            "auto" => UpstreamProtocol::Auto,
            "h2" => UpstreamProtocol::H2,
            "http1" => UpstreamProtocol::Http1,
            other => {
                return self.invalid(
                    raw.protocol.span(),
                    key("protocol"),
                    format!("`{other}` is not one of auto, h2, http1"),
                );
            }
        };
        let hash_key = self.hash_key(i, raw, balance)?;
        self.positive(
            &key,
            &[
                ("connect_timeout_ms", raw.connect_timeout_ms),
                ("response_timeout_ms", raw.response_timeout_ms),
                ("upgrade_idle_timeout_ms", raw.upgrade_idle_timeout_ms),
            ],
        )?;
        let tls = self.pool_tls(i, raw, backends.iter().any(|b| b.https))?;
        let (passive, limits, retries) = self.pool_resilience(i, raw)?;
        let health_check = match &raw.health_check {
            Some(table) => Some(self.health_check(i, table)?),
            None => None,
        };
        let optional = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
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
            passive,
            health_check,
            limits,
            retries,
            body_idle_timeout: optional(raw.body_idle_timeout_ms),
            request_timeout: optional(raw.request_timeout_ms),
            protocol,
            upgrade_idle_timeout: Duration::from_millis(raw.upgrade_idle_timeout_ms),
        })
    }

    /// Passive health, limits and retries of `[[pool]]` number `i`.
    fn pool_resilience(
        &self,
        i: usize,
        raw: &file::Pool,
    ) -> Result<(PassiveHealth, Limits, Retries), ConfigError> {
        let key = |k: &str| format!("pool[{i}].{k}");
        for (name, value) in [
            ("max_ejected_percent", &raw.max_ejected_percent),
            ("retry_budget_percent", &raw.retry_budget_percent),
        ] {
            if *value.get_ref() > 100 {
                return self.invalid(value.span(), key(name), "is a percentage: 0 to 100");
            }
        }
        for (name, value) in [
            ("eject_base_ms", &raw.eject_base_ms),
            ("eject_max_ms", &raw.eject_max_ms),
            ("queue_timeout_ms", &raw.queue_timeout_ms),
        ] {
            if *value.get_ref() == 0 {
                return self.invalid(value.span(), key(name), "must be positive");
            }
        }
        if raw.eject_max_ms.get_ref() < raw.eject_base_ms.get_ref() {
            return self.invalid(
                raw.eject_max_ms.span(),
                key("eject_max_ms"),
                "must be at least eject_base_ms",
            );
        }
        for (name, value) in [
            (
                "max_connections_per_backend",
                &raw.max_connections_per_backend,
            ),
            ("max_streams_per_backend", &raw.max_streams_per_backend),
        ] {
            if *value.get_ref() == 0 {
                return self.invalid(value.span(), key(name), "must be positive");
            }
        }
        let (mut on_reset, mut on_timeout) = (false, false);
        for failure in raw.retry_on.get_ref() {
            match failure.as_str() {
                "reset" => on_reset = true,
                "timeout" => on_timeout = true,
                other => {
                    return self.invalid(
                        raw.retry_on.span(),
                        key("retry_on"),
                        format!("`{other}` is not one of reset, timeout"),
                    );
                }
            }
        }
        if let Some(status) = raw
            .retry_on_status
            .get_ref()
            .iter()
            .find(|s| !(500..=599).contains(*s) && **s != 429)
        {
            return self.invalid(
                raw.retry_on_status.span(),
                key("retry_on_status"),
                format!("{status} is not a 5xx status or 429"),
            );
        }
        let passive = PassiveHealth {
            eject_after_connect_errors: raw.eject_after_connect_errors,
            eject_after_failures: raw.eject_after_failures,
            eject_base: Duration::from_millis(*raw.eject_base_ms.get_ref()),
            eject_max: Duration::from_millis(*raw.eject_max_ms.get_ref()),
            max_ejected_percent: *raw.max_ejected_percent.get_ref(),
        };
        let limits = Limits {
            max_connections: *raw.max_connections_per_backend.get_ref(),
            max_streams: *raw.max_streams_per_backend.get_ref(),
            queue_size: raw.queue_size,
            queue_timeout: Duration::from_millis(*raw.queue_timeout_ms.get_ref()),
        };
        let retries = Retries {
            max_retries: raw.max_retries,
            on_reset,
            on_timeout,
            on_status: raw.retry_on_status.get_ref().clone(),
            budget_percent: *raw.retry_budget_percent.get_ref(),
            budget_min_per_sec: raw.retry_budget_min_per_sec,
            max_body_bytes: raw.retry_body_max_bytes,
        };
        Ok((passive, limits, retries))
    }

    /// `[pool.health_check]` of `[[pool]]` number `i`.
    fn health_check(&self, i: usize, raw: &file::HealthCheck) -> Result<HealthCheck, ConfigError> {
        let key = |k: &str| format!("pool[{i}].health_check.{k}");
        let path = raw.path.get_ref();
        let path = match probe_path(path) {
            Some(parsed) => parsed,
            None => {
                return self.invalid(
                    raw.path.span(),
                    key("path"),
                    format!("`{path}` is not an origin-form path and query such as \"/healthz\""),
                );
            }
        };
        let method = match raw.method.get_ref().as_str() {
            "GET" => http::Method::GET,
            "HEAD" => http::Method::HEAD,
            other => {
                return self.invalid(
                    raw.method.span(),
                    key("method"),
                    format!("`{other}` is not one of GET, HEAD"),
                );
            }
        };
        let host = match &raw.host {
            Some(host) if probe_host(host.get_ref()).is_none() => {
                return self.invalid(
                    host.span(),
                    key("host"),
                    format!("`{}` is not host[:port]", host.get_ref()),
                );
            }
            Some(host) => Some(host.get_ref().clone()),
            None => None,
        };
        if raw.expect.get_ref().is_empty() {
            return self.invalid(
                raw.expect.span(),
                key("expect"),
                "needs at least one status or range",
            );
        }
        let mut expect = Vec::with_capacity(raw.expect.get_ref().len());
        for (j, status) in raw.expect.get_ref().iter().enumerate() {
            match status_range(status.get_ref()) {
                Some(range) => expect.push(range),
                None => {
                    return self.invalid(
                        status.span(),
                        format!("pool[{i}].health_check.expect[{j}]"),
                        "is not a status (100-599) or a range of statuses such as \"200-399\"",
                    );
                }
            }
        }
        self.health_check_times(i, raw)?;
        for (name, value) in [
            ("healthy_threshold", &raw.healthy_threshold),
            ("unhealthy_threshold", &raw.unhealthy_threshold),
        ] {
            if *value.get_ref() == 0 {
                return self.invalid(value.span(), key(name), "must be at least 1");
            }
        }
        Ok(HealthCheck {
            method,
            path,
            host,
            expect,
            interval: Duration::from_millis(*raw.interval_ms.get_ref()),
            timeout: Duration::from_millis(*raw.timeout_ms.get_ref()),
            healthy_threshold: *raw.healthy_threshold.get_ref(),
            unhealthy_threshold: *raw.unhealthy_threshold.get_ref(),
        })
    }

    /// `interval_ms` is 1 ms to a day; `timeout_ms` is positive and shorter than the interval,
    /// so that probes of one backend never overlap.
    fn health_check_times(&self, i: usize, raw: &file::HealthCheck) -> Result<(), ConfigError> {
        let key = |k: &str| format!("pool[{i}].health_check.{k}");
        let (interval, timeout) = (&raw.interval_ms, &raw.timeout_ms);
        if !(1..=MAX_HEALTH_CHECK_INTERVAL_MS).contains(interval.get_ref()) {
            return self.invalid(
                interval.span(),
                key("interval_ms"),
                format!("must be 1 to {MAX_HEALTH_CHECK_INTERVAL_MS} (a day)"),
            );
        }
        if *timeout.get_ref() == 0 {
            return self.invalid(timeout.span(), key("timeout_ms"), "must be positive");
        }
        if timeout.get_ref() >= interval.get_ref() {
            // When the timeout was left at its default, the interval is the line to look at.
            let span = if timeout.span().is_empty() {
                interval.span()
            } else {
                timeout.span()
            };
            return self.invalid(
                span,
                key("timeout_ms"),
                format!(
                    "must be less than interval_ms ({} ms); it is {} ms",
                    interval.get_ref(),
                    timeout.get_ref()
                ),
            );
        }
        Ok(())
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

/// A probe's request target: origin-form (`/path[?query]`), no fragment, only the characters
/// a request line may carry.
fn probe_path(path: &str) -> Option<http::uri::PathAndQuery> {
    if !path.starts_with('/') || path.contains('#') {
        return None;
    }
    let parsed = path.parse::<http::uri::PathAndQuery>().ok()?;
    // `http` accepts a few bytes a request line may not carry; compare to be sure.
    (parsed.as_str() == path).then_some(parsed)
}

/// A probe's `Host`: `host[:port]`, without user info.
fn probe_host(host: &str) -> Option<Authority> {
    if host.is_empty() || host.contains(['@', '/', '?', '#']) {
        return None;
    }
    let authority = host.parse::<Authority>().ok()?;
    // `Authority` keeps a port it cannot read ("app:http"); a `Host` must not carry one.
    let has_port = authority.as_str().len() > authority.host().len();
    (!has_port || authority.port_u16().is_some()).then_some(authority)
}

/// One `expect` entry as an inclusive range of statuses within 100-599.
fn status_range(status: &file::ExpectedStatus) -> Option<(u16, u16)> {
    let code = |n: i64| u16::try_from(n).ok().filter(|n| (100..=599).contains(n));
    let text = |t: &str| {
        let t = t.trim();
        (t.len() == 3 && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse::<i64>().ok())
            .flatten()
            .and_then(code)
    };
    let (low, high) = match status {
        file::ExpectedStatus::Code(n) => (code(*n)?, code(*n)?),
        file::ExpectedStatus::Text(t) => match t.split_once('-') {
            Some((low, high)) => (text(low)?, text(high)?),
            None => (text(t)?, text(t)?),
        },
    };
    (low <= high).then_some((low, high))
}

#[cfg(test)]
mod tests;
