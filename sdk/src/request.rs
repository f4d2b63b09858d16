//! [`Request`]: the downstream request as a filter sees it. On `wasm32` inside a hook it is a
//! handle to the host's request (every read and edit is a host call); built by the
//! [`testing`](crate::testing) kit it is an in-memory request that validates and journals edits
//! exactly as the host does.

mod edit;

use std::fmt;

use crate::testing::MemoryRequest;
use crate::{EditError, Header};

/// HTTP protocol version of the downstream request.
///
/// ```
/// use weir_sdk::{HttpVersion, testing::TestRequest};
///
/// let req = TestRequest::get("/").version(HttpVersion::Http2).build();
/// assert_eq!(req.version(), HttpVersion::Http2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HttpVersion {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
    /// HTTP/2.
    Http2,
    /// HTTP/3.
    Http3,
}

/// The downstream request (a host handle on wasm; an in-memory request in tests).
///
/// Reads are lazy on the host: each call asks the host, so read what you need once. Every edit
/// is validated; a refused edit returns an [`EditError`] and leaves the request unchanged.
///
/// ```
/// use weir_sdk::testing::TestRequest;
///
/// let mut req = TestRequest::get("/old/x?debug=1").authority("app.test").build();
/// assert_eq!(req.path(), "/old/x");
/// req.set_path("/new/x").unwrap();
/// req.set_query(None).unwrap();
/// assert_eq!(req.path(), "/new/x");
/// assert_eq!(req.query(), None);
/// ```
#[derive(Debug)]
pub struct Request {
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    #[cfg(target_arch = "wasm32")]
    Host(crate::bindings::HostRequest),
    Memory(MemoryRequest),
}

/// The WIT `request` resource's methods, implemented by the host handle and by the in-memory
/// test backend.
pub(crate) trait RequestBackend: fmt::Debug {
    fn method(&self) -> String;
    fn scheme(&self) -> String;
    fn authority(&self) -> Option<String>;
    fn path(&self) -> String;
    fn raw_path(&self) -> String;
    fn query(&self) -> Option<String>;
    fn version(&self) -> HttpVersion;
    fn header(&self, name: &str) -> Option<Vec<u8>>;
    fn header_all(&self, name: &str) -> Vec<Vec<u8>>;
    fn headers(&self) -> Vec<Header>;
    fn cookie(&self, name: &str) -> Option<String>;
    fn cookies(&self) -> Vec<(String, String)>;
    fn client_addr(&self) -> String;
    fn client_port(&self) -> u16;
    fn id(&self) -> String;
    fn tls(&self) -> Option<TlsInfo>;
    fn set_path(&mut self, path: &str) -> Result<(), EditError>;
    fn set_query(&mut self, query: Option<&str>) -> Result<(), EditError>;
    fn set_authority(&mut self, authority: &str) -> Result<(), EditError>;
    fn set_scheme(&mut self, scheme: &str) -> Result<(), EditError>;
    fn set_header(&mut self, name: &str, value: &[u8]) -> Result<(), EditError>;
    fn append_header(&mut self, name: &str, value: &[u8]) -> Result<(), EditError>;
    fn remove_header(&mut self, name: &str) -> Result<(), EditError>;
    fn set_cookie(&mut self, name: &str, value: &str) -> Result<(), EditError>;
    fn remove_cookie(&mut self, name: &str) -> bool;
    fn select_backend(&mut self, pool: &str, affinity_key: Option<&str>) -> Result<(), EditError>;
    fn context(&self, key: &str) -> Option<Vec<u8>>;
    fn set_context(&mut self, key: &str, value: &[u8]) -> Result<(), EditError>;
}

impl Request {
    /// The method, e.g. `GET`.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// assert_eq!(TestRequest::new("POST", "/").build().method(), "POST");
    /// ```
    pub fn method(&self) -> String {
        self.backend().method()
    }

    /// `http` or `https`: the scheme the client used towards weir.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// assert_eq!(TestRequest::get("/").scheme("https").build().scheme(), "https");
    /// ```
    pub fn scheme(&self) -> String {
        self.backend().scheme()
    }

    /// Host and optional port, from `:authority` or the `Host` header.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let req = TestRequest::get("/").authority("app.test:8080").build();
    /// assert_eq!(req.authority().as_deref(), Some("app.test:8080"));
    /// ```
    pub fn authority(&self) -> Option<String> {
        self.backend().authority()
    }

    /// The authority without the port (an IPv6 literal keeps its brackets), verbatim;
    /// `None` when there is no authority or its host part is empty.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let req = TestRequest::get("/").authority("app.test:8080").build();
    /// assert_eq!(req.host().as_deref(), Some("app.test"));
    /// let req = TestRequest::get("/").authority("[::1]:80").build();
    /// assert_eq!(req.host().as_deref(), Some("[::1]"));
    /// ```
    pub fn host(&self) -> Option<String> {
        let authority = self.authority()?;
        let host = host_of(&authority);
        (!host.is_empty()).then(|| host.to_owned())
    }

