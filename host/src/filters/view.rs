//! The exchange's request head built from hyper's, and the response view filters see.

use std::net::SocketAddr;
use std::sync::Arc;

use http::HeaderMap;
use http::request::Parts;
use http::uri::PathAndQuery;

use crate::runtime::{Journal, RequestId, RequestView, ResponseView};

/// Facts about a request that are not in its head.
#[derive(Clone, Debug)]
pub(crate) struct RequestMeta {
    pub(crate) client: SocketAddr,
    pub(crate) scheme: &'static str,
    pub(crate) id: RequestId,
    pub(crate) tls: Option<Arc<crate::tls::TlsFacts>>,
}

/// Builds the request head an exchange owns from the downstream head (hop-by-hop fields
/// already removed), by moving its parts: the method, the parsed target and the header map
/// are taken over as they are, nothing is copied or parsed again.
pub(crate) fn request_head(parts: Parts, meta: &RequestMeta) -> RequestView {
    let uri = parts.uri.into_parts();
    RequestView {
        method: parts.method,
        scheme: meta.scheme,
        authority: uri.authority,
        path_and_query: uri
            .path_and_query
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
        version: parts.version,
        headers: parts.headers,
        client: meta.client,
        id: meta.id,
        tls: meta.tls.clone(),
        backend: None,
        journal: Journal::default(),
    }
}

/// Builds the filter view of a response head.
pub(crate) fn response_view(status: http::StatusCode, headers: HeaderMap) -> ResponseView {
    ResponseView {
        status,
        headers,
        journal: Journal::default(),
    }
}
