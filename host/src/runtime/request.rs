//! The `request` resource: the host's view of one downstream request while filters run, and the
//! host side of every `request` method in the WIT (lazy reads, validated and journaled edits).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use http::header::{COOKIE, HOST, HeaderMap};
use http::uri::{Authority, PathAndQuery};
use http::{Method, Version};
use wasmtime::component::Resource;

use super::bindings::weir::filter::types::HostRequest;
use super::bindings::{EditError, Header, HttpVersion, TlsInfo};
use super::budget::{Budgeted, check_header_count};
use super::context::FilterContexts;
use super::cookie::{
    cookie_pairs, parse_cookie_header, render_cookie_header, set_cookie_pair, without_cookie,
};
use super::fields;
use super::journal::{Journal, ShownValue};
use super::path::PathContext;
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

/// A request's id: a random per-process prefix and a counter, unique within the process and
/// unlikely to collide across restarts. Plain data, formatted only when someone reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestId {
    prefix: u32,
    counter: u64,
    /// Set for fixed ids, shown instead of the prefix.
    label: Option<&'static str>,
}

impl RequestId {
    /// The next id of this process.
    pub fn next() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        static PREFIX: OnceLock<u32> = OnceLock::new();
        Self {
            prefix: *PREFIX.get_or_init(|| getrandom::u32().unwrap_or(0)),
            counter: COUNTER.fetch_add(1, Ordering::Relaxed),
            label: None,
        }
    }

    /// A fixed id shown as `label-counter` (`conformance-0`), for runs that must compare.
    pub fn fixed(label: &'static str, counter: u64) -> Self {
        Self {
            prefix: 0,
            counter,
            label: Some(label),
        }
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.label {
            Some(label) => write!(f, "{label}-{}", self.counter),
            None => write!(f, "{:08x}-{:x}", self.prefix, self.counter),
        }
    }
}

/// One request head as filters see it, owned from route matching to the upstream write (the
/// exchange's request). Built by moving the downstream head's parts in; lent to the plugin's
/// store for each hook call and taken back afterwards. Edits change it in place and
/// keep the parsed forms the validators produced.
#[derive(Clone, Debug)]
pub struct RequestView {
    /// Request method.
    pub method: Method,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The authority when the request target carried one (absolute form, HTTP/2) or a filter
    /// set one; otherwise the `Host` field is the authority.
    pub authority: Option<Authority>,
    /// Path and query: the target as received with its path normalised (`weir_rules::path`),
    /// or as a filter set it (normalised the same way).
    pub path_and_query: PathAndQuery,
    /// What a `set-path` must respect, and the target as received if it changed; `None`
    /// means [`PathContext::DEFAULT`]. One pointer: every downstream connection's request
    /// future holds a few copies of this struct.
    pub path_context: Option<Arc<PathContext>>,
    /// Downstream HTTP version.
    pub version: Version,
    /// Header fields (hop-by-hop fields already removed by the proxy).
    pub headers: HeaderMap,
    /// Downstream peer.
    pub client: SocketAddr,
    /// Request id.
    pub id: RequestId,
    /// The downstream TLS session, on an HTTPS listener.
    pub tls: Option<Arc<crate::tls::TlsFacts>>,
    /// Backend pool chosen by a filter.
    pub backend: Option<BackendChoice>,
    /// Accepted edits.
    pub journal: Journal,
    /// What each filter keeps for its own `on-response` (`set-context`).
    pub context: FilterContexts,
}

impl RequestView {
    /// The path (`/` when the target had none).
    pub fn path(&self) -> &str {
        match self.path_and_query.path() {
            "" => "/",
            path => path,
        }
    }

    /// The path as the client sent it, before normalisation and edits (`/` when the target
    /// had none).
    pub fn raw_path(&self) -> &str {
        let raw = self
            .path_context
            .as_deref()
            .and_then(|c| c.raw_target.as_ref());
        match raw.map_or(self.path(), PathAndQuery::path) {
            "" => "/",
            path => path,
        }
    }

    /// The query, without `?`.
    pub fn query(&self) -> Option<&str> {
        self.path_and_query.query()
    }

