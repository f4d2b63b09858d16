//! CONNECT tunnels on forward-proxy listeners. The chain decides from the target host and port
//! and the request headers: deny (a `respond` verdict), send the tunnel elsewhere
//! (`set-authority`, or `select-backend` for a pool's backend), or allow. Then bytes are spliced
//! both ways until either side closes or the tunnel is idle for too long.
//!
//! The port is checked against `connect_ports` on the client's target before the chain runs,
//! and the whole policy (port, then the egress policy on every resolved address) again on the
//! target the tunnel actually goes to: the client's, a filter's `set-authority`, or the backend
//! of a pool a filter selected. The tunnel connects only to addresses the policy judged.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use http::header::HOST;
use http::uri::Authority;
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::exchange::{self, Hooked};
use super::forward::{ForwardProxy, refuse_userinfo, strip_client_fields};
use super::log::Seen;
use super::{ConnInfo, ProxyBody, ProxyError, ProxyState, full};
use crate::filters;
use crate::metrics::METRICS;
use crate::runtime::RequestId;
use crate::upstream::{UpstreamError, connect_tcp};

/// Answers a CONNECT: the request hooks decide (the authority they see is the CONNECT target,
/// whatever `Host` the client sent), then weir connects to the target, answers 200 and splices
/// once hyper hands over the connection.
pub(super) async fn open(
    state: &ProxyState,
    proxy: &ForwardProxy,
    conn: &ConnInfo,
    id: RequestId,
    mut request: Request<Incoming>,
    seen: &mut Seen,
) -> Result<Response<ProxyBody>, ProxyError> {
    let asked = request
        .uri()
        .authority()
        .cloned()
        .ok_or(ProxyError::NotAbsolute)?;
    refuse_userinfo(&asked)?;
    let port = asked.port_u16().ok_or(ProxyError::NotAbsolute)?;
    proxy.policy.check_port(port)?;
    let upgrade = hyper::upgrade::on(&mut request);
    let (mut parts, _body) = request.into_parts();
    strip_client_fields(&mut parts.headers);
    let host = HeaderValue::from_str(asked.as_str()).map_err(|_| ProxyError::NotAbsolute)?;
    parts.headers.insert(HOST, host);
    let head = filters::request_head(parts, &conn.meta(conn.scheme, id));
    let mut head = match exchange::request_hooks(&proxy.chain, head, &mut seen.record.trace).await?
    {
        Hooked::Continue(head) => head,
        Hooked::Respond(response) => return Ok(response),
    };
    let target =
        match head.backend.take() {
            Some(choice) => {
                let pool = state.pools.get(choice.pool.as_str()).ok_or_else(|| {
                    ProxyError::UnknownPool {
                        pool: choice.pool.clone(),
                    }
                })?;
                let key = pool.key_of(choice.affinity_key.as_deref(), &head.headers, head.client);
                let index = pool.pick(key)?;
                Target::Backend(pool.backends()[index].authority.clone())
            }
            None => Target::Origin(head.authority.take().unwrap_or(asked)),
        };

    let (name, addrs) = resolve(proxy, target).await?;
    let stream = connect(&name, &addrs, proxy.policy.connect_timeout).await?;
    let idle = proxy.policy.tunnel_idle_timeout;
    let drain = conn.drain.clone();
    seen.upstream = Some(name);
    let record = seen.tunnel_record("tunnel");
    let log = state.access.clone();
    tokio::spawn(async move {
        // A stop waits for the tunnel (until its deadline).
        let _tracked = drain.track();
        match upgrade.await {
            Ok(upgraded) => {
                let started = Instant::now();
                METRICS.tunnel_opened();
                let outcome = tokio::select! {
                    outcome = splice(TokioIo::new(upgraded), stream, idle) => outcome,
                    () = drain.wait() => Spliced { up: 0, down: 0, end: "shutdown" },
                };
                METRICS.tunnel_closed(outcome.up, outcome.down);
                let bytes = (outcome.up, outcome.down);
                super::log::tunnel_closed(&log, record, started.into_std(), bytes, outcome.end);
            }
            Err(e) => tracing::debug!(request.id = %id, error = %e, "CONNECT upgrade failed"),
        }
    });
    let mut response = Response::new(full(bytes::Bytes::new()));
    *response.status_mut() = StatusCode::OK;
    Ok(response)
}

/// Where a tunnel goes.
enum Target {
    /// `host:port` from the client or a filter.
    Origin(Authority),
    /// A backend of a pool a filter selected.
    Backend(Authority),
}

