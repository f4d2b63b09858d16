//! Listeners, the accept loop, per-connection limits, graceful shutdown, and the runtime state
//! (routes, chains, pools) built from a config and held behind an `ArcSwap`.

mod control;
mod file_watch;
mod state;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::config::{Config, ListenerConfig, Protocol};
use crate::proxy::{self, ConnInfo, ProxyState};
use crate::runtime::{LoadError, Runtime, RuntimeError};

pub use control::{Control, ReloadError, ReloadStats};
pub use file_watch::WatchSettings;
pub use state::build_state;

/// Why weir could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The wasm engine could not be created.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A plugin could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A listener could not bind.
    #[error("listener `{name}`: cannot bind {addr}")]
    Bind {
        /// Listener name.
        name: String,
        /// Address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Loading was interrupted (the blocking task panicked or was cancelled).
    #[error("plugin loading was interrupted")]
    Interrupted,
}

/// A running weir: its listeners, its state and its shutdown switch.
pub struct Running {
    addrs: Vec<(String, SocketAddr)>,
    control: Arc<Control>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    grace: Duration,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

/// Loads every plugin, binds every listener and starts serving.
pub async fn start(config: Config) -> Result<Running, StartError> {
    // Taken before any plugin is read, so a change made while loading is seen by the watcher.
    let files_at_start = file_watch::fingerprint(control::watched_files(&config));
    let runtime = Runtime::new(config.runtime.clone())?;
    let state = build_state(&config, &runtime, 1, None).await?;
    let state = Arc::new(ArcSwap::from_pointee(state));
    let grace = config.shutdown_grace;
    let listeners = config.listeners.clone();
    let watch_files = config.watch.filter(|_| config.path.is_some());
    let control = Arc::new(Control::new(state.clone(), runtime, config));
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut addrs = Vec::new();
    for listener in &listeners {
        let socket = TcpListener::bind(listener.bind)
            .await
            .map_err(|source| StartError::Bind {
                name: listener.name.clone(),
                addr: listener.bind,
                source,
            })?;
        let local = socket.local_addr().map_err(|source| StartError::Bind {
            name: listener.name.clone(),
            addr: listener.bind,
            source,
        })?;
        tracing::info!(listener = %listener.name, addr = %local, "listening");
        addrs.push((listener.name.clone(), local));
        tasks.spawn(accept_loop(
            socket,
            listener.clone(),
            state.clone(),
            stopped.clone(),
            grace,
        ));
    }
    if let Some(settings) = watch_files {
        tasks.spawn(file_watch::run(
            control.clone(),
            settings,
            files_at_start,
            stopped.clone(),
        ));
    }
    Ok(Running {
        addrs,
        control,
        stop,
        tasks,
        grace,
    })
}

impl Running {
    /// The bound address of each listener, by name, in config order.
    pub fn addrs(&self) -> &[(String, SocketAddr)] {
        &self.addrs
    }

    /// The state serving new requests.
    pub fn state(&self) -> Arc<ProxyState> {
        self.control.state()
    }

    /// The reload handle.
    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    /// Stops accepting, lets requests in flight finish (up to the grace period), then returns.
    pub async fn shutdown(mut self) {
        tracing::info!(grace_ms = self.grace.as_millis() as u64, "draining");
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        tracing::info!("stopped");
    }
}

async fn accept_loop(
    socket: TcpListener,
    listener: ListenerConfig,
    state: Arc<ArcSwap<ProxyState>>,
    mut stopped: watch::Receiver<bool>,
    grace: Duration,
) {
    let limit = Arc::new(Semaphore::new(listener.max_connections as usize));
    let graceful = GracefulShutdown::new();
    let builder = connection_builder(&listener);
    loop {
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => permit,
            _ = stopped.changed() => break,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            accepted = socket.accept() => accepted,
            _ = stopped.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Usually EMFILE or a connection reset before accept; back off briefly.
                tracing::warn!(listener = %listener.name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        serve(&builder, &graceful, stream, peer, state.clone(), permit);
    }
    drop(socket);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(listener = %listener.name, "grace period over; closing remaining connections");
    }
}

fn serve(
    builder: &auto::Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<ArcSwap<ProxyState>>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let conn_info = ConnInfo {
        client: peer,
        scheme: "http",
    };
    let service = service_fn(move |request| {
        let state = state.load_full();
        async move { Ok::<_, Infallible>(proxy::handle(state, conn_info, request).await) }
    });
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .into_owned();
    let connection = graceful.watch(connection);
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(client.addr = %peer, error = %e, "connection ended with an error");
        }
        drop(permit);
    });
}

fn connection_builder(listener: &ListenerConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(listener.header_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256);
    match listener.protocol {
        Protocol::Auto => builder,
        Protocol::Http1 => builder.http1_only(),
        Protocol::H2c => builder.http2_only(),
    }
}
