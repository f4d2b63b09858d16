//! The path context of one request: the request target normalised once (the rules are
//! `weir_rules::path`'s), the raw target kept for filters, and what a `set-path` result must
//! satisfy (normalised the same way, still under the route's prefix).

use std::sync::Arc;

use http::uri::PathAndQuery;
use weir_rules::path::{self as rules, PathError};

pub use weir_rules::path::EncodedSeparators;

/// What the host knows about a request's path besides the path itself. Shared: a route
/// holds one and lends it to each request (no allocation); a request gets its own only when
/// its target was normalised or a filter set a path (then `raw_target` is filled in).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathContext {
    /// How a new path's encoded separators are treated (the server setting).
    pub separators: EncodedSeparators,
    /// The route's path prefix, which a new path may not leave; `None` on a forward-proxy
    /// listener, which has no routes.
    pub prefix: Option<Arc<str>>,
    /// The target as received, when normalising or a filter's `set-path` changed its path.
    pub raw_target: Option<PathAndQuery>,
}

impl PathContext {
    /// The context of a request nobody gave one: separators refused, no prefix, path as
    /// received.
    pub const DEFAULT: Self = Self {
        separators: EncodedSeparators::Reject,
        prefix: None,
        raw_target: None,
    };

    /// The shared context of a route (or, without a prefix, of a forward-proxy listener).
    pub fn new(separators: EncodedSeparators, prefix: Option<Arc<str>>) -> Arc<Self> {
        Arc::new(Self {
            separators,
            prefix,
            raw_target: None,
        })
    }

    /// Gives a request the shared context `shared`, keeping the raw target the request
    /// already carries (its own context then takes the shared rules, no allocation).
    pub fn attach(request: &mut Option<Arc<Self>>, shared: &Arc<Self>) {
        match request {
            Some(own) if own.raw_target.is_some() => {
                let own = Arc::make_mut(own);
                own.separators = shared.separators;
                own.prefix.clone_from(&shared.prefix);
            }
            _ => *request = Some(shared.clone()),
        }
    }
}

/// The request target as received, kept in the request's extensions by the route phase when
/// normalising changed it, for the filters' `raw-path`.
#[derive(Clone, Debug)]
pub(crate) struct RawTarget(pub(crate) PathAndQuery);

/// Normalises a request target's path, keeping its query as it is; `None` when it is already
/// normal (the common case: no allocation).
pub(crate) fn normalise_target(
    target: &PathAndQuery,
    separators: EncodedSeparators,
) -> Result<Option<PathAndQuery>, PathError> {
    let path = target.path();
    let normal = match rules::normalise(path, separators)? {
        std::borrow::Cow::Borrowed(_) => return Ok(None),
        std::borrow::Cow::Owned(normal) => normal,
    };
    let rebuilt = match target.query() {
        Some(query) => format!("{normal}?{query}"),
        None => normal,
    };
    // A normal path is `/` and ASCII path characters, which the parser always accepts; the
    // query comes from a parsed target.
    PathAndQuery::from_maybe_shared(bytes::Bytes::from(rebuilt))
        .map(Some)
        .map_err(|_| PathError::InvalidEscape)
}

/// Whether `path` has a `.` or `..` segment, also percent-encoded (`%2e%2E`) or with `;`
/// parameters (`..;x`): the segments weir's normalisation removes.
pub(crate) fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let name = segment.split(';').next().unwrap_or_default();
        let decoded = name.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_are_found_spelt_any_way() {
        for path in ["/a/../b", "/a/./b", "/%2e%2E/x", "/a/..;p/b", "/a/.", "/.."] {
            assert!(has_dot_segment(path), "{path}");
        }
        for path in ["/a/b", "/a/.b/c", "/...", "/a..b", "/%2e%2e%2e", "/"] {
            assert!(!has_dot_segment(path), "{path}");
        }
    }

    #[test]
    fn normal_targets_are_left_alone_and_others_keep_their_query() {
        let reject = EncodedSeparators::Reject;
        let normal = PathAndQuery::from_static("/a/b?x=%2e%2e/..");
        assert_eq!(normalise_target(&normal, reject), Ok(None));
        let hostile = PathAndQuery::from_static("/a/%2e%2e//b?x=/../%2F");
        let fixed = normalise_target(&hostile, reject).unwrap().unwrap();
        assert_eq!(fixed.as_str(), "/b?x=/../%2F");
        let slash = PathAndQuery::from_static("/a%2fb?q");
        assert_eq!(
            normalise_target(&slash, reject),
            Err(PathError::EncodedSeparator)
        );
        let kept = normalise_target(&slash, EncodedSeparators::Keep).unwrap();
        assert_eq!(kept.unwrap().as_str(), "/a%2Fb?q");
    }
}
