//! The `request` resource: the host's view of one downstream request while filters run, and the
//! host side of every `request` method in the WIT (lazy reads, validated and journaled edits).

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{COOKIE, HOST, HeaderMap, HeaderName};
use http::{Method, Version};
use wasmtime::component::Resource;

use super::bindings::weir::filter::types::HostRequest;
use super::bindings::{EditError, Header, HttpVersion};
use super::cookie::{parse_cookie_header, render_cookie_header};
use super::journal::{Journal, show_value};
use super::store::HostState;
use super::validate::{self, Side};

/// The backend choice a filter made with `select-backend`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendChoice {
    /// Pool name (syntactically valid; the proxy checks it exists).
    pub pool: String,
    /// Affinity key for sticky balancing.
    pub affinity_key: Option<String>,
}

/// One request as filters see it. Built by the proxy from the downstream request head; moved
/// into a store's resource table for each hook call and taken back afterwards.
#[derive(Clone, Debug)]
pub struct RequestView {
    /// Request method.
    pub method: Method,
    /// `http` or `https`.
    pub scheme: String,
    /// Host and optional port.
    pub authority: Option<String>,
    /// Path without query.
    pub path: String,
    /// Query without `?`.
    pub query: Option<String>,
    /// Downstream HTTP version.
    pub version: Version,
    /// Header fields (hop-by-hop fields already removed by the proxy).
    pub headers: HeaderMap,
    /// Downstream peer.
    pub client: SocketAddr,
    /// Request id.
    pub id: Arc<str>,
    /// Backend pool chosen by a filter.
    pub backend: Option<BackendChoice>,
    /// Accepted edits.
    pub journal: Journal,
}

impl RequestView {
    fn header_values(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        self.headers
            .get_all(name.to_ascii_lowercase().as_str())
            .into_iter()
            .map(|v| v.as_bytes())
    }

    fn cookie_pairs(&self) -> Vec<(String, String)> {
        parse_cookie_header(
            self.headers
                .get_all(COOKIE)
                .into_iter()
                .map(|v| v.as_bytes()),
        )
    }

    fn store_cookie_pairs(&mut self, pairs: &[(String, String)]) {
        self.headers.remove(COOKIE);
        if pairs.is_empty() {
            return;
        }
        // Names and values were validated (or came from a parsed header), so the rendered
        // header is legal; a failure here would be a host bug, and we keep the header removed.
        if let Ok(value) = http::HeaderValue::from_str(&render_cookie_header(pairs)) {
            self.headers.insert(COOKIE, value);
        }
    }

    /// Applies a header edit; shared by set and append.
    fn edit_header(&mut self, name: &str, value: &[u8], append: bool) -> Result<(), EditError> {
        let name: HeaderName = validate::header_name(name, Side::Request)?;
        let value = validate::header_value(value)?;
        let shown = show_value(name.as_str(), value.as_bytes());
        let verb = if append {
            "append-header"
        } else {
            "set-header"
        };
        self.journal.record(format_args!("{verb} {name} {shown}"));
        if append {
            self.headers.append(name, value);
        } else {
            self.headers.insert(name, value);
        }
        Ok(())
    }
}

/// Converts an `http` version to the WIT enum.
pub(crate) fn wit_version(version: Version) -> HttpVersion {
    match version {
        Version::HTTP_10 | Version::HTTP_09 => HttpVersion::Http10,
        Version::HTTP_2 => HttpVersion::Http2,
        Version::HTTP_3 => HttpVersion::Http3,
        _ => HttpVersion::Http11,
    }
}

/// Lists header fields in the WIT shape.
pub(crate) fn wit_headers(headers: &HeaderMap) -> Vec<Header> {
    headers
        .iter()
        .map(|(name, value)| Header {
            name: name.as_str().to_owned(),
            value: value.as_bytes().to_vec(),
        })
        .collect()
}

type Res<T> = wasmtime::Result<T>;
type Edit = Res<Result<(), EditError>>;

impl HostRequest for HostState {
    fn method(&mut self, req: Resource<RequestView>) -> Res<String> {
        Ok(self.table.get(&req)?.method.as_str().to_owned())
    }

    fn scheme(&mut self, req: Resource<RequestView>) -> Res<String> {
        Ok(self.table.get(&req)?.scheme.clone())
    }

    fn authority(&mut self, req: Resource<RequestView>) -> Res<Option<String>> {
        Ok(self.table.get(&req)?.authority.clone())
    }

    fn path(&mut self, req: Resource<RequestView>) -> Res<String> {
        Ok(self.table.get(&req)?.path.clone())
    }

    fn query(&mut self, req: Resource<RequestView>) -> Res<Option<String>> {
        Ok(self.table.get(&req)?.query.clone())
    }

    fn version(&mut self, req: Resource<RequestView>) -> Res<HttpVersion> {
        Ok(wit_version(self.table.get(&req)?.version))
    }

    fn header(&mut self, req: Resource<RequestView>, name: String) -> Res<Option<Vec<u8>>> {
        Ok(self
            .table
            .get(&req)?
            .header_values(&name)
            .next()
            .map(<[u8]>::to_vec))
    }

    fn header_all(&mut self, req: Resource<RequestView>, name: String) -> Res<Vec<Vec<u8>>> {
        Ok(self
            .table
            .get(&req)?
            .header_values(&name)
            .map(<[u8]>::to_vec)
            .collect())
    }

    fn headers(&mut self, req: Resource<RequestView>) -> Res<Vec<Header>> {
        Ok(wit_headers(&self.table.get(&req)?.headers))
    }

