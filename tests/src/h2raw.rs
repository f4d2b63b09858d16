//! A raw HTTP/2 client for conformance and flood tests: it writes any frame, valid or not, over
//! cleartext TCP (h2c with prior knowledge) or TLS (ALPN `h2`), and reads the server's frames one
//! by one. HPACK on the client side is literal fields without Huffman coding (RFC 7541 §6.2.2);
//! of the server's header blocks only a `:status` from the static table is decoded, which is how
//! the `h2` crate encodes the statuses the suite expects.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame types (RFC 9113 §6).
pub mod kind {
    /// DATA.
    pub const DATA: u8 = 0x0;
    /// HEADERS.
    pub const HEADERS: u8 = 0x1;
    /// PRIORITY.
    pub const PRIORITY: u8 = 0x2;
    /// RST_STREAM.
    pub const RST_STREAM: u8 = 0x3;
    /// SETTINGS.
    pub const SETTINGS: u8 = 0x4;
    /// PUSH_PROMISE.
    pub const PUSH_PROMISE: u8 = 0x5;
    /// PING.
    pub const PING: u8 = 0x6;
    /// GOAWAY.
    pub const GOAWAY: u8 = 0x7;
    /// WINDOW_UPDATE.
    pub const WINDOW_UPDATE: u8 = 0x8;
    /// CONTINUATION.
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags.
pub mod flag {
    /// END_STREAM (DATA, HEADERS).
    pub const END_STREAM: u8 = 0x1;
    /// ACK (SETTINGS, PING).
    pub const ACK: u8 = 0x1;
    /// END_HEADERS (HEADERS, CONTINUATION).
    pub const END_HEADERS: u8 = 0x4;
    /// PADDED (DATA, HEADERS).
    pub const PADDED: u8 = 0x8;
    /// PRIORITY (HEADERS).
    pub const PRIORITY: u8 = 0x20;
}

/// SETTINGS identifiers (RFC 9113 §6.5.2).
pub mod setting {
    /// SETTINGS_HEADER_TABLE_SIZE.
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    /// SETTINGS_ENABLE_PUSH.
    pub const ENABLE_PUSH: u16 = 0x2;
    /// SETTINGS_INITIAL_WINDOW_SIZE.
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    /// SETTINGS_MAX_FRAME_SIZE.
    pub const MAX_FRAME_SIZE: u16 = 0x5;
}

/// Error codes (RFC 9113 §7).
pub mod code {
    /// NO_ERROR.
    pub const NO_ERROR: u32 = 0x0;
    /// PROTOCOL_ERROR.
    pub const PROTOCOL_ERROR: u32 = 0x1;
    /// FLOW_CONTROL_ERROR.
    pub const FLOW_CONTROL_ERROR: u32 = 0x3;
    /// STREAM_CLOSED.
    pub const STREAM_CLOSED: u32 = 0x5;
    /// FRAME_SIZE_ERROR.
    pub const FRAME_SIZE_ERROR: u32 = 0x6;
    /// REFUSED_STREAM.
    pub const REFUSED_STREAM: u32 = 0x7;
    /// CANCEL.
    pub const CANCEL: u32 = 0x8;
    /// COMPRESSION_ERROR.
    pub const COMPRESSION_ERROR: u32 = 0x9;
    /// ENHANCE_YOUR_CALM.
    pub const ENHANCE_YOUR_CALM: u32 = 0xb;
}

/// The name of an error code, for reports.
pub fn code_name(code: u32) -> &'static str {
    match code {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x4 => "SETTINGS_TIMEOUT",
        0x5 => "STREAM_CLOSED",
        0x6 => "FRAME_SIZE_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xa => "CONNECT_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        0xc => "INADEQUATE_SECURITY",
        0xd => "HTTP_1_1_REQUIRED",
        _ => "unknown error code",
    }
}

/// One frame read from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Type.
    pub kind: u8,
    /// Flags.
    pub flags: u8,
    /// Stream identifier (reserved bit cleared).
    pub stream: u32,
    /// Payload.
    pub payload: Vec<u8>,
}

