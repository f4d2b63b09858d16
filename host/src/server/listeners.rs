//! The listeners of a running weir: binding, the accept loop, per-connection limits, and the
//! changes a reload makes (start new addresses, retune kept ones, drain removed ones) without
//! dropping a connection.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::config::{ListenerConfig, ListenerMode, Protocol};
use crate::metrics::METRICS;
use crate::proxy::{self, ConnInfo, Drain, ProxyState, RequestLimits, StopState, Tunnels};
use crate::stream;
use crate::tls::TlsFacts;

use super::StartError;
use super::cores::Cores;
use super::guard::{Activity, Guarded, Timeouts, Tracked};
use super::proxy_protocol;

/// A listener's bound sockets, not yet serving: one, or one per worker (per-core scheduling).
pub(super) struct Bound {
    config: ListenerConfig,
    sockets: Vec<std::net::TcpListener>,
    addr: SocketAddr,
}

/// Binds each listener, `copies` sockets each; on the first failure, everything bound so far
/// is released.
pub(super) async fn bind(
    configs: &[&ListenerConfig],
    copies: usize,
) -> Result<Vec<Bound>, StartError> {
    let mut bound = Vec::with_capacity(configs.len());
    for config in configs {
        let error = |source| StartError::Bind {
            name: config.name.clone(),
            addr: config.bind,
            source,
        };
        let sockets = bind_sockets(config.bind, copies).map_err(error)?;
        let addr = match sockets.first() {
            Some(socket) => socket.local_addr().map_err(error)?,
            None => config.bind,
        };
        bound.push(Bound {
            config: (*config).clone(),
            sockets,
            addr,
        });
    }
    Ok(bound)
}

