//! The phases of one exchange after routing, in order: **request hooks → choose backend →
//! connect → send → response hooks**. Reverse and forward requests run all of them; a CONNECT
//! tunnel runs the first three and then splices (module `tunnel`).
//!
//! The exchange owns the request head ([`RequestView`]) from routing to the upstream write:
//! filters edit it in place, and the upstream request is made from its parts without turning
//! anything into a string and back. Connecting comes before sending, so a backend that cannot
//! be reached is replaced by another before anything of the request was sent.

use std::mem;

use http::header::{HOST, PROXY_AUTHORIZATION};
use http::uri::Authority;
use http::{HeaderValue, Request, Response, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::{ProxyBody, ProxyError, ProxyState, full, headers};
use crate::filters::{self, FilterChain, RequestOutcome, ResponseOutcome};
use crate::runtime::{BackendChoice, LocalResponse, RequestView};
use crate::upstream::{BackendPool, Connection, KeyHash, OriginClient, ResponseBody, UpstreamBody};

/// Where a request goes unless a filter selects a pool.
#[derive(Clone, Copy)]
pub(super) enum Destination<'a> {
    /// The route's pool.
    Pool(&'a BackendPool),
    /// The origin in the request (forward proxy).
    Origin(&'a OriginClient),
}

/// Where a request goes, decided.
pub(super) enum Target<'a> {
    /// A backend of a pool, chosen at connect time (by the request's hash key, if it has one).
    Pool {
        pool: &'a BackendPool,
        key: Option<KeyHash>,
    },
    /// An origin of the forward proxy.
    Origin {
        origins: &'a OriginClient,
        https: bool,
        authority: Authority,
    },
}

/// An open upstream connection and where it leads.
pub(super) struct Connected<'a> {
    conn: Connection,
    /// `host:port` of the backend or origin, for logs and as a last-resort `Host`.
    pub(super) name: Authority,
    via: Via<'a>,
}

enum Via<'a> {
    Backend(&'a BackendPool, usize),
    Origin(&'a OriginClient, bool),
}

/// What the request hooks decided.
#[allow(
    clippy::large_enum_variant,
    reason = "moved once per request; boxing the common variant would allocate every time"
)]
pub(super) enum Hooked {
    /// Every filter continued: forward the (edited) head.
    Continue(RequestView),
    /// A filter answered.
    Respond(Response<ProxyBody>),
}

/// Runs every phase after routing and returns the response to send downstream. `upstream`
/// receives the backend or origin once connected, for the log line.
pub(super) async fn run(
    state: &ProxyState,
    chain: &FilterChain,
    default: Destination<'_>,
    head: RequestView,
    body: Incoming,
    upstream: &mut Option<Authority>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let forwarding = Forwarding::of(&head, default);
    let mut head = match request_hooks(chain, head).await? {
        Hooked::Continue(head) => head,
        Hooked::Respond(response) => return Ok(response),
    };
    let target = choose_backend(state, &mut head, default)?;
    let connected = connect(target).await?;
    *upstream = Some(connected.name.clone());
    // The request head stays with the exchange only when a response hook will read it; the
    // upstream write then needs a copy of the header map, because hyper takes ownership of
    // the head it writes.
    let keep_head = chain.runs_on_response();
    let request = upstream_request(&mut head, keep_head, body, &forwarding, &connected.name);
    let response = send(connected, request).await?;
    response_hooks(chain, keep_head.then_some(head), response).await
}

/// Phase **request hooks**: the chain's `on-request` hooks, in order. Also removes the proxy
/// credentials, which are for filters to check and never for the upstream.
pub(super) async fn request_hooks(
    chain: &FilterChain,
    head: RequestView,
) -> Result<Hooked, ProxyError> {
    let mut head = if chain.is_empty() {
        head
    } else {
        // Boxed, here only: the hook calls' future is large (it holds the wasmtime call), and
        // hyper keeps room for a connection's request future while the connection idles; a
        // request through no filter pays nothing.
        match Box::pin(chain.run_request(head)).await {
            RequestOutcome::Forward(edited) => {
                tracing::debug!(request.id = %edited.id, edits = ?edited.journal.entries(), refused = ?edited.journal.refusals(), backend = ?edited.backend, "request filters done");
                edited
            }
            RequestOutcome::Respond { filter, response } => {
                return Ok(Hooked::Respond(local_answer(filter, response)?));
            }
            RequestOutcome::Failed { filter, error } => {
                return Err(ProxyError::Filter {
                    filter,
                    source: error,
                });
            }
            RequestOutcome::Unavailable { filter } => {
                return Err(ProxyError::FilterUnavailable { filter });
            }
            RequestOutcome::InvalidVerdict { filter, reason } => {
                return Err(ProxyError::InvalidVerdict { filter, reason });
            }
        }
    };
    head.headers.remove(PROXY_AUTHORIZATION);
    Ok(Hooked::Continue(head))
}

/// Phase **choose backend**: the pool a filter selected, else the route's pool or the
/// request's origin. The backend within a pool is chosen when connecting, by the request's
/// hash key: the filter's affinity key, else the pool's `hash_key` read from the head (hashed
/// in place, nothing copied).
pub(super) fn choose_backend<'a>(
    state: &'a ProxyState,
    head: &mut RequestView,
    default: Destination<'a>,
) -> Result<Target<'a>, ProxyError> {
    if let Some(BackendChoice { pool, affinity_key }) = head.backend.take() {
        let found = state
            .pools
            .get(pool.as_str())
            .ok_or(ProxyError::UnknownPool { pool })?;
        return Ok(Target::Pool {
            pool: found,
            key: found.key_of(affinity_key.as_deref(), &head.headers, head.client),
        });
    }
    Ok(match default {
        Destination::Pool(pool) => Target::Pool {
            pool,
            key: pool.key_of(None, &head.headers, head.client),
        },
        Destination::Origin(origins) => Target::Origin {
            origins,
            https: head.scheme == "https",
            authority: head.authority.clone().ok_or(ProxyError::NotAbsolute)?,
        },
    })
}

