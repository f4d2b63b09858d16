//! Upgraded connections: HTTP/1.1 `Upgrade: websocket` (RFC 9110 §7.8, RFC 6455 §4) on
//! reverse and forward listeners, and WebSocket over HTTP/2 by extended CONNECT (RFC 8441)
//! downstream, both carried to the upstream as an HTTP/1.1 upgrade.
//!
//! An upgrade request is an ordinary request to filters: it is routed like a `GET` of its path,
//! the request hooks see `Upgrade: websocket` and `Connection: upgrade` and may refuse it (a
//! `respond` verdict) or send it to another pool. Only then is an upstream reached, on a new
//! dedicated HTTP/1.1 connection that is never pooled. A `101` from the upstream goes through
//! the response hooks and is answered downstream (`101`, or `200` to an extended CONNECT);
//! then both upgraded streams are spliced, with back-pressure, half-close and an idle timeout,
//! counted and drained like a CONNECT tunnel. Any other answer is an ordinary response.
//!
//! Only the `websocket` token is upgraded. Any other `Upgrade` (`h2c` included: weir's HTTP/2
//! towards backends is configured, never negotiated in-band) is removed with the other
//! hop-by-hop fields and the request is forwarded as a plain request (RFC 9110 §7.8 lets a
//! server ignore `Upgrade`).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::uri::Authority;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};
use tokio::time::Instant;

use super::exchange::{self, Forwarding, Target};
use super::log::Seen;
use super::tunnel::{Spliced, splice};
use super::{Drain, ProxyBody, ProxyError};
use crate::access::{AccessLog, AccessRecord};
use crate::filters::FilterChain;
use crate::metrics::METRICS;
use crate::runtime::{RequestId, RequestView};
use crate::upstream::{Lease, ResponseBody, UpgradeSender, UpstreamError, error_chain};

/// The one upgrade token weir carries.
const WEBSOCKET: &str = "websocket";

/// RFC 6455 §1.3: the GUID appended to `Sec-WebSocket-Key` before hashing.
const WEBSOCKET_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The idle timeout for an upgrade from a reverse listener to an origin, which only a forward
/// listener reaches: never used, there for completeness of [`detect`]'s argument.
pub(super) const REVERSE_ORIGIN_IDLE: Duration = Duration::from_secs(300);

/// How the client asked for the upgrade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// HTTP/1.1 `GET` with `Upgrade: websocket`: answered `101`.
    Http1,
    /// HTTP/2 `CONNECT` with `:protocol = websocket` (RFC 8441): answered `200`.
    ExtendedConnect,
}

/// The downstream side of an upgrade request, taken from the request in the route phase.
pub(super) struct Downstream {
    on_upgrade: OnUpgrade,
    kind: Kind,
    drain: Drain,
    /// The idle timeout of an upgrade to a forward listener's origin (its tunnel timeout).
    origin_idle_timeout: Duration,
}

/// Route phase: whether `request` asks for a WebSocket upgrade weir carries, and if so takes
/// its downstream upgrade. An extended CONNECT becomes a `GET` of its `:path` from here on.
/// An extended CONNECT for any other protocol is refused.
pub(super) fn detect(
    request: &mut Request<Incoming>,
    drain: &Drain,
    origin_idle_timeout: Duration,
) -> Result<Option<Downstream>, ProxyError> {
    let kind = if request.method() == Method::CONNECT {
        match request.extensions().get::<hyper::ext::Protocol>() {
            None => return Ok(None),
            Some(protocol) if protocol.as_str().eq_ignore_ascii_case(WEBSOCKET) => {
                Kind::ExtendedConnect
            }
            Some(_) => {
                return Err(ProxyError::Downstream(
                    "extended CONNECT is supported for :protocol websocket only",
                ));
            }
        }
    } else if is_websocket_upgrade(request) {
        Kind::Http1
    } else {
        return Ok(None);
    };
    if kind == Kind::ExtendedConnect {
        // RFC 8441 §5: the request otherwise means what a GET of the same target would.
        *request.method_mut() = Method::GET;
    }
    Ok(Some(Downstream {
        on_upgrade: hyper::upgrade::on(request),
        kind,
        drain: drain.clone(),
        origin_idle_timeout,
    }))
}