    /// The authority: the request target's (or a filter's), else the `Host` field.
    pub fn authority(&self) -> Option<&str> {
        match &self.authority {
            Some(authority) => Some(authority.as_str()),
            None => self.headers.get(HOST).and_then(|h| h.to_str().ok()),
        }
    }
}

impl RequestView {
    fn header_values(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        fields::values(&self.headers, name)
    }

    pub(crate) fn cookie_pairs(&self) -> Vec<(String, String)> {
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
        // The field was just removed, so the map has room for it again.
        if let Ok(value) = http::HeaderValue::from_str(&render_cookie_header(pairs)) {
            let _ = self.headers.try_insert(COOKIE, value);
        }
    }

    /// Applies a header edit; shared by set and append.
    fn edit_header(
        &mut self,
        (name, value): (&str, Vec<u8>),
        append: bool,
        max_fields: usize,
    ) -> Result<(), EditError> {
        fields::edit(
            &mut self.headers,
            &mut self.journal,
            Side::Request,
            (name, value),
            append,
            max_fields,
        )
    }
}

/// The edits, as the WIT describes them. Each validates its input first and changes nothing
/// when it refuses.
impl RequestView {
    /// A new path is checked, normalised like a request's, and refused when it leaves the
    /// route's prefix: a filter cannot step outside its route with `..` or encoded forms.
    pub(crate) fn set_path(&mut self, path: String) -> Result<(), EditError> {
        let context = self
            .path_context
            .as_deref()
            .unwrap_or(&PathContext::DEFAULT);
        let normal = validate::normal_path(&path, context)?;
        let target = validate::path(&normal, self.query())?;
        if normal != path && super::path::has_dot_segment(&path) {
            // Resolved like any path (RFC 3986 §5.2.4), but a filter that builds paths with
            // `..` usually joins untrusted text into them: the conformance tool flags it.
            self.journal.note(format_args!(
                "set-path {} has dot segments; weir sends {normal}",
                super::journal::show_value("path", path.as_bytes())
            ));
        }
        if context.raw_target.is_none() {
            let received = self.path_and_query.clone();
            Arc::make_mut(self.path_context.get_or_insert_default()).raw_target = Some(received);
        }
        self.path_and_query = target;
        self.journal.record(format_args!("set-path {normal}"));
        Ok(())
    }

    pub(crate) fn set_query(&mut self, query: Option<String>) -> Result<(), EditError> {
        match &query {
            Some(q) => {
                self.path_and_query = validate::query(self.path(), q)?;
                self.journal.record(format_args!("set-query {q}"));
            }
            None => {
                if self.query().is_some() {
                    self.path_and_query = validate::path(self.path(), None)?;
                }
                self.journal.record(format_args!("remove-query"));
            }
        }
        Ok(())
    }

    pub(crate) fn set_authority(&mut self, authority: &str) -> Result<(), EditError> {
        let parsed = validate::authority(authority)?;
        let host_value = http::HeaderValue::from_str(parsed.as_str())
            .map_err(|_| EditError::InvalidValue("authority is not a header value".into()))?;
        self.headers
            .try_insert(HOST, host_value)
            .map_err(|_| fields::full())?;
        self.journal.record(format_args!("set-authority {parsed}"));
        self.authority = Some(parsed);
        Ok(())
    }

    pub(crate) fn set_scheme(&mut self, scheme: String) -> Result<(), EditError> {
        self.scheme = validate::scheme(&scheme)?;
        self.journal.record(format_args!("set-scheme {scheme}"));
        Ok(())
    }

    pub(crate) fn remove_header(&mut self, name: &str) -> Result<(), EditError> {
        fields::remove(&mut self.headers, &mut self.journal, Side::Request, name)
    }

    pub(crate) fn set_cookie(
        &mut self,
        name: &str,
        value: &str,
        max_fields: usize,
    ) -> Result<(), EditError> {
        validate::cookie_name(name)?;
        validate::cookie_value(value)?;
        // The pairs are stored as one `Cookie` field: a new field only when there was none.
        check_header_count(
            self.headers.len(),
            !self.headers.contains_key(COOKIE),
            max_fields,
        )?;
        let mut pairs = self.cookie_pairs();
        set_cookie_pair(&mut pairs, name, value);
        self.store_cookie_pairs(&pairs);
        let shown = ShownValue {
            name: "cookie",
            value: value.as_bytes(),
        };
        self.journal
            .record(format_args!("set-cookie {name} {shown}"));
        Ok(())
    }

