//! Cookies: the request `Cookie` header as ordered name/value pairs, and `Set-Cookie` values
//! parsed into [`SetCookie`] and rendered back (RFC 6265 §4). Parsing and rendering are the same
//! as the host's (`host/src/runtime/cookie.rs`), so tests and production agree.
//!
//! Parsing is lenient (a malformed piece is skipped, never an error) because the input comes from
//! the network; rendering is strict (validation happens when an edit is made).

use std::fmt;

/// The `SameSite` attribute of a `Set-Cookie` (RFC 6265bis §4.1.2.7).
///
/// ```
/// use weir_sdk::SameSite;
///
/// assert_eq!(SameSite::Lax.as_str(), "Lax");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SameSite {
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=Lax`.
    Lax,
    /// `SameSite=None` (browsers require `Secure` with it).
    None,
}

impl SameSite {
    /// The attribute value as written on the wire: `Strict`, `Lax` or `None`.
    ///
    /// ```
    /// use weir_sdk::SameSite;
    ///
    /// assert_eq!(SameSite::None.as_str(), "None");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "Strict",
            Self::Lax => "Lax",
            Self::None => "None",
        }
    }

    /// Parses an attribute value, ignoring ASCII case; `None` for anything else.
    fn parse(value: &str) -> Option<Self> {
        match value.to_ascii_lowercase().as_str() {
            "strict" => Some(Self::Strict),
            "lax" => Some(Self::Lax),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// A parsed `Set-Cookie` response header value.
///
/// [`Display`](fmt::Display) renders the header value with the attributes in a fixed order:
/// `Domain`, `Path`, `Expires`, `Max-Age`, `Secure`, `HttpOnly`, `SameSite`.
///
/// ```
/// use weir_sdk::{SameSite, SetCookie};
///
/// let cookie = SetCookie {
///     path: Some("/".to_owned()),
///     secure: true,
///     http_only: true,
///     same_site: Some(SameSite::Lax),
///     ..SetCookie::new("a", "b")
/// };
/// assert_eq!(cookie.to_string(), "a=b; Path=/; Secure; HttpOnly; SameSite=Lax");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SetCookie {
    /// Cookie name.
    pub name: String,
    /// Cookie value, verbatim (quotes included if it was quoted).
    pub value: String,
    /// `Domain`.
    pub domain: Option<String>,
    /// `Path`.
    pub path: Option<String>,
    /// `Max-Age` in seconds (zero or negative expires the cookie).
    pub max_age: Option<i64>,
    /// `Expires`, verbatim (an HTTP date).
    pub expires: Option<String>,
    /// `Secure`.
    pub secure: bool,
    /// `HttpOnly`.
    pub http_only: bool,
    /// `SameSite`.
    pub same_site: Option<SameSite>,
}

impl SetCookie {
    /// A cookie with `name` and `value` and no attributes.
    ///
    /// ```
    /// use weir_sdk::SetCookie;
    ///
    /// assert_eq!(SetCookie::new("sid", "abc").to_string(), "sid=abc");
    /// ```
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            domain: None,
            path: None,
            max_age: None,
            expires: None,
            secure: false,
            http_only: false,
            same_site: None,
        }
    }

    /// Parses one `Set-Cookie` value; `None` when it has no `name=value` pair or the name is
    /// empty. Attribute names are matched ignoring ASCII case; unknown attributes and
    /// unparseable `Max-Age` or `SameSite` values are ignored.
    ///
    /// ```
    /// use weir_sdk::{SameSite, SetCookie};
    ///
    /// let cookie = SetCookie::parse("sid=abc; path=/app; SECURE; samesite=strict").unwrap();
    /// assert_eq!(cookie.name, "sid");
    /// assert_eq!(cookie.path.as_deref(), Some("/app"));
    /// assert!(cookie.secure);
    /// assert_eq!(cookie.same_site, Some(SameSite::Strict));
    /// assert!(SetCookie::parse("no-pair").is_none());
    /// ```
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.split(';');
        let (name, value) = parts.next()?.split_once('=')?;
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        let mut cookie = Self::new(name, value.trim());
        for attribute in parts {
            let (key, val) = match attribute.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (attribute.trim(), None),
            };
            match (key.to_ascii_lowercase().as_str(), val) {
                ("domain", Some(v)) => cookie.domain = Some(v.to_owned()),
                ("path", Some(v)) => cookie.path = Some(v.to_owned()),
                ("max-age", Some(v)) => cookie.max_age = v.parse().ok(),
                ("expires", Some(v)) => cookie.expires = Some(v.to_owned()),
                ("secure", _) => cookie.secure = true,
                ("httponly", _) => cookie.http_only = true,
                ("samesite", Some(v)) => cookie.same_site = SameSite::parse(v),
                _ => {}
            }
        }
        Some(cookie)
    }

    /// Applies an attribute change, as `rewrite_set_cookie` does for each matching cookie.
    ///
    /// ```
    /// use weir_sdk::{CookieAttributes, SetCookie};
    ///
    /// let mut cookie = SetCookie::parse("a=1; Domain=x.test").unwrap();
    /// cookie.apply_attributes(&CookieAttributes {
    ///     domain: Some(None),
    ///     secure: Some(true),
    ///     ..CookieAttributes::default()
    /// });
    /// assert_eq!(cookie.to_string(), "a=1; Secure");
    /// ```
    pub fn apply_attributes(&mut self, change: &CookieAttributes) {
        if let Some(domain) = &change.domain {
            self.domain.clone_from(domain);
        }
        if let Some(path) = &change.path {
            self.path.clone_from(path);
        }
        if let Some(max_age) = change.max_age {
            self.max_age = max_age;
        }
        if let Some(secure) = change.secure {
            self.secure = secure;
        }
        if let Some(http_only) = change.http_only {
            self.http_only = http_only;
        }
        if let Some(same_site) = change.same_site {
            self.same_site = same_site;
        }
    }

    /// Parses a raw header value; non-UTF-8 values do not parse.
    pub(crate) fn parse_bytes(value: &[u8]) -> Option<Self> {
        Self::parse(std::str::from_utf8(value).ok()?)
    }
}

