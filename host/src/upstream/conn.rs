//! Connections to one upstream destination (a pool's backend, or one origin of the forward
//! proxy) on hyper's connection-level API, and their pool.
//!
//! Connecting is a step of its own: TCP to the first address that answers, TLS with ALPN when
//! the destination is `https`, then the HTTP/1.1 or HTTP/2 handshake. Which HTTP version is
//! spoken follows the destination's [`UpstreamProtocol`]: HTTP/2 is chosen by ALPN on TLS, and
//! by configuration alone (prior knowledge, RFC 9113 §3.3) on cleartext. Only then is the request
//! handed over, so a connect failure is known before anything was sent and is always safe to
//! retry elsewhere, without a copy of the request. HTTP/1.1 connections wait in an idle list
//! (newest first, bounded, closed after `idle_timeout`); one HTTP/2 connection is shared by
//! every request while it is open. An upgrade request (WebSocket) gets a dedicated HTTP/1.1
//! connection of its own ([`ConnPool::connect_upgrade`]), never pooled: after a `101` it stops
//! being HTTP at all.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::worker::Sharded;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Empty;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

use super::body::{ResponseBody, UpstreamBody};

/// How to speak TLS to a destination.
#[derive(Clone, Debug)]
pub(crate) struct TlsTarget {
    /// Client configuration with the destination's ALPN list (see [`UpstreamProtocol::alpn`]).
    pub(crate) config: Arc<ClientConfig>,
    /// SNI and the name the certificate must carry.
    pub(crate) server_name: ServerName<'static>,
}

/// Which HTTP version weir speaks to a destination (the pool key `protocol`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UpstreamProtocol {
    /// HTTP/1.1 on cleartext; on TLS, whatever ALPN picks of `h2` and `http/1.1`.
    #[default]
    Auto,
    /// HTTP/2 only: prior knowledge on cleartext (h2c), ALPN offering only `h2` on TLS.
    H2,
    /// HTTP/1.1 only (ALPN offers only `http/1.1`).
    Http1,
}

impl UpstreamProtocol {
    /// The ALPN protocols offered on TLS, in order of preference.
    pub(crate) fn alpn(self) -> Vec<Vec<u8>> {
        match self {
            Self::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            Self::H2 => vec![b"h2".to_vec()],
            Self::Http1 => vec![b"http/1.1".to_vec()],
        }
    }
}

/// The sending half of a dedicated HTTP/1.1 connection opened for one upgrade request. Its
/// connection task runs with upgrades enabled, so a `101` response hands the byte stream over
/// (`hyper::upgrade::on`).
pub(crate) type UpgradeSender = http1::SendRequest<Empty<Bytes>>;

/// Why no connection could be made. Nothing of the request was sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// TCP failed on every address, or timed out.
    #[error("{0}")]
    Tcp(String),
    /// The TLS handshake failed (untrusted certificate, alert, no common version).
    #[error("{0}")]
    Tls(String),
    /// The HTTP/2 handshake failed.
    #[error("{0}")]
    Handshake(String),
}

/// The HTTP side of an open connection.
enum Sender {
    H1(http1::SendRequest<UpstreamBody>, Arc<Closing>),
    /// The shared connection, and whether it runs over TLS (`:scheme` is then `https`).
    H2(http2::SendRequest<UpstreamBody>, bool),
}

/// An HTTP/1.1 connection waiting for its next request.
struct Idle {
    sender: http1::SendRequest<UpstreamBody>,
    closing: Arc<Closing>,
    since: Instant,
    peer: SocketAddr,
}

/// Connections to one destination.
pub struct ConnPool {
    /// Idle HTTP/1.1 connections, one shard per worker thread (`crate::worker`): a connection
    /// goes back to the shard of the worker that opened it, whose runtime runs its task.
    idle: Sharded<Vec<Idle>>,
    /// The shared HTTP/2 connection, whether it runs over TLS, and the address it is
    /// connected to.
    shared_h2: Mutex<Option<(http2::SendRequest<UpstreamBody>, bool, SocketAddr)>>,
    /// Mirrors whether `shared_h2` holds a connection, read without the lock.
    h2: AtomicBool,
    protocol: UpstreamProtocol,
    max_idle: usize,
    idle_timeout: Duration,
    open: Arc<AtomicUsize>,
}

impl std::fmt::Debug for ConnPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnPool")
            .field("open", &self.open_connections())
            .field("idle", &self.idle_connections())
            .finish_non_exhaustive()
    }
}

