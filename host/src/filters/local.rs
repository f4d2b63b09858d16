//! Local responses (`respond` decisions) turned into HTTP responses, after the same checks the
//! host applies to edits: a plugin cannot emit an illegal status, header name or value.

use bytes::Bytes;
use http::Response;
use http::header::HeaderMap;

use crate::runtime::validate::{self, Side};
use crate::runtime::{EditError, LocalResponse};

/// Why a plugin's local response was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LocalResponseError {
    #[error("local response has status {0}, which is not 200-599")]
    Status(u16),
    #[error("local response header {index} is invalid: {reason}")]
    Header { index: usize, reason: String },
}

/// Validates a local response and converts it.
pub(crate) fn into_http_response(
    local: LocalResponse,
) -> Result<Response<Bytes>, LocalResponseError> {
    let status =
        validate::status(local.status).map_err(|_| LocalResponseError::Status(local.status))?;
    let mut headers = HeaderMap::with_capacity(local.headers.len());
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
        headers.append(name, value);
    }
    let mut response = Response::new(Bytes::from(local.body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}