    /// The path, without the query, e.g. `/a/b`. Never empty.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// assert_eq!(TestRequest::get("/a/b?x=1").build().path(), "/a/b");
    /// ```
    pub fn path(&self) -> String {
        self.backend().path()
    }

    /// The path exactly as the client sent it, before weir normalised it and before any
    /// filter's `set-path`. [`path`](Self::path) is what routes matched and what the upstream
    /// gets: decide on that one; use this one for logs or rules about the original spelling.
    /// A plugin that calls it needs a weir that provides `raw-path` (weir refuses to load it
    /// otherwise, naming the function).
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let req = TestRequest::get("/admin/x").raw_path("/public/%2e%2e/admin//x").build();
    /// assert_eq!(req.path(), "/admin/x");
    /// assert_eq!(req.raw_path(), "/public/%2e%2e/admin//x");
    /// assert_eq!(TestRequest::get("/a").build().raw_path(), "/a");
    /// ```
    pub fn raw_path(&self) -> String {
        self.backend().raw_path()
    }

    /// The query string without the leading `?`, if present.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// assert_eq!(TestRequest::get("/a?x=1").build().query().as_deref(), Some("x=1"));
    /// assert_eq!(TestRequest::get("/a").build().query(), None);
    /// ```
    pub fn query(&self) -> Option<String> {
        self.backend().query()
    }

    /// The HTTP version spoken downstream.
    ///
    /// ```
    /// # use weir_sdk::{HttpVersion, testing::TestRequest};
    /// assert_eq!(TestRequest::get("/").build().version(), HttpVersion::Http11);
    /// ```
    pub fn version(&self) -> HttpVersion {
        self.backend().version()
    }

    /// The first value of a header (name is case-insensitive).
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let req = TestRequest::get("/").header("X-Token", "t1").build();
    /// assert_eq!(req.header("x-token"), Some(b"t1".to_vec()));
    /// ```
    pub fn header(&self, name: &str) -> Option<Vec<u8>> {
        self.backend().header(name)
    }

    /// The first value of a header as UTF-8 text; `None` when absent or not UTF-8.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let req = TestRequest::get("/").header("a", "text").header("b", [0xff]).build();
    /// assert_eq!(req.header_str("a").as_deref(), Some("text"));
    /// assert_eq!(req.header_str("b"), None);
    /// ```
    pub fn header_str(&self, name: &str) -> Option<String> {
        String::from_utf8(self.header(name)?).ok()
    }

    /// Every value of a header, in order.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let req = TestRequest::get("/").header("accept", "a").header("Accept", "b").build();
    /// assert_eq!(req.header_all("accept"), vec![b"a".to_vec(), b"b".to_vec()]);
    /// ```
    pub fn header_all(&self, name: &str) -> Vec<Vec<u8>> {
        self.backend().header_all(name)
    }

    /// Every header, in order, repeated names kept as separate entries.
    ///
    /// ```
    /// # use weir_sdk::{Header, testing::TestRequest};
    /// let req = TestRequest::get("/").header("a", "1").build();
    /// assert_eq!(req.headers(), vec![Header::new("a", "1")]);
    /// ```
    pub fn headers(&self) -> Vec<Header> {
        self.backend().headers()
    }

