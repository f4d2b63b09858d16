//! A downstream connection's stream, guarded against clients that stall: one that sends no
//! byte within the first-byte timeout (after opening, or after its TLS handshake), and one
//! that stops reading so that a write waits longer than the send timeout. Either ends the
//! connection with a `TimedOut` error, which hyper turns into a close.
//!
//! The timers cost nothing until they are needed: the first-byte timer is made when the first
//! read has to wait and dropped with the first byte; the send timer is made when a write has
//! to wait, and cleared by any write that makes progress.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// `S` with a first-byte timeout on reads and a send timeout on writes.
#[derive(Debug)]
pub(super) struct Guarded<S> {
    inner: S,
    /// Until the first byte: when the connection is given up.
    first_byte: Option<(Instant, Option<Pin<Box<Sleep>>>)>,
    send_timeout: Duration,
    /// While a write waits: its timer.
    send: Option<Pin<Box<Sleep>>>,
}

impl<S> Guarded<S> {
    /// Guards `inner` from now on.
    pub(super) fn new(inner: S, first_byte_timeout: Duration, send_timeout: Duration) -> Self {
        Self {
            inner,
            first_byte: Some((Instant::now() + first_byte_timeout, None)),
            send_timeout,
            send: None,
        }
    }

    fn write_waits(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = self.send_timeout;
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
                    this.first_byte = None;
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                let Some((deadline, sleep)) = &mut this.first_byte else {
                    return Poll::Pending;
                };
                let deadline = *deadline;
                let sleep =
                    sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client sent nothing within first_byte_timeout_ms",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
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

    /// Bounded like a write: on TLS, shutting down writes `close_notify`, which a client that
    /// stopped reading would otherwise hold forever.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_shutdown(cx) {
            Poll::Ready(result) => {
                this.send = None;
                Poll::Ready(result)
            }
            Poll::Pending => this.write_waits(cx).map(Err),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn a_silent_peer_times_out_and_a_talking_one_does_not() {
        let (client, server) = tokio::io::duplex(64);
        let mut guarded = Guarded::new(server, Duration::from_millis(50), Duration::from_secs(5));
        let mut byte = [0u8; 1];
        let error = guarded.read(&mut byte).await.expect_err("times out");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);

        let (mut client2, server2) = tokio::io::duplex(64);
        let mut guarded = Guarded::new(server2, Duration::from_millis(50), Duration::from_secs(5));
        client2.write_all(b"x").await.expect("write");
        assert_eq!(guarded.read(&mut byte).await.expect("a byte"), 1);
        // After the first byte, waiting is no longer limited by the first-byte timer.
        let waited =
            tokio::time::timeout(Duration::from_millis(150), guarded.read(&mut byte)).await;
        assert!(waited.is_err(), "still waiting, not failed");
        drop(client);
    }

    /// A stream whose shutdown never completes, like TLS whose `close_notify` cannot be sent.
    struct StuckShutdown;

    impl AsyncWrite for StuckShutdown {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(data.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_shutdown_that_cannot_complete_fails_after_the_send_timeout() {
        let mut guarded = Guarded::new(
            StuckShutdown,
            Duration::from_secs(5),
            Duration::from_millis(50),
        );
        let error = tokio::time::timeout(Duration::from_secs(5), guarded.shutdown())
            .await
            .expect("the guard ends the shutdown")
            .expect_err("the shutdown times out");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn a_peer_that_stops_reading_fails_the_write_after_the_send_timeout() {
        let (_client, server) = tokio::io::duplex(16);
        let mut guarded = Guarded::new(server, Duration::from_secs(5), Duration::from_millis(50));
        let error = guarded
            .write_all(&[0u8; 1024])
            .await
            .expect_err("the write times out");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }
}
