//! The TCP data path of `mode = "tcp"` listeners: a connection's first bytes are buffered and
//! shown to the listener's stream-router chain until a router decides; a routed connection is
//! joined to its upstream (a pool's backend or an address) and bytes are spliced both ways with
//! back-pressure, half-close and an idle timeout.
//!
//! Phases: `decide` (read, ask the chain, up to `max_prefix_bytes` and `first_bytes_timeout`)
//! → `connect` (pool: balancing, health, connection slots; address: resolve and connect) →
//! `reply` to the client, `send` the prefix upstream → `splice` until both sides are done.
//!
//! It depends on `filters` (the router chain), `upstream` (pools) and `proxy` (the splice and
//! the drain), never on `config` or `server`: `config` builds its [`TcpSettings`], and `server`
//! calls it after the accept and the PROXY header.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::filters::{RouterChain, RouterOutcome};
use crate::metrics::METRICS;
use crate::proxy::{Drain, ProxyState, Spliced, splice_sized};
use crate::runtime::{Connection, RequestId, Route, Upstream, Verdict};
use crate::upstream::{KeyHash, connect_tcp};

/// The settings of a `mode = "tcp"` listener (its `[listener.tcp]` table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpSettings {
    /// Stream-router filter names in chain order (each exists in `filters`; at least one).
    pub routers: Vec<Arc<str>>,
    /// Most bytes buffered before the routers decide.
    pub max_prefix_bytes: usize,
    /// Time from the connection's opening until the routers have decided.
    pub first_bytes_timeout: Duration,
    /// A routed connection with no bytes either way for this long is closed.
    pub idle_timeout: Duration,
    /// Connect timeout towards an address a router named.
    pub connect_timeout: Duration,
    /// Whether routers may name an address instead of a pool.
    pub allow_address_targets: bool,
    /// The networks an address target may resolve to (judged after DNS, on every address).
    pub egress: crate::upstream::EgressPolicy,
    /// The ports an address target may use.
    pub allow_ports: crate::upstream::Ports,
    /// Bytes buffered per direction of a routed connection.
    pub buffer_bytes: usize,
}

/// One accepted connection on a TCP listener, after any PROXY header.
#[derive(Debug)]
pub(crate) struct Accepted {
    /// The listener's name.
    pub(crate) listener: Arc<str>,
    /// The client (from the PROXY header when there was one).
    pub(crate) client: SocketAddr,
    /// The TCP peer.
    pub(crate) peer: SocketAddr,
    /// Bounds on writes to a client that does not read.
    pub(crate) send_timeout: Duration,
    /// The stop signal.
    pub(crate) drain: Drain,
}

/// Why a connection was closed without being routed.
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("client closed before a router decided")]
    ClientClosed,
    #[error("no decision within first_bytes_timeout_ms")]
    Timeout,
    #[error("{0} bytes buffered (max_prefix_bytes) and no decision")]
    PrefixFull(usize),
    #[error("router `{router}` failed: {reason}")]
    Failed { router: Arc<str>, reason: String },
    #[error("every router was skipped (fail-open); nobody decided")]
    Undecided,
    #[error("no stream-router chain for this listener")]
    NoChain,
    #[error("reading from the client")]
    Read(#[source] std::io::Error),
}

