//! The phases of one exchange after routing, in order: **request hooks → choose backend →
//! connect → send → response hooks**. Reverse and forward requests run all of them; a CONNECT
//! tunnel runs the first three and then splices (module `tunnel`); an upgrade request
//! (WebSocket) runs the request hooks and the choice of backend here, then its own connect,
//! send and response hooks on a dedicated connection before it splices (module `upgrade`).
//!
//! The exchange owns the request head ([`RequestView`]) from routing to the upstream write:
//! filters edit it in place, and the upstream request is made from its parts without turning
//! anything into a string and back. Connecting comes before sending, so a backend that cannot
//! be reached is replaced by another before anything of the request was sent.

use std::mem;
use std::sync::PoisonError;

use bytes::Bytes;
use http::header::{HOST, PROXY_AUTHORIZATION};
use http::uri::{Authority, PathAndQuery};
use http::{HeaderValue, Method, Request, Response, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Incoming};

use super::log::Seen;
use super::upgrade::{self, Downstream};
use super::{ProxyBody, ProxyError, ProxyState, full, headers};
use crate::access::TraceStep;
use crate::filters::{self, FilterChain, RequestOutcome, ResponseOutcome};
use crate::runtime::{BackendChoice, LocalResponse, RequestView};
use crate::upstream::{
    BackendPool, Connection, EgressPolicy, ForwardedFor, KeyHash, OriginClient, ResponseBody,
    Tried, UpstreamBody, UpstreamError,
};

/// The downstream request body and the most of it the route allows.
pub(super) struct RequestBody {
    pub(super) body: Incoming,
    pub(super) max_body: Option<u64>,
    /// Counts the bytes read from the client, for the access log.
    pub(super) counted: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

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
        /// On a forward listener, its egress policy: every address connected must pass it,
        /// since a client may be able to steer the filter that chose the pool.
        egress: Option<&'a EgressPolicy>,
    },
    /// An origin of the forward proxy.
    Origin {
        origins: &'a OriginClient,
        https: bool,
        authority: Authority,
    },
}

/// An open connection to a forward-proxy origin.
pub(super) struct Connected<'a> {
    conn: Connection,
    /// `host:port` of the origin, for logs and as a last-resort `Host`.
    pub(super) name: Authority,
    origins: &'a OriginClient,
    https: bool,
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

/// Runs every phase after routing and returns the response to send downstream. `seen`
/// receives the backend or origin once connected, the retries and the decision trace, for the
/// access record. An upgrade request
/// (`upgrade` is its downstream side) leaves for module `upgrade` once its backend is chosen.
#[allow(
    clippy::too_many_arguments,
    reason = "the inputs of every phase, each used; a struct would only rename them"
)]
pub(super) async fn run(
    state: &ProxyState,
    chain: &FilterChain,
    default: Destination<'_>,
    head: RequestView,
    body: RequestBody,
    hop: std::net::IpAddr,
    upgrade: Option<Downstream>,
    seen: &mut Seen,
) -> Result<Response<ProxyBody>, ProxyError> {
    let forwarding = Forwarding::of(&head, default, hop);
    let mut head = match request_hooks(chain, head, &mut seen.record.trace).await? {
        Hooked::Continue(head) => head,
        Hooked::Respond(response) => return Ok(response),
    };
    let target = choose_backend(state, &mut head, default)?;
    if let (Destination::Origin(origins), Target::Pool { pool, .. }) = (default, &target) {
        // A forward listener's egress policy covers a pool a filter selected too: a client
        // may be able to steer the filter.
        origins.admit_pool(pool).await?;
    }
    if let Some(downstream) = upgrade {
        // Boxed: rare, and the request future of every connection would carry its size.
        let upgrade = upgrade::run(
            chain,
            target,
            head,
            &forwarding,
            downstream,
            seen,
            &state.access,
        );
        return Box::pin(upgrade).await;
    }
    // The request head stays with the exchange only when a response hook will read it; the
    // upstream write then needs a copy of the header map, because hyper takes ownership of
    // the head it writes.
    let keep_head = chain.runs_on_response();
    let response = match target {
        Target::Pool { pool, key, egress } => {
            let exchange = PoolExchange {
                pool,
                key,
                forwarding: &forwarding,
                keep_head,
                egress,
            };
            exchange.send(&mut head, body, seen).await?
        }
        Target::Origin {
            origins,
            https,
            authority,
        } => {
            let connected = connect_origin(origins, https, authority).await?;
            seen.upstream = Some(connected.name.clone());
            let body = UpstreamBody::stream(body.body, None, body.max_body).counting(body.counted);
            let request =
                upstream_request(&mut head, keep_head, body, &forwarding, &connected.name);
            let response = send(connected, request).await?;
            seen.ttfb = Some(seen.started.elapsed());
            response
        }
    };
    response_hooks(
        chain,
        keep_head.then_some(head),
        response,
        &mut seen.record.trace,
    )
    .await
}

