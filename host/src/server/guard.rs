//! A downstream connection's stream, guarded against clients that stall or linger: one that
//! sends no byte within the first-byte timeout (after opening, or after its TLS handshake); one
//! that begins an HTTP/1 request head and does not finish it within the head timeout; one that
//! stays idle between requests (no request in flight) past the keep-alive timeout; and one that
//! stops reading so that a write waits longer than the send timeout. The idle case ends the
//! stream (an end of file: the connection closes cleanly), the others with a `TimedOut`
//! error, which hyper turns into a close.
//!
//! Which requests are in flight the stream learns from [`Activity`], which the connection's
//! service updates: a request counts from its head until its response body is done.
//!
//! The timers cost nothing until they are needed: a read timer is made when a read has to wait
//! with a deadline, and moved only when that deadline changes; the send timer is made when a
//! write has to wait, and cleared by any write that makes progress.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The timeouts of one downstream connection.
#[derive(Clone, Copy, Debug)]
pub(super) struct Timeouts {
    /// No byte at all since the connection (or its TLS session) opened.
    pub first_byte: Duration,
    /// An HTTP/1 request head begun and not finished (`None`: HTTP/2, or hyper's own timer).
    pub head: Option<Duration>,
    /// No request in flight and none begun, after the first request.
    pub keep_alive: Duration,
    /// A write the client does not take.
    pub send: Duration,
}

/// The requests of one connection, shared by its stream guard and its service.
#[derive(Debug)]
pub(super) struct Activity {
    /// Requests begun (heads received) so far.
    begun: AtomicU64,
    /// Requests finished (response body done or dropped) so far.
    ended: AtomicU64,
    /// When the last request ended, in ms since `opened`.
    last_end_ms: AtomicU64,
    /// The connection was upgraded (a tunnel, a WebSocket): no keep-alive timer from then on.
    upgraded: AtomicBool,
    opened: Instant,
    /// The read waiting without a deadline while requests were in flight: woken when the last
    /// one ends, so that the keep-alive timer starts.
    reader: Mutex<Option<Waker>>,
}

impl Activity {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            begun: AtomicU64::new(0),
            ended: AtomicU64::new(0),
            last_end_ms: AtomicU64::new(0),
            upgraded: AtomicBool::new(false),
            opened: Instant::now(),
            reader: Mutex::new(None),
        })
    }

    /// A request's head arrived; it is in flight until the returned guard drops.
    pub(super) fn begin(self: &Arc<Self>) -> InFlight {
        self.begun.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// The connection now carries a tunnel or an upgraded protocol.
    fn upgraded(&self) {
        self.upgraded.store(true, Ordering::Relaxed);
    }

    fn in_flight(&self) -> bool {
        self.begun.load(Ordering::Acquire) != self.ended.load(Ordering::Acquire)
    }

    fn last_end(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_end_ms.load(Ordering::Relaxed))
    }

    fn park(&self, waker: &Waker) {
        let mut reader = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        match reader.as_mut() {
            Some(parked) if parked.will_wake(waker) => {}
            _ => *reader = Some(waker.clone()),
        }
    }
}

/// One request in flight; dropped with its response body.
#[derive(Debug)]
pub(super) struct InFlight(Arc<Activity>);

impl InFlight {
    /// The request turned the connection into a tunnel or an upgraded protocol.
    pub(super) fn upgraded(&self) {
        self.0.upgraded();
    }
}

/// A response body that keeps its request in flight until it is done or dropped.
#[derive(Debug)]
pub(super) struct Tracked<B> {
    pub(super) body: B,
    pub(super) _in_flight: InFlight,
}

impl<B: http_body::Body + Unpin> http_body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        let ms = u64::try_from(activity.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        activity.last_end_ms.store(ms, Ordering::Relaxed);
        activity.ended.fetch_add(1, Ordering::Release);
        if !activity.in_flight() {
            let parked = activity
                .reader
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(waker) = parked {
                waker.wake();
            }
        }
    }
}

/// Why a read gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expiry {
    FirstByte,
    Head,
    KeepAlive,
}

/// `S` with the connection's read deadlines and a send timeout on writes.
#[derive(Debug)]
pub(super) struct Guarded<S> {
    inner: S,
    timeouts: Timeouts,
    activity: Arc<Activity>,
    /// No byte read yet.
    silent: bool,
    /// A request head begun while nothing was in flight: when, and how many requests had begun
    /// then (a new one begun means the head was finished).
    head: Option<(Instant, u64)>,
    /// The read timer, and the deadline it is set for.
    read: Option<(Instant, Pin<Box<Sleep>>)>,
    /// While a write waits: its timer.
    send: Option<Pin<Box<Sleep>>>,
}