impl fmt::Display for SetCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.value)?;
        if let Some(domain) = &self.domain {
            write!(f, "; Domain={domain}")?;
        }
        if let Some(path) = &self.path {
            write!(f, "; Path={path}")?;
        }
        if let Some(expires) = &self.expires {
            write!(f, "; Expires={expires}")?;
        }
        if let Some(max_age) = self.max_age {
            write!(f, "; Max-Age={max_age}")?;
        }
        if self.secure {
            f.write_str("; Secure")?;
        }
        if self.http_only {
            f.write_str("; HttpOnly")?;
        }
        if let Some(same_site) = self.same_site {
            write!(f, "; SameSite={}", same_site.as_str())?;
        }
        Ok(())
    }
}

/// A change to the attributes of a `Set-Cookie`. A field left `None` is unchanged;
/// `Some(None)` removes the attribute; `Some(Some(v))` sets it. [`Default`] changes nothing.
///
/// ```
/// use weir_sdk::{CookieAttributes, SameSite};
///
/// // Harden a cookie: add Secure and SameSite=Strict, drop its Domain, keep the rest.
/// let change = CookieAttributes {
///     domain: Some(None),
///     secure: Some(true),
///     same_site: Some(Some(SameSite::Strict)),
///     ..CookieAttributes::default()
/// };
/// assert_eq!(change.path, None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CookieAttributes {
    /// New `Domain`.
    pub domain: Option<Option<String>>,
    /// New `Path`.
    pub path: Option<Option<String>>,
    /// New `Max-Age`.
    pub max_age: Option<Option<i64>>,
    /// New `Secure`.
    pub secure: Option<bool>,
    /// New `HttpOnly`.
    pub http_only: Option<bool>,
    /// New `SameSite`.
    pub same_site: Option<Option<SameSite>>,
}

