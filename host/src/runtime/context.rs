//! The host side of the per-request context (`request.context`, `request.set-context`): each
//! filter's small values for one request, kept in the exchange's [`RequestView`] so they reach
//! the filter's `on-response` whichever instance serves it (also with
//! `isolation = "per-request"`). The limits and the key rule are `weir_rules::context`'s,
//! shared with the SDK's test kit; a set past them is refused like an invalid edit.
//!
//! [`RequestView`]: super::RequestView

use std::sync::Arc;

use weir_rules::context::Context;

use super::bindings::EditError;

/// Every filter's context for one request. Empty (no allocation) until a filter sets a value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilterContexts {
    /// One context per filter name; chains are short, so a list beats a map.
    by_filter: Vec<(Arc<str>, Context)>,
}

impl FilterContexts {
    /// The value `filter` stored under `key`.
    pub fn get(&self, filter: &str, key: &str) -> Option<&[u8]> {
        self.of(filter)?.get(key)
    }

    /// One filter's context, if it stored anything.
    pub fn of(&self, filter: &str) -> Option<&Context> {
        self.by_filter
            .iter()
            .find(|(name, _)| &**name == filter)
            .map(|(_, context)| context)
    }

    /// Stores `value` under `key` for `filter`; refused (nothing changed) past the limits.
    pub(crate) fn set(
        &mut self,
        filter: &Arc<str>,
        key: &str,
        value: &[u8],
    ) -> Result<(), EditError> {
        let index = match self.by_filter.iter().position(|(name, _)| name == filter) {
            Some(index) => index,
            None => {
                // Check the key before allocating a context for a filter that cannot use it.
                weir_rules::context::check_key(key)?;
                self.by_filter.push((filter.clone(), Context::default()));
                self.by_filter.len() - 1
            }
        };
        let context = &mut self.by_filter[index].1;
        let outcome = context.set(key, value).map_err(EditError::from);
        if context.is_empty() {
            self.by_filter.swap_remove(index);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_see_only_their_own_keys() {
        let a: Arc<str> = Arc::from("a");
        let b: Arc<str> = Arc::from("b");
        let mut contexts = FilterContexts::default();
        contexts.set(&a, "k", b"from a").unwrap();
        contexts.set(&b, "k", b"from b").unwrap();
        assert_eq!(contexts.get("a", "k"), Some(&b"from a"[..]));
        assert_eq!(contexts.get("b", "k"), Some(&b"from b"[..]));
        assert_eq!(contexts.get("c", "k"), None);
    }

    #[test]
    fn overflow_is_a_forbidden_edit_and_changes_nothing() {
        let a: Arc<str> = Arc::from("a");
        let mut contexts = FilterContexts::default();
        let big = vec![b'x'; weir_rules::context::MAX_BYTES];
        let Err(EditError::Forbidden(reason)) = contexts.set(&a, "k", &big) else {
            panic!("an oversized value is forbidden");
        };
        assert!(reason.contains("context limit reached"), "{reason}");
        assert_eq!(contexts, FilterContexts::default(), "nothing kept");
        assert!(matches!(
            contexts.set(&a, "bad key", b""),
            Err(EditError::InvalidName(_))
        ));
    }
}