    /// Strips every pair named `name` from the `Cookie` field(s) without parsing them into
    /// owned pairs: the remaining pairs are rendered straight into the new field's bytes (the
    /// same bytes `store_cookie_pairs` would make from the parsed pairs).
    pub(crate) fn remove_cookie(&mut self, name: &str) -> bool {
        let values = || {
            self.headers
                .get_all(COOKIE)
                .into_iter()
                .map(|v| v.as_bytes())
        };
        let Some(rest) = without_cookie(values, name) else {
            return false;
        };
        self.headers.remove(COOKIE);
        // As in `store_cookie_pairs`: the field is kept only when it is visible ASCII
        // (`HeaderValue::from_str`'s rule), else it stays removed. The field was just removed,
        // so the map has room for it again.
        let visible = |b: &u8| *b == b'\t' || (0x20..0x7f).contains(b);
        if !rest.is_empty()
            && rest.iter().all(visible)
            && let Ok(value) = http::HeaderValue::from_maybe_shared(bytes::Bytes::from(rest))
        {
            let _ = self.headers.try_insert(COOKIE, value);
        }
        self.journal.record(format_args!("remove-cookie {name}"));
        true
    }

    pub(crate) fn select_backend(
        &mut self,
        pool: String,
        affinity_key: Option<String>,
    ) -> Result<(), EditError> {
        validate::pool_name(&pool)?;
        match &affinity_key {
            Some(key) => self
                .journal
                .record(format_args!("select-backend {pool} affinity={}", key.len())),
            None => self.journal.record(format_args!("select-backend {pool}")),
        }
        self.backend = Some(BackendChoice { pool, affinity_key });
        Ok(())
    }
}

impl Budgeted for RequestView {
    fn journal(&mut self) -> &mut Journal {
        &mut self.journal
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

/// The longest IP address text: an IPv4-mapped IPv6 address (`INET6_ADDRSTRLEN` less the NUL).
const IP_TEXT_CAPACITY: usize = 45;
/// The longest [`RequestId`] text: 8 + 1 + 16 hex digits (a label id is usually shorter).
const ID_TEXT_CAPACITY: usize = 25;

/// Renders a value into a `String` allocated once at `capacity` (`to_string` would start
/// empty and grow with each piece the formatter writes).
fn display_sized(value: impl std::fmt::Display, capacity: usize) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(capacity);
    // Writing into a `String` cannot fail.
    let _ = write!(text, "{value}");
    text
}

type Res<T> = wasmtime::Result<T>;
type Edit = Res<Result<(), EditError>>;

impl HostRequest for HostState {
    fn method(&mut self, req: Resource<RequestView>) -> Res<String> {
        Ok(self.view(&req)?.method.as_str().to_owned())
    }

    fn scheme(&mut self, req: Resource<RequestView>) -> Res<String> {
        Ok(self.view(&req)?.scheme.to_owned())
    }

    fn authority(&mut self, req: Resource<RequestView>) -> Res<Option<String>> {
        Ok(self.view(&req)?.authority().map(str::to_owned))
    }

    fn path(&mut self, req: Resource<RequestView>) -> Res<String> {
        Ok(self.view(&req)?.path().to_owned())
    }

    fn raw_path(&mut self, req: Resource<RequestView>) -> Res<String> {
        Ok(self.view(&req)?.raw_path().to_owned())
    }

    fn query(&mut self, req: Resource<RequestView>) -> Res<Option<String>> {
        Ok(self.view(&req)?.query().map(str::to_owned))
    }

    fn version(&mut self, req: Resource<RequestView>) -> Res<HttpVersion> {
        Ok(wit_version(self.view(&req)?.version))
    }

    fn header(&mut self, req: Resource<RequestView>, name: String) -> Res<Option<Vec<u8>>> {
        Ok(self
            .view(&req)?
            .header_values(&name)
            .next()
            .map(<[u8]>::to_vec))
    }

    fn header_all(&mut self, req: Resource<RequestView>, name: String) -> Res<Vec<Vec<u8>>> {
        Ok(self
            .view(&req)?
            .header_values(&name)
            .map(<[u8]>::to_vec)
            .collect())
    }

