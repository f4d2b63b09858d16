//! The exchange's request head built from hyper's, and the response view filters see.

use std::net::SocketAddr;
use std::sync::Arc;

use http::HeaderMap;
use http::request::Parts;
use http::uri::PathAndQuery;

use crate::runtime::{Journal, PathContext, RawTarget, RequestId, RequestView, ResponseView};

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
/// are taken over as they are, nothing is copied or parsed again. The target was normalised by
/// the route phase, which left the received one in the extensions if it differed.
pub(crate) fn request_head(mut parts: Parts, meta: &RequestMeta) -> RequestView {
    let uri = parts.uri.into_parts();
    // Only a normalised target has a context of its own here; the route phase attaches the
    // route's rules to it.
    let path_context = parts.extensions.remove::<RawTarget>().map(|raw| {
        Arc::new(PathContext {
            raw_target: Some(raw.0),
            ..PathContext::DEFAULT
        })
    });
    RequestView {
        method: parts.method,
        scheme: meta.scheme,
        authority: uri.authority,
        path_and_query: uri
            .path_and_query
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
        path_context,
        version: parts.version,
        headers: parts.headers,
        client: meta.client,
        id: meta.id,
        tls: meta.tls.clone(),
        backend: None,
        journal: Journal::default(),
        context: Default::default(),
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
