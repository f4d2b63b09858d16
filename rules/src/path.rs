//! The one path normalisation weir applies to every request path before route matching and
//! filters, and to every path a filter sets: RFC 3986 §6.2.2 syntax-based normalisation plus
//! §5.2.4 dot-segment removal, with a few rules of weir's own so that a path has exactly one
//! spelling for routes, filters and backends.
//!
//! The rules, in order:
//!
//! 1. `%XX` must be followed by two hex digits, or the path is refused.
//! 2. An encoded unreserved character (`A-Z a-z 0-9 - . _ ~`) is decoded; every other escape
//!    keeps its encoding, with uppercase hex (`%c3%a9` → `%C3%A9`). Decoding happens once:
//!    `%252e` stays `%252e`.
//! 3. An encoded `/` (`%2F`), a backslash (raw or `%5C`) and an encoded control character
//!    (`%00`–`%1F`, `%7F`) are refused ([`EncodedSeparators::Reject`]) or kept encoded, a raw
//!    backslash becoming `%5C` ([`EncodedSeparators::Keep`]).
//! 4. Any other raw byte that may not appear in a path segment (`"`, `{`, `|`, non-ASCII, ...)
//!    is percent-encoded, so `/é` and `/%C3%A9` are one path.
//! 5. Empty segments are merged (`//a//b` → `/a/b`), `.` and `..` segments are removed and
//!    `..` never climbs above the root. A segment whose name before its first `;` is `.` or
//!    `..` (`..;x`) is a dot segment too, as servlet containers read it; its parameters go.
//!    A trailing slash is kept (`/a/b/`, and `/a/..` → `/`, `/a/b/..` → `/a/`).
//!
//! Case is never folded (paths are case-sensitive) and `;` parameters stay where they are.
//! The result is idempotent: normalising it again changes nothing.
//!
//! ```
//! use std::borrow::Cow;
//! use weir_rules::path::{EncodedSeparators, normalise};
//!
//! let reject = EncodedSeparators::Reject;
//! assert!(matches!(normalise("/a/b", reject), Ok(Cow::Borrowed("/a/b"))));
//! assert_eq!(normalise("/public/%2e%2e/admin//x", reject).unwrap(), "/admin/x");
//! assert!(normalise("/a%2Fb", reject).is_err());
//! assert_eq!(normalise("/a%2fb", EncodedSeparators::Keep).unwrap(), "/a%2Fb");
//! ```

use std::borrow::Cow;
use std::fmt;

/// What happens to an encoded `/`, a backslash or an encoded control character in a path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EncodedSeparators {
    /// The path is refused (weir answers 400).
    #[default]
    Reject,
    /// The escape is kept as it is (uppercase hex); a raw backslash becomes `%5C`.
    Keep,
}

/// Why a path was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// A `%` not followed by two hex digits.
    InvalidEscape,
    /// An encoded `/` or a backslash, raw or encoded.
    EncodedSeparator,
    /// A control character, raw or encoded (`%00`–`%1F`, `%7F`).
    EncodedControl,
    /// The path neither starts with `/` nor is `*`.
    NotAbsolute,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidEscape => "the path has a `%` not followed by two hex digits",
            Self::EncodedSeparator => "the path has an encoded `/` or a backslash",
            Self::EncodedControl => "the path has a control character, raw or encoded",
            Self::NotAbsolute => "the path does not start with `/`",
        })
    }
}

impl std::error::Error for PathError {}

/// Normalises a path (without its query). Borrows when the path is already normal, the
/// common case, so that costs one scan and no allocation. `*` (asterisk-form) and the empty
/// path are returned as they are.
pub fn normalise(path: &str, separators: EncodedSeparators) -> Result<Cow<'_, str>, PathError> {
    if path.is_empty() || path == "*" {
        return Ok(Cow::Borrowed(path));
    }
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_normal(path.as_bytes(), separators)? {
        return Ok(Cow::Borrowed(path));
    }
    let escaped = escape(path.as_bytes(), separators)?;
    Ok(Cow::Owned(remove_dot_segments(&escaped)))
}

/// Whether `path` is `prefix` or lies under it, the way routes match: `/api` holds `/api`,
/// `/api/` and `/api/x` but not `/apix`; a prefix ending in `/` holds what starts with it.
/// Path parameters do not hide a segment: `/api;v=1/x` is under `/api` (a backend that drops
/// parameters would serve it as `/api/x`).
///
/// ```
/// use weir_rules::path::within_prefix;
///
/// assert!(within_prefix("/api", "/api/x"));
/// assert!(!within_prefix("/api", "/apix"));
/// assert!(within_prefix("/admin/", "/admin;jsessionid=1/x"));
/// ```
pub fn within_prefix(prefix: &str, path: &str) -> bool {
    if let Some(rest) = path.strip_prefix(prefix)
        && (prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'))
    {
        return true;
    }
    if !path.contains(';') {
        return false;
    }
    // Compare against the path without its parameters, without building it.
    let mut bare = path
        .bytes()
        .scan(false, |in_params, b| {
            match b {
                b'/' => *in_params = false,
                b';' => *in_params = true,
                _ => {}
            }
            Some((*in_params, b))
        })
        .filter(|&(in_params, _)| !in_params)
        .map(|(_, b)| b);
    if !prefix.bytes().all(|p| bare.next() == Some(p)) {
        return false;
    }
    prefix.ends_with('/') || matches!(bare.next(), None | Some(b'/'))
}

/// RFC 3986 §2.3.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// A byte that may stand for itself in a path: RFC 3986 §3.3 `pchar` without escapes, `/`.
fn is_plain(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'/'
        )
}

