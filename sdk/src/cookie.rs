//! Cookies: the request `Cookie` header as ordered name/value pairs, and `Set-Cookie` values
//! parsed into [`SetCookie`] and rendered back (RFC 6265 §4). The types and the parsing live in
//! `weir-rules`, shared with the host, so tests and production agree.

/// A `Set-Cookie` (WIT `set-cookie`): read with [`Response::set_cookies`], add with
/// [`Response::add_set_cookie`].
///
/// [`Response::set_cookies`]: crate::Response::set_cookies
/// [`Response::add_set_cookie`]: crate::Response::add_set_cookie
///
/// ```
/// use weir_sdk::testing::TestResponse;
/// use weir_sdk::{SameSite, SetCookie};
///
/// let mut resp = TestResponse::new(200).set_cookie("sid=abc; Path=/").build();
/// assert_eq!(resp.set_cookies()[0].path.as_deref(), Some("/"));
/// let edge = SetCookie {
///     max_age: Some(3600),
///     secure: true,
///     same_site: Some(SameSite::Lax),
///     ..SetCookie::new("edge", "1")
/// };
/// resp.add_set_cookie(&edge).unwrap();
/// assert_eq!(resp.set_cookies()[1].to_string(), "edge=1; Max-Age=3600; Secure; SameSite=Lax");
/// ```
#[doc(inline)]
pub use weir_rules::cookie::SetCookie;

/// A change to a `Set-Cookie`'s attributes (WIT `cookie-attributes`), for
/// [`Response::rewrite_set_cookie`]: `None` keeps an attribute; for `domain`, `path`, `max_age`
/// and `same_site`, `Some(None)` removes it.
///
/// [`Response::rewrite_set_cookie`]: crate::Response::rewrite_set_cookie
///
/// ```
/// use weir_sdk::testing::TestResponse;
/// use weir_sdk::{CookieAttributes, SameSite};
///
/// let mut resp = TestResponse::new(200).set_cookie("sid=abc; Domain=example.com").build();
/// let harden = CookieAttributes {
///     domain: Some(None),
///     secure: Some(true),
///     http_only: Some(true),
///     same_site: Some(Some(SameSite::Strict)),
///     ..CookieAttributes::default()
/// };
/// assert_eq!(resp.rewrite_set_cookie("sid", &harden), Ok(1));
/// assert_eq!(
///     resp.header_str("set-cookie").as_deref(),
///     Some("sid=abc; Secure; HttpOnly; SameSite=Strict")
/// );
/// ```
#[doc(inline)]
pub use weir_rules::cookie::CookieAttributes;

/// The `SameSite` attribute (WIT `same-site`).
///
/// ```
/// use weir_sdk::{SameSite, SetCookie};
///
/// let cookie = SetCookie { same_site: Some(SameSite::None), secure: true, ..SetCookie::new("a", "b") };
/// assert_eq!(cookie.to_string(), "a=b; Secure; SameSite=None");
/// ```
#[doc(inline)]
pub use weir_rules::cookie::SameSite;
pub(crate) use weir_rules::cookie::{
    parse_cookie_header, remove_cookie_pairs, render_cookie_header, set_cookie_pair,
};
