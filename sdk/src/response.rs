//! [`Response`]: the upstream response head as an `on_response` hook sees it. On `wasm32` it is a
//! handle to the host's response; built by the [`testing`](crate::testing) kit it is an
//! in-memory response that validates and journals edits exactly as the host does.

use std::fmt;

use crate::testing::MemoryResponse;
use crate::{CookieAttributes, EditError, Header, SetCookie};

/// The upstream response, seen before its head is sent downstream.
///
/// ```
/// use weir_sdk::testing::TestResponse;
///
/// let mut resp = TestResponse::new(200).header("server", "backend/1.2").build();
/// resp.remove_header("server").unwrap();
/// assert_eq!(resp.header("server"), None);
/// ```
#[derive(Debug)]
pub struct Response {
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    #[cfg(target_arch = "wasm32")]
    Host(crate::bindings::HostResponse),
    Memory(MemoryResponse),
}

/// The WIT `response` resource's methods, implemented by the host handle and by the in-memory
/// test backend.
pub(crate) trait ResponseBackend: fmt::Debug {
    fn status(&self) -> u16;
    fn header(&self, name: &str) -> Option<Vec<u8>>;
    fn header_all(&self, name: &str) -> Vec<Vec<u8>>;
    fn headers(&self) -> Vec<Header>;
    fn set_cookies(&self) -> Vec<SetCookie>;
    fn set_status(&mut self, status: u16) -> Result<(), EditError>;
    fn set_header(&mut self, name: &str, value: &[u8]) -> Result<(), EditError>;
    fn append_header(&mut self, name: &str, value: &[u8]) -> Result<(), EditError>;
    fn remove_header(&mut self, name: &str) -> Result<(), EditError>;
    fn add_set_cookie(&mut self, cookie: &SetCookie) -> Result<(), EditError>;
    fn remove_set_cookie(&mut self, name: &str) -> u32;
    fn rewrite_set_cookie(
        &mut self,
        name: &str,
        attributes: &CookieAttributes,
    ) -> Result<u32, EditError>;
}

impl Response {
    /// The status code.
    ///
    /// ```
    /// # use weir_sdk::testing::TestResponse;
    /// assert_eq!(TestResponse::new(404).build().status(), 404);
    /// ```
    pub fn status(&self) -> u16 {
        self.backend().status()
    }

    /// The first value of a header (name is case-insensitive).
    ///
    /// ```
    /// # use weir_sdk::testing::TestResponse;
    /// let resp = TestResponse::new(200).header("Content-Type", "text/html").build();
    /// assert_eq!(resp.header("content-type"), Some(b"text/html".to_vec()));
    /// ```
    pub fn header(&self, name: &str) -> Option<Vec<u8>> {
        self.backend().header(name)
    }

    /// The first value of a header as UTF-8 text; `None` when absent or not UTF-8.
    ///
    /// ```
    /// # use weir_sdk::testing::TestResponse;
    /// let resp = TestResponse::new(200).header("etag", "\"v1\"").build();
    /// assert_eq!(resp.header_str("etag").as_deref(), Some("\"v1\""));
    /// ```
    pub fn header_str(&self, name: &str) -> Option<String> {
        String::from_utf8(self.header(name)?).ok()
    }

    /// Every value of a header, in order.
    ///
    /// ```
    /// # use weir_sdk::testing::TestResponse;
    /// let resp = TestResponse::new(200).header("vary", "a").header("vary", "b").build();
    /// assert_eq!(resp.header_all("vary").len(), 2);
    /// ```
    pub fn header_all(&self, name: &str) -> Vec<Vec<u8>> {
        self.backend().header_all(name)
    }

    /// Every header, in order.
    ///
    /// ```
    /// # use weir_sdk::{Header, testing::TestResponse};
    /// let resp = TestResponse::new(200).header("x-a", "1").build();
    /// assert_eq!(resp.headers(), vec![Header::new("x-a", "1")]);
    /// ```
    pub fn headers(&self) -> Vec<Header> {
        self.backend().headers()
    }

    /// Every `Set-Cookie`, parsed, in order. Unparseable ones are skipped.
    ///
    /// ```
    /// # use weir_sdk::testing::TestResponse;
    /// let resp = TestResponse::new(200)
    ///     .set_cookie("sid=1; Path=/")
    ///     .set_cookie("garbage")
    ///     .build();
    /// let cookies = resp.set_cookies();
    /// assert_eq!(cookies.len(), 1);
    /// assert_eq!(cookies[0].path.as_deref(), Some("/"));
    /// ```
    pub fn set_cookies(&self) -> Vec<SetCookie> {
        self.backend().set_cookies()
    }

    /// Replaces the status code; it must be a final status, 200..=599.
    ///
    /// ```
    /// # use weir_sdk::testing::TestResponse;
    /// let mut resp = TestResponse::new(500).build();
    /// resp.set_status(503).unwrap();
    /// assert_eq!(resp.status(), 503);
    /// assert!(resp.set_status(100).is_err());
    /// ```
    pub fn set_status(&mut self, status: u16) -> Result<(), EditError> {
        self.backend_mut().set_status(status)
    }