/// A connection checked out for one request.
pub(crate) struct Connection {
    sender: Sender,
    pool: Arc<ConnPool>,
    /// Whether it served a request before (a reused connection may have been closed by the
    /// upstream in the meantime).
    pub(crate) reused: bool,
    /// The address it is connected to (what an egress policy judges).
    peer: SocketAddr,
}

/// Why a request on a connection failed.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The connection was gone before the request was written: the request comes back and may
    /// be sent on another connection.
    NotSent(Box<Request<UpstreamBody>>, hyper::Error),
    /// The request was (at least partly) sent.
    Failed(hyper::Error),
}

impl ConnPool {
    /// An empty pool speaking `protocol`; a task closes connections idle for longer than
    /// `idle_timeout`.
    pub(crate) fn new(
        max_idle: usize,
        idle_timeout: Duration,
        protocol: UpstreamProtocol,
    ) -> Arc<Self> {
        let pool = Arc::new(Self {
            idle: Sharded::new(),
            shared_h2: Mutex::new(None),
            h2: AtomicBool::new(false),
            protocol,
            max_idle,
            idle_timeout,
            open: Arc::new(AtomicUsize::new(0)),
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(reap(Arc::downgrade(&pool), idle_timeout));
        }
        pool
    }

    /// Open connections (idle, busy and shared).
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// HTTP/1.1 connections waiting in the idle list.
    pub fn idle_connections(&self) -> usize {
        self.idle.all().map(|idle| idle.len()).sum()
    }

    /// A pooled connection, if one is open: the shared HTTP/2 connection, else the newest idle
    /// HTTP/1.1 one. Closed and expired connections found on the way are dropped.
    pub(crate) fn checkout(self: &Arc<Self>) -> Option<Connection> {
        if let Some((sender, tls, peer)) = self.shared_h2() {
            return Some(Connection {
                sender: Sender::H2(sender, tls),
                pool: self.clone(),
                reused: true,
                peer,
            });
        }
        // The worker's own connections first; another worker's before a new one (its task
        // stays on that worker's runtime, and the connection goes back to its shard).
        let entry = self.take_idle(&mut self.idle.local());
        let entry = entry.or_else(|| {
            self.idle
                .others()
                .find_map(|mut idle| self.take_idle(&mut idle))
        })?;
        Some(Connection {
            sender: Sender::H1(entry.sender, entry.closing),
            pool: self.clone(),
            reused: true,
            peer: entry.peer,
        })
    }

    /// The newest open connection of one shard; closed and expired ones are dropped.
    fn take_idle(&self, idle: &mut Vec<Idle>) -> Option<Idle> {
        while let Some(entry) = idle.pop() {
            if entry.since.elapsed() >= self.idle_timeout {
                // The rest are older still.
                idle.clear();
                return None;
            }
            if !entry.sender.is_closed() {
                return Some(entry);
            }
        }
        None
    }

    /// Opens a new connection: TCP to the first of `addrs` that answers within `timeout`, then
    /// TLS when `tls` is given, then the HTTP handshake: HTTP/2 when the pool's protocol is
    /// `H2` (prior knowledge on cleartext) or ALPN chose it, else HTTP/1.1.
    pub(crate) async fn connect(
        self: &Arc<Self>,
        addrs: &[SocketAddr],
        tls: Option<&TlsTarget>,
        timeout: Duration,
    ) -> Result<Connection, ConnectError> {
        let tcp = connect_tcp(addrs, timeout).await?;
        let peer = tcp
            .peer_addr()
            .map_err(|e| ConnectError::Tcp(e.to_string()))?;
        let sender = match tls {
            None if self.protocol == UpstreamProtocol::H2 => {
                self.handshake_h2(tcp, false, peer).await?
            }
            None => self.handshake_h1(tcp).await?,
            Some(tls) => {
                let stream = tls_handshake(tls.config.clone(), tls, tcp, timeout).await?;
                let h2 = match self.protocol {
                    UpstreamProtocol::Auto => stream.get_ref().1.alpn_protocol() == Some(b"h2"),
                    // An `h2` destination that negotiated no ALPN still gets HTTP/2: the
                    // operator said it speaks nothing else.
                    UpstreamProtocol::H2 => true,
                    UpstreamProtocol::Http1 => false,
                };
                if h2 {
                    self.handshake_h2(stream, true, peer).await?
                } else {
                    self.handshake_h1(stream).await?
                }
            }
        };
        Ok(Connection {
            sender,
            pool: self.clone(),
            reused: false,
            peer,
        })
    }

    /// Opens a dedicated HTTP/1.1 connection for one upgrade request, whatever the pool's
    /// protocol (a shared HTTP/2 connection cannot be handed over, and backends are not assumed
    /// to support RFC 8441): TCP, TLS offering only `http/1.1`, then the handshake, with the connection task ready to give the stream up after a `101`. Never
    /// pooled; counted as open until it is upgraded or closed.
    pub(crate) async fn connect_upgrade(
        &self,
        addrs: &[SocketAddr],
        tls: Option<&TlsTarget>,
        timeout: Duration,
    ) -> Result<UpgradeSender, ConnectError> {
        let tcp = connect_tcp(addrs, timeout).await?;
        match tls {
            None => self.handshake_upgrade(tcp).await,
            Some(tls) => {
                // Rare (one per upgrade), so a config copy per connection is fine; the session
                // cache inside is shared.
                let mut config = (*tls.config).clone();
                config.alpn_protocols = UpstreamProtocol::Http1.alpn();
                let stream = tls_handshake(Arc::new(config), tls, tcp, timeout).await?;
                self.handshake_upgrade(stream).await
            }
        }
    }

    /// Puts an HTTP/1.1 connection whose response was read to the end back in the idle list;
    /// false when it is closed or not kept (it closes then).
    pub(crate) fn release(
        &self,
        sender: http1::SendRequest<UpstreamBody>,
        closing: Arc<Closing>,
        peer: SocketAddr,
    ) -> bool {
        if sender.is_closed() || self.max_idle == 0 {
            return false;
        }
        // `max_idle` is shared out between the workers' shards.
        let cap = self.idle.share_of(self.max_idle);
        let mut idle = self.idle.at(closing.home);
        if idle.len() >= cap {
            // Keep the newest: the oldest is the likeliest to be closed by the upstream.
            idle.remove(0);
        }
        idle.push(Idle {
            sender,
            closing,
            since: Instant::now(),
            peer,
        });
        true
    }

    async fn handshake_h1<S>(&self, io: S) -> Result<Sender, ConnectError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) = http1::Builder::new()
            .handshake(TokioIo::new(io))
            .await
            .map_err(|e| ConnectError::Handshake(e.to_string()))?;
        let closing = Arc::new(Closing::new(crate::worker::current()));
        self.drive(connection, Some(closing.clone()));
        Ok(Sender::H1(sender, closing))
    }

    async fn handshake_upgrade<S>(&self, io: S) -> Result<UpgradeSender, ConnectError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) = http1::Builder::new()
            .handshake(TokioIo::new(io))
            .await
            .map_err(|e| ConnectError::Handshake(e.to_string()))?;
        self.drive(connection.with_upgrades(), None);
        Ok(sender)
    }

    async fn handshake_h2<S>(
        &self,
        io: S,
        tls: bool,
        peer: SocketAddr,
    ) -> Result<Sender, ConnectError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(TokioIo::new(io))
            .await
            .map_err(|e| ConnectError::Handshake(e.to_string()))?;
        self.drive(connection, None);
        *self
            .shared_h2
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((sender.clone(), tls, peer));
        self.h2.store(true, Ordering::Relaxed);
        Ok(Sender::H2(sender, tls))
    }

    /// The HTTP version this destination is spoken to with.
    pub(crate) fn protocol(&self) -> UpstreamProtocol {
        self.protocol
    }

    /// Whether an HTTP/2 connection is open and shared: requests then take a stream, not a
    /// connection.
    pub(crate) fn has_h2(&self) -> bool {
        self.h2.load(Ordering::Relaxed)
    }

    fn shared_h2(&self) -> Option<(http2::SendRequest<UpstreamBody>, bool, SocketAddr)> {
        let mut shared = self
            .shared_h2
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match shared.as_ref() {
            Some((sender, tls, peer)) if !sender.is_closed() => Some((sender.clone(), *tls, *peer)),
            Some(_) => {
                *shared = None;
                self.h2.store(false, Ordering::Relaxed);
                None
            }
            None => None,
        }
    }

    /// Runs a connection's I/O task, counted as open until it ends.
    fn drive<C>(&self, connection: C, closing: Option<Arc<Closing>>)
    where
        C: std::future::Future<Output = Result<(), hyper::Error>> + Send + 'static,
    {
        self.open.fetch_add(1, Ordering::Relaxed);
        let open = OpenGuard(self.open.clone());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
            if let Some(closing) = closing {
                closing.ended();
            }
            drop(open);
        });
    }
}

