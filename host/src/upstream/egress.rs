//! The forward proxy's egress policy: which IP addresses a forward listener may connect to.
//! The policy judges the address that is about to be connected, after name resolution, never
//! a name, so a name that resolves to a refused address (or changes its answer between a check
//! and a connect) gains nothing. Pure data and arithmetic: no I/O, no resolver.
//!
//! An address is judged in this order (see `docs/forward-proxy.md`):
//! 1. an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is judged as its IPv4 address; the
//!    address's *views* are that address plus any IPv4 address embedded in it by NAT64
//!    (`64:ff9b::/96`), 6to4 (`2002::/16`) or the deprecated IPv4-compatible form (`::/96`);
//! 2. a view inside a `deny_networks` entry: refused;
//! 3. a view inside a reserved range (the built-in list, `RESERVED`): refused, unless an
//!    `allow_networks` entry *inside that range* contains it (`127.0.0.1/32` opens one loopback
//!    address; `0.0.0.0/0` opens no reserved range). `allow_private_targets = true` turns this
//!    step off;
//! 4. with `allow_networks` set, the address must be inside one of its entries;
//! 5. allowed.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IP network: an address whose host bits are zero, and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// Why a network's text is not a network.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// Not an address, or not `address/prefix`.
    #[error("`{0}` is not an IP network (write `10.0.0.0/8`, `2001:db8::/32` or one address)")]
    Syntax(String),
    /// The prefix is longer than the address.
    #[error(
        "`{0}`: the prefix length is longer than the address (at most 32 for IPv4, 128 for IPv6)"
    )]
    Prefix(String),
    /// Bits past the prefix are set.
    #[error("`{text}` has host bits set; the network is `{network}`")]
    HostBits {
        /// As written.
        text: String,
        /// With the host bits cleared.
        network: IpNet,
    },
    /// An IPv4-mapped IPv6 network: addresses are judged as IPv4, so it would never match.
    #[error("`{0}` is an IPv4-mapped IPv6 network; write the IPv4 network instead")]
    Mapped(String),
}

impl IpNet {
    /// The network of `addr` with `prefix` bits, host bits cleared (a prefix longer than the
    /// address is clamped).
    pub fn new(addr: IpAddr, prefix: u8) -> Self {
        let prefix = prefix.min(max_prefix(addr));
        Self {
            addr: mask(addr, prefix),
            prefix,
        }
    }

    /// Whether `ip` is inside the network (same family, same leading `prefix` bits).
    pub fn contains(&self, ip: IpAddr) -> bool {
        // Addresses of the other family never compare equal.
        mask(ip, self.prefix) == self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

impl FromStr for IpNet {
    type Err = NetError;

    fn from_str(text: &str) -> Result<Self, NetError> {
        let syntax = || NetError::Syntax(text.to_owned());
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        // `%` (a zone id) and anything else Rust's strict parser refuses: no octal, hex or
        // shortened IPv4 forms in the config either.
        let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
        if let IpAddr::V6(v6) = addr
            && v6.to_ipv4_mapped().is_some()
        {
            return Err(NetError::Mapped(text.to_owned()));
        }
        let prefix = match prefix {
            None => max_prefix(addr),
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse::<u8>()
                .map_err(|_| NetError::Prefix(text.to_owned()))?,
            Some(_) => return Err(syntax()),
        };
        if prefix > max_prefix(addr) {
            return Err(NetError::Prefix(text.to_owned()));
        }
        let network = Self::new(addr, prefix);
        if network.addr != addr {
            return Err(NetError::HostBits {
                text: text.to_owned(),
                network,
            });
        }
        Ok(network)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Which addresses a forward listener may connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressPolicy {
    /// When set, only addresses inside one of these are reachable.
    pub allow_networks: Option<Vec<IpNet>>,
    /// Always refused, checked first.
    pub deny_networks: Vec<IpNet>,
    /// Whether the reserved ranges (`RESERVED`) are refused (`allow_private_targets = false`).
    pub refuse_reserved: bool,
}

impl Default for EgressPolicy {
    /// Every reserved range refused, nothing else.
    fn default() -> Self {
        Self {
            allow_networks: None,
            deny_networks: Vec::new(),
            refuse_reserved: true,
        }
    }
}

/// Why the policy refuses an address (for logs: never sent to the client).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Inside this `deny_networks` entry.
    Denied(IpNet),
    /// Inside this reserved range, and no `allow_networks` entry inside the range contains it.
    Reserved(IpNet),
    /// `allow_networks` is set and no entry contains it.
    NotAllowed,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Denied(net) => write!(f, "in deny_networks entry {net}"),
            Self::Reserved(net) => write!(f, "in reserved range {net}"),
            Self::NotAllowed => f.write_str("outside allow_networks"),
        }
    }
}

impl EgressPolicy {
    /// A policy that refuses nothing (the pools' own resolver, `allow_private_targets` alone).
    pub fn open() -> Self {
        Self {
            refuse_reserved: false,
            ..Self::default()
        }
    }