/// What an escape's decoded byte is, for rule 3.
fn check_encoded(byte: u8, separators: EncodedSeparators) -> Result<(), PathError> {
    if separators == EncodedSeparators::Keep {
        return Ok(());
    }
    match byte {
        b'/' | b'\\' => Err(PathError::EncodedSeparator),
        0..=0x1f | 0x7f => Err(PathError::EncodedControl),
        _ => Ok(()),
    }
}

/// The escape at `bytes[i]` (a `%`): its decoded byte and whether its hex is uppercase.
fn escape_at(bytes: &[u8], i: usize) -> Result<(u8, bool), PathError> {
    let hex = |at: usize| -> Result<(u8, bool), PathError> {
        match bytes.get(at) {
            Some(&d @ b'0'..=b'9') => Ok((d - b'0', true)),
            Some(&d @ b'A'..=b'F') => Ok((d - b'A' + 10, true)),
            Some(&d @ b'a'..=b'f') => Ok((d - b'a' + 10, false)),
            _ => Err(PathError::InvalidEscape),
        }
    };
    let (high, high_upper) = hex(i + 1)?;
    let (low, low_upper) = hex(i + 2)?;
    Ok((high << 4 | low, high_upper && low_upper))
}

/// Whether a path starting with `/` is already normal; errors as the full pass would.
fn is_normal(bytes: &[u8], separators: EncodedSeparators) -> Result<bool, PathError> {
    let mut normal = true;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let (decoded, upper) = escape_at(bytes, i)?;
                check_encoded(decoded, separators)?;
                normal &= upper && !is_unreserved(decoded);
                i += 3;
            }
            b'/' => {
                normal &= !starts_dot_or_empty_segment(bytes.get(i + 1..).unwrap_or_default());
                i += 1;
            }
            b'\\' | 0..=0x1f | 0x7f => {
                check_encoded(b, separators)?;
                normal = false;
                i += 1;
            }
            _ => {
                normal &= is_plain(b);
                i += 1;
            }
        }
    }
    Ok(normal)
}

/// Whether the segment at the start of `rest` is empty but not the last one (`//`), or a dot
/// segment (`.`, `..`, `.;x`, `..;x`).
fn starts_dot_or_empty_segment(rest: &[u8]) -> bool {
    let end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
    let segment = rest.get(..end).unwrap_or_default();
    if segment.is_empty() {
        return end < rest.len();
    }
    is_dot_segment(segment)
}

/// `.` or `..`, with or without parameters.
fn is_dot_segment(segment: &[u8]) -> bool {
    let name = segment.split(|&b| b == b';').next().unwrap_or_default();
    name == b"." || name == b".."
}

/// Rules 1 to 4: one pass that decodes unreserved escapes, uppercases the others and escapes
/// raw bytes that may not stand for themselves. The result is ASCII.
fn escape(bytes: &[u8], separators: EncodedSeparators) -> Result<String, PathError> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(bytes.len() + 8);
    let push_escaped = |out: &mut Vec<u8>, byte: u8| {
        out.extend_from_slice(&[
            b'%',
            HEX[usize::from(byte >> 4)],
            HEX[usize::from(byte & 0xf)],
        ]);
    };
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let (decoded, _) = escape_at(bytes, i)?;
            check_encoded(decoded, separators)?;
            if is_unreserved(decoded) {
                out.push(decoded);
            } else {
                push_escaped(&mut out, decoded);
            }
            i += 3;
            continue;
        }
        if matches!(b, b'\\' | 0..=0x1f | 0x7f) {
            check_encoded(b, separators)?;
        }
        if is_plain(b) {
            out.push(b);
        } else {
            push_escaped(&mut out, b);
        }
        i += 1;
    }
    // Every byte pushed is ASCII, so this never fails.
    String::from_utf8(out).map_err(|_| PathError::InvalidEscape)
}

/// Rule 5 (RFC 3986 §5.2.4, plus merged empty segments) over a path starting with `/`.
fn remove_dot_segments(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in path.split('/').skip(1) {
        // A segment that is removed leaves the path ending in a directory.
        trailing_slash = true;
        if segment.is_empty() {
            continue;
        }
        if is_dot_segment(segment.as_bytes()) {
            if segment.starts_with("..") {
                kept.pop();
            }
            continue;
        }
        kept.push(segment);
        trailing_slash = false;
    }
    let mut out = String::with_capacity(path.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    if trailing_slash || kept.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests;
