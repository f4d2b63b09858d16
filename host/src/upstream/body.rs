//! The two bodies of an upstream exchange: the request body weir sends (the downstream body,
//! streamed through), and the response body weir reads, which puts its HTTP/1.1
//! connection back into the idle list once it has been read to the end.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1;
use tokio::time::{Instant, Sleep};

use super::Lease;
use super::conn::{Closing, ConnPool};

/// Boxed body errors, as hyper's server accepts them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of a request sent upstream: the downstream request's body, streamed through as it
/// arrives (and kept, up to a cap, when a retry may need to send it again), or a kept body
/// replayed. A concrete type rather than a boxed one (one allocation less per request) whose
/// errors say that the client's side broke.
#[derive(Debug)]
pub(crate) struct UpstreamBody {
    source: Source,
    timer: Timer,
    /// The most bytes the body may carry, and how many it carried so far.
    limit: Option<u64>,
    seen: u64,
    /// Adds the bytes read from the client (not those replayed) for the access log.
    counted: Option<Arc<AtomicU64>>,
}

#[derive(Debug)]
enum Source {
    Stream(Incoming),
    Keep(Incoming, Arc<Mutex<Kept>>),
    Replay(Option<Bytes>),
}

/// A request body kept for a replay while it is streamed.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    chunks: Vec<Bytes>,
    len: usize,
    cap: usize,
    /// Longer than the cap, or carrying trailers: never replayed.
    spoilt: bool,
    ended: bool,
}

impl Kept {
    /// The whole body, if it was read to its end within the cap.
    pub(crate) fn replay(&self) -> Option<Bytes> {
        if !self.ended || self.spoilt {
            return None;
        }
        Some(match self.chunks.as_slice() {
            [] => Bytes::new(),
            [one] => one.clone(),
            many => many.concat().into(),
        })
    }
}

/// The downstream request body broke while weir was streaming it upstream (bad chunked
/// framing, a body shorter than its `Content-Length`, a reset, a client that went quiet): the
/// client's fault, not the upstream's. Carried through hyper's error chain so the proxy can
/// blame the right side.
#[derive(Debug, thiserror::Error)]
pub enum DownstreamBodyError {
    /// The body's framing broke or the connection failed.
    #[error("the downstream request body failed")]
    Broken(#[source] hyper::Error),
    /// No byte of the body arrived for this long.
    #[error("the downstream request body sent nothing for {} ms", .0.as_millis())]
    Idle(Duration),
    /// The body went past the route's limit.
    #[error("the downstream request body is larger than {0} bytes")]
    TooLarge(u64),
}

impl UpstreamBody {
    /// Streams `body` through; a gap longer than `idle` between its frames, or more than
    /// `limit` bytes, fails it.
    pub(crate) fn stream(body: Incoming, idle: Option<Duration>, limit: Option<u64>) -> Self {
        Self {
            source: Source::Stream(body),
            timer: Timer::new(idle, None),
            limit,
            seen: 0,
            counted: None,
        }
    }

    /// Streams `body` through and keeps up to `cap` bytes of it for a replay. A body that is
    /// already complete (no body at all) needs nothing kept.
    pub(crate) fn keep(
        body: Incoming,
        cap: usize,
        idle: Option<Duration>,
        limit: Option<u64>,
    ) -> (Self, Option<Arc<Mutex<Kept>>>) {
        if body.is_end_stream() {
            return (Self::replay(Bytes::new()), None);
        }
        let kept = Arc::new(Mutex::new(Kept {
            cap,
            ..Kept::default()
        }));
        let body = Self {
            source: Source::Keep(body, kept.clone()),
            timer: Timer::new(idle, None),
            limit,
            seen: 0,
            counted: None,
        };
        (body, Some(kept))
    }

    /// Adds the bytes this body reads from the client to `counter`.
    pub(crate) fn counting(mut self, counter: Arc<AtomicU64>) -> Self {
        self.counted = Some(counter);
        self
    }

