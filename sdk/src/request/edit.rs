//! The edits of [`Request`]: each is validated (by the host, or by the in-memory test backend
//! with the host's rules) and journaled when accepted.

use crate::{EditError, Request};

impl Request {
    /// Replaces the path. It must start with `/` and contain no whitespace, control characters,
    /// `?` or `#` (percent-encode them; use [`set_query`](Self::set_query) for the query).
    ///
    /// ```
    /// # use weir_sdk::{EditError, testing::{self, TestRequest}};
    /// let mut req = TestRequest::get("/old/x").build();
    /// req.set_path("/new/x").unwrap();
    /// assert_eq!(req.path(), "/new/x");
    /// assert!(matches!(req.set_path("no-slash"), Err(EditError::InvalidValue(_))));
    /// assert_eq!(testing::edits(&req), ["set-path /new/x"]);
    /// ```
    pub fn set_path(&mut self, path: &str) -> Result<(), EditError> {
        self.backend_mut().set_path(path)
    }

    /// Replaces (`Some`, without `?`) or removes (`None`) the query string.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let mut req = TestRequest::get("/?a=1").build();
    /// req.set_query(Some("b=2")).unwrap();
    /// assert_eq!(req.query().as_deref(), Some("b=2"));
    /// req.set_query(None).unwrap();
    /// assert_eq!(req.query(), None);
    /// ```
    pub fn set_query(&mut self, query: Option<&str>) -> Result<(), EditError> {
        self.backend_mut().set_query(query)
    }

    /// Replaces the authority (`host[:port]`, no user info); also rewrites the `Host` header.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let mut req = TestRequest::get("/").authority("old.test").build();
    /// req.set_authority("new.test:8443").unwrap();
    /// assert_eq!(req.authority().as_deref(), Some("new.test:8443"));
    /// assert_eq!(req.header_str("host").as_deref(), Some("new.test:8443"));
    /// assert!(req.set_authority("user@new.test").is_err());
    /// ```
    pub fn set_authority(&mut self, authority: &str) -> Result<(), EditError> {
        self.backend_mut().set_authority(authority)
    }

    /// Replaces the scheme: `http` or `https`.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let mut req = TestRequest::get("/").build();
    /// req.set_scheme("https").unwrap();
    /// assert_eq!(req.scheme(), "https");
    /// assert!(req.set_scheme("ftp").is_err());
    /// ```
    pub fn set_scheme(&mut self, scheme: &str) -> Result<(), EditError> {
        self.backend_mut().set_scheme(scheme)
    }

    /// Sets a header, replacing every existing value. The name must be a token and is stored
    /// lowercase; the value must not contain CR, LF, NUL or other control characters except tab.
    /// Hop-by-hop fields, `content-length` and `host` (use
    /// [`set_authority`](Self::set_authority)) are [`EditError::Forbidden`].
    ///
    /// ```
    /// # use weir_sdk::{EditError, testing::TestRequest};
    /// let mut req = TestRequest::get("/").header("x-a", "1").header("x-a", "2").build();
    /// req.set_header("X-A", "3").unwrap();
    /// assert_eq!(req.header_all("x-a"), vec![b"3".to_vec()]);
    /// assert!(matches!(req.set_header("connection", "close"), Err(EditError::Forbidden(_))));
    /// assert!(matches!(req.set_header("x-b", "a\r\nb"), Err(EditError::InvalidValue(_))));
    /// ```
    pub fn set_header(&mut self, name: &str, value: impl AsRef<[u8]>) -> Result<(), EditError> {
        self.backend_mut().set_header(name, value.as_ref())
    }

    /// Appends a value to a header, keeping existing values. Same rules as
    /// [`set_header`](Self::set_header).
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let mut req = TestRequest::get("/").header("via", "a").build();
    /// req.append_header("via", "b").unwrap();
    /// assert_eq!(req.header_all("via"), vec![b"a".to_vec(), b"b".to_vec()]);
    /// ```
    pub fn append_header(&mut self, name: &str, value: impl AsRef<[u8]>) -> Result<(), EditError> {
        self.backend_mut().append_header(name, value.as_ref())
    }

