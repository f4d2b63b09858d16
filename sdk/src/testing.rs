//! The native test kit: build a request or response in memory, run a hook on it, and check the
//! verdict, the edits and what the hook logged.
//!
//! The in-memory request and response validate every edit with the host's rules and keep a
//! journal of the accepted ones in the host's words:
//!
//! - header names must be RFC 9110 tokens and are stored lowercase; values must not contain CR,
//!   LF, NUL or other control characters except tab;
//! - hop-by-hop fields (`connection`, `keep-alive`, `proxy-connection`, `te`, `trailer`,
//!   `transfer-encoding`, `upgrade`) and `content-length` are [`Forbidden`](crate::EditError);
//!   so is `host` on a request (use [`Request::set_authority`]);
//! - a path must start with `/` and contain no whitespace, control characters, `?` or `#`, and
//!   is normalised as weir normalises request paths (`weir_rules::path`, encoded separators
//!   refused); the kit knows no route, so unlike weir it cannot refuse a path that leaves one;
//! - cookie names must be tokens, cookie values cookie-octets, optionally quoted
//!   (RFC 6265 §4.1.1);
//! - pool names must be 1 to 64 of `A-Z a-z 0-9 . _ -` (the host also checks the pool exists);
//! - a status must be 200..=599 and a scheme `http` or `https`.
//!
//! The builders themselves do not validate, so a test can model odd input from the network.
//!
//! ```
//! use weir_sdk::testing::{self, TestRequest};
//! use weir_sdk::{Filter, Request, Verdict};
//!
//! struct Canary;
//!
//! impl Filter for Canary {
//!     fn init(_config: &str) -> Result<Self, String> {
//!         Ok(Canary)
//!     }
//!
//!     fn on_request(&mut self, req: &mut Request) -> Verdict {
//!         if req.cookie("canary").as_deref() == Some("1") {
//!             if let Err(e) = req.select_backend("canary", None) {
//!                 return Verdict::deny(500, e.to_string());
//!             }
//!         }
//!         Verdict::Continue
//!     }
//! }
//!
//! let mut filter = Canary::init("{}").unwrap();
//! let mut req = TestRequest::get("/").cookie("canary", "1").build();
//! assert!(testing::run_request(&mut filter, &mut req).is_continue());
//! assert_eq!(testing::selected_backend(&req), Some(("canary".to_owned(), None)));
//! assert_eq!(testing::edits(&req), ["select-backend canary"]);
//! ```

mod header_list;
mod journal;
mod records;
mod request;
mod response;

use std::net::{Ipv4Addr, SocketAddr};

pub use records::{clear_records, counters, logs};
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use records::{record_counter, record_log};
pub(crate) use request::MemoryRequest;
pub(crate) use response::MemoryResponse;

use header_list::HeaderList;
use journal::Journal;

use crate::{Filter, Header, HttpVersion, Request, Response, Verdict};

/// Builder for an in-memory [`Request`].
///
/// Defaults: scheme `http`, no authority, HTTP/1.1, client `127.0.0.1:50000`, id
/// `test-request`, no headers.
///
/// ```
/// use weir_sdk::{HttpVersion, testing::TestRequest};
///
/// let req = TestRequest::get("/path?x=1")
///     .authority("app.test")
///     .header("accept", "text/html")
///     .cookie("sid", "abc")
///     .client("203.0.113.7:5555")
///     .scheme("https")
///     .version(HttpVersion::Http2)
///     .id("req-1")
///     .build();
/// assert_eq!(req.header_str("host").as_deref(), Some("app.test"));
/// assert_eq!(req.cookie("sid").as_deref(), Some("abc"));
/// ```
#[derive(Clone, Debug)]
pub struct TestRequest {
    request: MemoryRequest,
}