    /// A kept body, sent again.
    pub(crate) fn replay(bytes: Bytes) -> Self {
        Self {
            source: Source::Replay((!bytes.is_empty()).then_some(bytes)),
            timer: Timer::new(None, None),
            limit: None,
            seen: 0,
            counted: None,
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = DownstreamBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let (inner, kept) = match &mut this.source {
            Source::Replay(bytes) => return Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Source::Stream(inner) => (inner, None),
            Source::Keep(inner, kept) => (inner, Some(&*kept)),
        };
        let frame = match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(frame) => frame,
            Poll::Pending => {
                return match this.timer.poll_expired(cx) {
                    Some(idle) => Poll::Ready(Some(Err(DownstreamBodyError::Idle(idle)))),
                    None => Poll::Pending,
                };
            }
        };
        this.timer.frame_arrived();
        if let (Some(counter), Some(Ok(frame))) = (&this.counted, &frame)
            && let Some(data) = frame.data_ref()
        {
            counter.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        if let (Some(limit), Some(Ok(frame))) = (this.limit, &frame) {
            this.seen += frame.data_ref().map_or(0, |d| d.len() as u64);
            if this.seen > limit {
                return Poll::Ready(Some(Err(DownstreamBodyError::TooLarge(limit))));
            }
        }
        if let Some(kept) = kept {
            let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
            match &frame {
                None => kept.ended = true,
                Some(Ok(frame)) => match frame.data_ref() {
                    Some(data) if !kept.spoilt && kept.len + data.len() <= kept.cap => {
                        kept.len += data.len();
                        kept.chunks.push(data.clone());
                    }
                    _ => {
                        kept.spoilt = true;
                        kept.chunks = Vec::new();
                    }
                },
                Some(Err(_)) => kept.spoilt = true,
            }
        }
        Poll::Ready(frame.map(|f| f.map_err(DownstreamBodyError::Broken)))
    }

    fn is_end_stream(&self) -> bool {
        match &self.source {
            Source::Stream(inner) | Source::Keep(inner, _) => inner.is_end_stream(),
            Source::Replay(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Stream(inner) | Source::Keep(inner, _) => inner.size_hint(),
            Source::Replay(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

/// Fails a body that goes quiet for longer than `idle` between frames, or that is still going
/// at `deadline`. The timer is only made when the body first has to wait.
#[derive(Debug)]
pub(crate) struct Timer {
    idle: Option<Duration>,
    deadline: Option<Instant>,
    last: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
}

/// Why a timed body failed.
#[derive(Debug, thiserror::Error)]
pub enum BodyTimeout {
    /// Nothing arrived for this long.
    #[error("the upstream response body sent nothing for {} ms", .0.as_millis())]
    Idle(Duration),
    /// The request's total time ran out.
    #[error("the request's total time ran out while the response body was read")]
    Total,
}

impl Timer {
    pub(crate) fn new(idle: Option<Duration>, deadline: Option<Instant>) -> Self {
        Self {
            idle,
            deadline,
            last: None,
            sleep: None,
        }
    }

    fn frame_arrived(&mut self) {
        if self.idle.is_some() {
            self.last = Some(Instant::now());
        }
    }

    /// Polls the timer after the body returned `Pending`: the idle time that passed, if the
    /// body went quiet for too long or its deadline passed.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Option<Duration> {
        let idle_at = self.idle.map(|idle| {
            let last = *self.last.get_or_insert_with(Instant::now);
            last + idle
        });
        let at = match (idle_at, self.deadline) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return None,
        };
        let sleep = match &mut self.sleep {
            Some(sleep) => {
                if sleep.deadline() != at {
                    sleep.as_mut().reset(at);
                }
                sleep
            }
            None => self.sleep.insert(Box::pin(tokio::time::sleep_until(at))),
        };
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Some(self.idle.unwrap_or_default()),
            Poll::Pending => None,
        }
    }

    fn is_past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// What returns an HTTP/1.1 connection to its pool: its sender, its slot holder, the pool and
/// the peer it is connected to.
type Release = (
    http1::SendRequest<UpstreamBody>,
    Arc<Closing>,
    Arc<ConnPool>,
    SocketAddr,
);

/// An upstream response body. On an HTTP/1.1 connection it holds the connection's sender and
/// returns it to the idle list when dropped after the body was read to its end; dropped
/// earlier, the sender goes with it and hyper closes the connection (its framing is unknown).
pub struct ResponseBody {
    inner: Incoming,
    /// The connection's sender, its pool and the address it is connected to.
    release: Option<Release>,
    ended: bool,
    timer: Timer,
    /// The backend's slot, given back when the body is done (dropped after `release`, so a
    /// request woken by it finds the connection idle).
    lease: Option<Lease>,
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl ResponseBody {
    /// A body whose connection is shared (HTTP/2) or not kept.
    pub(crate) fn unpooled(inner: Incoming) -> Self {
        Self {
            inner,
            release: None,
            ended: false,
            timer: Timer::new(None, None),
            lease: None,
        }
    }

    /// Fails the body when it goes quiet for longer than `idle`, or at `deadline`.
    pub(crate) fn timed(mut self, idle: Option<Duration>, deadline: Option<Instant>) -> Self {
        self.timer = Timer::new(idle, deadline);
        self
    }

    /// Holds the backend's slot until the body is done.
    pub(crate) fn holding(mut self, lease: Lease) -> Self {
        self.lease = Some(lease);
        self
    }

    /// A body whose HTTP/1.1 connection (to `peer`) goes back to `pool` once the body is read.
    pub(crate) fn pooled(
        inner: Incoming,
        sender: http1::SendRequest<UpstreamBody>,
        closing: Arc<Closing>,
        pool: Arc<ConnPool>,
        peer: SocketAddr,
    ) -> Self {
        Self {
            inner,
            release: Some((sender, closing, pool, peer)),
            ended: false,
            timer: Timer::new(None, None),
            lease: None,
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => frame,
            Poll::Pending => {
                let Some(idle) = this.timer.poll_expired(cx) else {
                    return Poll::Pending;
                };
                // The connection's framing is unknown now: never pool it.
                this.release = None;
                let error = if this.timer.is_past_deadline() {
                    BodyTimeout::Total
                } else {
                    BodyTimeout::Idle(idle)
                };
                tracing::warn!(
                    upstream.addr = this.lease.as_ref().map_or("-", |l| l.backend_name()),
                    reason = %error,
                    "upstream response body cut"
                );
                return Poll::Ready(Some(Err(error.into())));
            }
        };
        this.timer.frame_arrived();
        match &frame {
            None => this.ended = true,
            // A broken body leaves the connection unusable: never pool it.
            Some(Err(_)) => this.release = None,
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame.map(|f| f.map_err(BoxError::from)))
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if let Some((sender, closing, pool, peer)) = self.release.take()
            && (self.ended || self.inner.is_end_stream())
        {
            // Back in the idle list: the request's slot is free at once. A connection not kept
            // closes, and holds the slot until it has.
            if pool.release(sender, closing, peer)
                && let Some(lease) = &mut self.lease
            {
                lease.finished();
            }
        }
    }
}