/// Phases **connect** and **send** to a pool, with its retries: a backend that cannot be
/// reached is replaced before anything is sent (any request); an idempotent request whose
/// connection broke, whose response head was late or whose status the pool retries goes to a
/// backend not tried yet, if its body was kept (small enough) and the pool's budget allows.
struct PoolExchange<'a> {
    pool: &'a BackendPool,
    key: Option<KeyHash>,
    forwarding: &'a Forwarding,
    keep_head: bool,
    /// On a forward listener, its egress policy, judged on each connection's address.
    egress: Option<&'a EgressPolicy>,
}

impl PoolExchange<'_> {
    async fn send(
        &self,
        head: &mut RequestView,
        body: RequestBody,
        seen: &mut Seen,
    ) -> Result<Response<ResponseBody>, ProxyError> {
        let settings = self.pool.settings();
        let total = settings.request_timeout;
        let deadline = total.map(|t| tokio::time::Instant::now() + t);
        let exchange = self.attempts(head, body, deadline, seen);
        match (deadline, total) {
            (Some(deadline), Some(after)) => tokio::time::timeout_at(deadline, exchange)
                .await
                .unwrap_or(Err(UpstreamError::TotalTimeout { after })),
            _ => exchange.await,
        }
        .map_err(ProxyError::from)
    }

    async fn attempts(
        &self,
        head: &mut RequestView,
        body: RequestBody,
        deadline: Option<tokio::time::Instant>,
        seen: &mut Seen,
    ) -> Result<Response<ResponseBody>, UpstreamError> {
        let settings = self.pool.settings();
        let retries = &settings.retries;
        let idle = settings.body_idle_timeout;
        // A retry needs the head again (a copy of the header map) and another backend to go to:
        // a pool of one never pays for the copy.
        let may_resend = retries.max_retries > 0
            && self.pool.backends().len() > 1
            && is_idempotent(&head.method)
            && (retries.on_reset || retries.on_timeout || !retries.on_status.is_empty());
        self.pool.count_request();
        let mut tried = Tried::default();
        // A body whose length is announced and within the cap is read before the first attempt,
        // so that a retry can always send it again; a longer or unannounced body streams, kept
        // (up to the cap) as it goes.
        let mut replay = Bytes::new();
        let RequestBody {
            body,
            max_body,
            counted,
        } = body;
        let mut body = Some(body);
        let cap = retries.max_body_bytes as u64;
        if may_resend
            && let Some(announced) = body
                .take_if(|b| !b.is_end_stream() && b.size_hint().exact().is_some_and(|n| n <= cap))
        {
            replay = UpstreamBody::stream(announced, idle, max_body)
                .counting(counted.clone())
                .collect()
                .await
                .map_err(|e| UpstreamError::DownstreamBody {
                    reason: crate::upstream::error_chain(&e),
                })?
                .to_bytes();
        }
        let mut kept = None;
        let mut previous = None;
        loop {
            let retry = previous.is_some();
            let attempt = match (
                self.pool
                    .connect(self.key, &mut tried, retry, self.egress)
                    .await,
                previous.take(),
            ) {
                (Ok(attempt), _) => attempt,
                // No backend left to retry on, or no budget for it: the last failure is the
                // answer.
                (Err(UpstreamError::NoBackend { .. }), Some(previous)) => return previous,
                (Err(e), _) => return Err(e),
            };
            let name = self.pool.backends()[attempt.index].authority.clone();
            let upstream_body = match body.take() {
                Some(body) if may_resend => {
                    let (body, keep) =
                        UpstreamBody::keep(body, retries.max_body_bytes, idle, max_body);
                    kept = keep;
                    body.counting(counted.clone())
                }
                Some(body) => UpstreamBody::stream(body, idle, max_body).counting(counted.clone()),
                None => UpstreamBody::replay(replay.clone()),
            };
            let keep = self.keep_head || may_resend;
            let request = upstream_request(head, keep, upstream_body, self.forwarding, &name);
            seen.upstream = Some(name);
            // Every backend after the first, whether it replaced one that could not be reached
            // or one whose answer is retried.
            seen.record.retries = u32::try_from(tried.len().saturating_sub(1)).unwrap_or(u32::MAX);
            let result = self
                .pool
                .send(attempt, request, deadline, self.egress)
                .await;
            if result.is_ok() {
                seen.ttfb = Some(seen.started.elapsed());
            }
            let result = match result {
                Err(UpstreamError::Timeout { .. })
                    if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) =>
                {
                    Err(UpstreamError::TotalTimeout {
                        after: settings.request_timeout.unwrap_or_default(),
                    })
                }
                other => other,
            };
            let wants_retry = may_resend
                && match &result {
                    Ok(response) => retries.on_status.contains(&response.status().as_u16()),
                    Err(UpstreamError::Failed { .. }) => retries.on_reset,
                    Err(UpstreamError::Timeout { .. }) => retries.on_timeout,
                    Err(_) => false,
                };
            if !wants_retry || tried.len() > retries.max_retries as usize {
                return result;
            }
            // The body goes again only if it was kept whole (read before, or kept as it went).
            let kept_body = match &kept {
                None => Some(replay.clone()),
                Some(kept) => kept.lock().unwrap_or_else(PoisonError::into_inner).replay(),
            };
            let Some(kept_body) = kept_body else {
                return result;
            };
            replay = kept_body;
            tracing::debug!(request.id = %head.id, pool = %self.pool.name(), outcome = ?result.as_ref().map(|r| r.status()), "retrying on another backend");
            previous = Some(result);
        }
    }
}