/// Puts back the two fields that make a request an upgrade, after the hop-by-hop fields were
/// removed: filters see every upgrade request (HTTP/1.1 or extended CONNECT) the same way.
pub(super) fn mark(headers: &mut HeaderMap) {
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static(WEBSOCKET));
}

/// Everything after the request hooks and the choice of backend: a dedicated upstream
/// connection, the upgrade request on it, the response hooks on the answer, and (after a
/// `101`) the splice, spawned so it outlives this request.
pub(super) async fn run(
    chain: &FilterChain,
    target: Target<'_>,
    mut head: RequestView,
    forwarding: &Forwarding,
    downstream: Downstream,
    seen: &mut Seen,
    log: &Arc<AccessLog>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let connected = connect(target, downstream.origin_idle_timeout).await?;
    seen.upstream = Some(connected.name.clone());
    let keep_head = chain.runs_on_response();
    let mut fields = exchange::upstream_fields(&mut head, keep_head, forwarding, &connected.name);
    mark(&mut fields);
    // RFC 8441 §5: the HTTP/2 side has no key; the HTTP/1.1 side needs one, and its answer
    // must prove it read it.
    let key = (downstream.kind == Kind::ExtendedConnect).then(|| {
        let key = new_key();
        fields.insert(SEC_WEBSOCKET_KEY, key.clone());
        fields
            .entry(SEC_WEBSOCKET_VERSION)
            .or_insert(HeaderValue::from_static("13"));
        key
    });
    let mut request = Request::new(Empty::<Bytes>::new());
    *request.method_mut() = Method::GET;
    *request.uri_mut() = Uri::from(head.path_and_query.clone());
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = fields;
    let id = head.id;
    let mut response = send(
        connected.sender,
        request,
        connected.response_timeout,
        &connected.name,
    )
    .await?;
    seen.ttfb = Some(seen.started.elapsed());
    let switched = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    if switched {
        check_switch(key.as_ref(), response.headers(), &connected.name)?;
    }
    let upstream_upgrade = switched.then(|| hyper::upgrade::on(&mut response));
    let mut answer = exchange::response_hooks(
        chain,
        keep_head.then_some(head),
        response.map(ResponseBody::unpooled),
        &mut seen.record.trace,
    )
    .await?;
    // A filter may have answered in the upstream's place: the upgraded upstream is dropped.
    let Some(upstream_upgrade) =
        upstream_upgrade.filter(|_| answer.status() == StatusCode::SWITCHING_PROTOCOLS)
    else {
        return Ok(answer);
    };
    match downstream.kind {
        Kind::Http1 => mark(answer.headers_mut()),
        Kind::ExtendedConnect => {
            // RFC 8441 §5: a 2xx opens the stream; the accept proof is HTTP/1.1's alone.
            *answer.status_mut() = StatusCode::OK;
            answer.headers_mut().remove(SEC_WEBSOCKET_ACCEPT);
        }
    }
    tokio::spawn(relay(
        Relay {
            id,
            record: seen.tunnel_record("upgrade"),
            log: log.clone(),
            idle: connected.idle_timeout,
            _lease: connected.lease,
        },
        downstream.on_upgrade,
        upstream_upgrade,
        downstream.drain,
    ));
    Ok(answer)
}

/// Whether an HTTP/1.1 request asks to switch to WebSocket: a `GET` without a body whose
/// `Connection` names `upgrade` and whose `Upgrade` lists `websocket` (RFC 6455 §4.1).
fn is_websocket_upgrade<B: hyper::body::Body>(request: &Request<B>) -> bool {
    let tokens = |name| {
        request
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
    };
    let has = |name, wanted: &str| tokens(name).any(|t| t.eq_ignore_ascii_case(wanted));
    request.version() == Version::HTTP_11
        && request.method() == Method::GET
        // With a body, the bytes after the head would belong to it, not to the new protocol.
        && request.body().is_end_stream()
        && has(CONNECTION, "upgrade")
        && has(UPGRADE, WEBSOCKET)
}