impl Connection {
    /// Sends `request` and waits for the response head. The response body returns an HTTP/1.1
    /// connection to its pool once read.
    pub(crate) async fn send(
        self,
        request: Request<UpstreamBody>,
    ) -> Result<Response<ResponseBody>, SendError> {
        match self.sender {
            Sender::H1(mut sender, closing) => {
                if let Err(e) = sender.ready().await {
                    return Err(SendError::NotSent(Box::new(request), e));
                }
                match sender.try_send_request(request).await {
                    Ok(response) => Ok(response.map(|body| {
                        ResponseBody::pooled(body, sender, closing, self.pool, self.peer)
                    })),
                    Err(mut e) => match e.take_message() {
                        Some(request) => Err(SendError::NotSent(Box::new(request), e.into_error())),
                        None => Err(SendError::Failed(e.into_error())),
                    },
                }
            }
            Sender::H2(mut sender, _) => match sender.try_send_request(request).await {
                Ok(response) => Ok(response.map(ResponseBody::unpooled)),
                Err(mut e) => match e.take_message() {
                    Some(request) => Err(SendError::NotSent(Box::new(request), e.into_error())),
                    None => Err(SendError::Failed(e.into_error())),
                },
            },
        }
    }

    /// The address the connection is connected to.
    pub(crate) fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The slot holder of an HTTP/1.1 connection (HTTP/2 streams need none: an abandoned
    /// stream is reset, the connection stays).
    pub(crate) fn closing(&self) -> Option<Arc<Closing>> {
        match &self.sender {
            Sender::H1(_, closing) => Some(closing.clone()),
            Sender::H2(..) => None,
        }
    }

    /// Whether the connection speaks HTTP/2 (the request then needs an absolute URI).
    pub(crate) fn is_h2(&self) -> bool {
        matches!(self.sender, Sender::H2(..))
    }

    /// The `:scheme` of requests on an HTTP/2 connection: `https` over TLS, `http` for h2c.
    pub(crate) fn scheme(&self) -> http::uri::Scheme {
        match self.sender {
            Sender::H2(_, false) => http::uri::Scheme::HTTP,
            _ => http::uri::Scheme::HTTPS,
        }
    }
}

/// An HTTP/1.1 connection's hold on a backend slot after its request was abandoned: the slot
/// is given back when the connection has really closed, not when the request was dropped, so
/// the backend never has more connections open than its limit.
#[derive(Debug)]
pub(crate) struct Closing {
    /// Whether it ended, and the slot it holds until then.
    state: Mutex<(bool, Option<OwnedSemaphorePermit>)>,
    /// The worker that opened the connection (whose runtime runs its task), where it idles.
    home: usize,
}

impl Closing {
    fn new(home: usize) -> Self {
        Self {
            state: Mutex::new((false, None)),
            home,
        }
    }