impl TestRequest {
    /// A request with `method` and an origin-form `target` (`/path?query`); an empty path
    /// becomes `/` and a `#fragment` is dropped.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let req = TestRequest::new("DELETE", "/items/7?force=1").build();
    /// assert_eq!(req.method(), "DELETE");
    /// assert_eq!(req.path(), "/items/7");
    /// assert_eq!(req.query().as_deref(), Some("force=1"));
    /// ```
    pub fn new(method: &str, target: &str) -> Self {
        let target = target.split('#').next().unwrap_or_default();
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query.to_owned())),
            None => (target, None),
        };
        let path = if path.is_empty() { "/" } else { path };
        Self {
            request: MemoryRequest {
                method: method.to_owned(),
                scheme: "http".to_owned(),
                authority: None,
                path: path.to_owned(),
                raw_path: None,
                query,
                version: HttpVersion::Http11,
                headers: HeaderList::default(),
                client: SocketAddr::from((Ipv4Addr::LOCALHOST, 50000)),
                id: "test-request".to_owned(),
                tls: None,
                backend: None,
                journal: Journal::default(),
                context: weir_rules::context::Context::default(),
            },
        }
    }

    /// The path as the client sent it (what [`Request::raw_path`] returns), to model a request
    /// weir normalised: the target given to [`new`](Self::new) is the normalised one.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let req = TestRequest::get("/b").raw_path("/a/../b").build();
    /// assert_eq!(req.raw_path(), "/a/../b");
    /// ```
    pub fn raw_path(mut self, raw_path: &str) -> Self {
        self.request.raw_path = Some(raw_path.to_owned());
        self
    }

    /// A `GET` request for `target`.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// assert_eq!(TestRequest::get("/").build().method(), "GET");
    /// ```
    pub fn get(target: &str) -> Self {
        Self::new("GET", target)
    }

    /// A `POST` request for `target`.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// assert_eq!(TestRequest::post("/login").build().method(), "POST");
    /// ```
    pub fn post(target: &str) -> Self {
        Self::new("POST", target)
    }

    /// Sets the authority and the `host` header.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let req = TestRequest::get("/").authority("app.test").build();
    /// assert_eq!(req.authority().as_deref(), Some("app.test"));
    /// assert_eq!(req.header_all("host").len(), 1);
    /// ```
    pub fn authority(mut self, authority: &str) -> Self {
        self.request.authority = Some(authority.to_owned());
        self.request
            .headers
            .set("host", authority.as_bytes().to_vec());
        self
    }

    /// Adds a header field at the end (name lowercased; nothing validated).
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let req = TestRequest::get("/").header("X-A", "1").build();
    /// assert_eq!(req.headers()[0].name, "x-a");
    /// ```
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.request.headers.push(Header::new(name, value));
        self
    }

    /// Appends `name=value` to the last `Cookie` header, or adds one.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let req = TestRequest::get("/").cookie("a", "1").cookie("b", "2").build();
    /// assert_eq!(req.header_str("cookie").as_deref(), Some("a=1; b=2"));
    /// ```
    pub fn cookie(mut self, name: &str, value: &str) -> Self {
        let pair = format!("{name}={value}");
        match self.request.headers.last_mut("cookie") {
            Some(header) => {
                if !header.value.is_empty() {
                    header.value.extend_from_slice(b"; ");
                }
                header.value.extend_from_slice(pair.as_bytes());
            }
            None => self.request.headers.push(Header::new("cookie", pair)),
        }
        self
    }

    /// Sets the client's socket address.
    ///
    /// # Panics
    ///
    /// When `addr` is not an `ip:port` socket address (`[v6]:port` for IPv6): a test setup
    /// mistake.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let req = TestRequest::get("/").client("[2001:db8::7]:443").build();
    /// assert_eq!(req.client_addr(), "2001:db8::7");
    /// ```
    pub fn client(mut self, addr: &str) -> Self {
        match addr.parse() {
            Ok(client) => self.request.client = client,
            Err(_) => panic!("TestRequest::client: `{addr}` is not an ip:port socket address"),
        }
        self
    }

    /// Sets the scheme the client used (`http` or `https`).
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// assert_eq!(TestRequest::get("/").scheme("https").build().scheme(), "https");
    /// ```
    pub fn scheme(mut self, scheme: &str) -> Self {
        scheme.clone_into(&mut self.request.scheme);
        self
    }

    /// Sets the downstream HTTP version.
    ///
    /// ```
    /// # use weir_sdk::{HttpVersion, testing::TestRequest};
    /// let req = TestRequest::get("/").version(HttpVersion::Http10).build();
    /// assert_eq!(req.version(), HttpVersion::Http10);
    /// ```
    pub fn version(mut self, version: HttpVersion) -> Self {
        self.request.version = version;
        self
    }

    /// Sets the per-request id.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// assert_eq!(TestRequest::get("/").id("r-9").build().id(), "r-9");
    /// ```
    pub fn id(mut self, id: &str) -> Self {
        id.clone_into(&mut self.request.id);
        self
    }

    /// Makes the request arrive over TLS with these session facts.
    ///
    /// ```
    /// # use weir_sdk::{TlsInfo, testing::TestRequest};
    /// let tls = TlsInfo { version: "TLSv1.3".into(), ..TlsInfo::default() };
    /// let req = TestRequest::get("/").tls(tls).build();
    /// assert_eq!(req.tls().map(|t| t.version).as_deref(), Some("TLSv1.3"));
    /// ```
    pub fn tls(mut self, tls: crate::TlsInfo) -> Self {
        self.request.tls = Some(Box::new(tls));
        self
    }

    /// The request, with an empty journal.
    ///
    /// ```
    /// # use weir_sdk::testing::{self, TestRequest};
    /// let req = TestRequest::get("/").build();
    /// assert!(testing::edits(&req).is_empty());
    /// ```
    pub fn build(self) -> Request {
        Request::from_memory(self.request)
    }
}

