//! [`Verdict`]: what a hook decides, and [`LocalResponse`], the answer a filter gives instead of
//! the upstream.

use crate::Header;

/// What a hook decides.
///
/// ```
/// use weir_sdk::Verdict;
///
/// let verdict = Verdict::deny(403, "no entry");
/// assert!(!verdict.is_continue());
/// assert_eq!(verdict.as_response().map(|r| r.status), Some(403));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Verdict {
    /// Go on with the next filter, then the upstream (or the downstream, for responses).
    #[default]
    Continue,
    /// Stop the chain and answer the client with this response.
    Respond(LocalResponse),
}

impl Verdict {
    /// `Respond` with `status` and a `text/plain; charset=utf-8` body.
    ///
    /// ```
    /// use weir_sdk::Verdict;
    ///
    /// let Verdict::Respond(resp) = Verdict::deny(429, "slow down") else { unreachable!() };
    /// assert_eq!(resp.status, 429);
    /// assert_eq!(resp.header_value("content-type"), Some(&b"text/plain; charset=utf-8"[..]));
    /// assert_eq!(resp.body, b"slow down");
    /// ```
    pub fn deny(status: u16, body: impl Into<String>) -> Verdict {
        Verdict::Respond(
            LocalResponse::new(status)
                .header("content-type", "text/plain; charset=utf-8")
                .body(body.into()),
        )
    }

    /// `Respond` with `status` (one of 301, 302, 303, 307, 308) and a `Location` header.
    /// The status is used as given; the host decides what to do with a status that is not a
    /// redirect.
    ///
    /// ```
    /// use weir_sdk::Verdict;
    ///
    /// let Verdict::Respond(resp) = Verdict::redirect(308, "https://app.test/") else {
    ///     unreachable!()
    /// };
    /// assert_eq!(resp.status, 308);
    /// assert_eq!(resp.header_value("location"), Some(&b"https://app.test/"[..]));
    /// assert!(resp.body.is_empty());
    /// ```
    pub fn redirect(status: u16, location: impl Into<String>) -> Verdict {
        Verdict::Respond(LocalResponse::new(status).header("location", location.into()))
    }

    /// Whether this is [`Verdict::Continue`].
    ///
    /// ```
    /// use weir_sdk::Verdict;
    ///
    /// assert!(Verdict::Continue.is_continue());
    /// ```
    pub fn is_continue(&self) -> bool {
        matches!(self, Verdict::Continue)
    }

    /// The local response, if this is [`Verdict::Respond`].
    ///
    /// ```
    /// use weir_sdk::Verdict;
    ///
    /// assert!(Verdict::Continue.as_response().is_none());
    /// assert_eq!(Verdict::deny(401, "").as_response().unwrap().status, 401);
    /// ```
    pub fn as_response(&self) -> Option<&LocalResponse> {
        match self {
            Verdict::Continue => None,
            Verdict::Respond(response) => Some(response),
        }
    }
}

impl From<LocalResponse> for Verdict {
    /// `Respond` with the response.
    ///
    /// ```
    /// use weir_sdk::{LocalResponse, Verdict};
    ///
    /// let verdict: Verdict = LocalResponse::new(204).into();
    /// assert_eq!(verdict, Verdict::Respond(LocalResponse::new(204)));
    /// ```
    fn from(response: LocalResponse) -> Self {
        Verdict::Respond(response)
    }
}

/// A complete local response, produced by a filter instead of asking the upstream.
///
/// ```
/// use weir_sdk::LocalResponse;
///
/// let resp = LocalResponse::new(200)
///     .header("content-type", "application/json")
///     .body(r#"{"ok":true}"#);
/// assert_eq!(resp.headers.len(), 1);
/// assert_eq!(resp.body, br#"{"ok":true}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalResponse {
    /// Status code.
    pub status: u16,
    /// Header fields, in order.
    pub headers: Vec<Header>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl LocalResponse {
    /// A response with `status`, no headers and an empty body.
    ///
    /// ```
    /// use weir_sdk::LocalResponse;
    ///
    /// let resp = LocalResponse::new(204);
    /// assert!(resp.headers.is_empty() && resp.body.is_empty());
    /// ```
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header (name lowercased); repeated names are kept as separate fields.
    ///
    /// ```
    /// use weir_sdk::LocalResponse;
    ///
    /// let resp = LocalResponse::new(200).header("X-A", "1").header("x-a", "2");
    /// assert_eq!(resp.headers[1].name, "x-a");
    /// assert_eq!(resp.headers.len(), 2);
    /// ```
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.push(Header::new(name, value));
        self
    }

    /// Replaces the body.
    ///
    /// ```
    /// use weir_sdk::LocalResponse;
    ///
    /// assert_eq!(LocalResponse::new(200).body("hi").body, b"hi");
    /// ```
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The first value of a header (name is case-insensitive).
    ///
    /// ```
    /// use weir_sdk::LocalResponse;
    ///
    /// let resp = LocalResponse::new(302).header("location", "/");
    /// assert_eq!(resp.header_value("Location"), Some(&b"/"[..]));
    /// assert_eq!(resp.header_value("x-missing"), None);
    /// ```
    pub fn header_value(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_slice())
    }
}
