//! Data-path errors, each knowing which side failed, and the one place they become responses.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

use crate::runtime::CallError;
use crate::upstream::{TargetError, UpstreamError};

/// Why weir answered a request itself with an error.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The downstream request cannot be proxied.
    #[error("malformed request: {0}")]
    Downstream(&'static str),
    /// The request path cannot be normalised, or has an encoded `/`, a backslash or an
    /// encoded control character while those are refused.
    #[error("bad request path: {0}")]
    BadPath(#[source] weir_rules::path::PathError),
    /// No route matches the host and path.
    #[error("no route for this host and path")]
    NoRoute,
    /// The request has already passed through weir this many times: a forwarding loop (a pool
    /// or a forward-proxy target that leads back to weir).
    #[error("the request has passed through weir {hops} times: a forwarding loop")]
    LoopDetected {
        /// weir's entries in `Via`.
        hops: usize,
    },
    /// CONNECT on a reverse-proxy listener.
    #[error("CONNECT is only served by forward-proxy listeners")]
    ConnectNotAllowed,
    /// A forward-proxy listener got a request that does not name its target.
    #[error("a forward proxy needs an absolute URL (GET http://host/path) or CONNECT host:port")]
    NotAbsolute,
    /// CONNECT to a port the listener does not allow.
    #[error("CONNECT to port {port} is not allowed (allowed: {allowed})")]
    PortRefused {
        /// The port asked for.
        port: u16,
        /// The allowed ports, for the message.
        allowed: String,
    },
    /// A fail-closed filter faulted.
    #[error("filter `{filter}` failed: {source}")]
    Filter {
        /// Filter name.
        filter: Arc<str>,
        /// What went wrong.
        #[source]
        source: CallError,
    },
    /// A fail-closed filter is out of service: its circuit breaker opened after repeated
    /// faults, and it is not called until its back-off has passed.
    #[error("filter `{filter}` is out of service after repeated faults (circuit breaker open)")]
    FilterUnavailable {
        /// Filter name.
        filter: Arc<str>,
    },
    /// A filter returned a verdict the host refuses.
    #[error("filter `{filter}` returned an invalid verdict: {reason}")]
    InvalidVerdict {
        /// Filter name.
        filter: Arc<str>,
        /// Why it is invalid.
        reason: String,
    },
    /// A filter selected a pool that does not exist.
    #[error("filter selected unknown pool `{pool}`")]
    UnknownPool {
        /// The name it gave.
        pool: String,
    },
    /// The request target is longer than the listener allows.
    #[error("the request target is longer than {limit} bytes")]
    UriTooLong {
        /// The listener's `max_uri_bytes`.
        limit: usize,
    },
    /// The request body is (announced) larger than the route allows.
    #[error("the request body is larger than {limit} bytes")]
    BodyTooLarge {
        /// The route's or listener's `max_body_bytes`.
        limit: u64,
    },
    /// The upstream exchange failed.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

/// Which side of the proxy an error came from: who has to act on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The client sent something weir will not proxy.
    Downstream,
    /// A filter faulted or returned something invalid.
    Filter,
    /// A backend or origin could not be reached or failed.
    Upstream,
    /// weir's own configuration or state (a filter naming a pool that does not exist).
    Internal,
}

impl Side {
    /// The side's name in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Downstream => "downstream",
            Self::Filter => "filter",
            Self::Upstream => "upstream",
            Self::Internal => "internal",
        }
    }
}

impl ProxyError {
    /// Which side failed.
    pub fn side(&self) -> Side {
        match self {
            Self::Downstream(_)
            | Self::BadPath(_)
            | Self::NoRoute
            | Self::LoopDetected { .. }
            | Self::ConnectNotAllowed
            | Self::NotAbsolute
            | Self::PortRefused { .. }
            | Self::UriTooLong { .. }
            | Self::BodyTooLarge { .. }
            | Self::Upstream(UpstreamError::BodyTooLarge { .. })
            | Self::Upstream(UpstreamError::DownstreamBody { .. })
            | Self::Upstream(UpstreamError::Target(
                TargetError::Refused { .. }
                | TargetError::Unusable { .. }
                | TargetError::Port { .. },
            )) => Side::Downstream,
            Self::Filter { .. } | Self::FilterUnavailable { .. } | Self::InvalidVerdict { .. } => {
                Side::Filter
            }
            Self::UnknownPool { .. } => Side::Internal,
            Self::Upstream(_) => Side::Upstream,
        }
    }

    /// Whether nothing of the request reached an upstream, so trying another is safe.
    pub fn is_retry_safe(&self) -> bool {
        match self {
            Self::Upstream(e) => e.is_retry_safe(),
            _ => false,
        }
    }

