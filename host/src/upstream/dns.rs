//! Name resolution for the forward proxy: asynchronous (hickory), with a process-wide cache
//! that honours each record's TTL, the reading of IP literals in every form a URL may spell
//! them, and the egress policy ([`EgressPolicy`]) applied to every resolved address, so that
//! clients of the proxy stay out of the operator's own network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};

use super::egress::{EgressPolicy, Refusal};

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
    /// Every address of the target is refused by the egress policy.
    #[error("`{host}` ({addr}) is refused by the egress policy: {why}")]
    Refused {
        /// Host as asked.
        host: String,
        /// The first refused address.
        addr: IpAddr,
        /// Which rule refused it.
        why: Refusal,
    },
    /// A host weir does not connect to whatever the policy: an IPv6 zone id (link-local by
    /// definition), a malformed numeric IPv4 form.
    #[error("`{host}` is not a usable host: {reason}")]
    Unusable {
        /// Host as asked.
        host: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The target's port is not in the listener's list.
    #[error("port {port} is not allowed (allowed: {allowed})")]
    Port {
        /// The port asked for.
        port: u16,
        /// The allowed ports, for the message.
        allowed: String,
    },
}

/// Resolves target hosts and applies the egress policy to every address.
#[derive(Clone, Debug)]
pub struct TargetResolver {
    policy: Arc<EgressPolicy>,
}

impl TargetResolver {
    /// A resolver under the default policy (reserved ranges refused), or under none when
    /// `allow_private`.
    pub fn new(allow_private: bool) -> Self {
        let policy = if allow_private {
            EgressPolicy::open()
        } else {
            EgressPolicy::default()
        };
        Self::with_policy(Arc::new(policy))
    }

    /// A resolver under `policy`.
    pub fn with_policy(policy: Arc<EgressPolicy>) -> Self {
        Self { policy }
    }

    /// The policy it applies.
    pub fn policy(&self) -> &EgressPolicy {
        &self.policy
    }

    /// The addresses of `host` the policy allows, in the resolver's order; refused ones are
    /// left out (never connected), and if none is left the first refusal is the error. An IP
    /// literal, in any form a URL parser accepts (`2130706433`, `0x7f.1`, `[::ffff:7f00:1]`),
    /// is judged as the address it denotes, without a lookup. The caller connects to exactly
    /// these addresses: nothing resolves the name a second time.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, TargetError> {
        let ips: Vec<IpAddr> = addresses(host).await?;
        let mut refused = None;
        let mut allowed = Vec::with_capacity(ips.len());
        for ip in ips {
            match self.policy.judge(ip) {
                // Connect to the address the policy judged: a mapped address as its IPv4 form.
                Ok(()) => allowed.push(SocketAddr::new(ip.to_canonical(), port)),
                Err(why) => {
                    tracing::debug!(target.host = %host, upstream.addr = %ip, reason = %why, "egress policy refused an address");
                    refused.get_or_insert((ip, why));
                }
            }
        }
        match (allowed.is_empty(), refused) {
            (false, _) => Ok(allowed),
            (true, Some((addr, why))) => Err(TargetError::Refused {
                host: host.to_owned(),
                addr,
                why,
            }),
            (true, None) => Err(TargetError::Unresolved {
                host: host.to_owned(),
                reason: "no addresses".into(),
            }),
        }
    }
}

impl TargetResolver {
    /// Checks that the policy allows *every* address of `host` (for a pool's backend, which
    /// the pool connects to itself, to any of its addresses).
    pub async fn admit_all(&self, host: &str) -> Result<(), TargetError> {
        let ips: Vec<IpAddr> = addresses(host).await?;
        match ips
            .into_iter()
            .find_map(|ip| self.policy.judge(ip).err().map(|why| (ip, why)))
        {
            Some((addr, why)) => Err(TargetError::Refused {
                host: host.to_owned(),
                addr,
                why,
            }),
            None => Ok(()),
        }
    }
}

/// The addresses `host` denotes: itself when it is an IP literal, else what the shared
/// resolver answers.
async fn addresses(host: &str) -> Result<Vec<IpAddr>, TargetError> {
    Ok(match literal(host)? {
        Some(ip) => vec![ip],
        None => shared_resolver()
            .lookup_ip(host)
            .await
            .map_err(|e| TargetError::Unresolved {
                host: host.to_owned(),
                reason: e.to_string(),
            })?
            .iter()
            .collect(),
    })
}

/// The address `host` denotes when it is an IP literal: `[v6]` (a zone id is refused), a
/// dotted quad, or any other IPv4 form the WHATWG URL standard's host parser accepts (a host
/// whose last label is a number: `2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`, a trailing
/// dot). `None` for a name to resolve.
pub(crate) fn literal(host: &str) -> Result<Option<IpAddr>, TargetError> {
    let unusable = |reason| TargetError::Unusable {
        host: host.to_owned(),
        reason,
    };
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| unusable("unclosed `[`"))?;
        if inner.contains('%') {
            return Err(unusable("an IPv6 zone id names a local interface"));
        }
        return inner
            .parse::<Ipv6Addr>()
            .map(|ip| Some(IpAddr::V6(ip)))
            .map_err(|_| unusable("not an IPv6 address"));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Some(ip));
    }
    let mut parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    let Some(last) = parts.last() else {
        return Ok(None);
    };
    if parse_ipv4_number(last).is_none() && !is_number_like(last) {
        return Ok(None);
    }
    ipv4_from_parts(&parts)
        .map(|ip| Some(IpAddr::V4(ip)))
        .ok_or_else(|| unusable("a numeric host that is not an IPv4 address"))
}

