//! Building a case's request and upstream response from its TOML, with the checks weir's
//! HTTP layer makes before filters run (a target it refuses is an error in the case).

use std::collections::BTreeMap;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::conformance::corpus;
use crate::runtime::{RequestView, ResponseView};

use super::{CaseRequest, CaseResponse, Values};

pub(super) fn build_request(spec: &CaseRequest) -> Result<RequestView, String> {
    let method = http::Method::from_bytes(spec.method.as_deref().unwrap_or("GET").as_bytes())
        .map_err(|_| "request.method is not a method".to_owned())?;
    let mut headers = headers(&spec.headers)?;
    if let Some(authority) = &spec.authority {
        let value = HeaderValue::from_str(authority)
            .map_err(|_| "request.authority is not a header value".to_owned())?;
        headers.insert(http::header::HOST, value);
    }
    if !spec.cookies.is_empty() {
        let cookie = spec
            .cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let value = HeaderValue::from_str(&cookie)
            .map_err(|_| "request.cookies are not a header value".to_owned())?;
        headers.append(http::header::COOKIE, value);
    }
    let path = spec.path.as_deref().unwrap_or("/");
    let target = match &spec.query {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let Ok(parsed) = http::uri::PathAndQuery::try_from(target.as_str()) else {
        return Err(format!(
            "request.path and request.query do not make a request target: `{target}`"
        ));
    };
    if !path.starts_with('/') {
        return Err(format!("request.path `{path}` does not start with `/`"));
    }
    if let Err(e) =
        crate::runtime::normalise_target(&parsed, crate::runtime::EncodedSeparators::Reject)
    {
        return Err(format!(
            "request.path `{path}` is one weir refuses before filters run: {e}"
        ));
    }
    let mut view = corpus::request(method, path, spec.query.as_deref(), &[]);
    view.headers = headers;
    view.authority = match &spec.authority {
        Some(authority) => Some(
            authority
                .parse()
                .map_err(|_| format!("request.authority `{authority}` is not host[:port]"))?,
        ),
        None => None,
    };
    if let Some(scheme) = &spec.scheme {
        view.scheme = match scheme.as_str() {
            "http" => "http",
            "https" => "https",
            other => return Err(format!("request.scheme `{other}` is not http or https")),
        };
    }
    view.version = match spec.version.as_deref() {
        None | Some("HTTP/1.1") => http::Version::HTTP_11,
        Some("HTTP/1.0") => http::Version::HTTP_10,
        Some("HTTP/2") => http::Version::HTTP_2,
        Some(other) => {
            return Err(format!(
                "request.version `{other}` is not HTTP/1.0, HTTP/1.1 or HTTP/2"
            ));
        }
    };
    if let Some(client) = &spec.client {
        view.client = client
            .parse()
            .map_err(|_| format!("request.client `{client}` is not ip:port"))?;
    }
    Ok(view)
}

pub(super) fn build_response(spec: &CaseResponse) -> Result<ResponseView, String> {
    let status = http::StatusCode::from_u16(spec.status)
        .map_err(|_| format!("response.status {} is invalid", spec.status))?;
    Ok(corpus::response_with(status, headers(&spec.headers)?))
}

fn headers(spec: &BTreeMap<String, Values>) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, values) in spec {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a header name"))?;
        for value in values.iter() {
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("`{name}` has an invalid value"))?;
            map.append(name.clone(), value);
        }
    }
    Ok(map)
}