/// A dedicated upstream connection and its timeouts.
struct Connected {
    sender: UpgradeSender,
    name: Authority,
    response_timeout: Duration,
    idle_timeout: Duration,
    /// A pool backend's connection slot, held while the upgraded connection lives.
    lease: Option<Lease>,
}

/// Phase **connect** for an upgrade: a new HTTP/1.1 connection to the target; like the pooled
/// connect, a pool chooses among healthy backends, waits for a connection slot, and tries
/// another backend when one cannot be reached.
async fn connect(target: Target<'_>, origin_idle: Duration) -> Result<Connected, ProxyError> {
    Ok(match target {
        Target::Pool { pool, key, egress } => {
            let (index, sender, lease) = pool.connect_for_upgrade(key, egress).await?;
            Connected {
                sender,
                name: pool.backends()[index].authority.clone(),
                response_timeout: pool.settings().response_timeout,
                idle_timeout: pool.settings().upgrade_idle_timeout,
                lease: Some(lease),
            }
        }
        Target::Origin {
            origins,
            https,
            authority,
        } => Connected {
            sender: origins.connect_upgrade(https, &authority).await?,
            name: authority,
            response_timeout: origins.settings().response_timeout,
            idle_timeout: origin_idle,
            lease: None,
        },
    })
}

