//! [`MemoryRequest`]: the in-memory request behind [`TestRequest`](super::TestRequest). Every
//! edit is validated with the host's rules and journaled in the host's words, so a plugin's
//! native tests see what weir would do.

use std::net::SocketAddr;

use weir_rules::path::EncodedSeparators;

use super::header_list::HeaderList;
use super::journal::{Journal, show_value};
use crate::cookie::{
    parse_cookie_header, remove_cookie_pairs, render_cookie_header, set_cookie_pair,
};
use crate::request::RequestBackend;
use crate::validate::{self, Side};
use crate::{EditError, Header, HttpVersion};

/// A downstream request held in memory.
#[derive(Clone, Debug)]
pub(crate) struct MemoryRequest {
    pub(crate) method: String,
    pub(crate) scheme: String,
    pub(crate) authority: Option<String>,
    pub(crate) path: String,
    /// The path as the client sent it, when it differs from `path`.
    pub(crate) raw_path: Option<String>,
    pub(crate) query: Option<String>,
    pub(crate) version: HttpVersion,
    pub(crate) headers: HeaderList,
    pub(crate) client: SocketAddr,
    pub(crate) id: String,
    /// Boxed: most test requests are cleartext, and the enum holding this stays small.
    pub(crate) tls: Option<Box<crate::TlsInfo>>,
    /// The pool and affinity key chosen with `select-backend`.
    pub(crate) backend: Option<(String, Option<String>)>,
    pub(crate) journal: Journal,
    /// What the filter keeps for its `on_response` (`set-context`), with weir's limits.
    pub(crate) context: weir_rules::context::Context,
}

impl MemoryRequest {
    fn cookie_pairs(&self) -> Vec<(String, String)> {
        parse_cookie_header(self.headers.all("cookie"))
    }

    /// Rewrites the `Cookie` header from `pairs`, removing it when there are none.
    fn store_cookie_pairs(&mut self, pairs: &[(String, String)]) {
        if pairs.is_empty() {
            self.headers.remove("cookie");
        } else {
            let rendered = render_cookie_header(pairs);
            self.headers.set("cookie", rendered.into_bytes());
        }
    }

    /// Applies a header edit; shared by set and append.
    fn edit_header(&mut self, name: &str, value: &[u8], append: bool) -> Result<(), EditError> {
        let name = validate::header_name(name, Side::Request)?;
        validate::header_value(value)?;
        let verb = if append {
            "append-header"
        } else {
            "set-header"
        };
        let shown = show_value(&name, value);
        self.journal.record(format!("{verb} {name} {shown}"));
        if append {
            self.headers.append(&name, value.to_vec());
        } else {
            self.headers.set(&name, value.to_vec());
        }
        Ok(())
    }
}

impl RequestBackend for MemoryRequest {
    fn method(&self) -> String {
        self.method.clone()
    }

    fn scheme(&self) -> String {
        self.scheme.clone()
    }

    fn authority(&self) -> Option<String> {
        self.authority.clone()
    }

    fn path(&self) -> String {
        self.path.clone()
    }

    fn raw_path(&self) -> String {
        self.raw_path.clone().unwrap_or_else(|| self.path.clone())
    }

    fn query(&self) -> Option<String> {
        self.query.clone()
    }

    fn version(&self) -> HttpVersion {
        self.version
    }

    fn header(&self, name: &str) -> Option<Vec<u8>> {
        self.headers.first(name).map(<[u8]>::to_vec)
    }

    fn header_all(&self, name: &str) -> Vec<Vec<u8>> {
        self.headers.all(name).map(<[u8]>::to_vec).collect()
    }