/// Methods a retry may send twice (RFC 9110 §9.2.2).
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Phase **request hooks**: the chain's `on-request` hooks, in order. Also removes the proxy
/// credentials, which are for filters to check and never for the upstream.
pub(super) async fn request_hooks(
    chain: &FilterChain,
    head: RequestView,
    trace: &mut Vec<TraceStep>,
) -> Result<Hooked, ProxyError> {
    let mut head = if chain.is_empty() {
        head
    } else {
        // Boxed, here only: the hook calls' future is large (it holds the wasmtime call), and
        // hyper keeps room for a connection's request future while the connection idles; a
        // request through no filter pays nothing.
        match Box::pin(chain.run_request(head, trace)).await {
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
            egress: match default {
                Destination::Origin(origins) => Some(origins.resolver().policy()),
                Destination::Pool(_) => None,
            },
        });
    }
    Ok(match default {
        Destination::Pool(pool) => Target::Pool {
            pool,
            key: pool.key_of(None, &head.headers, head.client),
            egress: None,
        },
        Destination::Origin(origins) => Target::Origin {
            origins,
            https: head.scheme == "https",
            authority: head.authority.clone().ok_or(ProxyError::NotAbsolute)?,
        },
    })
}

/// Phase **connect** for a forward-proxy origin: an open connection (pooled or new).
async fn connect_origin(
    origins: &OriginClient,
    https: bool,
    authority: Authority,
) -> Result<Connected<'_>, ProxyError> {
    Ok(Connected {
        conn: origins.connect(https, &authority).await?,
        name: authority,
        origins,
        https,
    })
}

/// Phase **send** to a forward-proxy origin: writes the request on the connection and waits
/// for the response head.
async fn send(
    connected: Connected<'_>,
    request: Request<UpstreamBody>,
) -> Result<Response<ResponseBody>, ProxyError> {
    let Connected {
        conn,
        name,
        origins,
        https,
    } = connected;
    Ok(origins.send(https, &name, conn, request).await?)
}