    fn cookie(&mut self, req: Resource<RequestView>, name: String) -> Res<Option<String>> {
        let pairs = self.table.get(&req)?.cookie_pairs();
        Ok(pairs.into_iter().find(|(n, _)| *n == name).map(|(_, v)| v))
    }

    fn cookies(&mut self, req: Resource<RequestView>) -> Res<Vec<(String, String)>> {
        Ok(self.table.get(&req)?.cookie_pairs())
    }

    fn client_addr(&mut self, req: Resource<RequestView>) -> Res<String> {
        Ok(self.table.get(&req)?.client.ip().to_string())
    }

    fn client_port(&mut self, req: Resource<RequestView>) -> Res<u16> {
        Ok(self.table.get(&req)?.client.port())
    }

    fn id(&mut self, req: Resource<RequestView>) -> Res<String> {
        Ok(self.table.get(&req)?.id.to_string())
    }

    fn set_path(&mut self, req: Resource<RequestView>, path: String) -> Edit {
        let view = self.table.get_mut(&req)?;
        if let Err(e) = validate::path(&path) {
            return Ok(Err(e));
        }
        view.journal.record(format_args!("set-path {path}"));
        view.path = path;
        Ok(Ok(()))
    }

    fn set_query(&mut self, req: Resource<RequestView>, query: Option<String>) -> Edit {
        let view = self.table.get_mut(&req)?;
        if let Some(q) = &query
            && let Err(e) = validate::query(q)
        {
            return Ok(Err(e));
        }
        match &query {
            Some(q) => view.journal.record(format_args!("set-query {q}")),
            None => view.journal.record(format_args!("remove-query")),
        }
        view.query = query;
        Ok(Ok(()))
    }

    fn set_authority(&mut self, req: Resource<RequestView>, authority: String) -> Edit {
        let view = self.table.get_mut(&req)?;
        let parsed = match validate::authority(&authority) {
            Ok(parsed) => parsed,
            Err(e) => return Ok(Err(e)),
        };
        let Ok(host_value) = http::HeaderValue::from_str(parsed.as_str()) else {
            return Ok(Err(EditError::InvalidValue(
                "authority is not a header value".into(),
            )));
        };
        view.journal.record(format_args!("set-authority {parsed}"));
        view.headers.insert(HOST, host_value);
        view.authority = Some(parsed.as_str().to_owned());
        Ok(Ok(()))
    }

    fn set_scheme(&mut self, req: Resource<RequestView>, scheme: String) -> Edit {
        let view = self.table.get_mut(&req)?;
        if let Err(e) = validate::scheme(&scheme) {
            return Ok(Err(e));
        }
        view.journal.record(format_args!("set-scheme {scheme}"));
        view.scheme = scheme;
        Ok(Ok(()))
    }

    fn set_header(&mut self, req: Resource<RequestView>, name: String, value: Vec<u8>) -> Edit {
        Ok(self.table.get_mut(&req)?.edit_header(&name, &value, false))
    }

    fn append_header(&mut self, req: Resource<RequestView>, name: String, value: Vec<u8>) -> Edit {
        Ok(self.table.get_mut(&req)?.edit_header(&name, &value, true))
    }

    fn remove_header(&mut self, req: Resource<RequestView>, name: String) -> Edit {
        let view = self.table.get_mut(&req)?;
        let name = match validate::header_name(&name, Side::Request) {
            Ok(name) => name,
            Err(e) => return Ok(Err(e)),
        };
        if view.headers.remove(&name).is_some() {
            view.journal.record(format_args!("remove-header {name}"));
        }
        Ok(Ok(()))
    }

    fn set_cookie(&mut self, req: Resource<RequestView>, name: String, value: String) -> Edit {
        if let Err(e) = validate::cookie_name(&name).and_then(|()| validate::cookie_value(&value)) {
            return Ok(Err(e));
        }
        let view = self.table.get_mut(&req)?;
        let mut pairs = view.cookie_pairs();
        // Replace the first cookie of this name and drop any duplicates, or append it.
        let mut found = false;
        pairs.retain_mut(|(n, v)| {
            if *n != name {
                return true;
            }
            if found {
                return false;
            }
            found = true;
            v.clone_from(&value);
            true
        });
        if !found {
            pairs.push((name.clone(), value.clone()));
        }
        view.store_cookie_pairs(&pairs);
        let shown = show_value("cookie", value.as_bytes());
        view.journal
            .record(format_args!("set-cookie {name} {shown}"));
        Ok(Ok(()))
    }

    fn remove_cookie(&mut self, req: Resource<RequestView>, name: String) -> Res<bool> {
        let view = self.table.get_mut(&req)?;
        let mut pairs = view.cookie_pairs();
        let before = pairs.len();
        pairs.retain(|(n, _)| *n != name);
        if pairs.len() == before {
            return Ok(false);
        }
        view.store_cookie_pairs(&pairs);
        view.journal.record(format_args!("remove-cookie {name}"));
        Ok(true)
    }

    fn select_backend(
        &mut self,
        req: Resource<RequestView>,
        pool: String,
        affinity_key: Option<String>,
    ) -> Edit {
        if let Err(e) = validate::pool_name(&pool) {
            return Ok(Err(e));
        }
        let view = self.table.get_mut(&req)?;
        match &affinity_key {
            Some(key) => view
                .journal
                .record(format_args!("select-backend {pool} affinity={}", key.len())),
            None => view.journal.record(format_args!("select-backend {pool}")),
        }
        view.backend = Some(BackendChoice { pool, affinity_key });
        Ok(Ok(()))
    }

    fn drop(&mut self, req: Resource<RequestView>) -> Res<()> {
        // The host owns every request; a guest dropping its borrow never frees it.
        debug_assert!(!req.owned());
        Ok(())
    }
}
