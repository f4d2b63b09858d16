//! Raw HTTP/1.1 on loopback with fixed buffers: a backend that answers every request head with
//! the same bytes, and a keep-alive client that reads whole responses. Neither allocates per
//! request, so an allocation count taken around them is weir's alone (the alloc bench), and
//! neither depends on hyper's scheduling (the busy bench).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Bytes each side buffers; a request head or a whole response must fit.
const BUFFER: usize = 16 * 1024;

/// Starts a backend answering every request head with `response`. Requests must carry no body
/// (a head ends a request). It allocates per connection only.
pub async fn start_fixed_backend(response: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_fixed(stream, response));
        }
    });
    addr
}

async fn serve_fixed(mut stream: TcpStream, response: &'static [u8]) {
    let mut buf = vec![0u8; BUFFER];
    let mut filled = 0;
    loop {
        while let Some(end) = find(&buf[..filled], b"\r\n\r\n") {
            if stream.write_all(response).await.is_err() {
                return;
            }
            buf.copy_within(end + 4..filled, 0);
            filled -= end + 4;
        }
        if filled == buf.len() {
            return;
        }
        match stream.read(&mut buf[filled..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => filled += n,
        }
    }
}

/// One keep-alive connection that sends whole requests and reads whole responses
/// (`content-length` or chunked bodies), each read bounded by `read_timeout`.
#[derive(Debug)]
pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
    read_timeout: Duration,
}

impl RawClient {
    /// Connects to `addr`, with Nagle off.
    pub async fn connect(addr: SocketAddr, read_timeout: Duration) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: vec![0; BUFFER],
            read_timeout,
        })
    }

    /// Sends `request` and reads its whole response; returns the status (0 if unreadable).
    pub async fn request(&mut self, request: &[u8]) -> std::io::Result<u16> {
        self.stream.write_all(request).await?;
        let mut filled = 0;
        let head_end = loop {
            if let Some(end) = find(&self.buf[..filled], b"\r\n\r\n") {
                break end + 4;
            }
            filled += self.read(filled).await?;
        };
        let head = &self.buf[..head_end];
        let status = std::str::from_utf8(head.get(9..12).unwrap_or_default())
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        match content_length(head) {
            Some(len) => {
                while filled < head_end + len {
                    filled += self.read(filled).await?;
                }
            }
            // Chunked: read up to the last chunk.
            None => {
                while !self.buf[head_end..filled].ends_with(b"0\r\n\r\n") {
                    filled += self.read(filled).await?;
                }
            }
        }
        Ok(status)
    }

    /// Waits up to `timeout` for the server to close the connection (an end of file or an
    /// error, with nothing else to read); returns whether it did.
    pub async fn closed_within(&mut self, timeout: Duration) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(timeout, self.stream.read(&mut byte)).await,
            Ok(Ok(0) | Err(_))
        )
    }

    async fn read(&mut self, filled: usize) -> std::io::Result<usize> {
        if filled == self.buf.len() {
            return Err(std::io::Error::other("response larger than the buffer"));
        }
        match tokio::time::timeout(self.read_timeout, self.stream.read(&mut self.buf[filled..]))
            .await
        {
            Ok(Ok(0)) => Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(r) => r,
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The `content-length` of a response head, without allocating.
fn content_length(head: &[u8]) -> Option<usize> {
    head.split(|&b| b == b'\n').find_map(|line| {
        let (name, value) = line.split_at(line.iter().position(|&b| b == b':')?);
        if !name.eq_ignore_ascii_case(b"content-length") {
            return None;
        }
        std::str::from_utf8(value.get(1..)?)
            .ok()?
            .trim()
            .parse()
            .ok()
    })
}

/// Reads from `stream` until a response head is complete, the connection ends, or `timeout`
/// passes. Returns what arrived (lowercased; empty when the connection closed unanswered) and
/// whether the read ended before the timeout.
pub async fn read_head(stream: &mut TcpStream, timeout: Duration) -> (String, bool) {
    let mut answer = Vec::new();
    let in_time = tokio::time::timeout(timeout, async {
        let mut chunk = [0u8; 4096];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&answer).to_lowercase(), in_time)
}
