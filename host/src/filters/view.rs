//! Conversions between hyper's request and response heads and the views filters see.

use std::net::SocketAddr;
use std::sync::Arc;

use http::HeaderMap;
use http::request::Parts;

use crate::runtime::{Journal, RequestView, ResponseView};

/// Facts about a request that are not in its head.
#[derive(Clone, Debug)]
pub(crate) struct RequestMeta {
    pub(crate) client: SocketAddr,
    pub(crate) scheme: &'static str,
    pub(crate) id: Arc<str>,
    pub(crate) tls: Option<Arc<crate::tls::TlsFacts>>,
}

/// Builds the filter view of a request head (hop-by-hop fields already removed).
pub(crate) fn view_from_parts(parts: &mut Parts, meta: &RequestMeta) -> RequestView {
    let authority = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            parts
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        });
    let path = match parts.uri.path() {
        "" => "/".to_owned(),
        p => p.to_owned(),
    };
    RequestView {
        method: parts.method.clone(),
        scheme: meta.scheme.to_owned(),
        authority,
        path,
        query: parts.uri.query().map(str::to_owned),
        version: parts.version,
        headers: std::mem::take(&mut parts.headers),
        client: meta.client,
        id: meta.id.clone(),
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
