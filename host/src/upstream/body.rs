//! The two bodies of an upstream exchange: the request body weir sends (the downstream body,
//! streamed through), and the response body weir reads, which puts its HTTP/1.1
//! connection back into the idle list once it has been read to the end.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1;

use super::conn::ConnPool;

/// The body of a request sent upstream: the downstream request's body, streamed through as it
/// arrives. A concrete type rather than a boxed one (one allocation less per request) whose
/// errors say that the client's side broke.
#[derive(Debug)]
pub(crate) struct UpstreamBody(pub(crate) Incoming);

/// The downstream request body broke while weir was streaming it upstream (bad chunked
/// framing, a body shorter than its `Content-Length`, a reset): the client's fault, not the
/// upstream's. Carried through hyper's error chain so the proxy can blame the right side.
#[derive(Debug, thiserror::Error)]
#[error("the downstream request body failed")]
pub struct DownstreamBodyError(#[source] pub hyper::Error);

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = DownstreamBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().0)
            .poll_frame(cx)
            .map(|frame| frame.map(|f| f.map_err(DownstreamBodyError)))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

/// An upstream response body. On an HTTP/1.1 connection it holds the connection's sender and
/// returns it to the idle list when dropped after the body was read to its end; dropped
/// earlier, the sender goes with it and hyper closes the connection (its framing is unknown).
pub struct ResponseBody {
    inner: Incoming,
    release: Option<(http1::SendRequest<UpstreamBody>, Arc<ConnPool>)>,
    ended: bool,
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
        }
    }

    /// A body whose HTTP/1.1 connection goes back to `pool` once the body is read.
    pub(crate) fn pooled(
        inner: Incoming,
        sender: http1::SendRequest<UpstreamBody>,
        pool: Arc<ConnPool>,
    ) -> Self {
        Self {
            inner,
            release: Some((sender, pool)),
            ended: false,
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            None => this.ended = true,
            // A broken body leaves the connection unusable: never pool it.
            Some(Err(_)) => this.release = None,
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
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
        if let Some((sender, pool)) = self.release.take()
            && (self.ended || self.inner.is_end_stream())
        {
            pool.release(sender);
        }
    }
}