    /// The status code sent downstream.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Downstream(_)
            | Self::BadPath(_)
            | Self::NotAbsolute
            | Self::Upstream(UpstreamError::DownstreamBody { .. }) => StatusCode::BAD_REQUEST,
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            Self::BodyTooLarge { .. } | Self::Upstream(UpstreamError::BodyTooLarge { .. }) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Self::ConnectNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PortRefused { .. }
            | Self::Upstream(UpstreamError::Target(
                TargetError::Refused { .. }
                | TargetError::Unusable { .. }
                | TargetError::Port { .. },
            )) => StatusCode::FORBIDDEN,
            Self::Filter { .. }
            | Self::FilterUnavailable { .. }
            | Self::InvalidVerdict { .. }
            | Self::UnknownPool { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Upstream(UpstreamError::Timeout { .. } | UpstreamError::TotalTimeout { .. }) => {
                StatusCode::GATEWAY_TIMEOUT
            }
            Self::Upstream(
                UpstreamError::NoBackend { .. }
                | UpstreamError::QueueFull { .. }
                | UpstreamError::QueueTimeout { .. },
            ) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::LoopDetected { .. } => StatusCode::LOOP_DETECTED,
        }
    }

    /// A short machine-readable kind, sent as `x-weir-error`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Downstream(_) => "bad-request",
            Self::BadPath(_) => "bad-path",
            Self::NoRoute => "no-route",
            Self::UriTooLong { .. } => "uri-too-long",
            Self::BodyTooLarge { .. } | Self::Upstream(UpstreamError::BodyTooLarge { .. }) => {
                "body-too-large"
            }
            Self::ConnectNotAllowed => "connect-not-allowed",
            Self::LoopDetected { .. } => "loop-detected",
            Self::NotAbsolute => "not-absolute",
            Self::PortRefused { .. }
            | Self::Upstream(UpstreamError::Target(TargetError::Port { .. })) => "port-refused",
            Self::Upstream(UpstreamError::Target(
                TargetError::Refused { .. } | TargetError::Unusable { .. },
            )) => "target-refused",
            Self::Upstream(UpstreamError::Target(TargetError::Unresolved { .. })) => "unresolved",
            Self::Upstream(UpstreamError::Tls { .. }) => "upstream-tls",
            Self::Filter { .. } => "filter-failed",
            Self::FilterUnavailable { .. } => "filter-unavailable",
            Self::InvalidVerdict { .. } => "invalid-verdict",
            Self::UnknownPool { .. } => "unknown-pool",
            Self::Upstream(UpstreamError::Connect { .. }) => "upstream-connect",
            Self::Upstream(UpstreamError::Timeout { .. }) => "upstream-timeout",
            Self::Upstream(UpstreamError::TotalTimeout { .. }) => "request-timeout",
            Self::Upstream(UpstreamError::NoBackend { .. }) => "no-usable-backend",
            Self::Upstream(UpstreamError::QueueFull { .. }) => "upstream-queue-full",
            Self::Upstream(UpstreamError::QueueTimeout { .. }) => "upstream-queue-timeout",
            Self::Upstream(UpstreamError::Failed { .. }) => "upstream-failed",
            Self::Upstream(UpstreamError::DownstreamBody { .. }) => "bad-request-body",
        }
    }

    /// The response sent downstream: the status, `x-weir-error`, and a one-line plain-text
    /// reason. Plugin trap details stay in the log, not in the response.
    pub(crate) fn to_response(&self) -> Response<Bytes> {
        // Details (plugin traps, backend addresses, socket errors) stay in the log: clients
        // learn what kind of failure it was, not the operator's network layout.
        let reason = match self {
            Self::Filter { filter, source } => {
                format!("filter `{filter}` failed: {}", short(source))
            }
            Self::Upstream(UpstreamError::Connect { .. }) => {
                "cannot connect to upstream".to_owned()
            }
            Self::Upstream(UpstreamError::Timeout { after, .. }) => {
                format!("upstream did not answer within {} ms", after.as_millis())
            }
            Self::Upstream(UpstreamError::Failed { .. }) => "upstream connection failed".to_owned(),
            Self::Upstream(UpstreamError::NoBackend { .. }) => {
                "no usable backend: every backend of the pool is ejected or down".to_owned()
            }
            Self::Upstream(UpstreamError::QueueFull { .. }) => {
                "upstream saturated: the queue is full".to_owned()
            }
            Self::Upstream(UpstreamError::QueueTimeout { after, .. }) => format!(
                "upstream saturated: no connection freed up within {} ms",
                after.as_millis()
            ),
            Self::Upstream(UpstreamError::TotalTimeout { after }) => {
                format!(
                    "the request did not complete within {} ms",
                    after.as_millis()
                )
            }
            Self::Upstream(UpstreamError::DownstreamBody { .. }) => {
                "the request body broke off or its framing is invalid".to_owned()
            }
            // Neither the address a name resolved to nor the rule that refused it: a client
            // probing the operator's network learns only that the target is refused.
            Self::Upstream(UpstreamError::Target(
                TargetError::Refused { .. } | TargetError::Unusable { .. },
            )) => "the target is refused by the proxy's egress policy".to_owned(),
            Self::Upstream(UpstreamError::Target(TargetError::Port { port, .. })) => {
                format!("port {port} is not allowed through this proxy")
            }
            // The certificate problem is the operator's to fix; say what it is, without the
            // backend's address.
            Self::Upstream(UpstreamError::Tls { reason, .. }) => {
                format!("TLS with upstream failed: {}", tls_reason(reason))
            }
            other => other.to_string(),
        };
        let mut response = Response::new(Bytes::from(format!("weir: {reason}\n")));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert("x-weir-error", HeaderValue::from_static(self.kind()));
        if let Self::Upstream(e) = self
            && let Some(wait) = e.retry_after()
        {
            // Whole seconds, rounded up: a client told 0 would come straight back.
            let secs = wait.as_millis().div_ceil(1000).max(1);
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from(secs as u64));
        }
        response
    }
}

/// The rustls part of a TLS failure's chain ("invalid peer certificate: UnknownIssuer").
fn tls_reason(chain: &str) -> &str {
    [
        "invalid peer certificate",
        "received fatal alert",
        "peer is incompatible",
    ]
    .iter()
    .find_map(|start| chain.find(start).map(|at| &chain[at..]))
    .unwrap_or("handshake failed")
}

fn short(error: &CallError) -> &'static str {
    match error {
        CallError::Deadline(_) => "deadline exceeded",
        CallError::Memory(_) => "memory cap exceeded",
        CallError::Trap(_) => "trapped",
        CallError::Instantiate(_) => "no instance available",
        CallError::InitRejected(_) => "init rejected its config",
    }
}