/// Splits `Cookie` header values into `(name, value)` pairs, in order. Pieces without `=`, with
/// an empty name, or in a non-UTF-8 header value are skipped.
pub(crate) fn parse_cookie_header<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for value in values {
        let Ok(text) = std::str::from_utf8(value) else {
            continue;
        };
        for piece in text.split(';') {
            let Some((name, value)) = piece.split_once('=') else {
                continue;
            };
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            pairs.push((name.to_owned(), value.trim().to_owned()));
        }
    }
    pairs
}

/// Renders pairs as one `Cookie` header value (`a=1; b=2`).
pub(crate) fn render_cookie_header(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "in tests a panic is the failure report; see STYLE §9 allow-unwrap-in-tests"
)]
mod tests {
    use super::*;

    #[test]
    fn cookie_header_skips_malformed_pieces() {
        let pairs = parse_cookie_header([&b"a=1; ; junk; =x; b = 2 "[..], b"c=3;", &[0xff, b'=']]);
        assert_eq!(
            pairs,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "2".into()),
                ("c".into(), "3".into())
            ]
        );
        assert_eq!(render_cookie_header(&pairs), "a=1; b=2; c=3");
        assert_eq!(render_cookie_header(&[]), "");
    }

    #[test]
    fn cookie_values_may_contain_equals_signs() {
        let pairs = parse_cookie_header([&b"t=a=b=="[..]]);
        assert_eq!(pairs, vec![("t".into(), "a=b==".into())]);
    }

    #[test]
    fn set_cookie_round_trips_with_attributes_in_canonical_order() {
        let parsed = SetCookie::parse(
            "sid=abc; path=/app; DOMAIN=example.com; Max-Age=60; secure; HttpOnly; SameSite=lax; \
             Expires=Wed, 21 Oct 2026 07:28:00 GMT",
        )
        .unwrap();
        assert_eq!(parsed.name, "sid");
        assert_eq!(parsed.path.as_deref(), Some("/app"));
        assert_eq!(parsed.domain.as_deref(), Some("example.com"));
        assert_eq!(parsed.max_age, Some(60));
        assert_eq!(
            parsed.expires.as_deref(),
            Some("Wed, 21 Oct 2026 07:28:00 GMT")
        );
        assert!(parsed.secure && parsed.http_only);
        assert_eq!(parsed.same_site, Some(SameSite::Lax));
        assert_eq!(
            parsed.to_string(),
            "sid=abc; Domain=example.com; Path=/app; Expires=Wed, 21 Oct 2026 07:28:00 GMT; \
             Max-Age=60; Secure; HttpOnly; SameSite=Lax"
        );
        assert_eq!(SetCookie::parse(&parsed.to_string()), Some(parsed));
    }

    #[test]
    fn set_cookie_without_pair_is_rejected() {
        assert!(SetCookie::parse("novalue").is_none());
        assert!(SetCookie::parse("=x").is_none());
        assert!(SetCookie::parse("").is_none());
        assert!(SetCookie::parse_bytes(&[0xff, b'=', b'1']).is_none());
        assert_eq!(SetCookie::parse("a=").unwrap().value, "");
    }

    #[test]
    fn unknown_or_broken_attributes_are_ignored() {
        let parsed =
            SetCookie::parse("a=1; Max-Age=soon; SameSite=sometimes; Priority=High; Path").unwrap();
        assert_eq!(parsed, SetCookie::new("a", "1"));
    }

    #[test]
    fn attributes_can_be_set_and_removed() {
        let mut cookie = SetCookie::parse("a=1; Domain=x.test; Max-Age=5").unwrap();
        cookie.apply_attributes(&CookieAttributes {
            domain: Some(None),
            path: Some(Some("/".into())),
            max_age: None,
            secure: Some(true),
            http_only: None,
            same_site: Some(Some(SameSite::Strict)),
        });
        assert_eq!(
            cookie.to_string(),
            "a=1; Path=/; Max-Age=5; Secure; SameSite=Strict"
        );
        let before = cookie.clone();
        cookie.apply_attributes(&CookieAttributes::default());
        assert_eq!(cookie, before);
    }
}