/// Phase **connect**: an open connection to the target (pooled or new). A pool tries one other
/// backend when the first cannot be reached; nothing was sent, so that is safe for any request.
pub(super) async fn connect(target: Target<'_>) -> Result<Connected<'_>, ProxyError> {
    Ok(match target {
        Target::Pool { pool, key } => {
            let (index, conn) = pool.connect(key).await?;
            Connected {
                conn,
                name: pool.backends()[index].authority.clone(),
                via: Via::Backend(pool, index),
            }
        }
        Target::Origin {
            origins,
            https,
            authority,
        } => Connected {
            conn: origins.connect(https, &authority).await?,
            name: authority,
            via: Via::Origin(origins, https),
        },
    })
}

/// Phase **send**: writes the request on the connection and waits for the response head.
async fn send(
    connected: Connected<'_>,
    request: Request<UpstreamBody>,
) -> Result<Response<ResponseBody>, ProxyError> {
    let Connected { conn, name, via } = connected;
    Ok(match via {
        Via::Backend(pool, index) => pool.send(index, conn, request).await?,
        Via::Origin(origins, https) => origins.send(https, &name, conn, request).await?,
    })
}

/// Phase **response hooks**: the chain's `on-response` hooks in reverse order, when `head` was
/// kept for them; then the response head weir sends downstream.
async fn response_hooks(
    chain: &FilterChain,
    head: Option<RequestView>,
    response: Response<ResponseBody>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let (mut parts, body) = response.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    if let Some(request) = head {
        let view = filters::response_view(parts.status, mem::take(&mut parts.headers));
        match Box::pin(chain.run_response(request, view)).await {
            ResponseOutcome::Forward(edited) => {
                parts.status = edited.status;
                parts.headers = edited.headers;
            }
            ResponseOutcome::Respond { filter, response } => {
                return local_answer(filter, response);
            }
            ResponseOutcome::Failed { filter, error } => {
                return Err(ProxyError::Filter {
                    filter,
                    source: error,
                });
            }
            ResponseOutcome::Unavailable { filter } => {
                return Err(ProxyError::FilterUnavailable { filter });
            }
            ResponseOutcome::InvalidVerdict { filter, reason } => {
                return Err(ProxyError::InvalidVerdict { filter, reason });
            }
        }
    }
    headers::append_via(&mut parts.headers, parts.version);
    parts.version = Version::HTTP_11;
    Ok(Response::from_parts(parts, body.boxed_unsync()))
}

/// The forwarding fields a request gets, fixed before filters run (they describe the client's
/// request, not the edited one).
enum Forwarding {
    /// Reverse proxy: `X-Forwarded-For`, `-Proto`, `-Host` and `Via`.
    Reverse {
        client: std::net::IpAddr,
        host: Option<HeaderValue>,
        version: Version,
    },
    /// Forward proxy: only `Via`.
    Forward { version: Version },
}

impl Forwarding {
    fn of(head: &RequestView, destination: Destination<'_>) -> Self {
        match destination {
            Destination::Pool(_) => Self::Reverse {
                client: head.client.ip(),
                host: match &head.authority {
                    Some(authority) => HeaderValue::from_str(authority.as_str()).ok(),
                    // Shares the field's bytes: no copy.
                    None => head.headers.get(HOST).cloned(),
                },
                version: head.version,
            },
            Destination::Origin(_) => Self::Forward {
                version: head.version,
            },
        }
    }
}

/// The request written upstream, made from the head's parts: the method, the parsed target in
/// origin form (HTTP/2 connections make it absolute), the header map moved (or copied when
/// `keep_head`), the forwarding fields, and `Host` when the client sent none.
fn upstream_request(
    head: &mut RequestView,
    keep_head: bool,
    body: Incoming,
    forwarding: &Forwarding,
    upstream: &Authority,
) -> Request<UpstreamBody> {
    let mut fields = if keep_head {
        head.headers.clone()
    } else {
        mem::take(&mut head.headers)
    };
    match forwarding {
        Forwarding::Reverse {
            client,
            host,
            version,
        } => {
            // The scheme after filters: a filter's `set-scheme` decides what the upstream is told.
            headers::add_forwarding(&mut fields, *client, head.scheme, host.clone(), *version);
        }
        Forwarding::Forward { version } => headers::append_via(&mut fields, *version),
    }
    if !fields.contains_key(HOST) {
        // HTTP/2 and absolute-form requests carry the authority in the target, HTTP/1.0 ones
        // may carry none: the upstream gets it as `Host`.
        let authority = head.authority.as_ref().unwrap_or(upstream);
        if let Ok(value) = HeaderValue::from_str(authority.as_str()) {
            fields.insert(HOST, value);
        }
    }
    let mut request = Request::new(UpstreamBody(body));
    *request.method_mut() = head.method.clone();
    *request.uri_mut() = Uri::from(head.path_and_query.clone());
    *request.headers_mut() = fields;
    request
}

/// The response a filter's `respond` verdict asks for, or why weir refuses to send it.
pub(super) fn local_answer(
    filter: std::sync::Arc<str>,
    response: LocalResponse,
) -> Result<Response<ProxyBody>, ProxyError> {
    filters::into_http_response(response)
        .map(|local| local.map(full))
        .map_err(|e| ProxyError::InvalidVerdict {
            filter,
            reason: e.to_string(),
        })
}
