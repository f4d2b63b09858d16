//! The keys of consistent hashing: where a pool takes a request's key from (`hash_key`), and
//! the one stable hash that turns a key into a number.
//!
//! The hash is XXH3-64 with seed 0 (the `xxhash-rust` crate), a published, specified
//! function: the same key maps to the same backend whatever the build, toolchain or machine,
//! which `std`'s `DefaultHasher` does not promise. A key is hashed as bytes, read from the
//! request head where it lies, without copying.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use http::header::{COOKIE, HeaderName};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// Where a pool takes each request's hash key from (`hash_key` in `[[pool]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashKey {
    /// `client-addr`: the downstream peer's IP address (not its port), as its 4 or 16 bytes;
    /// an IPv4 client seen on a dual-stack socket (`::ffff:a.b.c.d`) counts as IPv4.
    ClientAddr,
    /// `header:<name>`: the value of the first field with this name.
    Header(HeaderName),
    /// `cookie:<name>`: the value of the first cookie with this name in the `Cookie` fields.
    Cookie(Box<str>),
}

/// A request's key, hashed: what consistent hashing places on its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyHash(pub(crate) u64);

impl KeyHash {
    /// XXH3-64 (seed 0) of `key`.
    pub fn of(key: &[u8]) -> Self {
        Self(xxh3_64(key))
    }
}

/// XXH3-64 of a backend's name with `seed`: its place in the consistent-hash table.
pub(crate) fn backend_hash(name: &str, seed: u64) -> u64 {
    xxh3_64_with_seed(name.as_bytes(), seed)
}

impl HashKey {
    /// Parses `client-addr`, `header:<name>` or `cookie:<name>`; the error says what is allowed.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text == "client-addr" {
            return Ok(Self::ClientAddr);
        }
        if let Some(name) = text.strip_prefix("header:") {
            return HeaderName::from_bytes(name.as_bytes())
                .map(Self::Header)
                .map_err(|_| format!("`{name}` is not a valid header name"));
        }
        if let Some(name) = text.strip_prefix("cookie:") {
            // A cookie name is an RFC 6265 §4.1.1 token: no separators, controls or spaces.
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
            return if valid {
                Ok(Self::Cookie(name.into()))
            } else {
                Err(format!("`{name}` is not a valid cookie name"))
            };
        }
        Err(format!(
            "`{text}` is not one of client-addr, header:<name>, cookie:<name>"
        ))
    }

    /// The hashed key of a request, or `None` when the request has none (no such header or
    /// cookie, or an empty value). Reads the head in place; allocates nothing.
    pub fn of_request(&self, headers: &HeaderMap, client: SocketAddr) -> Option<KeyHash> {
        match self {
            Self::ClientAddr => Some(match client.ip().to_canonical() {
                IpAddr::V4(ip) => KeyHash::of(&ip.octets()),
                IpAddr::V6(ip) => KeyHash::of(&ip.octets()),
            }),
            Self::Header(name) => headers
                .get(name)
                .map(|v| v.as_bytes())
                .filter(|v| !v.is_empty())
                .map(KeyHash::of),
            Self::Cookie(name) => cookie_value(headers, name)
                .filter(|v| !v.is_empty())
                .map(|v| KeyHash::of(v.as_bytes())),
        }
    }
}

impl std::fmt::Display for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ClientAddr => f.write_str("client-addr"),
            Self::Header(name) => write!(f, "header:{name}"),
            Self::Cookie(name) => write!(f, "cookie:{name}"),
        }
    }
}

/// The first cookie called `name`, by the rules filters see (`weir_rules::cookie`): pieces
/// split on `;` and the first `=`, name and value trimmed, non-UTF-8 fields skipped.
fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|field| std::str::from_utf8(field.as_bytes()).ok())
        .flat_map(|text| text.split(';'))
        .filter_map(|piece| piece.split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, v)| v.trim())
}

#[cfg(test)]
mod tests;