    /// The value of one cookie from the `Cookie` header(s); the first one if repeated.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let req = TestRequest::get("/").header("cookie", "a=1; b=2").build();
    /// assert_eq!(req.cookie("b").as_deref(), Some("2"));
    /// assert_eq!(req.cookie("c"), None);
    /// ```
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.backend().cookie(name)
    }

    /// Every cookie as name/value pairs, in order. Malformed pieces are skipped.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let req = TestRequest::get("/").header("cookie", "a=1; junk; b=2").build();
    /// assert_eq!(req.cookies(), vec![("a".into(), "1".into()), ("b".into(), "2".into())]);
    /// ```
    pub fn cookies(&self) -> Vec<(String, String)> {
        self.backend().cookies()
    }

    /// The client's IP address as text (IPv4 dotted or IPv6).
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let req = TestRequest::get("/").client("203.0.113.7:5555").build();
    /// assert_eq!(req.client_addr(), "203.0.113.7");
    /// ```
    pub fn client_addr(&self) -> String {
        self.backend().client_addr()
    }

    /// The client's source port.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let req = TestRequest::get("/").client("[2001:db8::1]:5555").build();
    /// assert_eq!(req.client_port(), 5555);
    /// ```
    pub fn client_port(&self) -> u16 {
        self.backend().client_port()
    }

    /// The per-request identifier assigned by weir, unique within the process.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// assert_eq!(TestRequest::get("/").id("req-1").build().id(), "req-1");
    /// ```
    pub fn id(&self) -> String {
        self.backend().id()
    }

    /// The downstream TLS session: `Some` on an HTTPS listener, `None` on a cleartext one.
    ///
    /// ```
    /// # use weir_sdk::{TlsInfo, testing::TestRequest};
    /// let tls = TlsInfo {
    ///     sni: Some("app.example".into()),
    ///     client_cert_subject: Some("CN=alice".into()),
    ///     ..TlsInfo::default()
    /// };
    /// let req = TestRequest::get("/").tls(tls).build();
    /// assert_eq!(req.tls().and_then(|t| t.client_cert_subject).as_deref(), Some("CN=alice"));
    /// assert!(TestRequest::get("/").build().tls().is_none());
    /// ```
    pub fn tls(&self) -> Option<TlsInfo> {
        self.backend().tls()
    }

    /// The value this filter kept under `key` for this request with
    /// [`set_context`](Self::set_context). Each filter sees only its own keys. weir holds the
    /// values, not the instance, so `on_response` reads them whichever instance served
    /// `on_request` (also with `isolation = "per-request"`).
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let mut req = TestRequest::get("/").build();
    /// assert_eq!(req.context("user"), None);
    /// req.set_context("user", "alice").unwrap();
    /// assert_eq!(req.context("user"), Some(b"alice".to_vec()));
    /// ```
    pub fn context(&self, key: &str) -> Option<Vec<u8>> {
        self.backend().context(key)
    }

    /// The value kept under `key` as UTF-8 text; `None` when absent or not UTF-8.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let mut req = TestRequest::get("/").build();
    /// req.set_context("started", 1234_u64.to_string()).unwrap();
    /// let started: Option<u64> = req.context_str("started").and_then(|s| s.parse().ok());
    /// assert_eq!(started, Some(1234));
    /// ```
    pub fn context_str(&self, key: &str) -> Option<String> {
        String::from_utf8(self.context(key)?).ok()
    }

    pub(crate) fn from_memory(memory: MemoryRequest) -> Self {
        Self {
            backend: Backend::Memory(memory),
        }
    }

    #[cfg(target_arch = "wasm32")]
    pub(crate) fn from_host(host: crate::bindings::HostRequest) -> Self {
        Self {
            backend: Backend::Host(host),
        }
    }

    /// The in-memory backend, when the test kit built this request.
    pub(crate) fn as_memory(&self) -> Option<&MemoryRequest> {
        match &self.backend {
            #[cfg(target_arch = "wasm32")]
            Backend::Host(_) => None,
            Backend::Memory(memory) => Some(memory),
        }
    }

    fn backend(&self) -> &dyn RequestBackend {
        match &self.backend {
            #[cfg(target_arch = "wasm32")]
            Backend::Host(host) => host,
            Backend::Memory(memory) => memory,
        }
    }

    fn backend_mut(&mut self) -> &mut dyn RequestBackend {
        match &mut self.backend {
            #[cfg(target_arch = "wasm32")]
            Backend::Host(host) => host,
            Backend::Memory(memory) => memory,
        }
    }
}

/// The host part of an authority: user info and port removed, IPv6 brackets kept.
fn host_of(authority: &str) -> &str {
    let after_user = authority.rsplit('@').next().unwrap_or(authority);
    if after_user.starts_with('[') {
        after_user.split_inclusive(']').next().unwrap_or(after_user)
    } else {
        after_user.split(':').next().unwrap_or(after_user)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "in tests a panic is the failure report; see STYLE §9 allow-unwrap-in-tests"
)]
mod tests {
    use super::*;

    #[test]
    fn host_drops_port_and_user_info_but_keeps_ipv6_brackets() {
        assert_eq!(host_of("app.test"), "app.test");
        assert_eq!(host_of("app.test:8080"), "app.test");
        assert_eq!(host_of("u:p@app.test:1"), "app.test");
        assert_eq!(host_of("[::1]:443"), "[::1]");
        assert_eq!(host_of("[::1]"), "[::1]");
        assert_eq!(host_of(":80"), "");
    }
}

/// Facts about the downstream TLS session, from [`Request::tls`] (WIT `tls-info`).
///
/// ```
/// use weir_sdk::{Request, TlsInfo, Verdict};
///
/// /// Lets through only clients that presented a certificate (mTLS).
/// fn require_client_cert(req: &Request) -> Verdict {
///     match req.tls() {
///         Some(TlsInfo { client_cert_sha256: Some(_), .. }) => Verdict::Continue,
///         _ => Verdict::deny(403, "client certificate required"),
///     }
/// }
///
/// # use weir_sdk::testing::TestRequest;
/// let tls = TlsInfo { client_cert_sha256: Some("ab12".into()), ..TlsInfo::default() };
/// assert!(require_client_cert(&TestRequest::get("/").tls(tls).build()).is_continue());
/// assert!(!require_client_cert(&TestRequest::get("/").build()).is_continue());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// The server name the client asked for (SNI), if it sent one.
    pub sni: Option<String>,
    /// The negotiated ALPN protocol, e.g. `h2` or `http/1.1`.
    pub alpn: Option<String>,
    /// `TLSv1.2` or `TLSv1.3`.
    pub version: String,
    /// IANA name of the cipher suite, e.g. `TLS_AES_128_GCM_SHA256`.
    pub cipher_suite: String,
    /// Whether the session was resumed (ticket or session cache).
    pub resumed: bool,
    /// The verified client certificate's subject (RFC 4514), when one was presented.
    pub client_cert_subject: Option<String>,
    /// The client certificate's SHA-256 fingerprint, lowercase hex, when one was presented.
    pub client_cert_sha256: Option<String>,
}
