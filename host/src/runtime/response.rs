//! The `response` resource: the host's view of an upstream response head while `on-response`
//! hooks run, and the host side of every `response` method in the WIT.

use http::StatusCode;
use http::header::{HeaderMap, HeaderValue, SET_COOKIE};
use wasmtime::component::Resource;

use super::bindings::weir::filter::types::HostResponse;
use super::bindings::{CookieAttributes, EditError, Header, SetCookie};
use super::budget::{Budgeted, check_header_count};
use super::cookie::{check_attributes, check_set_cookie, parse_set_cookie, rewrite_set_cookie};
use super::fields;
use super::journal::Journal;
use super::request::wit_headers;
use super::store::HostState;
use super::validate::{self, Side};

/// One response head as filters see it.
#[derive(Debug)]
pub struct ResponseView {
    /// Status code.
    pub status: StatusCode,
    /// Header fields (hop-by-hop fields already removed by the proxy).
    pub headers: HeaderMap,
    /// Accepted edits.
    pub journal: Journal,
}

impl ResponseView {
    fn header_values(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        fields::values(&self.headers, name)
    }

    fn edit_header(
        &mut self,
        (name, value): (&str, Vec<u8>),
        append: bool,
        max_fields: usize,
    ) -> Result<(), EditError> {
        fields::edit(
            &mut self.headers,
            &mut self.journal,
            Side::Response,
            (name, value),
            append,
            max_fields,
        )
    }

    /// Rebuilds the `Set-Cookie` fields in order: `edit` returns `None` to keep a value as it
    /// was (byte for byte), `Some(None)` to drop it, `Some(Some(v))` to replace it.
    fn edit_set_cookies(
        &mut self,
        mut edit: impl FnMut(&HeaderValue) -> Option<Option<HeaderValue>>,
    ) -> u32 {
        let values: Vec<HeaderValue> = self.headers.get_all(SET_COOKIE).iter().cloned().collect();
        let mut changed = 0;
        let mut kept = Vec::with_capacity(values.len());
        for value in values {
            match edit(&value) {
                None => kept.push(value),
                Some(replacement) => {
                    changed += 1;
                    kept.extend(replacement);
                }
            }
        }
        if changed > 0 {
            self.headers.remove(SET_COOKIE);
            // At most as many values as were there, so the map has room for them: `try_append`
            // only because `append` would panic if it had not.
            for value in kept {
                if self.headers.try_append(SET_COOKIE, value).is_err() {
                    tracing::warn!("response header map full while rewriting set-cookie");
                    break;
                }
            }
        }
        changed
    }
}

/// The edits, as the WIT describes them. Each validates its input first and changes nothing
/// when it refuses.
impl ResponseView {
    pub(crate) fn set_status(&mut self, status: u16) -> Result<(), EditError> {
        self.status = validate::status(status)?;
        self.journal.record(format_args!("set-status {status}"));
        Ok(())
    }

    pub(crate) fn remove_header(&mut self, name: &str) -> Result<(), EditError> {
        fields::remove(&mut self.headers, &mut self.journal, Side::Response, name)
    }

    pub(crate) fn add_set_cookie(
        &mut self,
        cookie: &SetCookie,
        max_fields: usize,
    ) -> Result<(), EditError> {
        let value = validate::header_value(check_set_cookie(cookie)?.as_bytes())?;
        check_header_count(self.headers.len(), true, max_fields)?;
        self.headers
            .try_append(SET_COOKIE, value)
            .map_err(|_| fields::full())?;
        self.journal
            .record(format_args!("add-set-cookie {}", cookie.name));
        Ok(())
    }

    pub(crate) fn remove_set_cookie(&mut self, name: &str) -> u32 {
        let removed = self.edit_set_cookies(|value| {
            let parsed = parse_set_cookie(value.as_bytes())?;
            (parsed.name == name).then_some(None)
        });
        if removed > 0 {
            self.journal
                .record(format_args!("remove-set-cookie {name} ({removed})"));
        }
        removed
    }

    pub(crate) fn rewrite_set_cookie(
        &mut self,
        name: &str,
        attributes: &CookieAttributes,
    ) -> Result<u32, EditError> {
        check_attributes(attributes)?;
        let rewritten = self.edit_set_cookies(|value| {
            let rendered = rewrite_set_cookie(value.as_bytes(), name, attributes)?;
            // A value that no longer renders legally is kept unchanged.
            let rendered = HeaderValue::from_str(&rendered).ok()?;
            Some(Some(rendered))
        });
        if rewritten > 0 {
            self.journal
                .record(format_args!("rewrite-set-cookie {name} ({rewritten})"));
        }
        Ok(rewritten)
    }
}

