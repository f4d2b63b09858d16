//! Data-path errors, each knowing which side failed, and the one place they become responses.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

use crate::runtime::CallError;
use crate::upstream::UpstreamError;

/// Why weir answered a request itself with an error.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The downstream request cannot be proxied.
    #[error("malformed request: {0}")]
    Downstream(&'static str),
    /// No route matches the host and path.
    #[error("no route for this host and path")]
    NoRoute,
    /// A fail-closed filter faulted.
    #[error("filter `{filter}` failed: {source}")]
    Filter {
        /// Filter name.
        filter: Arc<str>,
        /// What went wrong.
        #[source]
        source: CallError,
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
    /// The upstream exchange failed.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

impl ProxyError {
    /// The status code sent downstream.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Downstream(_) => StatusCode::BAD_REQUEST,
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::Filter { .. } | Self::InvalidVerdict { .. } | Self::UnknownPool { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::Upstream(UpstreamError::Timeout { .. }) => StatusCode::GATEWAY_TIMEOUT,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
        }
    }

    /// A short machine-readable kind, sent as `x-weir-error`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Downstream(_) => "bad-request",
            Self::NoRoute => "no-route",
            Self::Filter { .. } => "filter-failed",
            Self::InvalidVerdict { .. } => "invalid-verdict",
            Self::UnknownPool { .. } => "unknown-pool",
            Self::Upstream(UpstreamError::Connect { .. }) => "upstream-connect",
            Self::Upstream(UpstreamError::Timeout { .. }) => "upstream-timeout",
            Self::Upstream(UpstreamError::Failed { .. }) => "upstream-failed",
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
        response
    }
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
