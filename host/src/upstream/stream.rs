//! Phase **connect** for a routed TCP connection (a `mode = "tcp"` listener whose router named
//! a pool): the pool's balancing and health choose the backend, its connection slots admit the
//! connection (waiting in the pool's queue when all are taken), and a plain TCP connection is
//! opened. A backend that cannot be reached counts against its health and the next one is
//! tried, within the pool's `max_retries`: nothing was sent yet, so that is always safe.

use tokio::net::TcpStream;

use super::conn::{ConnectError, connect_tcp};
use super::{BackendPool, Claim, KeyHash, Lease, Tried, UpstreamError, health, limits};

impl BackendPool {
    /// An open TCP connection to a healthy backend of the pool, with the lease that holds the
    /// backend's connection slot (and its count in flight) for as long as the caller keeps it.
    /// An `https://` backend is connected without TLS: the bytes are the client's own.
    pub(crate) async fn connect_stream(
        &self,
        key: Option<KeyHash>,
    ) -> Result<(TcpStream, Lease), UpstreamError> {
        let mut tried = Tried::default();
        let mut last_error = None;
        loop {
            let now = self.now_ms();
            let Some((index, trial)) = self.choose(key, &tried, now) else {
                return Err(last_error.unwrap_or_else(|| self.no_backend(now)));
            };
            tried.insert(index);
            let backend = &self.backends[index];
            let claim = Claim {
                backend: backend.clone(),
                trial,
            };
            let permit = match backend.slots.acquire(false, &self.queue).await {
                Ok(permit) => permit,
                Err(limits::Refused::QueueFull) => {
                    return Err(UpstreamError::QueueFull {
                        pool: self.settings.name.clone(),
                    });
                }
                Err(limits::Refused::QueueTimeout) => {
                    self.queue.count_timeout();
                    return Err(UpstreamError::QueueTimeout {
                        pool: self.settings.name.clone(),
                        after: self.queue.timeout,
                    });
                }
            };
            let lease = Lease::new(claim, permit);
            let opened = match self.addresses_tcp(index).await {
                Ok(addrs) => connect_tcp(&addrs, self.settings.connect_timeout)
                    .await
                    .map_err(|e| super::connect_error(backend.authority.to_string(), e)),
                Err(e) => Err(e),
            };
            match opened {
                Ok(stream) => {
                    self.record(index, health::Outcome::Success);
                    return Ok((stream, lease));
                }
                Err(e) => {
                    self.record(index, health::Outcome::ConnectError);
                    drop(lease);
                    if tried.len() > self.settings.retries.max_retries as usize {
                        return Err(e);
                    }
                    tracing::debug!(pool = %self.settings.name, error = %e, "stream connect failed; trying another backend");
                    last_error = Some(e);
                }
            }
        }
    }

    /// The addresses of backend `index` for a plain TCP connection.
    async fn addresses_tcp(
        &self,
        index: usize,
    ) -> Result<Vec<std::net::SocketAddr>, UpstreamError> {
        let backend = &self.backends[index];
        let port = super::port_of(&backend.authority, backend.scheme == "https");
        self.resolver
            .resolve(backend.authority.host(), port)
            .await
            .map_err(|e| {
                super::connect_error(
                    backend.authority.to_string(),
                    ConnectError::Tcp(e.to_string()),
                )
            })
    }
}
