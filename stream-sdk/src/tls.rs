//! Reads a TLS ClientHello from a connection's first bytes without terminating TLS: the server
//! name the client asked for (SNI, RFC 6066 §3) and the protocols it offers (ALPN, RFC 7301),
//! for routing TLS connections whose bytes go through untouched (TLS passthrough).
//!
//! The ClientHello may span several TLS records; [`parse_client_hello`] says
//! [`HelloError::Incomplete`] until every byte of it is there, so a router returns
//! [`Verdict::Wait`](crate::Verdict::Wait) on that error.

/// What a ClientHello says that routing needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// The `host_name` of the `server_name` extension, lowercased, if the client sent one.
    pub sni: Option<String>,
    /// The ALPN protocols offered, in the client's order (empty: no ALPN extension).
    pub alpn: Vec<String>,
    /// The `legacy_version` field (`0x0303` for TLS 1.2 and 1.3 clients).
    pub legacy_version: u16,
}

/// Why no ClientHello could be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    /// The bytes so far are a valid beginning: wait for more.
    #[error("incomplete ClientHello")]
    Incomplete,
    /// The bytes are not a TLS handshake record (another protocol, or TLS without a
    /// ClientHello first).
    #[error("not a TLS ClientHello")]
    NotTls,
    /// A TLS handshake whose ClientHello cannot be parsed.
    #[error("malformed ClientHello: {0}")]
    Malformed(&'static str),
}

/// TLS record content type of handshake records.
const HANDSHAKE: u8 = 22;
/// Handshake message type of a ClientHello.
const CLIENT_HELLO: u8 = 1;
/// Largest ClientHello read: a handshake message length is 24 bits, but no client sends
/// anything near this; a bigger claim is refused instead of waited for.
const MAX_HELLO_BYTES: usize = 64 * 1024;
const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;

/// Parses the ClientHello at the start of `data` (the connection's bytes so far).
///
/// ```
/// use weir_stream_sdk::tls::{HelloError, parse_client_hello};
/// use weir_stream_sdk::testing::client_hello;
///
/// let hello = client_hello(Some("Example.COM"), &["h2", "http/1.1"]);
/// let parsed = parse_client_hello(&hello).unwrap();
/// assert_eq!(parsed.sni.as_deref(), Some("example.com"));
/// assert_eq!(parsed.alpn, ["h2", "http/1.1"]);
/// assert_eq!(parse_client_hello(&hello[..20]), Err(HelloError::Incomplete));
/// assert_eq!(parse_client_hello(b"GET / HTTP/1.1\r\n"), Err(HelloError::NotTls));
/// ```
pub fn parse_client_hello(data: &[u8]) -> Result<ClientHello, HelloError> {
    let message = handshake_message(data)?;
    parse_hello_body(message)
}

/// Reassembles the first handshake message from consecutive handshake records; returns its
/// body once complete.
fn handshake_message(data: &[u8]) -> Result<Vec<u8>, HelloError> {
    let mut message = Vec::new();
    let mut rest = data;
    loop {
        let Some(header) = rest.get(..5) else {
            return Err(check_prefix(rest));
        };
        if header[0] != HANDSHAKE || header[1] != 3 {
            return Err(HelloError::NotTls);
        }
        let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if length == 0 || length > (1 << 14) + 2048 {
            return Err(HelloError::Malformed("record length"));
        }
        let Some(fragment) = rest.get(5..5 + length) else {
            return Err(HelloError::Incomplete);
        };
        message.extend_from_slice(fragment);
        rest = &rest[5 + length..];
        if message.len() >= 4 {
            if message[0] != CLIENT_HELLO {
                return Err(HelloError::NotTls);
            }
            let body = usize::from(message[1]) << 16
                | usize::from(message[2]) << 8
                | usize::from(message[3]);
            if body > MAX_HELLO_BYTES {
                return Err(HelloError::Malformed("ClientHello too large"));
            }
            if message.len() >= 4 + body {
                message.truncate(4 + body);
                message.drain(..4);
                return Ok(message);
            }
        }
    }
}

/// Whether fewer than five bytes can still begin a TLS handshake record.
fn check_prefix(rest: &[u8]) -> HelloError {
    match rest {
        [] | [HANDSHAKE] | [HANDSHAKE, 3, ..] => HelloError::Incomplete,
        _ => HelloError::NotTls,
    }
}