    /// Keeps `permit` until the connection ends (at once, if it already has).
    pub(crate) fn hold(&self, permit: OwnedSemaphorePermit) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if !state.0 {
            state.1 = Some(permit);
        }
    }

    fn ended(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 = true;
        state.1 = None;
    }
}

/// Counts a connection as open until its task ends.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// TCP to the first of `addrs` that answers within `timeout` each, with Nagle off; the error
/// names the last address tried and why it failed.
pub(crate) async fn connect_tcp(
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<TcpStream, ConnectError> {
    let mut last = String::from("no addresses");
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                // Requests are written whole; Nagle would only delay them.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: no answer within {} ms", timeout.as_millis()),
        }
    }
    Err(ConnectError::Tcp(last))
}

/// The TLS handshake on `tcp` with `config` (its ALPN list decides what is offered), within
/// `timeout`.
async fn tls_handshake(
    config: Arc<ClientConfig>,
    tls: &TlsTarget,
    tcp: TcpStream,
    timeout: Duration,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ConnectError> {
    let connector = tokio_rustls::TlsConnector::from(config);
    let handshake = connector.connect(tls.server_name.clone(), tcp);
    match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(ConnectError::Tls(tls_reason(&e))),
        Err(_) => Err(ConnectError::Tls(format!(
            "no TLS handshake within {} ms",
            timeout.as_millis()
        ))),
    }
}

/// rustls's reason for a failed handshake ("invalid peer certificate: UnknownIssuer").
fn tls_reason(error: &std::io::Error) -> String {
    match error.get_ref() {
        Some(inner) => inner.to_string(),
        None => error.to_string(),
    }
}

/// Closes idle connections past their timeout while the pool lives.
async fn reap(pool: Weak<ConnPool>, idle_timeout: Duration) {
    let period = idle_timeout.max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(period).await;
        let Some(pool) = pool.upgrade() else { return };
        for mut idle in pool.idle.all() {
            idle.retain(|e| e.since.elapsed() < idle_timeout && !e.sender.is_closed());
        }
    }
}