    /// Whether the policy lets the proxy connect to `ip`, and if not, why.
    pub fn judge(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = ip.to_canonical();
        let embedded = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let views = || std::iter::once(ip).chain(embedded);
        for view in views() {
            if let Some(net) = self.deny_networks.iter().find(|n| n.contains(view)) {
                return Err(Refusal::Denied(*net));
            }
        }
        if self.refuse_reserved {
            for view in views() {
                if let Some(range) = RESERVED.iter().find(|r| r.contains(view))
                    && !self.opens(range, view)
                {
                    return Err(Refusal::Reserved(*range));
                }
            }
        }
        match &self.allow_networks {
            Some(allowed) if !allowed.iter().any(|n| n.contains(ip)) => Err(Refusal::NotAllowed),
            _ => Ok(()),
        }
    }

    /// Whether an `allow_networks` entry inside reserved `range` contains `ip`.
    fn opens(&self, range: &IpNet, ip: IpAddr) -> bool {
        self.allow_networks.iter().flatten().any(|allowed| {
            allowed.prefix >= range.prefix && range.contains(allowed.addr) && allowed.contains(ip)
        })
    }
}

/// A set of ports: single ports and inclusive ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ports(Vec<(u16, u16)>);

impl Ports {
    /// The set of `ranges` (each `(low, high)`, inclusive).
    pub fn new(ranges: Vec<(u16, u16)>) -> Self {
        Self(ranges)
    }

    /// Whether `port` is in the set.
    pub fn contains(&self, port: u16) -> bool {
        self.0
            .iter()
            .any(|(low, high)| (*low..=*high).contains(&port))
    }
}

impl fmt::Display for Ports {
    /// `80, 443, 8000-8999`; `none` for the empty set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, (low, high)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if low == high {
                write!(f, "{low}")?;
            } else {
                write!(f, "{low}-{high}")?;
            }
        }
        Ok(())
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> IpNet {
    IpNet {
        addr: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        prefix,
    }
}

const fn v6(segments: [u16; 8], prefix: u8) -> IpNet {
    let [a, b, c, d, e, f, g, h] = segments;
    IpNet {
        addr: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
        prefix,
    }
}

/// The reserved ranges a forward listener refuses by default: every range that is not the
/// public internet (IANA special-purpose registries, RFC 6890 and successors), so that clients
/// of the proxy cannot reach the operator's own network, the proxy's host or cloud metadata.
pub(crate) const RESERVED: &[IpNet] = &[
    v4(0, 0, 0, 0, 8),       // "this network", incl. the unspecified 0.0.0.0 (RFC 791)
    v4(10, 0, 0, 0, 8),      // private (RFC 1918)
    v4(100, 64, 0, 0, 10),   // shared address space, CGNAT (RFC 6598)
    v4(127, 0, 0, 0, 8),     // loopback (RFC 1122)
    v4(169, 254, 0, 0, 16),  // link-local, cloud metadata (RFC 3927)
    v4(172, 16, 0, 0, 12),   // private (RFC 1918)
    v4(192, 0, 0, 0, 24),    // IETF protocol assignments (RFC 6890)
    v4(192, 0, 2, 0, 24),    // documentation TEST-NET-1 (RFC 5737)
    v4(192, 88, 99, 0, 24),  // 6to4 relay anycast, deprecated (RFC 7526)
    v4(192, 168, 0, 0, 16),  // private (RFC 1918)
    v4(198, 18, 0, 0, 15),   // benchmarking (RFC 2544)
    v4(198, 51, 100, 0, 24), // documentation TEST-NET-2 (RFC 5737)
    v4(203, 0, 113, 0, 24),  // documentation TEST-NET-3 (RFC 5737)
    v4(224, 0, 0, 0, 4),     // multicast (RFC 5771)
    v4(240, 0, 0, 0, 4),     // reserved, incl. broadcast 255.255.255.255 (RFC 1112, RFC 919)
    v6([0, 0, 0, 0, 0, 0, 0, 0], 96), // unspecified, loopback, IPv4-compatible (RFC 4291)
    v6([0, 0, 0, 0, 0xffff, 0, 0, 0], 96), // IPv4-translated (RFC 2765)
    v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), // local-use NAT64 (RFC 8215)
    v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), // discard-only (RFC 6666)
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32), // Teredo (RFC 4380)
    v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48), // benchmarking (RFC 5180)
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation (RFC 3849)
    v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), // documentation (RFC 9637)
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), // unique local (RFC 4193)
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), // link-local (RFC 4291)
    v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), // site-local, deprecated (RFC 3879)
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), // multicast (RFC 4291)
];

/// The IPv4 address an IPv6 address carries and leads to: NAT64's well-known prefix
/// (`64:ff9b::/96`, RFC 6052), 6to4 (`2002::/16`, RFC 3056) and IPv4-compatible (`::/96`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let join = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] | [0, 0, 0, 0, 0, 0, hi, lo] => Some(join(hi, lo)),
        [0x2002, hi, lo, ..] => Some(join(hi, lo)),
        _ => None,
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & bits))
        }
        IpAddr::V6(v6) => {
            let bits = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & bits))
        }
    }
}

#[cfg(test)]
mod tests;
