//! Reads a PROXY protocol header (v1 text or v2 binary, as HAProxy specifies them) at the start
//! of a connection's bytes, for routers behind a load balancer whose listener does not read the
//! header itself (`proxy_protocol = false`): the router learns the client's address and may
//! strip the header with [`Route::send_upstream`](crate::Route::send_upstream).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A parsed PROXY header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyHeader {
    /// The client's address and the address it connected to, for a proxied TCP connection;
    /// `None` for `LOCAL` (v2) or `UNKNOWN` (v1) headers and for other address families.
    pub addresses: Option<(SocketAddr, SocketAddr)>,
    /// The header's length in bytes: the connection's own bytes start there.
    pub length: usize,
}

/// Why no PROXY header could be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProxyHeaderError {
    /// The bytes so far are a valid beginning: wait for more.
    #[error("incomplete PROXY header")]
    Incomplete,
    /// The bytes do not start with a PROXY header.
    #[error("no PROXY header")]
    Absent,
    /// A PROXY header that cannot be parsed.
    #[error("malformed PROXY header: {0}")]
    Malformed(&'static str),
}

const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest v1 header, CRLF included.
const V1_MAX: usize = 107;
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

/// Parses the PROXY header at the start of `data`.
///
/// ```
/// use weir_stream_sdk::proxy_header::{ProxyHeaderError, read};
///
/// let data = b"PROXY TCP4 192.0.2.1 198.51.100.2 40000 443\r\nhello";
/// let header = read(data).unwrap();
/// let (client, _) = header.addresses.unwrap();
/// assert_eq!(client.to_string(), "192.0.2.1:40000");
/// assert_eq!(&data[header.length..], b"hello");
/// assert_eq!(read(b"PROXY TCP4 192.0"), Err(ProxyHeaderError::Incomplete));
/// assert_eq!(read(b"GET / HTTP/1.1\r\n"), Err(ProxyHeaderError::Absent));
/// ```
pub fn read(data: &[u8]) -> Result<ProxyHeader, ProxyHeaderError> {
    if starts_with(data, V2_SIGNATURE)? {
        return read_v2(data);
    }
    if starts_with(data, V1_PREFIX)? {
        return read_v1(data);
    }
    Err(ProxyHeaderError::Absent)
}

/// Whether `data` starts with `prefix`: `Incomplete` while it is a shorter piece of it.
fn starts_with(data: &[u8], prefix: &[u8]) -> Result<bool, ProxyHeaderError> {
    let n = data.len().min(prefix.len());
    if data[..n] != prefix[..n] {
        return Ok(false);
    }
    if n < prefix.len() {
        // Both signatures share no first byte, so a partial match is this one.
        return Err(ProxyHeaderError::Incomplete);
    }
    Ok(true)
}

fn read_v1(data: &[u8]) -> Result<ProxyHeader, ProxyHeaderError> {
    let window = &data[..data.len().min(V1_MAX)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return Err(if data.len() >= V1_MAX {
            ProxyHeaderError::Malformed("v1 header longer than 107 bytes")
        } else {
            ProxyHeaderError::Incomplete
        });
    };
    let line = std::str::from_utf8(&window[..end])
        .map_err(|_| ProxyHeaderError::Malformed("v1 header is not text"))?;
    let length = end + 2;
    let parts: Vec<&str> = line.split(' ').collect();
    let addresses = match parts.as_slice() {
        ["PROXY", "UNKNOWN", ..] => None,
        ["PROXY", family @ ("TCP4" | "TCP6"), src, dst, sport, dport] => {
            let ip = |text: &str| {
                let ip: IpAddr = text
                    .parse()
                    .map_err(|_| ProxyHeaderError::Malformed("v1 address"))?;
                if ip.is_ipv4() != (*family == "TCP4") {
                    return Err(ProxyHeaderError::Malformed("v1 address family"));
                }
                Ok(ip)
            };
            let port = |text: &str| {
                text.parse::<u16>()
                    .map_err(|_| ProxyHeaderError::Malformed("v1 port"))
            };
            Some((
                SocketAddr::new(ip(src)?, port(sport)?),
                SocketAddr::new(ip(dst)?, port(dport)?),
            ))
        }
        _ => return Err(ProxyHeaderError::Malformed("v1 fields")),
    };
    Ok(ProxyHeader { addresses, length })
}