impl Budgeted for ResponseView {
    fn journal(&mut self) -> &mut Journal {
        &mut self.journal
    }
}

/// The header bytes a `Set-Cookie` edit may add: its text fields (the attribute names and
/// separators are a few bytes more, not counted).
fn set_cookie_bytes(cookie: &SetCookie) -> usize {
    let optional = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    SET_COOKIE.as_str().len()
        + cookie.name.len()
        + cookie.value.len()
        + optional(&cookie.domain)
        + optional(&cookie.path)
        + optional(&cookie.expires)
}

/// The header bytes an attribute rewrite may add to each `Set-Cookie` it changes.
fn attribute_bytes(attributes: &CookieAttributes) -> usize {
    let optional =
        |s: &Option<Option<String>>| s.as_ref().and_then(Option::as_ref).map_or(0, String::len);
    optional(&attributes.domain) + optional(&attributes.path)
}

type Res<T> = wasmtime::Result<T>;
type Edit = Res<Result<(), EditError>>;

impl HostResponse for HostState {
    fn status(&mut self, resp: Resource<ResponseView>) -> Res<u16> {
        Ok(self.view(&resp)?.status.as_u16())
    }

    fn header(&mut self, resp: Resource<ResponseView>, name: String) -> Res<Option<Vec<u8>>> {
        Ok(self
            .view(&resp)?
            .header_values(&name)
            .next()
            .map(<[u8]>::to_vec))
    }

    fn header_all(&mut self, resp: Resource<ResponseView>, name: String) -> Res<Vec<Vec<u8>>> {
        Ok(self
            .view(&resp)?
            .header_values(&name)
            .map(<[u8]>::to_vec)
            .collect())
    }

    fn headers(&mut self, resp: Resource<ResponseView>) -> Res<Vec<Header>> {
        Ok(wit_headers(&self.view(&resp)?.headers))
    }

    fn set_cookies(&mut self, resp: Resource<ResponseView>) -> Res<Vec<SetCookie>> {
        let view = self.view(&resp)?;
        Ok(view
            .headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| parse_set_cookie(v.as_bytes()))
            .collect())
    }

    fn set_status(&mut self, resp: Resource<ResponseView>, status: u16) -> Edit {
        self.budgeted_edit(&resp, "set-status", 0, |v, _| v.set_status(status))
    }

    fn set_header(&mut self, resp: Resource<ResponseView>, name: String, value: Vec<u8>) -> Edit {
        let bytes = name.len() + value.len();
        self.budgeted_edit(&resp, "set-header", bytes, |v, limits| {
            v.edit_header((&name, value), false, limits.max_header_count)
        })
    }

    fn append_header(
        &mut self,
        resp: Resource<ResponseView>,
        name: String,
        value: Vec<u8>,
    ) -> Edit {
        let bytes = name.len() + value.len();
        self.budgeted_edit(&resp, "append-header", bytes, |v, limits| {
            v.edit_header((&name, value), true, limits.max_header_count)
        })
    }

    fn remove_header(&mut self, resp: Resource<ResponseView>, name: String) -> Edit {
        self.budgeted_edit(&resp, "remove-header", 0, |v, _| v.remove_header(&name))
    }

    fn add_set_cookie(&mut self, resp: Resource<ResponseView>, cookie: SetCookie) -> Edit {
        let bytes = set_cookie_bytes(&cookie);
        self.budgeted_edit(&resp, "add-set-cookie", bytes, |v, limits| {
            v.add_set_cookie(&cookie, limits.max_header_count)
        })
    }

    fn remove_set_cookie(&mut self, resp: Resource<ResponseView>, name: String) -> Res<u32> {
        // Past the edit budget nothing is removed: the WIT has no error to return here.
        let outcome = self.budgeted_edit(&resp, "remove-set-cookie", 0, |v, _| {
            Ok(v.remove_set_cookie(&name))
        })?;
        Ok(outcome.unwrap_or(0))
    }

    fn rewrite_set_cookie(
        &mut self,
        resp: Resource<ResponseView>,
        name: String,
        attributes: CookieAttributes,
    ) -> Res<Result<u32, EditError>> {
        let bytes = attribute_bytes(&attributes);
        self.budgeted_edit(&resp, "rewrite-set-cookie", bytes, |v, _| {
            v.rewrite_set_cookie(&name, &attributes)
        })
    }

    fn drop(&mut self, resp: Resource<ResponseView>) -> Res<()> {
        debug_assert!(!resp.owned());
        Ok(())
    }
}