    fn headers(&mut self, req: Resource<RequestView>) -> Res<Vec<Header>> {
        Ok(wit_headers(&self.view(&req)?.headers))
    }

    fn cookie(&mut self, req: Resource<RequestView>, name: String) -> Res<Option<String>> {
        let view = self.view(&req)?;
        let values = view
            .headers
            .get_all(COOKIE)
            .into_iter()
            .map(|v| v.as_bytes());
        Ok(cookie_pairs(values)
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_owned()))
    }

    fn cookies(&mut self, req: Resource<RequestView>) -> Res<Vec<(String, String)>> {
        Ok(self.view(&req)?.cookie_pairs())
    }

    fn client_addr(&mut self, req: Resource<RequestView>) -> Res<String> {
        Ok(display_sized(
            self.view(&req)?.client.ip(),
            IP_TEXT_CAPACITY,
        ))
    }

    fn client_port(&mut self, req: Resource<RequestView>) -> Res<u16> {
        Ok(self.view(&req)?.client.port())
    }

    fn id(&mut self, req: Resource<RequestView>) -> Res<String> {
        Ok(display_sized(self.view(&req)?.id, ID_TEXT_CAPACITY))
    }

    fn tls(&mut self, req: Resource<RequestView>) -> Res<Option<TlsInfo>> {
        Ok(self.view(&req)?.tls.as_deref().map(|t| TlsInfo {
            sni: t.sni.clone(),
            alpn: t.alpn.clone(),
            version: t.version.clone(),
            cipher_suite: t.cipher_suite.clone(),
            resumed: t.resumed,
            client_cert_subject: t.client_cert_subject.clone(),
            client_cert_sha256: t.client_cert_sha256.clone(),
        }))
    }

    fn context(&mut self, req: Resource<RequestView>, key: String) -> Res<Option<Vec<u8>>> {
        let filter = self.plugin.name.clone();
        Ok(self
            .view(&req)?
            .context
            .get(&filter, &key)
            .map(<[u8]>::to_vec))
    }

    fn set_path(&mut self, req: Resource<RequestView>, path: String) -> Edit {
        self.budgeted_edit(&req, "set-path", 0, |v, _| v.set_path(path))
    }

    fn set_query(&mut self, req: Resource<RequestView>, query: Option<String>) -> Edit {
        self.budgeted_edit(&req, "set-query", 0, |v, _| v.set_query(query))
    }

    fn set_authority(&mut self, req: Resource<RequestView>, authority: String) -> Edit {
        let bytes = HOST.as_str().len() + authority.len();
        self.budgeted_edit(&req, "set-authority", bytes, |v, _| {
            v.set_authority(&authority)
        })
    }

    fn set_scheme(&mut self, req: Resource<RequestView>, scheme: String) -> Edit {
        self.budgeted_edit(&req, "set-scheme", 0, |v, _| v.set_scheme(scheme))
    }

    fn set_header(&mut self, req: Resource<RequestView>, name: String, value: Vec<u8>) -> Edit {
        let bytes = name.len() + value.len();
        self.budgeted_edit(&req, "set-header", bytes, |v, limits| {
            v.edit_header((&name, value), false, limits.max_header_count)
        })
    }

    fn append_header(&mut self, req: Resource<RequestView>, name: String, value: Vec<u8>) -> Edit {
        let bytes = name.len() + value.len();
        self.budgeted_edit(&req, "append-header", bytes, |v, limits| {
            v.edit_header((&name, value), true, limits.max_header_count)
        })
    }

    fn remove_header(&mut self, req: Resource<RequestView>, name: String) -> Edit {
        self.budgeted_edit(&req, "remove-header", 0, |v, _| v.remove_header(&name))
    }

    fn set_cookie(&mut self, req: Resource<RequestView>, name: String, value: String) -> Edit {
        let bytes = name.len() + value.len();
        self.budgeted_edit(&req, "set-cookie", bytes, |v, limits| {
            v.set_cookie(&name, &value, limits.max_header_count)
        })
    }