fn read_v2(data: &[u8]) -> Result<ProxyHeader, ProxyHeaderError> {
    let Some(fixed) = data.get(..16) else {
        return Err(ProxyHeaderError::Incomplete);
    };
    let (version, command) = (fixed[12] >> 4, fixed[12] & 0x0f);
    if version != 2 {
        return Err(ProxyHeaderError::Malformed("v2 version"));
    }
    let family = fixed[13];
    let length = 16 + usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    let Some(body) = data.get(16..length) else {
        return Err(ProxyHeaderError::Incomplete);
    };
    let addresses = match (command, family) {
        (0, _) => None,
        (1, 0x11) => {
            let b = body
                .get(..12)
                .ok_or(ProxyHeaderError::Malformed("v2 IPv4 addresses"))?;
            let ip = |o: usize| IpAddr::V4(Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3]));
            let port = |o: usize| u16::from_be_bytes([b[o], b[o + 1]]);
            Some((
                SocketAddr::new(ip(0), port(8)),
                SocketAddr::new(ip(4), port(10)),
            ))
        }
        (1, 0x21) => {
            let b = body
                .get(..36)
                .ok_or(ProxyHeaderError::Malformed("v2 IPv6 addresses"))?;
            let ip = |o: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&b[o..o + 16]);
                IpAddr::V6(Ipv6Addr::from(octets))
            };
            let port = |o: usize| u16::from_be_bytes([b[o], b[o + 1]]);
            Some((
                SocketAddr::new(ip(0), port(32)),
                SocketAddr::new(ip(16), port(34)),
            ))
        }
        (1, _) => None,
        _ => return Err(ProxyHeaderError::Malformed("v2 command")),
    };
    Ok(ProxyHeader { addresses, length })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.push(0x20 | command);
        out.push(family);
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn v2_ipv4_gives_both_addresses_and_its_length() {
        let mut header = v2(1, 0x11, &[10, 0, 0, 1, 10, 0, 0, 2, 0x1f, 0x90, 0x01, 0xbb]);
        header.extend_from_slice(b"rest");
        let parsed = read(&header).unwrap();
        let (src, dst) = parsed.addresses.unwrap();
        assert_eq!(src.to_string(), "10.0.0.1:8080");
        assert_eq!(dst.to_string(), "10.0.0.2:443");
        assert_eq!(&header[parsed.length..], b"rest");
    }

    #[test]
    fn v2_ipv6_and_local_parse() {
        let mut body = vec![0u8; 36];
        body[15] = 1;
        body[31] = 2;
        body[32..34].copy_from_slice(&5000u16.to_be_bytes());
        let parsed = read(&v2(1, 0x21, &body)).unwrap();
        assert_eq!(parsed.addresses.unwrap().0.to_string(), "[::1]:5000");
        assert_eq!(read(&v2(0, 0, &[])).unwrap().addresses, None);
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let v1 = b"PROXY TCP6 ::1 ::2 1 2\r\n".to_vec();
        let v2 = v2(1, 0x11, &[0; 12]);
        for header in [v1, v2] {
            for end in 0..header.len() {
                assert_eq!(read(&header[..end]), Err(ProxyHeaderError::Incomplete));
            }
            assert!(read(&header).is_ok());
        }
    }

    #[test]
    fn bad_headers_are_malformed() {
        assert!(matches!(
            read(b"PROXY TCP4 ::1 10.0.0.1 1 2\r\n"),
            Err(ProxyHeaderError::Malformed(_))
        ));
        assert!(matches!(
            read(&[b"PROXY ".as_slice(), &[b'x'; 120]].concat()),
            Err(ProxyHeaderError::Malformed(_))
        ));
        assert!(matches!(
            read(&v2(1, 0x11, &[0; 4])),
            Err(ProxyHeaderError::Malformed(_))
        ));
        assert_eq!(read(b"UNKNOWN"), Err(ProxyHeaderError::Absent));
    }
}