/// Phase **response hooks**: the chain's `on-response` hooks in reverse order, when `head` was
/// kept for them; then the response head weir sends downstream.
pub(super) async fn response_hooks(
    chain: &FilterChain,
    head: Option<RequestView>,
    response: Response<ResponseBody>,
    trace: &mut Vec<TraceStep>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let (mut parts, body) = response.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    if let Some(request) = head {
        let view = filters::response_view(parts.status, mem::take(&mut parts.headers));
        match Box::pin(chain.run_response(request, view, trace)).await {
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
pub(super) enum Forwarding {
    /// Reverse proxy: `X-Forwarded-For`, `-Proto`, `-Host` and `Via`.
    Reverse {
        client: std::net::IpAddr,
        host: Option<HeaderValue>,
        version: Version,
    },
    /// Forward proxy: `Via`, and the client's address when `forwarded_for = "append"`.
    Forward {
        version: Version,
        client: Option<std::net::IpAddr>,
    },
}

impl Forwarding {
    /// `hop` is the connection's client, which `X-Forwarded-For` names: the request's client
    /// when no trusted proxy forwarded it.
    fn of(head: &RequestView, destination: Destination<'_>, hop: std::net::IpAddr) -> Self {
        match destination {
            Destination::Pool(_) => Self::Reverse {
                client: hop,
                host: match &head.authority {
                    Some(authority) => HeaderValue::from_str(authority.as_str()).ok(),
                    // Shares the field's bytes: no copy.
                    None => head.headers.get(HOST).cloned(),
                },
                version: head.version,
            },
            Destination::Origin(origins) => Self::Forward {
                version: head.version,
                client: (origins.settings().forwarded_for == ForwardedFor::Append)
                    .then(|| head.client.ip()),
            },
        }
    }
}

/// The request written upstream, made from the head's parts: the method, the parsed target in
/// origin form (HTTP/2 connections make it absolute) and the fields of [`upstream_fields`].
fn upstream_request(
    head: &mut RequestView,
    keep_head: bool,
    body: UpstreamBody,
    forwarding: &Forwarding,
    upstream: &Authority,
) -> Request<UpstreamBody> {
    let fields = upstream_fields(head, keep_head, forwarding, upstream);
    // Like the header map, the target moves unless the head is kept: a filter's new path is
    // a `Bytes` of its own, and cloning it would allocate its shared form.
    let target = if keep_head {
        head.path_and_query.clone()
    } else {
        mem::replace(&mut head.path_and_query, PathAndQuery::from_static("/"))
    };
    let mut request = Request::new(body);
    *request.method_mut() = head.method.clone();
    *request.uri_mut() = Uri::from(target);
    *request.headers_mut() = fields;
    request
}

/// The header fields written upstream: the head's map moved (or copied when `keep_head`), the
/// forwarding fields, and `Host` when the client sent none.
pub(super) fn upstream_fields(
    head: &mut RequestView,
    keep_head: bool,
    forwarding: &Forwarding,
    upstream: &Authority,
) -> http::HeaderMap {
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
        Forwarding::Forward { version, client } => {
            if let Some(client) = client {
                headers::append_client(&mut fields, *client);
            }
            headers::append_via(&mut fields, *version);
        }
    }
    // HTTP/2 and absolute-form requests carry the authority in the target, and it wins over a
    // `Host` field (RFC 9112 §3.2.2: a proxy replaces `Host` with it; RFC 9113 §8.3.1); an
    // HTTP/1.0 request may carry neither: the upstream gets the backend's name.
    let authority = match &head.authority {
        Some(authority) => Some(authority).filter(|a| {
            fields
                .get(HOST)
                .is_none_or(|h| h.as_bytes() != a.as_str().as_bytes())
        }),
        None => Some(upstream).filter(|_| !fields.contains_key(HOST)),
    };
    if let Some(authority) = authority
        && let Ok(value) = HeaderValue::from_str(authority.as_str())
    {
        fields.insert(HOST, value);
    }
    fields
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
