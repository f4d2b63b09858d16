//! The listeners of a running weir: binding, the accept loop, per-connection limits, and the
//! changes a reload makes (start new addresses, retune kept ones, drain removed ones) without
//! dropping a connection.

use std::convert::Infallible;
use std::net::SocketAddr;
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

use crate::config::{ListenerConfig, Protocol};
use crate::metrics::METRICS;
use crate::proxy::{self, ConnInfo, Drain, ProxyState};
use crate::tls::TlsFacts;

use super::StartError;

/// A bound socket not yet serving.
pub(super) struct Bound {
    config: ListenerConfig,
    socket: TcpListener,
    addr: SocketAddr,
}

/// Binds each listener; on the first failure, everything bound so far is released.
pub(super) async fn bind(configs: &[&ListenerConfig]) -> Result<Vec<Bound>, StartError> {
    let mut bound = Vec::with_capacity(configs.len());
    for config in configs {
        let error = |source| StartError::Bind {
            name: config.name.clone(),
            addr: config.bind,
            source,
        };
        let socket = TcpListener::bind(config.bind).await.map_err(error)?;
        let addr = socket.local_addr().map_err(error)?;
        bound.push(Bound {
            config: (*config).clone(),
            socket,
            addr,
        });
    }
    Ok(bound)
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
    tasks: Mutex<JoinSet<()>>,
    state: Arc<ArcSwap<ProxyState>>,
    stopped: watch::Receiver<bool>,
    grace: Duration,
}

impl ListenerSet {
    pub(super) fn new(
        state: Arc<ArcSwap<ProxyState>>,
        stopped: watch::Receiver<bool>,
        grace: Duration,
    ) -> Self {
        Self {
            slots: Mutex::new(Vec::new()),
            tasks: Mutex::new(JoinSet::new()),
            state,
            stopped,
            grace,
        }
    }

    /// Starts serving on freshly bound sockets.
    pub(super) fn start(&self, bound: Vec<Bound>) {
        let mut slots = lock(&self.slots);
        let mut tasks = lock(&self.tasks);
        for Bound {
            config,
            socket,
            addr,
        } in bound
        {
            tracing::info!(listener = %config.name, addr = %addr, "listening");
            let limit = Arc::new(Semaphore::new(config.max_connections as usize));
            let settings = Arc::new(ArcSwap::from_pointee(config));
            let (stop, own_stop) = watch::channel(false);
            tasks.spawn(accept_loop(
                socket,
                settings.clone(),
                limit.clone(),
                self.state.clone(),
                (self.stopped.clone(), own_stop),
                self.grace,
            ));
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

    /// Waits for every accept loop to end (after the global stop), connections drained.
    pub(super) async fn join(&self) {
        let mut tasks = std::mem::take(&mut *lock(&self.tasks));
        while tasks.join_next().await.is_some() {}
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn accept_loop(
    socket: TcpListener,
    settings: Arc<ArcSwap<ListenerConfig>>,
    limit: Arc<Semaphore>,
    state: Arc<ArcSwap<ProxyState>>,
    (mut stopped, mut own_stop): (watch::Receiver<bool>, watch::Receiver<bool>),
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    let name = settings.load().name.clone();
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
        let drain = Drain::new(stopped.clone(), grace);
        tokio::spawn(serve(
            listener,
            drain,
            graceful.watcher(),
            stream,
            peer,
            state.clone(),
            permit,
        ));
    }
    drop(socket);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(listener = %name, "grace period over; closing remaining connections");
    }
}

/// Serves one connection: the TLS handshake (within the header timeout) on an HTTPS listener,
/// then HTTP with upgrades (CONNECT tunnels, WebSockets), until it ends or the listener drains.
async fn serve(
    listener: Arc<ListenerConfig>,
    drain: Drain,
    watcher: Watcher,
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<ArcSwap<ProxyState>>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let name: Arc<str> = Arc::from(listener.name.as_str());
    let Some(tls) = listener.tls.clone() else {
        let conn = ConnInfo {
            client: peer,
            scheme: "http",
            listener: name,
            tls: None,
            drain,
        };
        let builder = connection_builder(&listener, None);
        serve_http(&builder, watcher, TokioIo::new(stream), conn, state).await;
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
    METRICS.tls_handshake(true, facts.resumed);
    let builder = connection_builder(&listener, facts.alpn.as_deref());
    let conn = ConnInfo {
        client: peer,
        scheme: "https",
        listener: name,
        tls: Some(Arc::new(facts)),
        drain,
    };
    serve_http(&builder, watcher, TokioIo::new(stream), conn, state).await;
    drop(permit);
}

async fn serve_http<I>(
    builder: &auto::Builder<TokioExecutor>,
    watcher: Watcher,
    io: I,
    conn: ConnInfo,
    state: Arc<ArcSwap<ProxyState>>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let peer = conn.client;
    let service = service_fn(move |request| {
        let state = state.load_full();
        let conn = conn.clone();
        async move { Ok::<_, Infallible>(proxy::handle(state, conn, request).await) }
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
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(listener.header_timeout)
        .keep_alive(true);
    // RFC 8441 §3: SETTINGS_ENABLE_CONNECT_PROTOCOL, so HTTP/2 clients may open WebSockets by
    // extended CONNECT (h2 over TLS and h2c alike).
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
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