    /// Sets a header, replacing every existing value. The name must be a token and is stored
    /// lowercase; the value must not contain CR, LF, NUL or other control characters except tab.
    /// Hop-by-hop fields and `content-length` are [`EditError::Forbidden`].
    ///
    /// ```
    /// # use weir_sdk::{EditError, testing::TestResponse};
    /// let mut resp = TestResponse::new(200).build();
    /// resp.set_header("Cache-Control", "no-store").unwrap();
    /// assert_eq!(resp.header_str("cache-control").as_deref(), Some("no-store"));
    /// assert!(matches!(resp.set_header("content-length", "1"), Err(EditError::Forbidden(_))));
    /// ```
    pub fn set_header(&mut self, name: &str, value: impl AsRef<[u8]>) -> Result<(), EditError> {
        self.backend_mut().set_header(name, value.as_ref())
    }

    /// Appends a value to a header. Same rules as [`set_header`](Self::set_header).
    ///
    /// ```
    /// # use weir_sdk::testing::TestResponse;
    /// let mut resp = TestResponse::new(200).header("vary", "accept").build();
    /// resp.append_header("vary", "cookie").unwrap();
    /// assert_eq!(resp.header_all("vary"), vec![b"accept".to_vec(), b"cookie".to_vec()]);
    /// ```
    pub fn append_header(&mut self, name: &str, value: impl AsRef<[u8]>) -> Result<(), EditError> {
        self.backend_mut().append_header(name, value.as_ref())
    }

    /// Removes every value of a header. Removing an absent header is not an error.
    ///
    /// ```
    /// # use weir_sdk::testing::TestResponse;
    /// let mut resp = TestResponse::new(200).header("x-powered-by", "php").build();
    /// resp.remove_header("x-powered-by").unwrap();
    /// assert!(resp.headers().is_empty());
    /// ```
    pub fn remove_header(&mut self, name: &str) -> Result<(), EditError> {
        self.backend_mut().remove_header(name)
    }

    /// Adds a `Set-Cookie`. The name must be a token, the value cookie-octets (optionally
    /// quoted), and `Domain`, `Path` and `Expires` must not contain `;` or control characters.
    ///
    /// ```
    /// # use weir_sdk::{SetCookie, testing::TestResponse};
    /// let mut resp = TestResponse::new(200).build();
    /// let cookie = SetCookie { http_only: true, ..SetCookie::new("sid", "abc") };
    /// resp.add_set_cookie(&cookie).unwrap();
    /// assert_eq!(resp.header_str("set-cookie").as_deref(), Some("sid=abc; HttpOnly"));
    /// assert!(resp.add_set_cookie(&SetCookie::new("bad name", "x")).is_err());
    /// ```
    pub fn add_set_cookie(&mut self, cookie: &SetCookie) -> Result<(), EditError> {
        self.backend_mut().add_set_cookie(cookie)
    }

    /// Removes every `Set-Cookie` for this cookie name. Returns how many were removed.
    ///
    /// ```
    /// # use weir_sdk::testing::TestResponse;
    /// let mut resp = TestResponse::new(200)
    ///     .set_cookie("track=1")
    ///     .set_cookie("sid=2")
    ///     .set_cookie("track=3; Path=/")
    ///     .build();
    /// assert_eq!(resp.remove_set_cookie("track"), 2);
    /// assert_eq!(resp.header_all("set-cookie"), vec![b"sid=2".to_vec()]);
    /// ```
    pub fn remove_set_cookie(&mut self, name: &str) -> u32 {
        self.backend_mut().remove_set_cookie(name)
    }

    /// Changes the attributes of every `Set-Cookie` for this cookie name, keeping every other
    /// `Set-Cookie` byte for byte. A rewritten cookie is re-rendered in canonical form. Returns
    /// how many were rewritten.
    ///
    /// ```
    /// # use weir_sdk::{CookieAttributes, testing::TestResponse};
    /// let mut resp = TestResponse::new(200)
    ///     .set_cookie("sid=1; path=/")
    ///     .set_cookie("other=2;   odd-spacing")
    ///     .build();
    /// let secure = CookieAttributes { secure: Some(true), ..CookieAttributes::default() };
    /// assert_eq!(resp.rewrite_set_cookie("sid", &secure).unwrap(), 1);
    /// assert_eq!(
    ///     resp.header_all("set-cookie"),
    ///     vec![b"sid=1; Path=/; Secure".to_vec(), b"other=2;   odd-spacing".to_vec()]
    /// );
    /// ```
    pub fn rewrite_set_cookie(
        &mut self,
        name: &str,
        attributes: &CookieAttributes,
    ) -> Result<u32, EditError> {
        self.backend_mut().rewrite_set_cookie(name, attributes)
    }

    pub(crate) fn from_memory(memory: MemoryResponse) -> Self {
        Self {
            backend: Backend::Memory(memory),
        }
    }

    #[cfg(target_arch = "wasm32")]
    pub(crate) fn from_host(host: crate::bindings::HostResponse) -> Self {
        Self {
            backend: Backend::Host(host),
        }
    }

    /// The in-memory backend, when the test kit built this response.
    pub(crate) fn as_memory(&self) -> Option<&MemoryResponse> {
        match &self.backend {
            #[cfg(target_arch = "wasm32")]
            Backend::Host(_) => None,
            Backend::Memory(memory) => Some(memory),
        }
    }

    fn backend(&self) -> &dyn ResponseBackend {
        match &self.backend {
            #[cfg(target_arch = "wasm32")]
            Backend::Host(host) => host,
            Backend::Memory(memory) => memory,
        }
    }

    fn backend_mut(&mut self) -> &mut dyn ResponseBackend {
        match &mut self.backend {
            #[cfg(target_arch = "wasm32")]
            Backend::Host(host) => host,
            Backend::Memory(memory) => memory,
        }
    }
}