/// Why a routed connection could not reach its upstream.
#[derive(Debug, thiserror::Error)]
enum Unreachable {
    #[error("router named unknown pool `{0}`")]
    UnknownPool(String),
    #[error("router named address `{0}`, but allow_address_targets is off")]
    AddressNotAllowed(String),
    #[error("`{0}` is not host:port")]
    BadAddress(String),
    #[error("cannot resolve `{0}`")]
    Resolve(String, #[source] std::io::Error),
    #[error("router named `{address}`, refused by the listener's egress policy: {why}")]
    Refused { address: String, why: String },
    #[error("cannot connect to `{name}`: {reason}")]
    Connect { name: String, reason: String },
    #[error(transparent)]
    Pool(#[from] crate::upstream::UpstreamError),
}

/// Serves one connection of a TCP listener to its end. `state` is the generation current when
/// the connection was accepted: a reload changes the chain for new connections only.
pub(crate) async fn serve(
    state: Arc<ProxyState>,
    settings: &TcpSettings,
    accepted: Accepted,
    mut client: TcpStream,
) {
    // A stop waits for the connection (until its deadline), like a CONNECT tunnel.
    let _tracked = accepted.drain.track();
    let id = RequestId::next();
    let conn = Connection {
        listener: accepted.listener.to_string(),
        client_addr: accepted.client.ip().to_canonical().to_string(),
        client_port: accepted.client.port(),
        peer_addr: accepted.peer.ip().to_canonical().to_string(),
        id: id.to_string(),
    };
    let started = Instant::now();
    let deadline = started + settings.first_bytes_timeout;
    let decided = match state.streams.get(&accepted.listener) {
        None => Err(Refused::NoChain),
        Some(chain) => tokio::select! {
            decided = tokio::time::timeout_at(deadline, decide(chain, &conn, &mut client, settings.max_prefix_bytes)) => {
                decided.unwrap_or(Err(Refused::Timeout))
            }
            () = accepted.drain.clone().wait() => return,
        },
    };
    let (router, route, prefix) = match decided {
        Ok(Decision::Route {
            router,
            route,
            prefix,
        }) => (router, route, prefix),
        Ok(Decision::Close { router, bytes }) => {
            if !bytes.is_empty() {
                let _ = tokio::time::timeout(
                    accepted.send_timeout,
                    write_then_close(&mut client, &bytes),
                )
                .await;
            }
            tracing::debug!(client.addr = %accepted.client, listener = %accepted.listener, plugin.name = %router, "connection closed by router");
            return;
        }
        Err(e) => {
            tracing::debug!(client.addr = %accepted.client, listener = %accepted.listener, error = %e, "connection closed unrouted");
            return;
        }
    };
    let (upstream, name, _lease) = match connect(&state, settings, &route).await {
        Ok(connected) => connected,
        Err(e) => {
            tracing::warn!(client.addr = %accepted.client, listener = %accepted.listener, plugin.name = %router, error = %e, "routed connection cannot reach its upstream; closed");
            return;
        }
    };
    let send_upstream = route.send_upstream.as_deref().unwrap_or(&prefix);
    METRICS.tunnel_opened();
    let outcome = tokio::select! {
        outcome = join(client, upstream, &route.reply, send_upstream, settings, accepted.send_timeout) => outcome,
        () = accepted.drain.wait() => Spliced { up: 0, down: 0, end: "shutdown" },
    };
    METRICS.tunnel_closed(outcome.up, outcome.down);
    tracing::info!(
        target: "weir::access",
        {
            client.addr = %accepted.client,
            listener = %accepted.listener,
            "request.id" = %id,
            plugin.name = %router,
            "upstream.addr" = %name,
            bytes_up = outcome.up,
            bytes_down = outcome.down,
            end = outcome.end,
            duration_ms = started.elapsed().as_millis() as u64,
        },
        "stream closed"
    );
}

/// What the chain decided.
enum Decision {
    Route {
        router: Arc<str>,
        route: Route,
        /// The bytes the client sent so far.
        prefix: Vec<u8>,
    },
    Close {
        router: Arc<str>,
        bytes: Vec<u8>,
    },
}

/// Phase **decide**: asks the chain once with no bytes, then each time more arrive, until a
/// router decides or the buffer holds `max_prefix_bytes`.
async fn decide(
    chain: &RouterChain,
    conn: &Connection,
    client: &mut TcpStream,
    max_prefix_bytes: usize,
) -> Result<Decision, Refused> {
    let mut buffer = Vec::with_capacity(max_prefix_bytes.min(4096));
    loop {
        match chain.run(conn, &buffer).await {
            RouterOutcome::Wait => {}
            RouterOutcome::Decided { router, verdict } => {
                return Ok(match verdict {
                    Verdict::Route(route) => Decision::Route {
                        router,
                        route,
                        prefix: buffer,
                    },
                    Verdict::CloseWith(bytes) => Decision::Close { router, bytes },
                    Verdict::Close | Verdict::Wait => Decision::Close {
                        router,
                        bytes: Vec::new(),
                    },
                });
            }
            RouterOutcome::Failed { router, reason } => {
                return Err(Refused::Failed { router, reason });
            }
            RouterOutcome::Undecided => return Err(Refused::Undecided),
        }
        let room = max_prefix_bytes.saturating_sub(buffer.len());
        if room == 0 {
            return Err(Refused::PrefixFull(buffer.len()));
        }
        let read = (&mut *client)
            .take(room as u64)
            .read_buf(&mut buffer)
            .await
            .map_err(Refused::Read)?;
        if read == 0 {
            return Err(Refused::ClientClosed);
        }
    }
}

/// Phase **connect**: a backend of the named pool (its balancing, health and slots; the lease
/// holds the slot while the connection lives) or the named address.
async fn connect(
    state: &ProxyState,
    settings: &TcpSettings,
    route: &Route,
) -> Result<(TcpStream, String, Option<crate::upstream::Lease>), Unreachable> {
    match &route.upstream {
        Upstream::Pool(name) => {
            let pool = state
                .pools
                .get(name.as_str())
                .ok_or_else(|| Unreachable::UnknownPool(name.clone()))?;
            let key = route
                .affinity_key
                .as_deref()
                .map(|k| KeyHash::of(k.as_bytes()));
            let (stream, lease) = pool.connect_stream(key).await?;
            let name = lease.backend_name().to_owned();
            Ok((stream, name, Some(lease)))
        }
        Upstream::Address(address) => {
            if !settings.allow_address_targets {
                return Err(Unreachable::AddressNotAllowed(address.clone()));
            }
            let addrs = admit(
                settings,
                address,
                resolve(address, settings.connect_timeout).await?,
            )?;
            let stream = connect_tcp(&addrs, settings.connect_timeout)
                .await
                .map_err(|e| Unreachable::Connect {
                    name: address.clone(),
                    reason: e.to_string(),
                })?;
            Ok((stream, address.clone(), None))
        }
    }
}

/// The addresses of `addrs` (one lookup of `address`) that the listener's policy allows: its
/// ports, then its networks on every address (IPv4-mapped judged as IPv4). Only these are
/// connected; none left is a refusal naming the first reason.
fn admit(
    settings: &TcpSettings,
    address: &str,
    addrs: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, Unreachable> {
    let mut refused = None;
    let allowed: Vec<SocketAddr> = addrs
        .into_iter()
        .filter_map(|addr| {
            let verdict = if settings.allow_ports.contains(addr.port()) {
                settings
                    .egress
                    .judge(addr.ip())
                    .map_err(|why| why.to_string())
            } else {
                Err(format!("port {} is not in allow_ports", addr.port()))
            };
            match verdict {
                Ok(()) => Some(SocketAddr::new(addr.ip().to_canonical(), addr.port())),
                Err(why) => {
                    refused.get_or_insert(why);
                    None
                }
            }
        })
        .collect();
    match refused {
        Some(why) if allowed.is_empty() => Err(Unreachable::Refused {
            address: address.to_owned(),
            why,
        }),
        _ => Ok(allowed),
    }
}

/// The addresses of `host:port` (an IP literal is not looked up).
async fn resolve(address: &str, timeout: Duration) -> Result<Vec<SocketAddr>, Unreachable> {
    if let Ok(addr) = address.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let valid = address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !valid {
        return Err(Unreachable::BadAddress(address.to_owned()));
    }
    let looked_up = tokio::time::timeout(timeout, tokio::net::lookup_host(address))
        .await
        .map_err(|_| Unreachable::Resolve(address.to_owned(), std::io::ErrorKind::TimedOut.into()))?
        .map_err(|e| Unreachable::Resolve(address.to_owned(), e))?;
    Ok(looked_up.collect())
}

/// Writes the router's reply to the client and the prefix upstream, then splices.
async fn join(
    mut client: TcpStream,
    mut upstream: TcpStream,
    reply: &[u8],
    prefix: &[u8],
    settings: &TcpSettings,
    send_timeout: Duration,
) -> Spliced {
    let idle = settings.idle_timeout;
    let _ = client.set_nodelay(true);
    let first = async {
        if !reply.is_empty() {
            client.write_all(reply).await?;
        }
        if !prefix.is_empty() {
            upstream.write_all(prefix).await?;
        }
        Ok::<(), std::io::Error>(())
    };
    let sent = match tokio::time::timeout(send_timeout.max(idle), first).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) | Err(_) => false,
    };
    if !sent {
        return Spliced {
            up: 0,
            down: 0,
            end: "error",
        };
    }
    let mut spliced = splice_sized(client, upstream, idle, settings.buffer_bytes).await;
    spliced.up += prefix.len() as u64;
    spliced
}

async fn write_then_close(client: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    client.write_all(bytes).await?;
    client.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_ip_address_is_not_looked_up_and_a_bad_one_is_refused() {
        let timeout = Duration::from_secs(1);
        let addrs = resolve("127.0.0.1:9418", timeout).await.unwrap();
        assert_eq!(addrs, [SocketAddr::from(([127, 0, 0, 1], 9418))]);
        let addrs = resolve("[::1]:443", timeout).await.unwrap();
        assert_eq!(addrs[0].port(), 443);
        for bad in ["no-port", ":80", "host:99999", "host:", ""] {
            assert!(
                matches!(resolve(bad, timeout).await, Err(Unreachable::BadAddress(_))),
                "{bad}"
            );
        }
    }
}
