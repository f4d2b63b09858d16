//! Validation of `[[listener]]`, with its `[listener.tls]` and `[listener.forward]` tables.
//! Certificates and keys are read and checked here, so `weir check` and a reload report a bad
//! file with the key that names it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::{
    ConfigError, ForwardConfig, ListenerConfig, ListenerLimits, ListenerMode, Protocol, TcpConfig,
    Validator, file,
};
use crate::proxy::ForwardPolicy;
use crate::tls::{self, ClientAuth, ServerTls, SniCertificate, TlsVersions};
use crate::upstream::{EgressPolicy, ForwardedFor, IpNet, OriginSettings, Ports};

impl Validator<'_> {
    pub(super) fn listener(
        &self,
        i: usize,
        raw: &file::Listener,
    ) -> Result<ListenerConfig, ConfigError> {
        let key = |k: &str| format!("listener[{i}].{k}");
        let Ok(bind) = raw.bind.get_ref().parse::<SocketAddr>() else {
            return self.invalid(
                raw.bind.span(),
                key("bind"),
                format!("`{}` is not an IP:port address", raw.bind.get_ref()),
            );
        };
        let protocol = match raw.protocol.get_ref().as_str() {
            "auto" => Protocol::Auto,
            "http1" => Protocol::Http1,
            "h2c" if raw.tls.is_some() => {
                return self.invalid(
                    raw.protocol.span(),
                    key("protocol"),
                    "h2c is cleartext HTTP/2; with [listener.tls] use auto (ALPN h2 and http/1.1) or http1",
                );
            }
            "h2c" => Protocol::H2c,
            other => {
                return self.invalid(
                    raw.protocol.span(),
                    key("protocol"),
                    format!("`{other}` is not one of auto, http1, h2c"),
                );
            }
        };
        self.positive(
            &key,
            &[
                ("header_timeout_ms", raw.header_timeout_ms),
                ("max_connections", u64::from(raw.max_connections)),
            ],
        )?;
        let mode = raw.mode.get_ref().as_str();
        if let (Some(tcp), false) = (&raw.tcp, mode == "tcp") {
            return self.invalid(
                tcp.span(),
                key("tcp"),
                "[listener.tcp] needs mode = \"tcp\"",
            );
        }
        let mode = match (mode, &raw.forward) {
            ("reverse", None) => ListenerMode::Reverse,
            ("reverse" | "tcp", Some(forward)) => {
                return self.invalid(
                    forward.span(),
                    key("forward"),
                    "[listener.forward] needs mode = \"forward\"",
                );
            }
            ("forward", forward) => ListenerMode::Forward(self.forward(i, forward.as_ref())?),
            ("tcp", None) => ListenerMode::Tcp(self.tcp(i, raw)?),
            (other, _) => {
                return self.invalid(
                    raw.mode.span(),
                    key("mode"),
                    format!("`{other}` is not reverse, forward or tcp"),
                );
            }
        };
        let tls = match &raw.tls {
            None => None,
            Some(tls) => Some(self.listener_tls(i, tls, protocol)?),
        };
        let limits = self.listener_limits(i, raw)?;
        Ok(ListenerConfig {
            name: raw.name.clone().unwrap_or_else(|| bind.to_string()),
            bind,
            protocol,
            header_timeout: Duration::from_millis(raw.header_timeout_ms),
            max_connections: raw.max_connections,
            limits,
            mode,
            tls,
        })
    }

    /// `[listener.tcp]` of `[[listener]]` number `i` (which has `mode = "tcp"`). A TCP
    /// listener passes bytes through untouched, so it takes no `[listener.tls]`: a router that
    /// needs the server name reads it from the ClientHello (TLS passthrough).
    fn tcp(&self, i: usize, raw: &file::Listener) -> Result<TcpConfig, ConfigError> {
        let key = |k: &str| format!("listener[{i}].tcp.{k}");
        if let Some(tls) = &raw.tls {
            return self.invalid(
                tls.span(),
                format!("listener[{i}].tls"),
                "a mode = \"tcp\" listener does not terminate TLS; route TLS by SNI with a stream router instead",
            );
        }
        let Some(tcp) = &raw.tcp else {
            return self.invalid(
                raw.mode.span(),
                format!("listener[{i}].tcp"),
                "mode = \"tcp\" needs a [listener.tcp] table with `routers`",
            );
        };
        let tcp = tcp.get_ref();
        if tcp.routers.get_ref().is_empty() {
            return self.invalid(
                tcp.routers.span(),
                key("routers"),
                "name at least one stream-router filter",
            );
        }
        let ranged = |value: &Spanned<u64>, name: &str, low: u64, high: u64| {
            let v = *value.get_ref();
            if (low..=high).contains(&v) {
                Ok(v)
            } else {
                self.invalid(
                    value.span(),
                    key(name),
                    format!("must be between {low} and {high}"),
                )
            }
        };
        let day = 86_400_000;
        let max_prefix_bytes = ranged(&tcp.max_prefix_bytes, "max_prefix_bytes", 1, 1 << 20)?;
        let buffer_bytes = ranged(&tcp.buffer_bytes, "buffer_bytes", 1024, 1 << 20)?;
        Ok(TcpConfig {
            // Filter names are checked once every filter is known (see `Validator::config`).
            routers: tcp
                .routers
                .get_ref()
                .iter()
                .map(|r| Arc::from(r.get_ref().as_str()))
                .collect(),
            max_prefix_bytes: usize::try_from(max_prefix_bytes).unwrap_or(usize::MAX),
            first_bytes_timeout: Duration::from_millis(ranged(
                &tcp.first_bytes_timeout_ms,
                "first_bytes_timeout_ms",
                1,
                day,
            )?),
            idle_timeout: Duration::from_millis(ranged(
                &tcp.idle_timeout_ms,
                "idle_timeout_ms",
                1,
                day,
            )?),
            connect_timeout: Duration::from_millis(ranged(
                &tcp.connect_timeout_ms,
                "connect_timeout_ms",
                1,
                day,
            )?),
            allow_address_targets: tcp.allow_address_targets,
            egress: self.egress_policy(
                &format!("listener[{i}].tcp"),
                tcp.allow_networks.as_deref(),
                &tcp.deny_networks,
                true,
            )?,
            allow_ports: self.allow_ports(&format!("listener[{i}].tcp"), &tcp.allow_ports)?,
            buffer_bytes: usize::try_from(buffer_bytes).unwrap_or(usize::MAX),
        })
    }

    /// The size limits and timeouts of `[[listener]]` number `i`.
    fn listener_limits(
        &self,
        i: usize,
        raw: &file::Listener,
    ) -> Result<ListenerLimits, ConfigError> {
        let key = |k: &str| format!("listener[{i}].{k}");
        let ranged = |value: &Spanned<u64>, name: &str, low: u64, high: u64| {
            let v = *value.get_ref();
            if (low..=high).contains(&v) {
                Ok(v)
            } else {
                self.invalid(
                    value.span(),
                    key(name),
                    format!("must be between {low} and {high}"),
                )
            }
        };
        let as_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        let day = 86_400_000;
        Ok(ListenerLimits {
            max_connections_per_client: (raw.max_connections_per_client > 0)
                .then_some(raw.max_connections_per_client),
            // hyper reads a head into a buffer of at least 8 KiB.
            max_header_bytes: as_usize(ranged(
                &raw.max_header_bytes,
                "max_header_bytes",
                8192,
                16 << 20,
            )?),
            max_header_count: as_usize(ranged(&raw.max_header_count, "max_header_count", 1, 8192)?),
            max_uri_bytes: as_usize(ranged(&raw.max_uri_bytes, "max_uri_bytes", 16, 16 << 20)?),
            max_method_bytes: as_usize(ranged(&raw.max_method_bytes, "max_method_bytes", 3, 1024)?),
            max_body_bytes: (raw.max_body_bytes > 0).then_some(raw.max_body_bytes),
            first_byte_timeout: Duration::from_millis(ranged(
                &raw.first_byte_timeout_ms,
                "first_byte_timeout_ms",
                1,
                day,
            )?),
            send_timeout: Duration::from_millis(ranged(
                &raw.send_timeout_ms,
                "send_timeout_ms",
                1,
                day,
            )?),
            keep_alive_timeout: Duration::from_millis(ranged(
                &raw.keep_alive_timeout_ms,
                "keep_alive_timeout_ms",
                1,
                day,
            )?),
            trusted_proxies: self
                .networks(&raw.trusted_proxies, key("trusted_proxies"))?
                .into(),
            proxy_protocol_from: if raw.proxy_protocol {
                Some(self.networks(&raw.proxy_protocol_from, key("proxy_protocol_from"))?)
            } else {
                None
            },
            h2_max_concurrent_streams: u32::try_from(ranged(
                &raw.h2_max_concurrent_streams,
                "h2_max_concurrent_streams",
                1,
                65_536,
            )?)
            .unwrap_or(u32::MAX),
        })
    }

    /// A list of networks, each named by its index when it does not parse.
    fn networks(
        &self,
        raw: &Spanned<Vec<String>>,
        key: String,
    ) -> Result<Vec<crate::upstream::IpNet>, ConfigError> {
        raw.get_ref()
            .iter()
            .enumerate()
            .map(|(j, text)| {
                text.parse().or_else(|e: crate::upstream::NetError| {
                    self.invalid(raw.span(), format!("{key}[{j}]"), e.to_string())
                })
            })
            .collect()
    }

    pub(super) fn unique_listener_names(
        &self,
        listeners: &[ListenerConfig],
    ) -> Result<(), ConfigError> {
        let mut seen = HashSet::new();
        for (i, listener) in listeners.iter().enumerate() {
            if !seen.insert(listener.name.as_str()) {
                return self.invalid(
                    0..0,
                    format!("listener[{i}].name"),
                    format!("duplicate listener name `{}`", listener.name),
                );
            }
        }
        Ok(())
    }

    fn forward(
        &self,
        i: usize,
        raw: Option<&Spanned<file::Forward>>,
    ) -> Result<ForwardConfig, ConfigError> {
        let key = |k: &str| format!("listener[{i}].forward.{k}");
        let defaults;
        let (span, forward) = match raw {
            Some(raw) => (raw.span(), raw.get_ref()),
            None => {
                defaults = super::table_defaults::<file::Forward>("", &key(""))?;
                (0..0, &defaults)
            }
        };
        self.positive(
            &key,
            &[
                ("tunnel_idle_timeout_ms", forward.tunnel_idle_timeout_ms),
                ("connect_timeout_ms", forward.connect_timeout_ms),
                ("response_timeout_ms", forward.response_timeout_ms),
            ],
        )?;
        if forward.connect_ports.contains(&0) {
            return self.invalid(span, key("connect_ports"), "0 is not a port");
        }
        let egress = self.egress(i, forward)?;
        let allow_ports =
            self.allow_ports(&format!("listener[{i}].forward"), &forward.allow_ports)?;
        let forwarded_for = match forward.forwarded_for.get_ref().as_str() {
            "none" => ForwardedFor::None,
            "append" => ForwardedFor::Append,
            other => {
                return self.invalid(
                    forward.forwarded_for.span(),
                    key("forwarded_for"),
                    format!("`{other}` is not none or append"),
                );
            }
        };
        // Filter names are checked once every filter is known (see `Validator::config`).
        let filters = forward
            .filters
            .iter()
            .map(|f| Arc::from(f.get_ref().as_str()))
            .collect();
        Ok(ForwardConfig {
            filters,
            policy: ForwardPolicy {
                connect_ports: forward.connect_ports.clone(),
                tunnel_idle_timeout: Duration::from_millis(forward.tunnel_idle_timeout_ms),
                connect_timeout: Duration::from_millis(forward.connect_timeout_ms),
            },
            origin: OriginSettings {
                connect_timeout: Duration::from_millis(forward.connect_timeout_ms),
                response_timeout: Duration::from_millis(forward.response_timeout_ms),
                idle_timeout: Duration::from_millis(forward.idle_timeout_ms),
                max_idle_per_origin: forward.max_idle_per_origin,
                egress: Arc::new(egress),
                allow_ports,
                forwarded_for,
            },
        })
    }

    /// The egress policy of `[listener.forward]` number `i`: its networks parsed, and the
    /// reserved ranges refused unless `allow_private_targets`.
    fn egress(&self, i: usize, forward: &file::Forward) -> Result<EgressPolicy, ConfigError> {
        let allow_private = *forward.allow_private_targets.get_ref();
        if allow_private {
            tracing::warn!(
                listener.index = i,
                "allow_private_targets = true opens every loopback, private and link-local range to the forward proxy's clients; allow_networks can open only the networks it needs"
            );
        }
        self.egress_policy(
            &format!("listener[{i}].forward"),
            forward.allow_networks.as_deref(),
            &forward.deny_networks,
            !allow_private,
        )
    }

    /// An egress policy from `allow_networks` and `deny_networks` under the table `table`.
    fn egress_policy(
        &self,
        table: &str,
        allow: Option<&[Spanned<String>]>,
        deny: &[Spanned<String>],
        refuse_reserved: bool,
    ) -> Result<EgressPolicy, ConfigError> {
        let networks = |list: &[Spanned<String>], name: &str| {
            list.iter()
                .enumerate()
                .map(|(j, text)| {
                    text.get_ref().trim().parse::<IpNet>().or_else(|e| {
                        self.invalid(text.span(), format!("{table}.{name}[{j}]"), e.to_string())
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(EgressPolicy {
            allow_networks: match allow {
                Some(list) => Some(networks(list, "allow_networks")?),
                None => None,
            },
            deny_networks: networks(deny, "deny_networks")?,
            refuse_reserved,
        })
    }

    /// `allow_ports` of the table `table`: port numbers and `"low-high"` ranges, each within
    /// 1-65535.
    fn allow_ports(
        &self,
        table: &str,
        raw: &Spanned<Vec<Spanned<file::PortEntry>>>,
    ) -> Result<Ports, ConfigError> {
        let mut ranges = Vec::with_capacity(raw.get_ref().len());
        for (j, entry) in raw.get_ref().iter().enumerate() {
            let port = |n: i64| u16::try_from(n).ok().filter(|p| *p > 0);
            let text_port = |t: &str| t.trim().parse::<i64>().ok().and_then(port);
            let range = match entry.get_ref() {
                file::PortEntry::Port(n) => port(*n).map(|p| (p, p)),
                file::PortEntry::Text(text) => match text.split_once('-') {
                    Some((low, high)) => text_port(low)
                        .zip(text_port(high))
                        .filter(|(low, high)| low <= high),
                    None => text_port(text).map(|p| (p, p)),
                },
            };
            let Some(range) = range else {
                return self.invalid(
                    entry.span(),
                    format!("{table}.allow_ports[{j}]"),
                    "a port is 1-65535, a range \"low-high\" with low <= high",
                );
            };
            ranges.push(range);
        }
        Ok(Ports::new(ranges))
    }

    fn listener_tls(
        &self,
        i: usize,
        raw: &Spanned<file::ListenerTls>,
        protocol: Protocol,
    ) -> Result<tls::ListenerTls, ConfigError> {
        let key = |k: &str| format!("listener[{i}].tls.{k}");
        let tls = raw.get_ref();
        if tls.certificates.is_empty() {
            return self.invalid(
                raw.span(),
                key("certificates"),
                "at least one { cert, key } is required",
            );
        }
        let mut certificates = Vec::with_capacity(tls.certificates.len());
        for (j, entry) in tls.certificates.iter().enumerate() {
            let cert = entry.get_ref();
            let at = |k: &str| format!("listener[{i}].tls.certificates[{j}].{k}");
            let (cert_path, key_path) = (self.base.join(&cert.cert), self.base.join(&cert.key));
            let loaded = tls::load_certified_key(&cert_path, &key_path).or_else(|e| {
                let which = match &e {
                    tls::TlsError::Read { path, .. } | tls::TlsError::Pem { path, .. }
                        if *path == key_path =>
                    {
                        "key"
                    }
                    tls::TlsError::KeyMismatch { .. } => "key",
                    _ => "cert",
                };
                self.invalid(entry.span(), at(which), crate::upstream::error_chain(&e))
            })?;
            let loaded = Arc::new(loaded);
            let names = match &cert.server_names {
                Some(names) => names.iter().map(|n| n.to_ascii_lowercase()).collect(),
                None => tls::certificate_names(&loaded),
            };
            certificates.push(SniCertificate { names, key: loaded });
        }
        let versions = match tls.min_version.get_ref().as_str() {
            "1.2" => TlsVersions::Tls12And13,
            "1.3" => TlsVersions::Tls13,
            other => {
                return self.invalid(
                    tls.min_version.span(),
                    key("min_version"),
                    format!("`{other}` is not 1.2 or 1.3 (older versions are never accepted)"),
                );
            }
        };
        let client_auth = match (&tls.client_ca, tls.client_auth.get_ref().as_str()) {
            (None, _) => None,
            (Some(ca), mode) => {
                let mode = match mode {
                    "required" => ClientAuth::Required,
                    "optional" => ClientAuth::Optional,
                    other => {
                        return self.invalid(
                            tls.client_auth.span(),
                            key("client_auth"),
                            format!("`{other}` is not required or optional"),
                        );
                    }
                };
                let roots = tls::load_roots(&self.base.join(ca.get_ref())).or_else(|e| {
                    self.invalid(
                        ca.span(),
                        key("client_ca"),
                        crate::upstream::error_chain(&e),
                    )
                })?;
                Some((Arc::new(roots), mode))
            }
        };
        let alpn = match protocol {
            Protocol::Http1 => vec![b"http/1.1".to_vec()],
            Protocol::Auto | Protocol::H2c => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        };
        let settings = ServerTls {
            certificates,
            versions,
            alpn,
            session_tickets: tls.session_tickets,
            session_cache_size: tls.session_cache_size,
            client_auth,
        };
        tls::server_config(&settings).or_else(|e| {
            self.invalid(
                raw.span(),
                format!("listener[{i}].tls"),
                crate::upstream::error_chain(&e),
            )
        })
    }
}
