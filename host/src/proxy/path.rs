//! The path normalisation of the route phase: every request target's path is normalised once
//! (rules in `weir_rules::path`) before routes match and filters run, so that routes, filters
//! and the upstream see one spelling of it. The target as received stays in the request's
//! extensions for the filters' `raw-path`; an unusable path is a 400 `bad-path`.

use http::uri::{Parts, Uri};
use http::{Method, Request};

use super::ProxyError;
use crate::runtime::{EncodedSeparators, RawTarget, normalise_target};

/// Normalises the request's path in place. A path that is already normal (the common case)
/// costs one scan and no allocation. CONNECT targets an authority and has no path.
pub(super) fn normalise<B>(
    request: &mut Request<B>,
    separators: EncodedSeparators,
) -> Result<(), ProxyError> {
    if request.method() == Method::CONNECT {
        return Ok(());
    }
    let Some(target) = request.uri().path_and_query() else {
        return Ok(());
    };
    let Some(normal) = normalise_target(target, separators).map_err(ProxyError::BadPath)? else {
        return Ok(());
    };
    let mut parts: Parts = std::mem::take(request.uri_mut()).into_parts();
    let raw = parts.path_and_query.replace(normal);
    // The parts came from a valid URI and only the path changed, to a valid one.
    *request.uri_mut() = Uri::from_parts(parts)
        .map_err(|_| ProxyError::Downstream("the request target cannot be rebuilt"))?;
    if let Some(raw) = raw {
        request.extensions_mut().insert(RawTarget(raw));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &str) -> Request<()> {
        Request::get(target).body(()).unwrap()
    }

    #[test]
    fn hostile_targets_are_normalised_and_the_raw_one_is_kept() {
        let mut req = request("/public/%2e%2e/admin//x?a=/../b");
        normalise(&mut req, EncodedSeparators::Reject).unwrap();
        assert_eq!(req.uri().path(), "/admin/x");
        assert_eq!(req.uri().query(), Some("a=/../b"));
        let raw = req.extensions().get::<RawTarget>().unwrap();
        assert_eq!(raw.0.as_str(), "/public/%2e%2e/admin//x?a=/../b");
    }

    #[test]
    fn absolute_form_keeps_its_scheme_and_authority() {
        let mut req = request("http://origin.test:8080/a/./b/../c");
        normalise(&mut req, EncodedSeparators::Reject).unwrap();
        assert_eq!(req.uri().to_string(), "http://origin.test:8080/a/c");
    }

    #[test]
    fn normal_targets_and_connect_are_untouched() {
        let mut req = request("/a/b?c");
        normalise(&mut req, EncodedSeparators::Reject).unwrap();
        assert_eq!(req.uri(), "/a/b?c");
        assert!(req.extensions().get::<RawTarget>().is_none());
        let mut connect = Request::connect("origin.test:443").body(()).unwrap();
        normalise(&mut connect, EncodedSeparators::Reject).unwrap();
        assert_eq!(connect.uri(), "origin.test:443");
    }

    #[test]
    fn bad_paths_are_refused_as_bad_path() {
        for target in ["/a%2fb", "/a%00", "/%zz", "/a\\b"] {
            let mut req = request(target);
            let error = normalise(&mut req, EncodedSeparators::Reject).unwrap_err();
            assert_eq!(error.kind(), "bad-path", "{target}");
            assert_eq!(error.status(), http::StatusCode::BAD_REQUEST);
        }
    }
}