/// The addresses a tunnel may connect to. The same policy applies wherever the target came
/// from (the client, a filter's `set-authority`, a pool's backend, which a client may be able
/// to steer a filter to): the port must be in `connect_ports` and every address connected is
/// one the egress policy allowed, resolved once here and connected by [`connect`].
async fn resolve(
    proxy: &ForwardProxy,
    target: Target,
) -> Result<(Authority, Vec<SocketAddr>), ProxyError> {
    let parsed = match target {
        Target::Origin(a) => {
            refuse_userinfo(&a)?;
            a
        }
        Target::Backend(a) => a,
    };
    let port = parsed.port_u16().ok_or(ProxyError::NotAbsolute)?;
    proxy.policy.check_port(port)?;
    let addrs = proxy
        .origins
        .resolver()
        .resolve(parsed.host(), port)
        .await
        .map_err(UpstreamError::from)?;
    Ok((parsed, addrs))
}

/// Connects to the first address that answers within the timeout.
async fn connect(
    name: &Authority,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<TcpStream, ProxyError> {
    connect_tcp(addrs, timeout).await.map_err(|e| {
        UpstreamError::Connect {
            backend: name.to_string(),
            reason: e.to_string(),
        }
        .into()
    })
}

/// How a tunnel (or an upgraded connection) ended.
pub(crate) struct Spliced {
    /// Bytes from the client.
    pub(crate) up: u64,
    /// Bytes from the upstream.
    pub(crate) down: u64,
    /// `closed`, `error`, `idle` or `shutdown`.
    pub(crate) end: &'static str,
}

/// Copies both ways until both sides have closed, an error, or `idle` without a byte, with
/// tokio's default 8 KiB buffer per direction.
pub(super) async fn splice<A, B>(client: A, upstream: B, idle: Duration) -> Spliced
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    splice_sized(client, upstream, idle, 8 * 1024).await
}

/// [`splice`] with `buffer` bytes per direction: each read moves at most that much, so a
/// larger buffer makes fewer system calls per byte (and holds more memory per connection).
/// A write the other side does not take stops the reads of its direction (back-pressure); an
/// end of stream on one side shuts down the other side's writes (half-close).
pub(crate) async fn splice_sized<A, B>(
    client: A,
    upstream: B,
    idle: Duration,
    buffer: usize,
) -> Spliced
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let clock = Arc::new(Clock {
        start: Instant::now(),
        last_ms: AtomicU64::new(0),
    });
    let (up, down) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut client = Metered {
        inner: client,
        clock: clock.clone(),
        read: up.clone(),
    };
    let mut upstream = Metered {
        inner: upstream,
        clock: clock.clone(),
        read: down.clone(),
    };
    let copy = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut upstream, buffer, buffer);
    tokio::pin!(copy);
    loop {
        let quiet_for = clock.since_last();
        let end = if quiet_for >= idle {
            "idle"
        } else {
            tokio::select! {
                result = &mut copy => if result.is_ok() { "closed" } else { "error" },
                () = tokio::time::sleep(idle - quiet_for) => continue,
            }
        };
        return Spliced {
            up: up.load(Ordering::Relaxed),
            down: down.load(Ordering::Relaxed),
            end,
        };
    }
}

/// When the tunnel last moved a byte.
struct Clock {
    start: Instant,
    last_ms: AtomicU64,
}

impl Clock {
    fn touch(&self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    fn since_last(&self) -> Duration {
        self.start
            .elapsed()
            .saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// A stream that records on the clock every read that brought bytes, and counts them.
struct Metered<S> {
    inner: S,
    clock: Arc<Clock>,
    read: Arc<AtomicU64>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let got = buf.filled().len() - before;
        if got > 0 {
            self.clock.touch();
            self.read.fetch_add(got as u64, Ordering::Relaxed);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn splice_copies_both_ways_until_close() {
        let (client, mut client_far) = tokio::io::duplex(1024);
        let (upstream, mut upstream_far) = tokio::io::duplex(1024);
        let task = tokio::spawn(splice(client, upstream, Duration::from_secs(5)));
        client_far.write_all(b"ping").await.expect("write");
        let mut buf = [0u8; 4];
        upstream_far.read_exact(&mut buf).await.expect("read");
        assert_eq!(&buf, b"ping");
        upstream_far.write_all(b"pong!").await.expect("write");
        let mut buf = [0u8; 5];
        client_far.read_exact(&mut buf).await.expect("read");
        assert_eq!(&buf, b"pong!");
        drop(client_far);
        drop(upstream_far);
        let done = task.await.expect("join");
        assert_eq!((done.up, done.down, done.end), (4, 5, "closed"));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_tunnel_is_closed() {
        let (client, _client_far) = tokio::io::duplex(1024);
        let (upstream, _upstream_far) = tokio::io::duplex(1024);
        let done = splice(client, upstream, Duration::from_secs(30)).await;
        assert_eq!(done.end, "idle");
    }
}