/// Builder for an in-memory [`Response`].
///
/// ```
/// use weir_sdk::testing::TestResponse;
///
/// let resp = TestResponse::new(200)
///     .header("content-type", "text/html")
///     .set_cookie("a=b; Path=/")
///     .build();
/// assert_eq!(resp.set_cookies()[0].name, "a");
/// ```
#[derive(Clone, Debug)]
pub struct TestResponse {
    response: MemoryResponse,
}

impl TestResponse {
    /// A response with `status` and no headers.
    ///
    /// ```
    /// # use weir_sdk::testing::TestResponse;
    /// assert_eq!(TestResponse::new(201).build().status(), 201);
    /// ```
    pub fn new(status: u16) -> Self {
        Self {
            response: MemoryResponse {
                status,
                headers: HeaderList::default(),
                journal: Journal::default(),
            },
        }
    }

    /// Adds a header field at the end (name lowercased; nothing validated).
    ///
    /// ```
    /// # use weir_sdk::testing::TestResponse;
    /// let resp = TestResponse::new(200).header("Server", "x").build();
    /// assert_eq!(resp.header_str("server").as_deref(), Some("x"));
    /// ```
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.response.headers.push(Header::new(name, value));
        self
    }

    /// Adds a raw `Set-Cookie` header value, kept byte for byte.
    ///
    /// ```
    /// # use weir_sdk::testing::TestResponse;
    /// let resp = TestResponse::new(200).set_cookie("a=b;path=/").build();
    /// assert_eq!(resp.header_str("set-cookie").as_deref(), Some("a=b;path=/"));
    /// ```
    pub fn set_cookie(self, value: &str) -> Self {
        self.header("set-cookie", value)
    }

    /// The response, with an empty journal.
    ///
    /// ```
    /// # use weir_sdk::testing::{self, TestResponse};
    /// let resp = TestResponse::new(200).build();
    /// assert!(testing::response_edits(&resp).is_empty());
    /// ```
    pub fn build(self) -> Response {
        Response::from_memory(self.response)
    }
}

/// The pool and affinity key chosen with [`Request::select_backend`]; `None` when no backend
/// was selected or the request is a host handle.
///
/// ```
/// # use weir_sdk::testing::{self, TestRequest};
/// let mut req = TestRequest::get("/").build();
/// assert_eq!(testing::selected_backend(&req), None);
/// req.select_backend("blue", None).unwrap();
/// assert_eq!(testing::selected_backend(&req), Some(("blue".to_owned(), None)));
/// ```
pub fn selected_backend(req: &Request) -> Option<(String, Option<String>)> {
    req.as_memory()?.backend.clone()
}

/// The request's journal: one line per accepted edit, oldest first, in the host's words
/// (`set-path /new/x`, `set-header x-a 1`, `remove-query`, `select-backend blue`). Values of
/// `authorization`, `cookie` and the like show as `<N bytes>`. Empty for a host handle.
///
/// ```
/// # use weir_sdk::testing::{self, TestRequest};
/// let mut req = TestRequest::get("/").build();
/// req.set_header("x-a", "1").unwrap();
/// req.set_header("authorization", "Bearer t").unwrap();
/// let _ = req.set_header("bad name", "refused edits are not journaled");
/// assert_eq!(testing::edits(&req), ["set-header x-a 1", "set-header authorization <8 bytes>"]);
/// ```
pub fn edits(req: &Request) -> Vec<String> {
    req.as_memory()
        .map(|memory| memory.journal.entries())
        .unwrap_or_default()
}

/// The response's journal, like [`edits`].
///
/// ```
/// # use weir_sdk::testing::{self, TestResponse};
/// let mut resp = TestResponse::new(200).set_cookie("t=1").build();
/// resp.set_status(203).unwrap();
/// resp.remove_set_cookie("t");
/// assert_eq!(testing::response_edits(&resp), ["set-status 203", "remove-set-cookie t (1)"]);
/// ```
pub fn response_edits(resp: &Response) -> Vec<String> {
    resp.as_memory()
        .map(|memory| memory.journal.entries())
        .unwrap_or_default()
}