impl<S> Guarded<S> {
    /// Guards `inner` from now on.
    pub(super) fn new(inner: S, timeouts: Timeouts, activity: Arc<Activity>) -> Self {
        Self {
            inner,
            timeouts,
            activity,
            silent: true,
            head: None,
            read: None,
            send: None,
        }
    }

    /// Bytes arrived: a head begins if nothing was in flight.
    fn on_bytes(&mut self, bytes: &[u8]) {
        if std::mem::take(&mut self.silent) && bytes.starts_with(b"PRI * HTTP/2") {
            // HTTP/2 with prior knowledge: frames between requests (PING, SETTINGS) are not a
            // request head.
            self.timeouts.head = None;
        }
        if self.timeouts.head.is_some() && self.head.is_none() && !self.activity.in_flight() {
            self.head = Some((Instant::now(), self.activity.begun.load(Ordering::Relaxed)));
        }
    }

    /// The deadline of a read that has to wait, if any.
    fn read_deadline(&mut self) -> Option<(Instant, Expiry)> {
        let activity = &self.activity;
        if self.silent {
            return Some((
                activity.opened + self.timeouts.first_byte,
                Expiry::FirstByte,
            ));
        }
        if activity.upgraded.load(Ordering::Relaxed) {
            return None;
        }
        if let Some((_, begun)) = self.head
            && activity.begun.load(Ordering::Relaxed) != begun
        {
            self.head = None;
        }
        if activity.in_flight() {
            return None;
        }
        match (self.head, self.timeouts.head) {
            (Some((since, _)), Some(limit)) => Some((since + limit, Expiry::Head)),
            _ if activity.begun.load(Ordering::Relaxed) == 0 => {
                // Bytes came but no head was finished yet (HTTP/2's preface and settings): the
                // first request is still to come, within the keep-alive time from the open.
                Some((
                    activity.opened + self.timeouts.keep_alive,
                    Expiry::KeepAlive,
                ))
            }
            _ => Some((
                activity.last_end() + self.timeouts.keep_alive,
                Expiry::KeepAlive,
            )),
        }
    }