/// Listening sockets on `addr` (`SO_REUSEADDR`, a backlog of 1024, as tokio's own `bind`),
/// nonblocking and not yet registered with any runtime: each is registered by the worker that
/// accepts on it. More than one share the address with `SO_REUSEPORT`, so the kernel spreads
/// new connections over them.
fn bind_sockets(addr: SocketAddr, copies: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let socket = |reuse_port: bool| -> std::io::Result<tokio::net::TcpSocket> {
        let socket = match addr {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        if reuse_port {
            socket.set_reuseport(true)?;
        }
        Ok(socket)
    };
    let copies = copies.max(1);
    let reuse_port = copies > 1;
    if reuse_port && addr.port() != 0 {
        // With `SO_REUSEPORT`, a bind succeeds on a port another `SO_REUSEPORT` socket of the
        // same user listens on (another weir, say), and the two would share its connections.
        // A probe without it fails there, as a plain bind would.
        socket(false)?.bind(addr)?;
    }
    let mut sockets = Vec::with_capacity(copies);
    let mut at = addr;
    for _ in 0..copies {
        let socket = socket(reuse_port)?;
        socket.bind(at)?;
        let listener = socket.listen(1024)?;
        // Port 0 asks for any port: the first socket's, for the others.
        at = listener.local_addr()?;
        sockets.push(listener.into_std()?);
    }
    Ok(sockets)
}

struct Slot {
    settings: Arc<ArcSwap<ListenerConfig>>,
    limit: Arc<Semaphore>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
}

/// Every serving listener.
pub(super) struct ListenerSet {
    slots: Mutex<Vec<Slot>>,
    /// Accept loops; each ends with whether it had to cut connections.
    tasks: Mutex<JoinSet<bool>>,
    state: Arc<ArcSwap<ProxyState>>,
    stopped: watch::Receiver<StopState>,
    tunnels: Arc<Tunnels>,
    grace: Duration,
    /// The per-core workers, each accepting on a socket of its own; `None`: the accept loops
    /// run on the caller's runtime.
    cores: Option<Arc<Cores>>,
}

impl ListenerSet {
    pub(super) fn new(
        state: Arc<ArcSwap<ProxyState>>,
        stopped: watch::Receiver<StopState>,
        tunnels: Arc<Tunnels>,
        grace: Duration,
        cores: Option<Arc<Cores>>,
    ) -> Self {
        Self {
            slots: Mutex::new(Vec::new()),
            tasks: Mutex::new(JoinSet::new()),
            state,
            stopped,
            tunnels,
            grace,
            cores,
        }
    }

    /// Sockets each listener binds: one per worker under per-core scheduling, else one.
    pub(super) fn copies(&self) -> usize {
        self.cores.as_ref().map_or(1, |cores| cores.handles().len())
    }

    /// Starts serving on freshly bound sockets.
    pub(super) fn start(&self, bound: Vec<Bound>) {
        let mut slots = lock(&self.slots);
        let mut tasks = lock(&self.tasks);
        for Bound {
            config,
            sockets,
            addr,
        } in bound
        {
            tracing::info!(listener = %config.name, addr = %addr, sockets = sockets.len(), "listening");
            let limit = Arc::new(Semaphore::new(config.max_connections as usize));
            let settings = Arc::new(ArcSwap::from_pointee(config));
            let per_client = Arc::new(PerClient::default());
            let (stop, own_stop) = watch::channel(false);
            for (worker, socket) in sockets.into_iter().enumerate() {
                let accepting = accept_loop(
                    socket,
                    settings.clone(),
                    (limit.clone(), per_client.clone()),
                    self.state.clone(),
                    (self.stopped.clone(), own_stop.clone()),
                    self.tunnels.clone(),
                    self.grace,
                );
                match self.cores.as_ref().and_then(|c| c.handles().get(worker)) {
                    Some(core) => tasks.spawn_on(accepting, core),
                    None => tasks.spawn(accepting),
                };
            }
            slots.push(Slot {
                settings,
                limit,
                addr,
                stop,
            });
        }
    }

    /// The configs in `next` whose address no listener serves yet.
    pub(super) fn to_bind<'c>(&self, next: &'c [ListenerConfig]) -> Vec<&'c ListenerConfig> {
        let slots = lock(&self.slots);
        next.iter()
            .filter(|c| !slots.iter().any(|s| s.settings.load().bind == c.bind))
            .collect()
    }

    /// Applies a reloaded listener list: retunes listeners whose address stays, drains those
    /// whose address is gone (their connections finish within the grace period), and starts
    /// the freshly bound ones.
    pub(super) fn apply(&self, next: &[ListenerConfig], bound: Vec<Bound>) {
        {
            let mut slots = lock(&self.slots);
            slots.retain(|slot| {
                let current = slot.settings.load();
                match next.iter().find(|c| c.bind == current.bind) {
                    Some(config) => {
                        retune(slot, &current, config);
                        true
                    }
                    None => {
                        tracing::info!(listener = %current.name, addr = %slot.addr, "listener removed; draining");
                        let _ = slot.stop.send(true);
                        false
                    }
                }
            });
        }
        self.start(bound);
    }

    /// Every listener's name and bound address.
    pub(super) fn addrs(&self) -> Vec<(String, SocketAddr)> {
        lock(&self.slots)
            .iter()
            .map(|s| (s.settings.load().name.clone(), s.addr))
            .collect()
    }

    /// Waits for every accept loop to end (after the global stop) with its connections
    /// drained; true when every connection finished, false when some were cut at the deadline.
    pub(super) async fn join(&self) -> bool {
        let mut tasks = std::mem::take(&mut *lock(&self.tasks));
        let mut complete = true;
        while let Some(done) = tasks.join_next().await {
            complete &= !done.unwrap_or(true);
        }
        complete
    }
}

fn retune(slot: &Slot, current: &ListenerConfig, next: &ListenerConfig) {
    let (was, now) = (
        current.max_connections as usize,
        next.max_connections as usize,
    );
    if now > was {
        slot.limit.add_permits(now - was);
    } else if now < was {
        // Permits held by open connections are taken back as those connections close.
        slot.limit.forget_permits(was - now);
    }
    let mut next = next.clone();
    if let (Some(previous), Some(tls)) = (&current.tls, next.tls.as_mut()) {
        *tls = tls.clone().keep_sessions_of(previous);
    }
    slot.settings.store(Arc::new(next));
}

