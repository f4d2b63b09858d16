//! Cookies: the request `Cookie` header as ordered name/value pairs, and `Set-Cookie` values
//! parsed into [`SetCookie`] and rendered back (RFC 6265 §4). The types and the parsing live in
//! `weir-rules`, shared with the host, so tests and production agree.

pub use weir_rules::cookie::{CookieAttributes, SameSite, SetCookie};
pub(crate) use weir_rules::cookie::{
    parse_cookie_header, remove_cookie_pairs, render_cookie_header, set_cookie_pair,
};
