//! The PROXY protocol (HAProxy, versions 1 and 2): the header an L4 load balancer puts in
//! front of a connection to say who the client really is. weir reads it on listeners that
//! enable it, only from the networks allowed to send it, before TLS and HTTP.
//!
//! The header is read exactly (never a byte of what follows), with a deadline, and everything
//! in it is checked: a malformed, oversized or unsupported header closes the connection.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The v2 signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 line, CRLF included (the spec's 107 bytes).
const V1_MAX: usize = 107;
/// The largest v2 address block weir accepts (addresses and TLVs).
const V2_MAX_LEN: usize = 1024;

/// What a header said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Header {
    /// A proxied TCP connection from this client.
    Proxied(SocketAddr),
    /// The balancer's own connection (v2 `LOCAL`, v1 `UNKNOWN`, or a non-TCP family): the
    /// connection's peer is the client.
    Local,
}

/// Why a header was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Not a PROXY header, or a malformed one.
    #[error("invalid PROXY protocol header: {0}")]
    Invalid(&'static str),
    /// The connection closed or failed before the header was complete.
    #[error("the connection ended inside the PROXY protocol header")]
    Truncated,
    /// The header did not arrive in time.
    #[error("no complete PROXY protocol header within {} ms", .0.as_millis())]
    Timeout(Duration),
}

/// Reads the header at the start of `stream`, within `timeout`.
pub(crate) async fn read(stream: &mut TcpStream, timeout: Duration) -> Result<Header, HeaderError> {
    match tokio::time::timeout(timeout, read_header(stream)).await {
        Ok(result) => result,
        Err(_) => Err(HeaderError::Timeout(timeout)),
    }
}

async fn read_header(stream: &mut TcpStream) -> Result<Header, HeaderError> {
    // 15 bytes: the shortest v1 line (`PROXY UNKNOWN\r\n`), and short of a v2 fixed part.
    let mut buf = vec![0u8; 15];
    stream
        .read_exact(&mut buf)
        .await
        .map_err(|_| HeaderError::Truncated)?;
    if buf.starts_with(b"PROXY ") {
        // v1: byte by byte up to CRLF, so nothing after the header is consumed.
        while !buf.ends_with(b"\r\n") {
            if buf.len() >= V1_MAX {
                return Err(HeaderError::Invalid("v1 line longer than 107 bytes"));
            }
            let byte = stream.read_u8().await.map_err(|_| HeaderError::Truncated)?;
            buf.push(byte);
        }
        return parse_v1(&buf);
    }
    if buf.starts_with(&V2_SIGNATURE[..]) {
        buf.push(stream.read_u8().await.map_err(|_| HeaderError::Truncated)?);
        let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
        if len > V2_MAX_LEN {
            return Err(HeaderError::Invalid("v2 address block too large"));
        }
        let mut rest = vec![0u8; len];
        stream
            .read_exact(&mut rest)
            .await
            .map_err(|_| HeaderError::Truncated)?;
        buf.extend_from_slice(&rest);
        return parse_v2(&buf);
    }
    Err(HeaderError::Invalid("no PROXY signature"))
}

/// Parses a whole v1 line (`PROXY TCP4 src dst sport dport\r\n`).
pub(crate) fn parse_v1(line: &[u8]) -> Result<Header, HeaderError> {
    let invalid = HeaderError::Invalid;
    let text = std::str::from_utf8(line).map_err(|_| invalid("v1 line is not ASCII"))?;
    let text = text
        .strip_suffix("\r\n")
        .ok_or(invalid("v1 line does not end with CRLF"))?;
    let mut parts = text.split(' ');
    if parts.next() != Some("PROXY") {
        return Err(invalid("v1 line does not start with PROXY"));
    }
    let family = parts.next().ok_or(invalid("v1 family missing"))?;
    if family == "UNKNOWN" {
        return Ok(Header::Local);
    }
    let fields: Vec<&str> = parts.collect();
    let [src, _dst, sport, _dport] = fields[..] else {
        return Err(invalid("v1 needs source, destination and two ports"));
    };
    let src: IpAddr = match family {
        "TCP4" => IpAddr::V4(src.parse().map_err(|_| invalid("v1 source is not IPv4"))?),
        "TCP6" => IpAddr::V6(src.parse().map_err(|_| invalid("v1 source is not IPv6"))?),
        _ => return Err(invalid("v1 family is not TCP4, TCP6 or UNKNOWN")),
    };
    // Ports are decimal without leading zeros ("0" itself aside).
    if sport.is_empty() || (sport.len() > 1 && sport.starts_with('0')) {
        return Err(invalid("v1 source port is malformed"));
    }
    let sport: u16 = sport
        .parse()
        .map_err(|_| invalid("v1 source port is malformed"))?;
    Ok(Header::Proxied(SocketAddr::new(src, sport)))
}

