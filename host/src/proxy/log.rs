//! Phase **log**: what the other phases learn about a request (its route, backend, retries,
//! time to the upstream's first byte, decision trace) goes into its access record, which is
//! finished and handed to the access log when the response body has been sent (or dropped),
//! so the record has the bytes and the whole duration. Tunnels and upgraded connections get a
//! record of their own when they close.
//!
//! Allocates per request: the boxed record (it crosses a channel to the writer thread), a
//! shared counter for the request body's bytes (the body is read by the upstream side), and the
//! response body's box (it wraps hyper's body to count its bytes and see its end).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::uri::Authority;
use http::{Request, Version};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};

use super::{ConnInfo, ProxyBody, ProxyState};
use crate::access::{AccessLog, AccessRecord};
use crate::metrics::{METRICS, RequestSample};
use crate::runtime::RequestId;
use crate::upstream::BoxError;

/// The route label of a request that matched none (or was on a forward-proxy listener).
static NO_ROUTE: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("-"));

/// What the phases learn that the access record reports.
pub(super) struct Seen {
    /// The backend or origin, once connected.
    pub(super) upstream: Option<Authority>,
    /// The request's client (behind trusted proxies, the one they name).
    pub(super) client: SocketAddr,
    /// The route's name, once matched.
    pub(super) route: Option<Arc<str>>,
    /// The record as far as it is known; its trace is filled by the hooks.
    pub(super) record: Box<AccessRecord>,
    /// Request body bytes read from the client (shared with the upstream body).
    pub(super) bytes_in: Arc<AtomicU64>,
    /// Arrival to the upstream response head.
    pub(super) ttfb: Option<Duration>,
    /// When the request arrived.
    pub(super) started: Instant,
}

impl Seen {
    /// The record's first facts, from the connection and the request as received.
    pub(super) fn new<B>(
        state: &ProxyState,
        conn: &ConnInfo,
        id: RequestId,
        request: &Request<B>,
        started: Instant,
    ) -> Self {
        // Shared pointers and plain values only: the writer thread renders them.
        let record = AccessRecord {
            time: SystemTime::now(),
            kind: "request",
            id,
            client: conn.client,
            peer: conn.peer,
            listener: conn.listener.clone(),
            route: None,
            method: request.method().clone(),
            target: request.uri().clone(),
            version: version_name(request.version()),
            status: 0,
            bytes_in: 0,
            bytes_out: 0,
            duration_us: 0,
            upstream_ttfb_us: None,
            upstream: None,
            retries: 0,
            generation: state.generation,
            tls: conn.tls.clone(),
            error: None,
            trace: Vec::new(),
        };
        Self {
            upstream: None,
            client: conn.client,
            route: None,
            record: Box::new(record),
            bytes_in: Arc::new(AtomicU64::new(0)),
            ttfb: None,
            started,
        }
    }

    /// A copy of the record for a tunnel or upgraded connection that outlives the request,
    /// with what is known now.
    pub(super) fn tunnel_record(&self, kind: &'static str) -> Box<AccessRecord> {
        let mut record = self.record.clone();
        record.kind = kind;
        record.client = self.client;
        record.route = self.route.clone();
        record.upstream = self.upstream.clone();
        record
    }

    /// Wraps the response body: when it ends (or is dropped) the record is finished, counted in
    /// the metrics and logged.
    pub(super) fn finish(
        self,
        response: http::Response<ProxyBody>,
        error: Option<&'static str>,
        log: &Arc<AccessLog>,
        listener: &Arc<str>,
    ) -> http::Response<ProxyBody> {
        let Self {
            upstream,
            client,
            route,
            mut record,
            bytes_in,
            ttfb,
            started,
        } = self;
        record.status = response.status().as_u16();
        record.error = error;
        record.client = client;
        record.route = route.clone();
        record.upstream = upstream;
        record.upstream_ttfb_us = ttfb.map(|t| t.as_micros() as u64);
        let pending = Pending {
            record,
            bytes_in,
            bytes_out: 0,
            started,
            ttfb,
            route: route.unwrap_or_else(|| NO_ROUTE.clone()),
            listener: listener.clone(),
            log: log.clone(),
        };
        response.map(|body| {
            LoggedBody {
                inner: body,
                pending: Some(pending),
            }
            .boxed_unsync()
        })
    }
}

/// Logs a tunnel's record when it closes.
pub(super) fn tunnel_closed(
    log: &AccessLog,
    mut record: Box<AccessRecord>,
    started: Instant,
    (up, down): (u64, u64),
    end: &'static str,
) {
    record.bytes_in = up;
    record.bytes_out = down;
    record.duration_us = started.elapsed().as_micros() as u64;
    record.error = Some(end);
    log.record(record);
}

fn version_name(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// A record waiting for the end of its response body.
struct Pending {
    record: Box<AccessRecord>,
    bytes_in: Arc<AtomicU64>,
    bytes_out: u64,
    started: Instant,
    ttfb: Option<Duration>,
    route: Arc<str>,
    listener: Arc<str>,
    log: Arc<AccessLog>,
}

impl Pending {
    fn log(mut self) {
        let total = self.started.elapsed();
        self.record.bytes_in = self.bytes_in.load(Ordering::Relaxed);
        self.record.bytes_out = self.bytes_out;
        self.record.duration_us = total.as_micros() as u64;
        METRICS.request(RequestSample {
            route: &self.route,
            listener: &self.listener,
            status: self.record.status,
            total,
            upstream: self.ttfb,
        });
        self.log.record(self.record);
    }
}

/// The response body sent downstream, counted; its record is logged at its end.
struct LoggedBody {
    inner: ProxyBody,
    pending: Option<Pending>,
}

impl Body for LoggedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(frame) => frame,
        };
        match &frame {
            Some(Ok(frame)) => {
                if let (Some(pending), Some(data)) = (&mut this.pending, frame.data_ref()) {
                    pending.bytes_out += data.len() as u64;
                }
            }
            Some(Err(_)) => {
                if let Some(mut pending) = this.pending.take() {
                    pending.record.error.get_or_insert("response-body-failed");
                    pending.log();
                }
            }
            None => {
                if let Some(pending) = this.pending.take() {
                    pending.log();
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        if let Some(mut pending) = self.pending.take() {
            // Dropped before its end: the client went away (or the connection was cut).
            if !self.inner.is_end_stream() {
                pending.record.error.get_or_insert("downstream-closed");
            }
            pending.log();
        }
    }
}