/// Phase **send** for an upgrade: the request on the dedicated connection, and its response
/// head within `timeout`.
async fn send(
    mut sender: UpgradeSender,
    request: Request<Empty<Bytes>>,
    timeout: Duration,
    name: &Authority,
) -> Result<Response<Incoming>, UpstreamError> {
    let exchange = async {
        sender.ready().await?;
        sender.send_request(request).await
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) => Err(UpstreamError::Failed {
            backend: name.to_string(),
            reason: error_chain(&e),
        }),
        Err(_) => Err(UpstreamError::Timeout {
            backend: name.to_string(),
            after: timeout,
        }),
    }
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64 (RFC 6455 §4.1).
fn new_key() -> HeaderValue {
    let mut nonce = [0u8; 16];
    if getrandom::fill(&mut nonce).is_err() {
        // The key only proves the server understood WebSocket; it is no secret. A clock value
        // still differs per request.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        nonce = now.to_le_bytes();
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(nonce);
    HeaderValue::from_str(&encoded).expect("base64 text is a valid header value")
}

/// The `Sec-WebSocket-Accept` a server must answer to `key` (RFC 6455 §4.2.2).
fn accept_for(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(WEBSOCKET_GUID);
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

/// Refuses a `101` that switched to anything but WebSocket (the client is told it got one),
/// or whose `Sec-WebSocket-Accept` does not answer the key weir sent (`key`, for an extended
/// CONNECT; an HTTP/1.1 client checks its own key).
fn check_switch(
    key: Option<&HeaderValue>,
    headers: &HeaderMap,
    name: &Authority,
) -> Result<(), ProxyError> {
    let refuse = |reason: &str| {
        Err(UpstreamError::Failed {
            backend: name.to_string(),
            reason: reason.to_owned(),
        }
        .into())
    };
    let websocket = headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(WEBSOCKET));
    if !websocket {
        return refuse("the upstream switched to a protocol other than websocket");
    }
    let Some(key) = key else { return Ok(()) };
    let expected = accept_for(key.as_bytes());
    match headers.get(SEC_WEBSOCKET_ACCEPT) {
        Some(got) if got.as_bytes() == expected.as_bytes() => Ok(()),
        _ => refuse("the upgrade answer's Sec-WebSocket-Accept does not match the key"),
    }
}

/// What the access line of an upgraded connection names.
struct Relay {
    id: RequestId,
    /// The upgraded connection's access record, logged when it closes.
    record: Box<AccessRecord>,
    log: Arc<AccessLog>,
    idle: Duration,
    /// Released when the relay ends.
    _lease: Option<Lease>,
}

/// Waits for both sides to be handed over, then splices them until either closes, the idle
/// timeout, or the end of the grace period on shutdown. Counted as a tunnel.
async fn relay(relay: Relay, downstream: OnUpgrade, upstream: OnUpgrade, drain: Drain) {
    // A stop waits for the upgraded connection (until its deadline).
    let _tracked = drain.track();
    let (down, up) = match tokio::join!(downstream, upstream) {
        (Ok(down), Ok(up)) => (down, up),
        (Err(e), _) | (_, Err(e)) => {
            tracing::debug!(request.id = %relay.id, error = %e, "upgrade failed before splicing");
            return;
        }
    };
    let started = Instant::now();
    METRICS.tunnel_opened();
    let outcome = tokio::select! {
        outcome = splice(TokioIo::new(down), TokioIo::new(up), relay.idle) => outcome,
        () = drain.wait() => Spliced { up: 0, down: 0, end: "shutdown" },
    };
    METRICS.tunnel_closed(outcome.up, outcome.down);
    let bytes = (outcome.up, outcome.down);
    super::log::tunnel_closed(
        &relay.log,
        relay.record,
        started.into_std(),
        bytes,
        outcome.end,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_half_closed_side_still_receives_what_the_other_sends() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, mut client_far) = tokio::io::duplex(64);
        let (upstream, mut upstream_far) = tokio::io::duplex(64);
        let task = tokio::spawn(splice(client, upstream, Duration::from_secs(5)));
        client_far.write_all(b"last words").await.unwrap();
        client_far.shutdown().await.unwrap();
        let mut heard = Vec::new();
        upstream_far.read_to_end(&mut heard).await.unwrap();
        assert_eq!(
            heard, b"last words",
            "the client's end of stream reached the upstream"
        );
        upstream_far.write_all(b"reply").await.unwrap();
        let mut reply = [0u8; 5];
        client_far.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"reply");
        drop(upstream_far);
        let done = task.await.unwrap();
        assert_eq!((done.up, done.down, done.end), (10, 5, "closed"));
    }

    #[test]
    fn accept_matches_the_rfc_6455_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_for(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    fn request(version: Version, method: Method, fields: &[(&str, &str)]) -> Request<Empty<Bytes>> {
        let mut request = Request::new(Empty::new());
        *request.version_mut() = version;
        *request.method_mut() = method;
        for (name, value) in fields {
            request.headers_mut().append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        request
    }

    #[test]
    fn only_a_websocket_get_over_http_1_1_is_an_upgrade() {
        let v11 = Version::HTTP_11;
        let ws = [
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "WebSocket"),
        ];
        assert!(is_websocket_upgrade(&request(v11, Method::GET, &ws)));
        let listed = [("connection", "upgrade"), ("upgrade", "foo/2, websocket")];
        assert!(is_websocket_upgrade(&request(v11, Method::GET, &listed)));
        for (version, method, fields) in [
            (
                v11,
                Method::GET,
                &[("connection", "upgrade"), ("upgrade", "h2c")][..],
            ),
            (v11, Method::GET, &[("upgrade", "websocket")][..]),
            (v11, Method::GET, &[("connection", "upgrade")][..]),
            (v11, Method::POST, &ws[..]),
            (Version::HTTP_10, Method::GET, &ws[..]),
            (Version::HTTP_2, Method::GET, &ws[..]),
        ] {
            let request = request(version, method, fields);
            assert!(!is_websocket_upgrade(&request), "{request:?}");
        }
    }

    #[test]
    fn a_switch_to_another_protocol_or_a_wrong_accept_is_refused() {
        let key = new_key();
        assert_eq!(key.len(), 24, "16 bytes in base64");
        let name: Authority = "b.test:80".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(UPGRADE, HeaderValue::from_static("WebSocket"));
        assert!(check_switch(None, &headers, &name).is_ok());
        assert!(check_switch(Some(&key), &headers, &name).is_err());
        headers.insert(SEC_WEBSOCKET_ACCEPT, HeaderValue::from_static("nope"));
        assert!(check_switch(Some(&key), &headers, &name).is_err());
        let right = accept_for(key.as_bytes());
        headers.insert(SEC_WEBSOCKET_ACCEPT, HeaderValue::from_str(&right).unwrap());
        assert!(check_switch(Some(&key), &headers, &name).is_ok());
        headers.insert(UPGRADE, HeaderValue::from_static("h2c"));
        assert!(check_switch(Some(&key), &headers, &name).is_err());
        assert!(check_switch(None, &headers, &name).is_err());
    }
}
