//! Name resolution for the forward proxy: asynchronous (hickory), with a process-wide cache
//! that honours each record's TTL, and the target policy that keeps clients of the proxy out of
//! the operator's own network (loopback, private, link-local and other local ranges).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ResolveHosts, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;

/// Records kept in the resolver's cache.
const CACHE_SIZE: usize = 4096;

/// Why a target host cannot be reached through the proxy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The name did not resolve.
    #[error("cannot resolve `{host}`: {reason}")]
    Unresolved {
        /// Host name.
        host: String,
        /// Resolver's reason.
        reason: String,
    },
    /// Every address of the target is in a range the policy refuses.
    #[error("`{host}` is in a loopback, private or link-local range ({addr}); refused")]
    Private {
        /// Host as asked.
        host: String,
        /// The first refused address.
        addr: IpAddr,
    },
}

/// Resolves target hosts and applies the private-range policy.
#[derive(Clone, Debug)]
pub struct TargetResolver {
    allow_private: bool,
}

impl TargetResolver {
    /// A resolver that refuses private targets unless `allow_private`.
    pub fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }

    /// Whether the policy lets the proxy reach `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// The addresses of `host` the policy allows, in the resolver's order. An IP literal is
    /// checked without a lookup.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, TargetError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let ips: Vec<IpAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => shared_resolver()
                .lookup_ip(bare)
                .await
                .map_err(|e| TargetError::Unresolved {
                    host: host.to_owned(),
                    reason: e.to_string(),
                })?
                .iter()
                .collect(),
        };
        let allowed: Vec<SocketAddr> = ips
            .iter()
            .filter(|ip| self.permits(**ip))
            .map(|ip| SocketAddr::new(*ip, port))
            .collect();
        match (allowed.is_empty(), ips.first()) {
            (false, _) => Ok(allowed),
            (true, Some(addr)) => Err(TargetError::Private {
                host: host.to_owned(),
                addr: *addr,
            }),
            (true, None) => Err(TargetError::Unresolved {
                host: host.to_owned(),
                reason: "no addresses".into(),
            }),
        }
    }
}

/// One resolver (and one cache) for the whole process.
fn shared_resolver() -> Arc<TokioResolver> {
    static RESOLVER: OnceLock<Arc<TokioResolver>> = OnceLock::new();
    RESOLVER
        .get_or_init(|| {
            let mut builder = TokioResolver::builder_tokio().unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read the system resolver config; using defaults");
                TokioResolver::builder_with_config(
                    ResolverConfig::default(),
                    TokioConnectionProvider::default(),
                )
            });
            let options = builder.options_mut();
            options.cache_size = CACHE_SIZE;
            options.use_hosts_file = ResolveHosts::Always;
            Arc::new(builder.build())
        })
        .clone()
}

/// Whether an address is outside every local, private and special-purpose range.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT), RFC 6598
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, RFC 2544
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0) // site-local (deprecated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_and_private_ranges_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:2800:220:1::1"] {
            assert!(is_public(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[tokio::test]
    async fn literals_are_checked_without_a_lookup() {
        let strict = TargetResolver::new(false);
        assert!(matches!(
            strict.resolve("127.0.0.1", 443).await,
            Err(TargetError::Private { .. })
        ));
        assert!(matches!(
            strict.resolve("[::1]", 443).await,
            Err(TargetError::Private { .. })
        ));
        let open = TargetResolver::new(true);
        assert_eq!(
            open.resolve("127.0.0.1", 8443).await,
            Ok(vec!["127.0.0.1:8443".parse().expect("addr")])
        );
    }

    #[tokio::test]
    async fn localhost_resolves_and_is_refused_unless_allowed() {
        let strict = TargetResolver::new(false);
        assert!(matches!(
            strict.resolve("localhost", 80).await,
            Err(TargetError::Private { .. })
        ));
        let open = TargetResolver::new(true);
        let addrs = open.resolve("localhost", 80).await.expect("localhost");
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