/// Open connections per client address, for `max_connections_per_client`.
#[derive(Debug, Default)]
struct PerClient(Mutex<HashMap<IpAddr, u32>>);

impl PerClient {
    /// A slot for one more connection from `ip`, unless it already holds `limit`.
    fn admit(self: &Arc<Self>, ip: IpAddr, limit: u32) -> Option<ClientSlot> {
        let mut open = lock(&self.0);
        let count = open.entry(ip).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            clients: self.clone(),
            ip,
        })
    }
}

/// One connection's place in its client's count, given back when dropped.
struct ClientSlot {
    clients: Arc<PerClient>,
    ip: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = lock(&self.clients.0);
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Accepts on one socket of a listener until the listener or weir stops, then drains what it
/// accepted. Under per-core scheduling each worker runs one per listener, on its own socket;
/// the listener's limits (`max_connections`, `max_connections_per_client`) are shared.
async fn accept_loop(
    socket: std::net::TcpListener,
    settings: Arc<ArcSwap<ListenerConfig>>,
    (limit, per_client): (Arc<Semaphore>, Arc<PerClient>),
    state: Arc<ArcSwap<ProxyState>>,
    (mut stopped, mut own_stop): (watch::Receiver<StopState>, watch::Receiver<bool>),
    tunnels: Arc<Tunnels>,
    grace: Duration,
) -> bool {
    let graceful = GracefulShutdown::new();
    let name: Arc<str> = Arc::from(settings.load().name.as_str());
    // Registered with the runtime of the worker running this loop.
    let socket = match TcpListener::from_std(socket) {
        Ok(socket) => socket,
        Err(e) => {
            tracing::error!(listener = %name, error = %e, "cannot accept on this socket");
            return false;
        }
    };
    loop {
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => permit,
            _ = stopped.changed() => break,
            _ = own_stop.changed() => break,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            accepted = socket.accept() => accepted,
            _ = stopped.changed() => break,
            _ = own_stop.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Usually EMFILE or a connection reset before accept; back off briefly.
                tracing::warn!(listener = %name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let listener = settings.load_full();
        METRICS.connection_on_worker(&name, crate::worker::current());
        let client_slot = match listener.limits.max_connections_per_client {
            None => None,
            Some(limit) => match per_client.admit(peer.ip(), limit) {
                Some(slot) => Some(slot),
                None => {
                    // Closed at once: the client already holds its share of this listener.
                    tracing::debug!(listener = %name, client.addr = %peer, limit, "connection refused: max_connections_per_client");
                    drop(stream);
                    continue;
                }
            },
        };
        let drain = Drain::new(stopped.clone(), tunnels.clone());
        let connection = serve(
            listener,
            drain,
            graceful.watcher(),
            stream,
            peer,
            state.clone(),
            permit,
        );
        tokio::spawn(async move {
            connection.await;
            drop(client_slot);
        });
    }
    drop(socket);
    let stopping = *stopped.borrow() != StopState::Serving;
    let drained = if stopping {
        // The process stops: connections end by the stop's deadline (none for a graceful one).
        tokio::select! {
            () = graceful.shutdown() => true,
            () = Drain::new(stopped, tunnels).wait() => false,
        }
    } else {
        // A reload removed this listener: its connections get the grace period.
        tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_ok()
    };
    if !drained {
        tracing::warn!(listener = %name, "stop deadline passed; closing remaining connections");
    }
    !drained
}

/// Serves one connection: the TLS handshake (within the header timeout) on an HTTPS listener,
/// then HTTP with upgrades (CONNECT tunnels, WebSockets), until it ends or the listener drains.
async fn serve(
    listener: Arc<ListenerConfig>,
    drain: Drain,
    watcher: Watcher,
    mut stream: TcpStream,
    peer: SocketAddr,
    state: Arc<ArcSwap<ProxyState>>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let name: Arc<str> = Arc::from(listener.name.as_str());
    let _open = crate::metrics::OpenConnection::count(&name);
    let limits = &listener.limits;
    // Behind an L4 balancer, the PROXY header names the client; only trusted balancers may
    // send one.
    let client = match &limits.proxy_protocol_from {
        None => peer,
        Some(allowed) => {
            // An IPv4 peer on a dual-stack socket is judged as IPv4.
            let ip = peer.ip().to_canonical();
            if !allowed.iter().any(|net| net.contains(ip)) {
                tracing::debug!(listener = %name, client.addr = %peer, "connection refused: not allowed to send a PROXY header (proxy_protocol_from)");
                return;
            }
            match proxy_protocol::read(&mut stream, limits.first_byte_timeout).await {
                Ok(proxy_protocol::Header::Proxied(client)) => client,
                Ok(proxy_protocol::Header::Local) => peer,
                Err(e) => {
                    tracing::debug!(listener = %name, peer.addr = %peer, error = %e, "connection refused");
                    return;
                }
            }
        }
    };
    if let ListenerMode::Tcp(tcp) = &listener.mode {
        let accepted = stream::Accepted {
            listener: name,
            client,
            peer,
            send_timeout: limits.send_timeout,
            drain,
        };
        stream::serve(state.load_full(), tcp, accepted, stream).await;
        drop(permit);
        return;
    }
    let request_limits = RequestLimits {
        max_uri_bytes: limits.max_uri_bytes,
        max_method_bytes: limits.max_method_bytes,
        max_body_bytes: limits.max_body_bytes,
    };
    let Some(tls) = listener.tls.clone() else {
        let conn = ConnInfo {
            client,
            peer,
            scheme: "http",
            listener: name,
            tls: None,
            drain,
            limits: request_limits,
            trusted_proxies: limits.trusted_proxies.clone(),
        };
        let builder = connection_builder(&listener, None);
        let h2_only = listener.protocol == Protocol::H2c;
        let activity = Activity::new();
        let io = Guarded::new(stream, timeouts(&listener, h2_only), activity.clone());
        serve_http(&builder, watcher, TokioIo::new(io), conn, state, activity).await;
        drop(permit);
        return;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config);
    let stream = match tokio::time::timeout(listener.header_timeout, acceptor.accept(stream)).await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            METRICS.tls_handshake(false, false);
            tracing::debug!(client.addr = %peer, listener = %name, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            METRICS.tls_handshake(false, false);
            tracing::debug!(client.addr = %peer, listener = %name, "TLS handshake timed out");
            return;
        }
    };
    let facts = TlsFacts::of(stream.get_ref().1);
    let h2_only = facts.alpn.as_deref() == Some("h2");
    METRICS.tls_handshake(true, facts.resumed);
    let builder = connection_builder(&listener, facts.alpn.as_deref());
    let conn = ConnInfo {
        client,
        peer,
        scheme: "https",
        listener: name,
        tls: Some(Arc::new(facts)),
        drain,
        limits: request_limits,
        trusted_proxies: limits.trusted_proxies.clone(),
    };
    // The first-byte timer starts after the handshake: a client that completes it and then
    // sends nothing is closed too.
    let activity = Activity::new();
    let io = Guarded::new(stream, timeouts(&listener, h2_only), activity.clone());
    serve_http(&builder, watcher, TokioIo::new(io), conn, state, activity).await;
    drop(permit);
}

/// The read and write deadlines of a connection; `h2_only` when it can only speak HTTP/2 (no
/// request-head timer: frames between requests are not a head).
fn timeouts(listener: &ListenerConfig, h2_only: bool) -> Timeouts {
    let limits = &listener.limits;
    Timeouts {
        first_byte: limits.first_byte_timeout,
        head: (!h2_only).then_some(listener.header_timeout),
        keep_alive: limits.keep_alive_timeout,
        send: limits.send_timeout,
    }
}

/// One request's exchange, as the connection's service returns it.
type ServiceFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<hyper::Response<Tracked<proxy::ProxyBody>>, Infallible>,
            > + Send,
    >,
>;

async fn serve_http<I>(
    builder: &auto::Builder<TokioExecutor>,
    watcher: Watcher,
    io: I,
    conn: ConnInfo,
    state: Arc<ArcSwap<ProxyState>>,
    activity: Arc<Activity>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let peer = conn.client;
    let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let state = state.load_full();
        let conn = conn.clone();
        // In flight from its head until its response body is done: the keep-alive timer runs
        // only when nothing is.
        let in_flight = activity.begin();
        let connect = request.method() == hyper::Method::CONNECT;
        // Boxed: hyper keeps room for one service future per HTTP/1 connection for the
        // connection's whole life, so an unboxed one (several KiB) would be paid by every idle
        // keep-alive connection; boxed, it is one allocation per request, freed with it.
        let exchange: ServiceFuture = Box::pin(async move {
            let response = proxy::handle(state, conn, request).await;
            let status = response.status();
            if status == hyper::StatusCode::SWITCHING_PROTOCOLS || (connect && status.is_success())
            {
                in_flight.upgraded();
            }
            Ok::<_, Infallible>(response.map(|body| Tracked {
                body,
                _in_flight: in_flight,
            }))
        });
        exchange
    });
    let connection = builder.serve_connection_with_upgrades(io, service);
    if let Err(e) = watcher.watch(connection.into_owned()).await {
        tracing::debug!(client.addr = %peer, error = %e, "connection ended with an error");
    }
}

