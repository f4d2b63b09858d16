//! The per-request context: small values one filter keeps from its `on-request` to its
//! `on-response` for the same request, held by the host (not in the plugin's memory) so they
//! reach `on-response` whichever instance serves it, also under `isolation = "per-request"`.
//!
//! Each filter has its own [`Context`] per request; no filter sees another's. Its size is
//! bounded because the host holds it for the whole upstream exchange, outside the instance's
//! memory cap: at most [`MAX_ENTRIES`] keys, each key 1 to [`MAX_KEY_BYTES`] visible ASCII
//! characters, and at most [`MAX_BYTES`] of keys and values together. A `set` past a limit is
//! refused ([`RuleErrorKind::Forbidden`](crate::RuleErrorKind)) and changes nothing.
//!
//! ```
//! use weir_rules::context::{Context, MAX_BYTES};
//!
//! let mut context = Context::default();
//! context.set("started", b"1700000000").unwrap();
//! assert_eq!(context.get("started"), Some(&b"1700000000"[..]));
//! assert!(context.set("big", &vec![0; MAX_BYTES]).is_err());
//! assert_eq!(context.len(), 1, "a refused set changes nothing");
//! ```

use crate::RuleError;
use crate::validate::clip;

/// Most bytes of keys and values one filter may keep per request. A few timestamps, ids and
/// flags fit many times over; the bound keeps what a slow upstream makes the host hold per
/// request small (a chain of three filters holds at most 12 KiB per request in flight).
pub const MAX_BYTES: usize = 4096;

/// Most keys one filter may keep per request; bounds the linear lookups too.
pub const MAX_ENTRIES: usize = 32;

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 64;

/// One filter's context for one request: keys and byte values, in the order first set.
///
/// ```
/// use weir_rules::context::Context;
///
/// let mut context = Context::default();
/// context.set("a", b"1").unwrap();
/// context.set("a", b"22").unwrap();
/// assert_eq!(context.get("a"), Some(&b"22"[..]));
/// assert_eq!(context.bytes(), 3);
/// assert!(context.remove("a"));
/// assert!(context.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    entries: Vec<(String, Vec<u8>)>,
    bytes: usize,
}

impl Context {
    /// The value stored under `key`.
    ///
    /// ```
    /// use weir_rules::context::Context;
    ///
    /// assert_eq!(Context::default().get("missing"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }

    /// Stores `value` under `key`, replacing an earlier value. Refused, and nothing changed,
    /// when the key is not 1 to [`MAX_KEY_BYTES`] visible ASCII characters, or when the context
    /// would pass [`MAX_ENTRIES`] keys or [`MAX_BYTES`] bytes.
    ///
    /// ```
    /// use weir_rules::RuleErrorKind;
    /// use weir_rules::context::{Context, MAX_ENTRIES};
    ///
    /// let mut context = Context::default();
    /// assert_eq!(context.set("a key", b"").unwrap_err().kind, RuleErrorKind::InvalidName);
    /// for i in 0..MAX_ENTRIES {
    ///     context.set(&format!("k{i}"), b"").unwrap();
    /// }
    /// let err = context.set("one-more", b"").unwrap_err();
    /// assert_eq!(err.kind, RuleErrorKind::Forbidden);
    /// assert!(err.message.contains("32 keys"), "{}", err.message);
    /// context.set("k0", b"replacing is fine").unwrap();
    /// ```
    pub fn set(&mut self, key: &str, value: &[u8]) -> Result<(), RuleError> {
        check_key(key)?;
        let old = self.entries.iter().position(|(k, _)| k == key);
        let freed = old.map_or(0, |i| self.entries[i].0.len() + self.entries[i].1.len());
        let wanted = key.len().saturating_add(value.len());
        let total = (self.bytes - freed).saturating_add(wanted);
        if total > MAX_BYTES {
            return Err(RuleError::forbidden(format!(
                "context limit reached: `{}` needs {wanted} bytes, {} of {MAX_BYTES} left \
                 for this filter and request",
                clip(key),
                MAX_BYTES - (self.bytes - freed),
            )));
        }
        match old {
            Some(i) => self.entries[i].1 = value.to_vec(),
            None if self.entries.len() >= MAX_ENTRIES => {
                return Err(RuleError::forbidden(format!(
                    "context limit reached: at most {MAX_ENTRIES} keys per filter and request"
                )));
            }
            None => self.entries.push((key.to_owned(), value.to_vec())),
        }
        self.bytes = total;
        Ok(())
    }

    /// Removes `key`; returns whether it was there.
    ///
    /// ```
    /// use weir_rules::context::Context;
    ///
    /// assert!(!Context::default().remove("a"));
    /// ```
    pub fn remove(&mut self, key: &str) -> bool {
        let Some(i) = self.entries.iter().position(|(k, _)| k == key) else {
            return false;
        };
        let (k, v) = self.entries.remove(i);
        self.bytes -= k.len() + v.len();
        true
    }

    /// Bytes of keys and values held.
    ///
    /// ```
    /// use weir_rules::context::Context;
    ///
    /// assert_eq!(Context::default().bytes(), 0);
    /// ```
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of keys held.
    ///
    /// ```
    /// use weir_rules::context::Context;
    ///
    /// assert_eq!(Context::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is held.
    ///
    /// ```
    /// use weir_rules::context::Context;
    ///
    /// assert!(Context::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Checks a context key: 1 to [`MAX_KEY_BYTES`] visible ASCII characters (`!` to `~`).
///
/// ```
/// use weir_rules::context::check_key;
///
/// assert!(check_key("auth.user").is_ok());
/// assert!(check_key("").is_err());
/// assert!(check_key("é").is_err());
/// ```
pub fn check_key(key: &str) -> Result<(), RuleError> {
    if (1..=MAX_KEY_BYTES).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(RuleError::invalid_name(format!(
            "`{}` is not a context key (1-{MAX_KEY_BYTES} visible ASCII characters)",
            clip(key)
        )))
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "in tests a panic is the failure report; see STYLE §9 allow-unwrap-in-tests"
)]
mod tests {
    use super::*;
    use crate::RuleErrorKind;

    #[test]
    fn bytes_are_counted_across_keys_and_replacements_free_the_old_value() {
        let mut context = Context::default();
        context.set("a", &[0; 2000]).unwrap();
        context.set("b", &[0; 2000]).unwrap();
        assert_eq!(context.bytes(), 4002);
        let err = context.set("c", &[0; 100]).unwrap_err();
        assert_eq!(err.kind, RuleErrorKind::Forbidden);
        assert!(err.message.contains("94 of 4096 left"), "{}", err.message);
        context.set("a", &[0; 2094]).unwrap();
        assert_eq!(context.bytes(), MAX_BYTES);
        assert!(context.set("a", &[0; 2095]).is_err());
        assert!(context.remove("b"));
        assert_eq!(context.bytes(), 2095);
        context.set("c", &[0; 100]).unwrap();
    }

    #[test]
    fn keys_are_bounded_and_visible_ascii() {
        assert!(check_key(&"k".repeat(MAX_KEY_BYTES)).is_ok());
        assert!(check_key(&"k".repeat(MAX_KEY_BYTES + 1)).is_err());
        assert!(check_key("a\nb").is_err());
        let mut context = Context::default();
        assert!(context.set("", b"x").is_err());
        assert!(context.is_empty());
    }
}
