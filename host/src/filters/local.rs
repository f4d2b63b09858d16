//! Local responses (`respond` verdicts) turned into HTTP responses, after the same checks the
//! host applies to edits: a plugin cannot emit an illegal status, header name or value, nor a
//! response past its filter's budgets (body size, header fields, header bytes).

use bytes::Bytes;
use http::Response;
use http::header::HeaderMap;

use crate::runtime::validate::{self, Side};
use crate::runtime::{EditError, LocalResponse, PluginLimits};

/// Why a plugin's local response was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LocalResponseError {
    #[error("local response has status {0}, which is not 200-599")]
    Status(u16),
    #[error(
        "local response has status {status} and a {bytes}-byte body, but a {status} response \
         cannot carry a body (RFC 9110 §15.3.5, §15.4.5)"
    )]
    BodyNotAllowed { status: u16, bytes: usize },
    #[error("local response header {index} is invalid: {reason}")]
    Header { index: usize, reason: String },
    #[error(
        "local response body is {bytes} bytes, over the filter's limit of {limit} \
         (max_local_response_body_bytes)"
    )]
    Body { bytes: usize, limit: usize },
    #[error(
        "local response has {count} header fields, over the filter's limit of {limit} \
         (max_header_count)"
    )]
    HeaderCount { count: usize, limit: usize },
    #[error(
        "local response headers are {bytes} bytes, over the filter's limit of {limit} \
         (max_header_bytes_per_call)"
    )]
    HeaderBytes { bytes: usize, limit: usize },
}

/// Checks a local response against its filter's budgets, before anything is built from it.
pub(crate) fn check_limits(
    local: &LocalResponse,
    limits: &PluginLimits,
) -> Result<(), LocalResponseError> {
    if local.body.len() > limits.max_local_response_body_bytes {
        return Err(LocalResponseError::Body {
            bytes: local.body.len(),
            limit: limits.max_local_response_body_bytes,
        });
    }
    if local.headers.len() > limits.max_header_count {
        return Err(LocalResponseError::HeaderCount {
            count: local.headers.len(),
            limit: limits.max_header_count,
        });
    }
    let bytes = local.headers.iter().fold(0usize, |sum, h| {
        sum.saturating_add(h.name.len() + h.value.len())
    });
    if bytes > limits.max_header_bytes_per_call {
        return Err(LocalResponseError::HeaderBytes {
            bytes,
            limit: limits.max_header_bytes_per_call,
        });
    }
    Ok(())
}

/// Validates a local response and converts it.
pub(crate) fn into_http_response(
    local: LocalResponse,
) -> Result<Response<Bytes>, LocalResponseError> {
    let status =
        validate::status(local.status).map_err(|_| LocalResponseError::Status(local.status))?;
    // RFC 9110 §6.4.1: a 204 or 304 response ends with its head. hyper would drop the body
    // without a word; the plugin meant to send something, so its verdict is refused instead.
    if matches!(local.status, 204 | 304) && !local.body.is_empty() {
        return Err(LocalResponseError::BodyNotAllowed {
            status: local.status,
            bytes: local.body.len(),
        });
    }
    let count = local.headers.len();
    // `HeaderMap::with_capacity` and `append` panic past the map's maximum size; a plugin
    // chooses the count, so only the `try_` forms are used.
    let too_many = || LocalResponseError::HeaderCount {
        count,
        limit: MAX_LOCAL_HEADERS,
    };
    if count > MAX_LOCAL_HEADERS {
        return Err(too_many());
    }
    let mut headers = HeaderMap::try_with_capacity(count).map_err(|_| too_many())?;
    for (index, header) in local.headers.into_iter().enumerate() {
        // The proxy frames the body itself; a plugin's framing fields are ignored, not errors.
        if header.name.eq_ignore_ascii_case("content-length")
            || header.name.eq_ignore_ascii_case("transfer-encoding")
        {
            continue;
        }
        let reason = |e: EditError| LocalResponseError::Header {
            index,
            reason: validate::describe(&e),
        };
        let name = validate::header_name(&header.name, Side::Local).map_err(reason)?;
        let value = validate::header_value(&header.value).map_err(reason)?;
        headers.try_append(name, value).map_err(|_| too_many())?;
    }
    let mut response = Response::new(Bytes::from(local.body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// Checks a local response against `limits`, then validates and converts it (`weir test` judges
/// verdicts this way).
pub(crate) fn into_http_response_within(
    local: LocalResponse,
    limits: &PluginLimits,
) -> Result<Response<Bytes>, LocalResponseError> {
    check_limits(&local, limits)?;
    into_http_response(local)
}

/// The most header fields any local response may carry, whatever the filter's budget: the
/// ceiling `max_header_count` is validated against, far below what a `HeaderMap` can hold.
const MAX_LOCAL_HEADERS: usize = 8192;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Header;

    fn limits() -> PluginLimits {
        PluginLimits {
            max_edits_per_call: 8,
            max_header_bytes_per_call: 64,
            max_header_count: 4,
            max_local_response_body_bytes: 16,
        }
    }

    fn local(headers: usize, body: usize) -> LocalResponse {
        LocalResponse {
            status: 403,
            headers: (0..headers)
                .map(|i| Header {
                    name: format!("x-{i}"),
                    value: b"1".to_vec(),
                })
                .collect(),
            body: vec![b'a'; body],
        }
    }

    #[test]
    fn local_responses_past_the_budgets_are_refused_naming_the_limit() {
        assert!(check_limits(&local(4, 16), &limits()).is_ok());
        let body = check_limits(&local(0, 17), &limits()).unwrap_err();
        assert!(
            body.to_string().contains("max_local_response_body_bytes"),
            "{body}"
        );
        let count = check_limits(&local(5, 0), &limits()).unwrap_err();
        assert!(count.to_string().contains("5 header fields"), "{count}");
        let mut big = local(1, 0);
        big.headers[0].value = vec![b'v'; 100];
        let bytes = check_limits(&big, &limits()).unwrap_err();
        assert!(
            bytes.to_string().contains("max_header_bytes_per_call"),
            "{bytes}"
        );
    }

    #[test]
    fn a_204_or_304_with_a_body_is_refused_and_without_one_accepted() {
        for status in [204, 304] {
            let mut response = local(0, 3);
            response.status = status;
            let err = into_http_response(response.clone()).unwrap_err();
            assert!(
                err.to_string().contains("cannot carry a body"),
                "{status}: {err}"
            );
            response.body.clear();
            assert!(into_http_response(response).is_ok(), "{status}");
        }
        assert!(into_http_response(local(0, 3)).is_ok(), "403 may carry one");
    }

    #[test]
    fn too_many_local_headers_are_refused_instead_of_panicking() {
        // 40000 distinct names: `HeaderMap::with_capacity` would panic on the count alone.
        let err = into_http_response(local(40_000, 0)).unwrap_err();
        assert!(
            matches!(err, LocalResponseError::HeaderCount { .. }),
            "{err}"
        );
        assert!(into_http_response(local(8192, 0)).is_ok());
    }
}