/// WHATWG URL "ends in a number": digits, or `0x` and hex digits.
fn is_number_like(label: &str) -> bool {
    let hex = label
        .strip_prefix("0x")
        .or_else(|| label.strip_prefix("0X"));
    match hex {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_hexdigit()),
        None => !label.is_empty() && label.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// One part of a WHATWG IPv4 host: decimal, `0x` hex or `0`-prefixed octal.
fn parse_ipv4_number(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() {
        return Some(0);
    }
    // Longer than any IPv4 number: refuse rather than overflow.
    if digits.len() > 12 {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// The WHATWG IPv4 parser over up to four parts; the last part fills the remaining bytes.
fn ipv4_from_parts(parts: &[&str]) -> Option<Ipv4Addr> {
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let numbers: Vec<u64> = parts
        .iter()
        .map(|p| parse_ipv4_number(p))
        .collect::<Option<_>>()?;
    let (last, leading) = numbers.split_last()?;
    if leading.iter().any(|n| *n > 255) {
        return None;
    }
    let room = 8 * (5 - numbers.len() as u32);
    if *last >= 1u64 << room {
        return None;
    }
    let mut value = *last;
    for (i, n) in leading.iter().enumerate() {
        value += n << (8 * (3 - i as u32));
    }
    u32::try_from(value).ok().map(Ipv4Addr::from)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_are_read_in_every_url_form() {
        let v4 = |s: &str| Some(IpAddr::V4(s.parse().expect("ipv4")));
        for (host, ip) in [
            ("127.0.0.1", v4("127.0.0.1")),
            ("127.0.0.1.", v4("127.0.0.1")),
            ("2130706433", v4("127.0.0.1")),
            ("0x7f000001", v4("127.0.0.1")),
            ("0x7f.1", v4("127.0.0.1")),
            ("0x7F.0.0.1", v4("127.0.0.1")),
            ("0177.0.0.1", v4("127.0.0.1")),
            ("127.1", v4("127.0.0.1")),
            ("127.0.1", v4("127.0.0.1")),
            ("0", v4("0.0.0.0")),
            ("0x", v4("0.0.0.0")),
            ("10.0x10.0", v4("10.16.0.0")),
            ("3232235521", v4("192.168.0.1")),
            ("[::1]", Some("::1".parse().expect("ip"))),
            (
                "[::ffff:127.0.0.1]",
                Some("::ffff:127.0.0.1".parse().expect("ip")),
            ),
            ("example.com", None),
            ("localhost.", None),
            ("1.2.3.example", None),
            ("0x7f.example", None),
        ] {
            assert_eq!(literal(host), Ok(ip), "{host}");
        }
        for bad in [
            "[fe80::1%eth0]",
            "[fe80::1%25eth0]",
            "[::1",
            "[127.0.0.1]",
            "1.2.3.4.5",
            "256.0.0.1",
            "4294967296",
            "0x100000000",
            "09.0.0.1",
            "1..1",
            "99999999999999999999",
        ] {
            assert!(
                matches!(literal(bad), Err(TargetError::Unusable { .. })),
                "{bad}: {:?}",
                literal(bad)
            );
        }
    }

    #[tokio::test]
    async fn literals_are_judged_without_a_lookup() {
        let strict = TargetResolver::new(false);
        for host in [
            "127.0.0.1",
            "[::1]",
            "[::ffff:127.0.0.1]",
            "2130706433",
            "0x7f.1",
            "[64:ff9b::7f00:1]",
            "[2002:7f00:1::]",
        ] {
            assert!(
                matches!(
                    strict.resolve(host, 443).await,
                    Err(TargetError::Refused { .. })
                ),
                "{host}"
            );
        }
        let open = TargetResolver::new(true);
        assert_eq!(
            open.resolve("127.0.0.1", 8443).await,
            Ok(vec!["127.0.0.1:8443".parse().expect("addr")])
        );
        // A mapped address is connected as the IPv4 address it was judged as.
        assert_eq!(
            open.resolve("[::ffff:127.0.0.1]", 80).await,
            Ok(vec!["127.0.0.1:80".parse().expect("addr")])
        );
        assert_eq!(
            open.resolve("0x7f.1", 80).await,
            Ok(vec!["127.0.0.1:80".parse().expect("addr")])
        );
    }

    #[tokio::test]
    async fn localhost_resolves_and_is_refused_unless_allowed() {
        let strict = TargetResolver::new(false);
        for host in ["localhost", "localhost."] {
            assert!(
                matches!(
                    strict.resolve(host, 80).await,
                    Err(TargetError::Refused { .. })
                ),
                "{host}: {:?}",
                strict.resolve(host, 80).await
            );
        }
        let open = TargetResolver::new(true);
        let addrs = open.resolve("localhost", 80).await.expect("localhost");
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
