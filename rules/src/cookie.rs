//! Cookies: the request `Cookie` header as ordered name/value pairs, and `Set-Cookie` values
//! parsed into [`SetCookie`] and rendered back (RFC 6265 §4). [`SetCookie`] and
//! [`CookieAttributes`] mirror the WIT records of the same names.
//!
//! Parsing is lenient (a malformed piece is skipped, never an error) because the input comes from
//! the network; rendering is strict: [`check_set_cookie`] and [`check_attributes`] validate what
//! a plugin hands over before it is rendered onto the wire.

use std::fmt;

use crate::{RuleError, validate};

/// The `SameSite` attribute of a `Set-Cookie` (RFC 6265bis §4.1.2.7).
///
/// ```
/// use weir_rules::SameSite;
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
    /// use weir_rules::SameSite;
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
/// use weir_rules::{SameSite, SetCookie};
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
    /// use weir_rules::SetCookie;
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
    /// use weir_rules::{SameSite, SetCookie};
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

    /// Applies an attribute change, as [`rewrite_set_cookie`] does for a matching cookie.
    ///
    /// ```
    /// use weir_rules::{CookieAttributes, SetCookie};
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

    /// Parses a raw header value like [`parse`](Self::parse); non-UTF-8 values do not parse.
    ///
    /// ```
    /// use weir_rules::SetCookie;
    ///
    /// assert_eq!(SetCookie::parse_bytes(b"a=1").unwrap().value, "1");
    /// assert!(SetCookie::parse_bytes(&[0xff, b'=', b'1']).is_none());
    /// ```
    pub fn parse_bytes(value: &[u8]) -> Option<Self> {
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
/// use weir_rules::{CookieAttributes, SameSite};
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
///
/// ```
/// use weir_rules::cookie::parse_cookie_header;
///
/// let pairs = parse_cookie_header([&b"a=1; junk; b = 2"[..]]);
/// assert_eq!(pairs, [("a".to_owned(), "1".to_owned()), ("b".to_owned(), "2".to_owned())]);
/// ```
pub fn parse_cookie_header<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<(String, String)> {
    cookie_pairs(values)
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// The pairs of [`parse_cookie_header`], borrowed from the header values instead of copied.
///
/// ```
/// use weir_rules::cookie::cookie_pairs;
///
/// let pairs: Vec<_> = cookie_pairs([&b"a=1; junk; b = 2"[..]]).collect();
/// assert_eq!(pairs, [("a", "1"), ("b", "2")]);
/// ```
pub fn cookie_pairs<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    values
        .into_iter()
        .filter_map(|value| std::str::from_utf8(value).ok())
        .flat_map(|text| text.split(';'))
        .filter_map(|piece| {
            let (name, value) = piece.split_once('=')?;
            let name = name.trim();
            (!name.is_empty()).then(|| (name, value.trim()))
        })
}

/// The `Cookie` header value left after removing every pair named `name` from the values
/// `values` lists (called once per pass: the values are read twice, never copied),
/// rendered as [`render_cookie_header`] renders the remaining pairs, in one exactly sized
/// buffer; `None` when no pair has that name (nothing to change).
///
/// ```
/// use weir_rules::cookie::without_cookie;
///
/// let values = || [&b"a=1; b = 2"[..], &b"a=3; c=4"[..]];
/// assert_eq!(without_cookie(values, "a"), Some(b"b=2; c=4".to_vec()));
/// assert_eq!(without_cookie(values, "z"), None);
/// assert_eq!(without_cookie(|| [&b"a=1"[..]], "a"), Some(Vec::new()));
/// ```
pub fn without_cookie<'a, I: IntoIterator<Item = &'a [u8]>>(
    values: impl Fn() -> I,
    name: &str,
) -> Option<Vec<u8>> {
    let kept = || cookie_pairs(values()).filter(|(n, _)| *n != name);
    if !cookie_pairs(values()).any(|(n, _)| n == name) {
        return None;
    }
    let (count, bytes) = kept().fold((0usize, 0usize), |(count, bytes), (n, v)| {
        (count + 1, bytes + n.len() + 1 + v.len())
    });
    let mut out = Vec::with_capacity(bytes + 2 * count.saturating_sub(1));
    for (n, v) in kept() {
        if !out.is_empty() {
            out.extend_from_slice(b"; ");
        }
        out.extend_from_slice(n.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v.as_bytes());
    }
    Some(out)
}

/// Renders pairs as one `Cookie` header value (`a=1; b=2`).
///
/// ```
/// use weir_rules::cookie::render_cookie_header;
///
/// let pairs = [("a".to_owned(), "1".to_owned()), ("b".to_owned(), "2".to_owned())];
/// assert_eq!(render_cookie_header(&pairs), "a=1; b=2");
/// ```
pub fn render_cookie_header(pairs: &[(String, String)]) -> String {
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

/// Sets a cookie in parsed `Cookie` pairs: replaces the value of the first pair named `name` and
/// drops later pairs of that name, or appends a pair when there is none. The caller validates
/// `name` and `value` first.
///
/// ```
/// use weir_rules::cookie::{parse_cookie_header, render_cookie_header, set_cookie_pair};
///
/// let mut pairs = parse_cookie_header([&b"a=1; b=2; a=3"[..]]);
/// set_cookie_pair(&mut pairs, "a", "x");
/// set_cookie_pair(&mut pairs, "c", "y");
/// assert_eq!(render_cookie_header(&pairs), "a=x; b=2; c=y");
/// ```
pub fn set_cookie_pair(pairs: &mut Vec<(String, String)>, name: &str, value: &str) {
    let mut found = false;
    pairs.retain_mut(|(n, v)| {
        if n != name {
            return true;
        }
        if found {
            return false;
        }
        found = true;
        value.clone_into(v);
        true
    });
    if !found {
        pairs.push((name.to_owned(), value.to_owned()));
    }
}

/// Removes every pair named `name`; `true` when there was one.
///
/// ```
/// use weir_rules::cookie::{parse_cookie_header, remove_cookie_pairs};
///
/// let mut pairs = parse_cookie_header([&b"a=1; b=2; a=3"[..]]);
/// assert!(remove_cookie_pairs(&mut pairs, "a"));
/// assert!(!remove_cookie_pairs(&mut pairs, "a"));
/// assert_eq!(pairs, [("b".to_owned(), "2".to_owned())]);
/// ```
pub fn remove_cookie_pairs(pairs: &mut Vec<(String, String)>, name: &str) -> bool {
    let before = pairs.len();
    pairs.retain(|(n, _)| n != name);
    pairs.len() != before
}

/// Checks a cookie a plugin adds (name, value, `Domain`, `Path`, `Expires`) and renders it as a
/// `Set-Cookie` header value.
///
/// ```
/// use weir_rules::SetCookie;
/// use weir_rules::cookie::check_set_cookie;
///
/// assert_eq!(check_set_cookie(&SetCookie::new("sid", "abc")).unwrap(), "sid=abc");
/// assert!(check_set_cookie(&SetCookie::new("bad name", "x")).is_err());
/// ```
pub fn check_set_cookie(cookie: &SetCookie) -> Result<String, RuleError> {
    validate::cookie_name(&cookie.name)?;
    validate::cookie_value(&cookie.value)?;
    for (what, value) in [
        ("domain", &cookie.domain),
        ("path", &cookie.path),
        ("expires", &cookie.expires),
    ] {
        if let Some(value) = value {
            validate::cookie_attribute(what, value)?;
        }
    }
    let rendered = cookie.to_string();
    validate::header_value(rendered.as_bytes())?;
    Ok(rendered)
}

/// Checks an attribute change a plugin asks for (the `Domain` and `Path` it sets).
///
/// ```
/// use weir_rules::CookieAttributes;
/// use weir_rules::cookie::check_attributes;
///
/// let change = CookieAttributes { path: Some(Some("/a;b".to_owned())), ..Default::default() };
/// assert!(check_attributes(&change).is_err());
/// ```
pub fn check_attributes(change: &CookieAttributes) -> Result<(), RuleError> {
    for (what, value) in [("domain", &change.domain), ("path", &change.path)] {
        if let Some(Some(value)) = value {
            validate::cookie_attribute(what, value)?;
        }
    }
    Ok(())
}

/// The attributes of a `Set-Cookie` value that [`SetCookie`] does not carry (`Partitioned`,
/// `Priority`, extensions), verbatim, so a rewrite keeps them.
///
/// ```
/// use weir_rules::cookie::other_attributes;
///
/// assert_eq!(other_attributes(b"a=1; Path=/; Partitioned"), ["Partitioned"]);
/// ```
pub fn other_attributes(value: &[u8]) -> Vec<String> {
    const KNOWN: &[&str] = &[
        "domain", "path", "max-age", "expires", "secure", "httponly", "samesite",
    ];
    let Ok(text) = std::str::from_utf8(value) else {
        return Vec::new();
    };
    text.split(';')
        .skip(1)
        .map(str::trim)
        .filter(|attribute| {
            let key = attribute.split('=').next().unwrap_or_default().trim();
            !attribute.is_empty() && !KNOWN.contains(&key.to_ascii_lowercase().as_str())
        })
        .map(str::to_owned)
        .collect()
}

/// Rewrites one `Set-Cookie` header value: when it parses and is named `name`, applies `change`
/// and renders it with the attributes [`SetCookie`] does not carry kept at the end. `None` leaves
/// the value unchanged: another cookie, an unparseable value, or a result that is no longer a
/// legal header value.
///
/// ```
/// use weir_rules::CookieAttributes;
/// use weir_rules::cookie::rewrite_set_cookie;
///
/// let change = CookieAttributes { secure: Some(true), ..Default::default() };
/// let rewritten = rewrite_set_cookie(b"sid=1; Partitioned", "sid", &change);
/// assert_eq!(rewritten.as_deref(), Some("sid=1; Secure; Partitioned"));
/// assert!(rewrite_set_cookie(b"other=1", "sid", &change).is_none());
/// ```
pub fn rewrite_set_cookie(value: &[u8], name: &str, change: &CookieAttributes) -> Option<String> {
    let mut parsed = SetCookie::parse_bytes(value)?;
    if parsed.name != name {
        return None;
    }
    parsed.apply_attributes(change);
    let mut rendered = parsed.to_string();
    for other in other_attributes(value) {
        rendered.push_str("; ");
        rendered.push_str(&other);
    }
    validate::header_value(rendered.as_bytes()).ok()?;
    Some(rendered)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "in tests a panic is the failure report; see STYLE §9 allow-unwrap-in-tests"
)]
mod tests;