impl Frame {
    /// The error code of a GOAWAY or RST_STREAM frame.
    pub fn error_code(&self) -> Option<u32> {
        let at = match self.kind {
            kind::GOAWAY => 4,
            kind::RST_STREAM => 0,
            _ => return None,
        };
        let bytes = self.payload.get(at..at + 4)?;
        Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// Whether a flag is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            kind::GOAWAY => write!(
                f,
                "GOAWAY {}",
                code_name(self.error_code().unwrap_or(u32::MAX))
            ),
            kind::RST_STREAM => write!(
                f,
                "RST_STREAM({}) {}",
                self.stream,
                code_name(self.error_code().unwrap_or(u32::MAX))
            ),
            kind::HEADERS => match status_of(&self.payload) {
                Some(status) => write!(f, "HEADERS({}) :status {status}", self.stream),
                None => write!(f, "HEADERS({})", self.stream),
            },
            kind::PING if self.has(flag::ACK) => write!(f, "PING ACK"),
            kind::SETTINGS if self.has(flag::ACK) => write!(f, "SETTINGS ACK"),
            other => write!(f, "frame type {other:#x} on stream {}", self.stream),
        }
    }
}

/// What the next read from the server gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole frame.
    Frame(Frame),
    /// The server closed the connection (or reset it).
    Closed,
    /// Nothing complete arrived before the deadline.
    TimedOut,
}

/// Encodes one frame (RFC 9113 §4.1). The length is the payload's, so a test that needs a
/// lying length header writes the bytes itself.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("test frames are small");
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A SETTINGS frame (not an ACK) with these parameters.
pub fn settings(params: &[(u16, u32)]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(params.len() * 6);
    for (id, value) in params {
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&value.to_be_bytes());
    }
    frame(kind::SETTINGS, 0, 0, &payload)
}

/// A PING frame.
pub fn ping(flags: u8, payload: [u8; 8]) -> Vec<u8> {
    frame(kind::PING, flags, 0, &payload)
}

/// A WINDOW_UPDATE frame.
pub fn window_update(stream: u32, increment: u32) -> Vec<u8> {
    frame(kind::WINDOW_UPDATE, 0, stream, &increment.to_be_bytes())
}

/// A RST_STREAM frame.
pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(kind::RST_STREAM, 0, stream, &code.to_be_bytes())
}

/// A PRIORITY frame (exclusive bit clear).
pub fn priority(stream: u32, depends_on: u32, weight: u8) -> Vec<u8> {
    let mut payload = depends_on.to_be_bytes().to_vec();
    payload.push(weight);
    frame(kind::PRIORITY, 0, stream, &payload)
}

/// An HPACK header block of literal fields "without indexing", new names, no Huffman coding
/// (RFC 7541 §6.2.2): the encoding that needs no shared state.
pub fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0x00);
        literal(&mut out, name.as_bytes());
        literal(&mut out, value.as_bytes());
    }
    out
}

/// The header block of a request with the four pseudo-header fields, then `extra`.
pub fn request_block(method: &str, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut fields = vec![
        (":method", method),
        (":scheme", "https"),
        (":authority", "app.test"),
        (":path", path),
    ];
    fields.extend_from_slice(extra);
    header_block(&fields)
}

/// A HEADERS frame carrying a whole `GET path` (END_HEADERS and END_STREAM).
pub fn get(stream: u32, path: &str) -> Vec<u8> {
    frame(
        kind::HEADERS,
        flag::END_HEADERS | flag::END_STREAM,
        stream,
        &request_block("GET", path, &[]),
    )
}