    fn headers(&self) -> Vec<Header> {
        self.headers.to_vec()
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.cookie_pairs()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    fn cookies(&self) -> Vec<(String, String)> {
        self.cookie_pairs()
    }

    fn client_addr(&self) -> String {
        self.client.ip().to_string()
    }

    fn client_port(&self) -> u16 {
        self.client.port()
    }

    fn id(&self) -> String {
        self.id.clone()
    }

    fn tls(&self) -> Option<crate::TlsInfo> {
        self.tls.as_deref().cloned()
    }

    /// Normalised like weir does (with the default `reject` for encoded separators); the
    /// kit knows no route, so it cannot refuse a path that leaves one.
    fn set_path(&mut self, path: &str) -> Result<(), EditError> {
        validate::path(path)?;
        let normal = weir_rules::path::normalise(path, EncodedSeparators::Reject)
            .map_err(|e| EditError::InvalidValue(e.to_string()))?;
        self.journal.record(format!("set-path {normal}"));
        if self.raw_path.is_none() {
            self.raw_path = Some(self.path.clone());
        }
        self.path = normal.into_owned();
        Ok(())
    }

    fn set_query(&mut self, query: Option<&str>) -> Result<(), EditError> {
        match query {
            Some(q) => {
                validate::query(q)?;
                self.journal.record(format!("set-query {q}"));
            }
            None => self.journal.record("remove-query".to_owned()),
        }
        self.query = query.map(str::to_owned);
        Ok(())
    }

    fn set_authority(&mut self, authority: &str) -> Result<(), EditError> {
        validate::authority(authority)?;
        self.journal.record(format!("set-authority {authority}"));
        self.headers.set("host", authority.as_bytes().to_vec());
        self.authority = Some(authority.to_owned());
        Ok(())
    }

    fn set_scheme(&mut self, scheme: &str) -> Result<(), EditError> {
        validate::scheme(scheme)?;
        self.journal.record(format!("set-scheme {scheme}"));
        scheme.clone_into(&mut self.scheme);
        Ok(())
    }

    fn set_header(&mut self, name: &str, value: &[u8]) -> Result<(), EditError> {
        self.edit_header(name, value, false)
    }

    fn append_header(&mut self, name: &str, value: &[u8]) -> Result<(), EditError> {
        self.edit_header(name, value, true)
    }

    fn remove_header(&mut self, name: &str) -> Result<(), EditError> {
        let name = validate::header_name(name, Side::Request)?;
        if self.headers.remove(&name) {
            self.journal.record(format!("remove-header {name}"));
        }
        Ok(())
    }

    fn set_cookie(&mut self, name: &str, value: &str) -> Result<(), EditError> {
        validate::cookie_name(name)?;
        validate::cookie_value(value)?;
        let mut pairs = self.cookie_pairs();
        set_cookie_pair(&mut pairs, name, value);
        self.store_cookie_pairs(&pairs);
        let shown = show_value("cookie", value.as_bytes());
        self.journal.record(format!("set-cookie {name} {shown}"));
        Ok(())
    }

    fn remove_cookie(&mut self, name: &str) -> bool {
        let mut pairs = self.cookie_pairs();
        if !remove_cookie_pairs(&mut pairs, name) {
            return false;
        }
        self.store_cookie_pairs(&pairs);
        self.journal.record(format!("remove-cookie {name}"));
        true
    }

    fn select_backend(&mut self, pool: &str, affinity_key: Option<&str>) -> Result<(), EditError> {
        validate::pool_name(pool)?;
        match affinity_key {
            // The key may identify a user; the journal keeps only its length, like the host.
            Some(key) => self
                .journal
                .record(format!("select-backend {pool} affinity={}", key.len())),
            None => self.journal.record(format!("select-backend {pool}")),
        }
        self.backend = Some((pool.to_owned(), affinity_key.map(str::to_owned)));
        Ok(())
    }

    fn context(&self, key: &str) -> Option<Vec<u8>> {
        self.context.get(key).map(<[u8]>::to_vec)
    }

    fn set_context(&mut self, key: &str, value: &[u8]) -> Result<(), EditError> {
        Ok(self.context.set(key, value)?)
    }
}