    fn remove_cookie(&mut self, req: Resource<RequestView>, name: String) -> Res<bool> {
        // Past the edit budget nothing is removed: the WIT has no error to return here.
        let outcome =
            self.budgeted_edit(&req, "remove-cookie", 0, |v, _| Ok(v.remove_cookie(&name)))?;
        Ok(outcome.unwrap_or(false))
    }

    fn select_backend(
        &mut self,
        req: Resource<RequestView>,
        pool: String,
        affinity_key: Option<String>,
    ) -> Edit {
        self.budgeted_edit(&req, "select-backend", 0, |v, _| {
            v.select_backend(pool, affinity_key)
        })
    }

    fn set_context(&mut self, req: Resource<RequestView>, key: String, value: Vec<u8>) -> Edit {
        // Not a change to the request: counted as an edit of the call's budget (so a loop of
        // sets is bounded), bounded in bytes by the context's own limits, never journaled
        // when accepted (values may be secrets; the request is unchanged).
        let filter = self.plugin.name.clone();
        self.budgeted_edit(&req, "set-context", 0, |v, _| {
            v.context.set(&filter, &key, &value)
        })
    }

    fn drop(&mut self, req: Resource<RequestView>) -> Res<()> {
        // The host owns every request; a guest dropping its borrow never frees it.
        debug_assert!(!req.owned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::path::EncodedSeparators;
    use super::*;

    fn view() -> RequestView {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, http::HeaderValue::from_static("app.test"));
        headers.append(COOKIE, http::HeaderValue::from_static("a=1; b=2"));
        headers.append(COOKIE, http::HeaderValue::from_static("a=3"));
        RequestView {
            method: Method::GET,
            scheme: "http",
            authority: None,
            path_and_query: PathAndQuery::from_static("/"),
            path_context: None,
            version: Version::HTTP_11,
            headers,
            client: "127.0.0.1:1".parse().unwrap(),
            id: RequestId::fixed("t", 0),
            tls: None,
            backend: None,
            journal: Journal::default(),
            context: FilterContexts::default(),
        }
    }

    #[test]
    fn set_cookie_replaces_the_first_and_drops_duplicates() {
        let mut v = view();
        v.set_cookie("a", "x", 64).unwrap();
        assert_eq!(v.headers.get_all(COOKIE).iter().count(), 1);
        assert_eq!(v.headers[COOKIE], "a=x; b=2");
        v.set_cookie("c", "\"q\"", 64).unwrap();
        assert_eq!(v.headers[COOKIE], "a=x; b=2; c=\"q\"");
    }

    #[test]
    fn removing_the_last_cookie_removes_the_header() {
        let mut v = view();
        assert!(v.remove_cookie("a"));
        assert!(!v.remove_cookie("a"));
        assert!(v.remove_cookie("b"));
        assert!(!v.headers.contains_key(COOKIE));
    }

    #[test]
    fn removing_a_cookie_merges_the_fields_and_keeps_the_rest_verbatim() {
        let mut v = view();
        assert!(v.remove_cookie("b"));
        assert_eq!(v.headers.get_all(COOKIE).iter().count(), 1);
        assert_eq!(v.headers[COOKIE], "a=1; a=3");
        assert_eq!(v.journal.entries()[0].edit, "remove-cookie b");
        assert!(!v.remove_cookie("zz"));
        assert_eq!(
            v.journal.entries().len(),
            1,
            "nothing removed, nothing journaled"
        );
    }

    #[test]
    fn removing_a_cookie_drops_a_field_that_is_not_visible_ascii() {
        // As before the in-place strip: the rest is stored only if `from_str` would take it.
        let mut v = view();
        v.headers.insert(
            COOKIE,
            http::HeaderValue::from_bytes("a=1; b=\u{e9}".as_bytes()).unwrap(),
        );
        assert!(v.remove_cookie("a"));
        assert!(!v.headers.contains_key(COOKIE));
    }

    #[test]
    fn header_reads_ignore_the_case_of_the_name() {
        let v = view();
        assert_eq!(v.header_values("COOKIE").count(), 2);
        assert_eq!(v.header_values("Host").next(), Some(&b"app.test"[..]));
        assert_eq!(v.header_values("bad name").count(), 0);
        let long = "X".repeat(100);
        assert_eq!(v.header_values(&long).count(), 0);
    }

    #[test]
    fn set_authority_rewrites_host_and_refusals_change_nothing() {
        let mut v = view();
        v.set_authority("internal.test:8080").unwrap();
        assert_eq!(v.headers[HOST], "internal.test:8080");
        assert!(v.set_authority("bad host").is_err());
        assert!(v.set_path("relative".into()).is_err());
        assert_eq!(v.authority(), Some("internal.test:8080"));
        assert_eq!(v.path(), "/");
        let journal: Vec<&str> = v
            .journal
            .entries()
            .iter()
            .map(|e| e.edit.as_str())
            .collect();
        assert_eq!(journal, ["set-authority internal.test:8080"]);
    }

    #[test]
    fn path_and_query_edits_keep_each_other() {
        let mut v = view();
        v.set_query(Some("a=1".into())).unwrap();
        v.set_path("/new/x".into()).unwrap();
        assert_eq!(v.path_and_query.as_str(), "/new/x?a=1");
        v.set_query(None).unwrap();
        assert_eq!(v.path_and_query.as_str(), "/new/x");
        assert_eq!(v.query(), None);
        assert!(v.set_path("/bad path".into()).is_err());
        assert!(v.set_query(Some("a#b".into())).is_err());
        assert_eq!(
            v.path_and_query.as_str(),
            "/new/x",
            "refusals change nothing"
        );
    }

    #[test]
    fn set_path_is_normalised_keeps_the_raw_path_and_stays_under_the_prefix() {
        let mut v = view();
        v.path_and_query = PathAndQuery::from_static("/public/a?q=1");
        v.path_context = Some(PathContext::new(
            EncodedSeparators::Reject,
            Some(Arc::from("/public/")),
        ));
        v.set_path("/public/x/../%62//c".into()).unwrap();
        assert_eq!(v.path_and_query.as_str(), "/public/b/c?q=1");
        assert_eq!(v.raw_path(), "/public/a");
        for escape in [
            "/public/../admin",
            "/public/%2e%2e/admin",
            "/public/..;/admin",
            "/admin",
        ] {
            let Err(EditError::Forbidden(reason)) = v.set_path(escape.into()) else {
                panic!("{escape} must be refused");
            };
            assert!(
                reason.contains("leaves the route's prefix `/public/`"),
                "{reason}"
            );
        }
        assert!(matches!(
            v.set_path("/public/a%2Fb".into()),
            Err(EditError::InvalidValue(_))
        ));
        Arc::make_mut(v.path_context.as_mut().unwrap()).separators = EncodedSeparators::Keep;
        v.set_path("/public/a%2fb".into()).unwrap();
        assert_eq!(v.path(), "/public/a%2Fb");
        assert_eq!(
            v.raw_path(),
            "/public/a",
            "the raw path is the received one"
        );
        let journal: Vec<&str> = v
            .journal
            .entries()
            .iter()
            .map(|e| e.edit.as_str())
            .collect();
        assert_eq!(journal, ["set-path /public/b/c", "set-path /public/a%2Fb"]);
    }

    #[test]
    fn authority_is_the_host_field_until_a_target_or_filter_sets_one() {
        let mut v = view();
        assert_eq!(v.authority(), Some("app.test"));
        v.authority = Some(Authority::from_static("h2.test"));
        assert_eq!(v.authority(), Some("h2.test"));
    }

    #[test]
    fn request_ids_are_unique_and_fixed_ones_show_their_label() {
        assert_ne!(RequestId::next(), RequestId::next());
        assert_eq!(
            RequestId::fixed("conformance", 0).to_string(),
            "conformance-0"
        );
        let shown = RequestId::next().to_string();
        assert_eq!(shown.split('-').next().map(str::len), Some(8), "{shown}");
    }

    #[test]
    fn journal_hides_secret_values() {
        let mut v = view();
        v.edit_header(("authorization", b"Bearer secret".to_vec()), false, 64)
            .unwrap();
        v.set_cookie("session", "secret", 64).unwrap();
        let journal: Vec<&str> = v
            .journal
            .entries()
            .iter()
            .map(|e| e.edit.as_str())
            .collect();
        assert_eq!(
            journal,
            [
                "set-header authorization <13 bytes>",
                "set-cookie session <6 bytes>"
            ]
        );
    }
}