/// Parses a whole v2 header (signature, version and command, family, length, addresses).
pub(crate) fn parse_v2(header: &[u8]) -> Result<Header, HeaderError> {
    let invalid = HeaderError::Invalid;
    if header.len() < 16 || !header.starts_with(&V2_SIGNATURE[..]) {
        return Err(invalid("v2 header too short"));
    }
    let (version, command) = (header[12] >> 4, header[12] & 0x0f);
    if version != 2 {
        return Err(invalid("v2 version is not 2"));
    }
    let len = usize::from(u16::from_be_bytes([header[14], header[15]]));
    let block = header
        .get(16..16 + len)
        .ok_or(invalid("v2 address block shorter than its length"))?;
    match command {
        0 => return Ok(Header::Local),
        1 => {}
        _ => return Err(invalid("v2 command is not LOCAL or PROXY")),
    }
    match header[13] {
        // TCP over IPv4: src(4) dst(4) sport(2) dport(2).
        0x11 => {
            let b = block.get(..12).ok_or(invalid("v2 IPv4 block too short"))?;
            let src = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
            let port = u16::from_be_bytes([b[8], b[9]]);
            Ok(Header::Proxied(SocketAddr::new(IpAddr::V4(src), port)))
        }
        // TCP over IPv6: src(16) dst(16) sport(2) dport(2).
        0x21 => {
            let b = block.get(..36).ok_or(invalid("v2 IPv6 block too short"))?;
            let mut src = [0u8; 16];
            src.copy_from_slice(&b[..16]);
            let port = u16::from_be_bytes([b[32], b[33]]);
            Ok(Header::Proxied(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(src)),
                port,
            )))
        }
        // UNSPEC, UDP, unix sockets: nothing weir can use as a client address.
        0x00 | 0x12 | 0x22 | 0x31 | 0x32 => Ok(Header::Local),
        _ => Err(invalid("v2 family is unknown")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(command: u8, family: u8, block: &[u8]) -> Vec<u8> {
        let mut header = V2_SIGNATURE.to_vec();
        header.push(0x20 | command);
        header.push(family);
        header.extend_from_slice(&u16::try_from(block.len()).unwrap().to_be_bytes());
        header.extend_from_slice(block);
        header
    }

    #[test]
    fn v1_lines_give_the_source() {
        assert_eq!(
            parse_v1(b"PROXY TCP4 198.51.100.7 10.0.0.1 56324 443\r\n"),
            Ok(Header::Proxied("198.51.100.7:56324".parse().unwrap()))
        );
        assert_eq!(
            parse_v1(b"PROXY TCP6 2001:db8::7 2001:db8::1 1024 443\r\n"),
            Ok(Header::Proxied("[2001:db8::7]:1024".parse().unwrap()))
        );
        assert_eq!(parse_v1(b"PROXY UNKNOWN\r\n"), Ok(Header::Local));
    }

    #[test]
    fn malformed_v1_lines_are_refused() {
        for line in [
            &b"PROXY TCP4 198.51.100.7 10.0.0.1 56324\r\n"[..],
            b"PROXY TCP4 2001:db8::7 10.0.0.1 1 2\r\n",
            b"PROXY TCP6 198.51.100.7 10.0.0.1 1 2\r\n",
            b"PROXY TCP4 198.51.100.7 10.0.0.1 65536 2\r\n",
            b"PROXY TCP4 198.51.100.7 10.0.0.1 0080 2\r\n",
            b"PROXY UDP4 198.51.100.7 10.0.0.1 1 2\r\n",
            b"PROXY TCP4 198.51.100.7  10.0.0.1 1 2\r\n",
            b"PROXY TCP4 198.51.100.7 10.0.0.1 1 2\n",
        ] {
            assert!(parse_v1(line).is_err(), "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn v2_headers_give_the_source_and_local_means_the_peer() {
        let mut block = vec![198, 51, 100, 7, 10, 0, 0, 1];
        block.extend_from_slice(&56324u16.to_be_bytes());
        block.extend_from_slice(&443u16.to_be_bytes());
        assert_eq!(
            parse_v2(&v2(1, 0x11, &block)),
            Ok(Header::Proxied("198.51.100.7:56324".parse().unwrap()))
        );
        // TLVs after the addresses are allowed and ignored.
        let mut with_tlv = block.clone();
        with_tlv.extend_from_slice(&[0x04, 0x00, 0x01, 0xff]);
        assert!(matches!(
            parse_v2(&v2(1, 0x11, &with_tlv)),
            Ok(Header::Proxied(_))
        ));
        assert_eq!(parse_v2(&v2(0, 0x00, &[])), Ok(Header::Local));
        let mut six = vec![0u8; 36];
        six[..16].copy_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        six[32..34].copy_from_slice(&1024u16.to_be_bytes());
        assert_eq!(
            parse_v2(&v2(1, 0x21, &six)),
            Ok(Header::Proxied("[2001:db8::7]:1024".parse().unwrap()))
        );
    }

    #[test]
    fn malformed_v2_headers_are_refused() {
        assert!(parse_v2(&v2(1, 0x11, &[1, 2, 3])).is_err(), "short block");
        assert!(parse_v2(&v2(2, 0x11, &[0; 12])).is_err(), "unknown command");
        assert!(parse_v2(&v2(1, 0x99, &[0; 12])).is_err(), "unknown family");
        let mut bad_version = v2(1, 0x11, &[0; 12]);
        bad_version[12] = 0x11;
        assert!(parse_v2(&bad_version).is_err(), "version 1 in a v2 header");
    }

    #[tokio::test]
    async fn reading_takes_the_header_and_not_a_byte_more() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"PROXY TCP4 198.51.100.7 10.0.0.1 56324 443\r\nGET / HTTP/1.1\r\n")
                .await
                .unwrap();
            s
        });
        let (mut server, _) = listener.accept().await.unwrap();
        let header = read(&mut server, Duration::from_secs(5)).await.unwrap();
        assert_eq!(
            header,
            Header::Proxied("198.51.100.7:56324".parse().unwrap())
        );
        let mut next = [0u8; 4];
        server.read_exact(&mut next).await.unwrap();
        assert_eq!(&next, b"GET ");
        drop(client.await.unwrap());
        // A silent connection times out.
        let _silent = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        assert_eq!(
            read(&mut server, Duration::from_millis(50)).await,
            Err(HeaderError::Timeout(Duration::from_millis(50)))
        );
    }
}