/// Runs `on_request`, as weir would for one request.
///
/// ```
/// # use weir_sdk::{Filter, testing::{self, TestRequest}};
/// struct Noop;
/// impl Filter for Noop {
///     fn init(_: &str) -> Result<Self, String> { Ok(Noop) }
/// }
/// let mut req = TestRequest::get("/").build();
/// assert!(testing::run_request(&mut Noop, &mut req).is_continue());
/// ```
pub fn run_request<F: Filter>(filter: &mut F, req: &mut Request) -> Verdict {
    filter.on_request(req)
}

/// Runs `on_response`, as weir would for one response.
///
/// ```
/// # use weir_sdk::{Filter, testing::{self, TestRequest, TestResponse}};
/// struct Noop;
/// impl Filter for Noop {
///     fn init(_: &str) -> Result<Self, String> { Ok(Noop) }
/// }
/// let req = TestRequest::get("/").build();
/// let mut resp = TestResponse::new(200).build();
/// assert!(testing::run_response(&mut Noop, &req, &mut resp).is_continue());
/// ```
pub fn run_response<F: Filter>(filter: &mut F, req: &Request, resp: &mut Response) -> Verdict {
    filter.on_response(req, resp)
}

/// Runs one request through a filter as weir does with `isolation = "per-request"`, the
/// strictest case: `on_request` on a fresh instance (`F::init(config)`) and, when it continues,
/// `on_response` on another fresh instance, so module state does not carry from one hook to the
/// other; only the request and its [context](Request::context) do. Returns the verdict that
/// ended the exchange: `on_request`'s when it answered locally (weir then sends that answer
/// without calling `on_response`), else `on_response`'s. `Err` when `init` refuses `config`.
///
/// ```
/// use weir_sdk::testing::{self, TestRequest, TestResponse};
/// use weir_sdk::{Filter, Request, Response, Verdict};
///
/// /// Tags each response with the user its request came from.
/// struct Tag {
///     seen: Option<String>, // wrong place for per-request data: not there under isolation
/// }
///
/// impl Filter for Tag {
///     fn init(_: &str) -> Result<Self, String> {
///         Ok(Tag { seen: None })
///     }
///     fn on_request(&mut self, req: &mut Request) -> Verdict {
///         let user = req.header_str("x-user").unwrap_or_default();
///         self.seen = Some(user.clone());
///         match req.set_context("user", user) {
///             Ok(()) => Verdict::Continue,
///             Err(e) => Verdict::deny(400, e.to_string()),
///         }
///     }
///     fn on_response(&mut self, req: &Request, resp: &mut Response) -> Verdict {
///         assert!(self.seen.is_none(), "a fresh instance");
///         let user = req.context("user").unwrap_or_default();
///         let _ = resp.set_header("x-user-was", user);
///         Verdict::Continue
///     }
/// }
///
/// let mut req = TestRequest::get("/").header("x-user", "alice").build();
/// let mut resp = TestResponse::new(200).build();
/// let verdict = testing::run_isolated::<Tag>("{}", &mut req, &mut resp).unwrap();
/// assert!(verdict.is_continue());
/// assert_eq!(resp.header_str("x-user-was").as_deref(), Some("alice"));
/// ```
pub fn run_isolated<F: Filter>(
    config: &str,
    req: &mut Request,
    resp: &mut Response,
) -> Result<Verdict, String> {
    let verdict = F::init(config)?.on_request(req);
    if !verdict.is_continue() {
        return Ok(verdict);
    }
    Ok(F::init(config)?.on_response(req, resp))
}

/// The filter configs a plugin's README shows: every fenced ```` ```json ```` block and every
/// quick-mode `--filter PATH.wasm='...'` config, so a test can check that `init` accepts each
/// one and the README cannot go stale.
///
/// ```
/// let readme = "Config:\n```json\n{\"a\": 1}\n```\nweir run --filter p.wasm='{}'\n";
/// assert_eq!(weir_sdk::testing::readme_configs(readme), ["{\"a\": 1}\n", "{}"]);
/// ```
pub fn readme_configs(readme: &str) -> Vec<&str> {
    let blocks = readme
        .split("```json\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next());
    let quick = readme
        .split(".wasm='")
        .skip(1)
        .filter_map(|rest| rest.split('\'').next());
    blocks.chain(quick).collect()
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "in tests a panic is the failure report; see STYLE §9 allow-unwrap-in-tests"
)]
mod tests;