    /// Removes every value of a header. Removing an absent header is not an error; the name
    /// rules of [`set_header`](Self::set_header) still apply.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let mut req = TestRequest::get("/").header("x-debug", "1").build();
    /// req.remove_header("X-Debug").unwrap();
    /// req.remove_header("x-absent").unwrap();
    /// assert_eq!(req.header("x-debug"), None);
    /// assert!(req.remove_header("host").is_err());
    /// ```
    pub fn remove_header(&mut self, name: &str) -> Result<(), EditError> {
        self.backend_mut().remove_header(name)
    }

    /// Sets one cookie in the `Cookie` header, replacing a cookie of the same name (and
    /// dropping its duplicates) or appending it. The name must be a token; the value must be
    /// cookie-octets, optionally in double quotes (RFC 6265 §4.1.1).
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let mut req = TestRequest::get("/").cookie("a", "1").cookie("b", "2").build();
    /// req.set_cookie("a", "9").unwrap();
    /// req.set_cookie("c", "3").unwrap();
    /// assert_eq!(req.header_str("cookie").as_deref(), Some("a=9; b=2; c=3"));
    /// assert!(req.set_cookie("d", "has space").is_err());
    /// ```
    pub fn set_cookie(&mut self, name: &str, value: &str) -> Result<(), EditError> {
        self.backend_mut().set_cookie(name, value)
    }

    /// Removes one cookie from the `Cookie` header (the header goes when it becomes empty).
    /// Returns whether it was present.
    ///
    /// ```
    /// # use weir_sdk::testing::TestRequest;
    /// let mut req = TestRequest::get("/").cookie("tracking", "x").build();
    /// assert!(req.remove_cookie("tracking"));
    /// assert!(!req.remove_cookie("tracking"));
    /// assert_eq!(req.header("cookie"), None);
    /// ```
    pub fn remove_cookie(&mut self, name: &str) -> bool {
        self.backend_mut().remove_cookie(name)
    }

    /// Sends the request to the named backend pool (1 to 64 of `A-Z a-z 0-9 . _ -`; the host
    /// also checks that the pool exists on the route). The affinity key, when given, keeps
    /// requests with the same key on the same backend of that pool.
    ///
    /// ```
    /// # use weir_sdk::testing::{self, TestRequest};
    /// let mut req = TestRequest::get("/").build();
    /// req.select_backend("canary", Some("user-42")).unwrap();
    /// assert_eq!(
    ///     testing::selected_backend(&req),
    ///     Some(("canary".to_owned(), Some("user-42".to_owned())))
    /// );
    /// assert!(req.select_backend("", None).is_err());
    /// ```
    pub fn select_backend(
        &mut self,
        pool: &str,
        affinity_key: Option<&str>,
    ) -> Result<(), EditError> {
        self.backend_mut().select_backend(pool, affinity_key)
    }

    /// Keeps `value` under `key` for this request, for this filter's own `on_response`;
    /// replaces an earlier value. It is not an edit of the request (nothing goes upstream and
    /// nothing is journaled), but it counts as one edit of the hook call's budget.
    ///
    /// The key is 1 to 64 visible ASCII characters ([`EditError::InvalidName`] otherwise). One
    /// filter may keep at most 32 keys and 4096 bytes of keys and values per request
    /// ([`EditError::Forbidden`] past either; nothing changes). The values end with the request.
    ///
    /// ```
    /// # use weir_sdk::{EditError, testing::{self, TestRequest}};
    /// let mut req = TestRequest::get("/").build();
    /// req.set_context("route", "beta").unwrap();
    /// assert_eq!(req.context_str("route").as_deref(), Some("beta"));
    /// assert!(matches!(req.set_context("a key", ""), Err(EditError::InvalidName(_))));
    /// assert!(matches!(req.set_context("big", vec![0; 5000]), Err(EditError::Forbidden(_))));
    /// assert!(testing::edits(&req).is_empty(), "context is not journaled");
    /// ```
    pub fn set_context(&mut self, key: &str, value: impl AsRef<[u8]>) -> Result<(), EditError> {
        self.backend_mut().set_context(key, value.as_ref())
    }
}