    fn read_waits(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some((deadline, expiry)) = self.read_deadline() else {
            self.read = None;
            self.activity.park(cx.waker());
            // The last request may have ended between the check and the parking.
            if self.activity.in_flight() || self.activity.upgraded.load(Ordering::Relaxed) {
                return Poll::Pending;
            }
            return self.read_waits(cx);
        };
        let sleep = match &mut self.read {
            Some((at, sleep)) if *at == deadline => sleep,
            slot => {
                let (_, sleep) =
                    slot.insert((deadline, Box::pin(tokio::time::sleep_until(deadline))));
                sleep
            }
        };
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.read = None;
        let limits = &self.timeouts;
        let (what, ms) = match expiry {
            // An idle connection ends like one the client closed.
            Expiry::KeepAlive => return Poll::Ready(Ok(())),
            Expiry::FirstByte => (
                "the client sent nothing within first_byte_timeout_ms",
                limits.first_byte,
            ),
            Expiry::Head => (
                "the client did not finish its request head within header_timeout_ms",
                limits.head.unwrap_or_default(),
            ),
        };
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{what} ({} ms)", ms.as_millis()),
        )))
    }

    fn write_waits(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = self.timeouts.send;
        let sleep = self
            .send
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the client took nothing for {} ms (send_timeout_ms)",
                    timeout.as_millis()
                ),
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.on_bytes(&buf.filled()[before..]);
                }
                Poll::Ready(result)
            }
            Poll::Pending => this.read_waits(cx),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, data) {
            Poll::Ready(result) => {
                this.send = None;
                Poll::Ready(result)
            }
            Poll::Pending => this.write_waits(cx).map(Err),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => {
                this.send = None;
                Poll::Ready(result)
            }
            Poll::Pending => this.write_waits(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(result) => {
                this.send = None;
                Poll::Ready(result)
            }
            Poll::Pending => this.write_waits(cx).map(Err),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;

    const LONG: Duration = Duration::from_secs(3600);

    fn timeouts(first_byte: u64, head: u64, keep_alive: u64, send: u64) -> Timeouts {
        Timeouts {
            first_byte: Duration::from_millis(first_byte),
            head: Some(Duration::from_millis(head)),
            keep_alive: Duration::from_millis(keep_alive),
            send: Duration::from_millis(send),
        }
    }

    fn guarded(timeouts: Timeouts) -> (DuplexStream, Guarded<DuplexStream>, Arc<Activity>) {
        let (client, server) = tokio::io::duplex(64);
        let activity = Activity::new();
        (
            client,
            Guarded::new(server, timeouts, activity.clone()),
            activity,
        )
    }

    /// Reads until the stream waits for longer than `patience` (`None`) or ends (`Some`).
    async fn read_outcome(
        stream: &mut Guarded<DuplexStream>,
        patience: Duration,
    ) -> Option<io::Result<usize>> {
        let mut buf = [0u8; 64];
        tokio::time::timeout(patience, stream.read(&mut buf))
            .await
            .ok()
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_times_out_and_a_talking_one_does_not() {
        let (_client, mut stream, _) = guarded(timeouts(50, 10_000, 60_000, 5000));
        let error = read_outcome(&mut stream, LONG)
            .await
            .expect("gives up")
            .expect_err("times out");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);

        let (mut client, mut stream, activity) = guarded(timeouts(50, 10_000, 60_000, 5000));
        client.write_all(b"G").await.expect("write");
        assert_eq!(read_outcome(&mut stream, LONG).await.unwrap().unwrap(), 1);
        // A head began: the head timer, not the first-byte one, now bounds the wait.
        let _request = activity.begin();
        assert!(
            read_outcome(&mut stream, Duration::from_secs(600))
                .await
                .is_none(),
            "a request in flight waits with no deadline"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unfinished_head_times_out_from_its_first_byte() {
        let (mut client, mut stream, _) = guarded(timeouts(50, 200, 60_000, 5000));
        client
            .write_all(b"GET / HTTP/1.1\r\n")
            .await
            .expect("write");
        let started = Instant::now();
        assert!(read_outcome(&mut stream, LONG).await.unwrap().is_ok());
        let error = read_outcome(&mut stream, LONG)
            .await
            .expect("gives up")
            .expect_err("times out");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(error.to_string().contains("header_timeout_ms"), "{error}");
        assert_eq!(started.elapsed(), Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_ends_after_the_keep_alive_time_from_its_last_request() {
        let (mut client, mut stream, activity) = guarded(timeouts(50, 200, 1000, 5000));
        client
            .write_all(b"GET / HTTP/1.1\r\n\r\n")
            .await
            .expect("write");
        assert!(read_outcome(&mut stream, LONG).await.unwrap().is_ok());
        let request = activity.begin();
        // A long response: no deadline while it is in flight, well past both timers.
        assert!(
            read_outcome(&mut stream, Duration::from_secs(30))
                .await
                .is_none()
        );
        let ended = Instant::now();
        drop(request);
        let outcome = read_outcome(&mut stream, LONG).await.expect("ends");
        assert_eq!(outcome.expect("a clean end"), 0, "end of file");
        assert_eq!(ended.elapsed(), Duration::from_millis(1000));
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_read_learns_when_the_last_request_ends() {
        let (mut client, stream, activity) = guarded(timeouts(50, 200, 1000, 5000));
        client
            .write_all(b"GET / HTTP/1.1\r\n\r\n")
            .await
            .expect("write");
        let mut stream = stream;
        assert!(read_outcome(&mut stream, LONG).await.unwrap().is_ok());
        let request = activity.begin();
        let reader = tokio::spawn(async move { read_outcome(&mut stream, LONG).await });
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(request);
        let ended = Instant::now();
        let outcome = reader.await.expect("the reader ran").expect("ends");
        assert_eq!(outcome.expect("a clean end"), 0);
        assert_eq!(ended.elapsed(), Duration::from_millis(1000));
    }

    #[tokio::test(start_paused = true)]
    async fn http2_frames_between_requests_are_not_a_head_and_upgrades_never_idle_out() {
        let (mut client, mut stream, _) = guarded(timeouts(50, 200, 1000, 5000));
        client
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .expect("write");
        assert!(read_outcome(&mut stream, LONG).await.unwrap().is_ok());
        let started = Instant::now();
        let outcome = read_outcome(&mut stream, LONG).await.expect("ends");
        assert_eq!(outcome.expect("a clean end, not a head timeout"), 0);
        assert_eq!(started.elapsed(), Duration::from_millis(1000));

        let (mut client, mut stream, activity) = guarded(timeouts(50, 200, 1000, 5000));
        client
            .write_all(b"CONNECT a:443 HTTP/1.1\r\n\r\n")
            .await
            .expect("write");
        assert!(read_outcome(&mut stream, LONG).await.unwrap().is_ok());
        let tunnel = activity.begin();
        tunnel.upgraded();
        drop(tunnel);
        assert!(
            read_outcome(&mut stream, Duration::from_secs(600))
                .await
                .is_none(),
            "a tunnel's idle time is the tunnel's business"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_stops_reading_fails_the_write_after_the_send_timeout() {
        let (_client, server) = tokio::io::duplex(16);
        let mut guarded = Guarded::new(server, timeouts(5000, 5000, 5000, 50), Activity::new());
        let error = guarded
            .write_all(&[0u8; 1024])
            .await
            .expect_err("the write times out");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }
}