/// Writes an HPACK integer with an `prefix`-bit prefix into the low bits of `first`
/// (RFC 7541 §5.1).
pub fn integer(out: &mut Vec<u8>, first: u8, prefix: u32, mut value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

fn literal(out: &mut Vec<u8>, bytes: &[u8]) {
    integer(out, 0x00, 7, bytes.len());
    out.extend_from_slice(bytes);
}

/// The `:status` of a response header block, as the `h2` crate encodes it first: an indexed
/// static-table status (RFC 7541 Appendix A, indexes 8 to 14), or a literal with the indexed
/// name `:status` and a plain or Huffman-coded value (RFC 7541 §6.2, Appendix B).
pub fn status_of(block: &[u8]) -> Option<u16> {
    let first = *block.first()?;
    let indexed = match first {
        0x88 => Some(200),
        0x89 => Some(204),
        0x8a => Some(206),
        0x8b => Some(304),
        0x8c => Some(400),
        0x8d => Some(404),
        0x8e => Some(500),
        _ => None,
    };
    if indexed.is_some() {
        return indexed;
    }
    // Literal with incremental indexing (01xxxxxx), without indexing (0000xxxx) or never
    // indexed (0001xxxx), whose name is static index 8 to 14 (`:status`).
    let name = match first {
        0x40..=0x7f => first & 0x3f,
        0x00..=0x1f => first & 0x0f,
        _ => return None,
    };
    if !(8..=14).contains(&name) {
        return None;
    }
    let len = *block.get(1)?;
    let value = block.get(2..2 + usize::from(len & 0x7f))?;
    let text = if len & 0x80 != 0 {
        huffman_digits(value)?
    } else {
        String::from_utf8(value.to_vec()).ok()?
    };
    text.parse().ok()
}

/// Decodes a Huffman-coded string of decimal digits (RFC 7541 Appendix B: `0`-`2` have 5-bit
/// codes 0 to 2, `3`-`9` 6-bit codes 25 to 31); `None` for anything else.
fn huffman_digits(bytes: &[u8]) -> Option<String> {
    let total = bytes.len() * 8;
    let bit = |i: usize| (bytes[i / 8] >> (7 - i % 8)) & 1;
    let mut out = String::new();
    let mut at = 0;
    while total - at >= 5 {
        let five = (0..5).fold(0u8, |v, k| v << 1 | bit(at + k));
        if five <= 2 {
            out.push(char::from(b'0' + five));
            at += 5;
        } else if (12..=15).contains(&five) && total - at >= 6 {
            let six = five << 1 | bit(at + 5);
            if six < 25 {
                return None;
            }
            out.push(char::from(b'0' + six - 22));
            at += 6;
        } else if five == 0x1f {
            // Padding: the most significant bits of EOS, all ones.
            break;
        } else {
            return None;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// What [`H2Conn`] runs over.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

/// One raw HTTP/2 connection.
pub struct H2Conn {
    io: Box<dyn Transport>,
    buf: Vec<u8>,
}

impl fmt::Debug for H2Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H2Conn")
            .field("buffered", &self.buf.len())
            .finish()
    }
}

/// A TCP connection with Nagle off and, if asked, small socket buffers.
async fn tcp(
    addr: SocketAddr,
    recv_buffer: Option<u32>,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size)?;
        socket.set_send_buffer_size(size)?;
    }
    let stream = tokio::time::timeout(timeout, socket.connect(addr))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Largest frame payload the reader accepts from the server (its SETTINGS_MAX_FRAME_SIZE is
/// never raised by this client).
const MAX_READ_FRAME: usize = 16_384;

impl H2Conn {
    /// A cleartext connection (h2c with prior knowledge once the preface is sent).
    pub async fn h2c(addr: SocketAddr, timeout: Duration) -> std::io::Result<Self> {
        Ok(Self::over(Box::new(tcp(addr, None, timeout).await?)))
    }

    /// A TLS connection with SNI `server_name`; `config` should offer ALPN `h2`. Fails unless
    /// the server chose `h2`. `recv_buffer` shrinks the socket's receive and send buffers, so
    /// that a client that does not read pushes back on the server sooner, and a flood is
    /// queued mostly on the server's side.
    pub async fn tls(
        addr: SocketAddr,
        server_name: &str,
        config: Arc<ClientConfig>,
        recv_buffer: Option<u32>,
        timeout: Duration,
    ) -> std::io::Result<Self> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let tcp = tcp(addr, recv_buffer, timeout).await?;
        let tls = tokio::time::timeout(
            timeout,
            tokio_rustls::TlsConnector::from(config).connect(name, tcp),
        )
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(std::io::Error::other("the server did not choose ALPN h2"));
        }
        Ok(Self::over(Box::new(tls)))
    }

    /// Like [`h2c`](Self::h2c) with the socket's buffers shrunk to `recv_buffer`.
    pub async fn h2c_with_buffer(
        addr: SocketAddr,
        recv_buffer: u32,
        timeout: Duration,
    ) -> std::io::Result<Self> {
        Ok(Self::over(Box::new(
            tcp(addr, Some(recv_buffer), timeout).await?,
        )))
    }

    /// A connection over any transport.
    pub fn over(io: Box<dyn Transport>) -> Self {
        Self {
            io,
            buf: Vec::new(),
        }
    }

    /// Writes bytes and flushes them.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    /// Like [`send`](Self::send), giving up after `timeout` (a server that stopped reading).
    pub async fn send_within(&mut self, bytes: &[u8], timeout: Duration) -> std::io::Result<()> {
        tokio::time::timeout(timeout, self.send(bytes))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
    }

    /// Sends the preface and an empty SETTINGS frame, waits for the server's SETTINGS and
    /// acknowledges it. Other frames before it are dropped.
    pub async fn handshake(&mut self, timeout: Duration) -> Result<(), String> {
        let mut start = PREFACE.to_vec();
        start.extend_from_slice(&settings(&[]));
        self.send(&start).await.map_err(|e| e.to_string())?;
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_until(deadline).await {
                Event::Frame(f) if f.kind == kind::SETTINGS && !f.has(flag::ACK) => break,
                Event::Frame(_) => {}
                other => return Err(format!("no server SETTINGS: {other:?}")),
            }
        }
        self.send(&frame(kind::SETTINGS, flag::ACK, 0, &[]))
            .await
            .map_err(|e| e.to_string())
    }

    /// The next frame, waiting at most `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Event {
        self.next_until(Instant::now() + timeout).await
    }

    /// The next frame, waiting until `deadline`.
    pub async fn next_until(&mut self, deadline: Instant) -> Event {
        loop {
            if let Some(frame) = self.parse() {
                return frame;
            }
            let mut chunk = [0u8; 16 * 1024];
            match tokio::time::timeout_at(deadline, self.io.read(&mut chunk)).await {
                Err(_) => return Event::TimedOut,
                Ok(Ok(0) | Err(_)) => return Event::Closed,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads frames until one satisfies `wanted`, the connection ends, or `deadline` passes;
    /// frames before it are dropped (at most 100 000 of them).
    pub async fn wait_for(&mut self, deadline: Instant, wanted: impl Fn(&Frame) -> bool) -> Event {
        for _ in 0..100_000 {
            match self.next_until(deadline).await {
                Event::Frame(f) if !wanted(&f) => {}
                other => return other,
            }
        }
        Event::TimedOut
    }

    fn parse(&mut self) -> Option<Event> {
        let head = self.buf.get(..9)?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        if len > MAX_READ_FRAME {
            // The server broke its own frame size: report it as a close.
            return Some(Event::Closed);
        }
        if self.buf.len() < 9 + len {
            return None;
        }
        let frame = Frame {
            kind: head[3],
            flags: head[4],
            stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
            payload: self.buf[9..9 + len].to_vec(),
        };
        self.buf.drain(..9 + len);
        Some(Event::Frame(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_use_the_prefix_then_continuation_bytes() {
        // RFC 7541 §C.1.1 and §C.1.2.
        let mut out = Vec::new();
        integer(&mut out, 0, 5, 10);
        assert_eq!(out, [10]);
        let mut out = Vec::new();
        integer(&mut out, 0, 5, 1337);
        assert_eq!(out, [31, 154, 10]);
    }

    #[test]
    fn a_frame_header_carries_length_type_flags_and_stream() {
        let bytes = frame(kind::PING, flag::ACK, 0, &[1; 8]);
        assert_eq!(&bytes[..9], &[0, 0, 8, 6, 1, 0, 0, 0, 0]);
        let bytes = rst_stream(3, code::CANCEL);
        assert_eq!(&bytes[..9], &[0, 0, 4, 3, 0, 0, 0, 0, 3]);
    }

    #[test]
    fn statuses_are_read_indexed_literal_or_huffman_coded() {
        assert_eq!(status_of(&[0x88]), Some(200));
        assert_eq!(status_of(&[0x48, 3, b'4', b'3', b'1']), Some(431));
        // "431" Huffman-coded: 011010 011001 00001, then EOS padding.
        assert_eq!(status_of(&[0x48, 0x83, 0x69, 0x90, 0xff]), Some(431));
        // "503": 011011 00000 011001, then EOS padding.
        assert_eq!(status_of(&[0x48, 0x83, 0x6c, 0x0c, 0xff]), Some(503));
        assert_eq!(status_of(&[0x41, 1, b'x']), None, "not :status");
    }

    #[test]
    fn literal_fields_are_length_prefixed_without_huffman() {
        assert_eq!(header_block(&[("a", "bc")]), [0, 1, b'a', 2, b'b', b'c']);
    }
}