/// The HTTP server for a connection. On TLS, the ALPN result decides the protocol; a client
/// that negotiated nothing speaks HTTP/1.1.
fn connection_builder(
    listener: &ListenerConfig,
    alpn: Option<&str>,
) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    let limits = &listener.limits;
    builder
        .http1()
        .timer(TokioTimer::new())
        // weir's stream guard times a request head from its first byte, and the idle wait
        // between requests by `keep_alive_timeout_ms`; hyper's own timer counts from the start
        // of the idle wait, so it is set past both, as a backstop.
        .header_read_timeout(listener.header_timeout + limits.keep_alive_timeout)
        // Past either, hyper answers 431 and closes the connection. The head must fit in the
        // read buffer, which hyper keeps at 8 KiB at least.
        .max_headers(limits.max_header_count)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    // RFC 8441 §3: SETTINGS_ENABLE_CONNECT_PROTOCOL, so HTTP/2 clients may open WebSockets by
    // extended CONNECT (h2 over TLS and h2c alike).
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        // Rapid-reset defence (CVE-2023-44487): streams a client opens and resets before
        // they are served, and streams weir had to reset, are bounded; past them the
        // connection is closed with GOAWAY.
        .max_pending_accept_reset_streams(Some(20))
        .max_local_error_reset_streams(Some(1024))
        .enable_connect_protocol();
    if listener.tls.is_some() {
        return match alpn {
            Some("h2") => builder.http2_only(),
            _ => builder.http1_only(),
        };
    }
    match listener.protocol {
        Protocol::Auto => builder,
        Protocol::Http1 => builder.http1_only(),
        Protocol::H2c => builder.http2_only(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sockets_of_one_listener_share_its_port_and_a_held_port_is_refused() {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let sockets = bind_sockets(any, 3).expect("three sockets bind");
        assert_eq!(sockets.len(), 3);
        let port = sockets[0].local_addr().expect("addr").port();
        assert_ne!(port, 0);
        for socket in &sockets {
            assert_eq!(socket.local_addr().expect("addr").port(), port);
        }
        // Another weir (or anything else) asking for the same port is refused, with or
        // without SO_REUSEPORT of its own.
        let taken = SocketAddr::from(([127, 0, 0, 1], port));
        for copies in [1, 2] {
            let error = bind_sockets(taken, copies).expect_err("the port is held");
            assert_eq!(
                error.kind(),
                std::io::ErrorKind::AddrInUse,
                "{copies} copies"
            );
        }
        drop(sockets);
        assert_eq!(bind_sockets(taken, 2).expect("free again").len(), 2);
    }
}