fn parse_hello_body(body: Vec<u8>) -> Result<ClientHello, HelloError> {
    let mut r = Reader(&body);
    let legacy_version = r.u16("version")?;
    r.skip(32, "random")?;
    let session = r.u8("session id")?;
    r.skip(usize::from(session), "session id")?;
    let suites = r.u16("cipher suites")?;
    r.skip(usize::from(suites), "cipher suites")?;
    let compression = r.u8("compression methods")?;
    r.skip(usize::from(compression), "compression methods")?;
    let mut hello = ClientHello {
        legacy_version,
        ..ClientHello::default()
    };
    if r.0.is_empty() {
        // RFC 5246 §7.4.1.2: the extensions may be absent.
        return Ok(hello);
    }
    let length = r.u16("extensions")?;
    let mut extensions = Reader(r.take(usize::from(length), "extensions")?);
    while !extensions.0.is_empty() {
        let kind = extensions.u16("extension type")?;
        let length = extensions.u16("extension length")?;
        let data = extensions.take(usize::from(length), "extension")?;
        match kind {
            EXT_SERVER_NAME => hello.sni = server_name(data)?,
            EXT_ALPN => hello.alpn = alpn(data)?,
            _ => {}
        }
    }
    Ok(hello)
}

/// The `host_name` entry of a `server_name` extension (RFC 6066 §3).
fn server_name(data: &[u8]) -> Result<Option<String>, HelloError> {
    let mut r = Reader(data);
    let length = r.u16("server name list")?;
    let mut list = Reader(r.take(usize::from(length), "server name list")?);
    while !list.0.is_empty() {
        let kind = list.u8("server name type")?;
        let length = list.u16("server name")?;
        let name = list.take(usize::from(length), "server name")?;
        if kind == 0 {
            let name = std::str::from_utf8(name)
                .ok()
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic()))
                .ok_or(HelloError::Malformed("server name is not a host name"))?;
            return Ok(Some(name.to_ascii_lowercase()));
        }
    }
    Ok(None)
}

/// The protocol names of an ALPN extension (RFC 7301 §3.1).
fn alpn(data: &[u8]) -> Result<Vec<String>, HelloError> {
    let mut r = Reader(data);
    let length = r.u16("ALPN list")?;
    let mut list = Reader(r.take(usize::from(length), "ALPN list")?);
    let mut protocols = Vec::new();
    while !list.0.is_empty() {
        let length = list.u8("ALPN protocol")?;
        let name = list.take(usize::from(length), "ALPN protocol")?;
        protocols.push(String::from_utf8_lossy(name).into_owned());
    }
    Ok(protocols)
}

/// A cursor over a complete message: running out is malformed, not incomplete.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], HelloError> {
        let taken = self.0.get(..n).ok_or(HelloError::Malformed(what))?;
        self.0 = &self.0[n..];
        Ok(taken)
    }

    fn skip(&mut self, n: usize, what: &'static str) -> Result<(), HelloError> {
        self.take(n, what).map(drop)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, HelloError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, HelloError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::client_hello;

    #[test]
    fn every_prefix_of_a_hello_is_incomplete() {
        let hello = client_hello(Some("a.example"), &["h2"]);
        for end in 0..hello.len() {
            assert_eq!(
                parse_client_hello(&hello[..end]),
                Err(HelloError::Incomplete),
                "prefix of {end} bytes"
            );
        }
        assert_eq!(
            parse_client_hello(&hello).map(|h| h.sni),
            Ok(Some("a.example".into()))
        );
    }

    #[test]
    fn a_hello_split_over_two_records_is_reassembled() {
        let hello = client_hello(Some("split.example"), &[]);
        let body = &hello[5..];
        let (a, b) = body.split_at(10);
        let mut split = Vec::new();
        for part in [a, b] {
            split.extend_from_slice(&[22, 3, 1]);
            split.extend_from_slice(&(part.len() as u16).to_be_bytes());
            split.extend_from_slice(part);
        }
        let parsed = parse_client_hello(&split).unwrap();
        assert_eq!(parsed.sni.as_deref(), Some("split.example"));
        assert!(parsed.alpn.is_empty());
    }

    #[test]
    fn a_hello_without_sni_or_extensions_parses() {
        let hello = client_hello(None, &[]);
        assert_eq!(parse_client_hello(&hello).unwrap().sni, None);
    }

    #[test]
    fn other_protocols_are_not_tls() {
        for data in [&b"SSH-2.0-OpenSSH"[..], b"\x16\x01", b"\x04\x01\x00\x50"] {
            assert_eq!(
                parse_client_hello(data),
                Err(HelloError::NotTls),
                "{data:?}"
            );
        }
    }

    #[test]
    fn lengths_past_their_container_are_malformed_not_a_panic() {
        let mut hello = client_hello(Some("a.example"), &["h2"]);
        // Corrupt the extensions length (last extension bytes stay): claims more than is there.
        let n = hello.len();
        for i in 9..n {
            let mut bad = hello.clone();
            bad[i] = 0xff;
            let _ = parse_client_hello(&bad);
        }
        hello[5] = 2; // not a ClientHello
        assert_eq!(parse_client_hello(&hello), Err(HelloError::NotTls));
    }
}
