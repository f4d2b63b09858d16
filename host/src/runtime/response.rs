//! The `response` resource: the host's view of an upstream response head while `on-response`
//! hooks run, and the host side of every `response` method in the WIT.

use http::StatusCode;
use http::header::{HeaderMap, HeaderValue, SET_COOKIE};
use wasmtime::component::Resource;

use super::bindings::weir::filter::types::HostResponse;
use super::bindings::{CookieAttributes, EditError, Header, SetCookie};
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

    fn edit_header(&mut self, name: &str, value: &[u8], append: bool) -> Result<(), EditError> {
        fields::edit(
            &mut self.headers,
            &mut self.journal,
            Side::Response,
            (name, value),
            append,
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
            for value in kept {
                self.headers.append(SET_COOKIE, value);
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

    pub(crate) fn add_set_cookie(&mut self, cookie: &SetCookie) -> Result<(), EditError> {
        let value = validate::header_value(check_set_cookie(cookie)?.as_bytes())?;
        self.journal
            .record(format_args!("add-set-cookie {}", cookie.name));
        self.headers.append(SET_COOKIE, value);
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

impl HostState {
    /// Runs one response edit and notes a refusal in the journal.
    fn edit_response(
        &mut self,
        resp: &Resource<ResponseView>,
        op: &str,
        edit: impl FnOnce(&mut ResponseView) -> Result<(), EditError>,
    ) -> Edit {
        let view = self.table.get_mut(resp)?;
        let outcome = edit(view);
        if let Err(e) = &outcome {
            view.journal.refuse(op, e);
        }
        Ok(outcome)
    }
}

type Res<T> = wasmtime::Result<T>;
type Edit = Res<Result<(), EditError>>;

impl HostResponse for HostState {
    fn status(&mut self, resp: Resource<ResponseView>) -> Res<u16> {
        Ok(self.table.get(&resp)?.status.as_u16())
    }

    fn header(&mut self, resp: Resource<ResponseView>, name: String) -> Res<Option<Vec<u8>>> {
        Ok(self
            .table
            .get(&resp)?
            .header_values(&name)
            .next()
            .map(<[u8]>::to_vec))
    }

    fn header_all(&mut self, resp: Resource<ResponseView>, name: String) -> Res<Vec<Vec<u8>>> {
        Ok(self
            .table
            .get(&resp)?
            .header_values(&name)
            .map(<[u8]>::to_vec)
            .collect())
    }

    fn headers(&mut self, resp: Resource<ResponseView>) -> Res<Vec<Header>> {
        Ok(wit_headers(&self.table.get(&resp)?.headers))
    }

    fn set_cookies(&mut self, resp: Resource<ResponseView>) -> Res<Vec<SetCookie>> {
        let view = self.table.get(&resp)?;
        Ok(view
            .headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| parse_set_cookie(v.as_bytes()))
            .collect())
    }

    fn set_status(&mut self, resp: Resource<ResponseView>, status: u16) -> Edit {
        self.edit_response(&resp, "set-status", |v| v.set_status(status))
    }

    fn set_header(&mut self, resp: Resource<ResponseView>, name: String, value: Vec<u8>) -> Edit {
        self.edit_response(&resp, "set-header", |v| v.edit_header(&name, &value, false))
    }

    fn append_header(
        &mut self,
        resp: Resource<ResponseView>,
        name: String,
        value: Vec<u8>,
    ) -> Edit {
        self.edit_response(&resp, "append-header", |v| {
            v.edit_header(&name, &value, true)
        })
    }

    fn remove_header(&mut self, resp: Resource<ResponseView>, name: String) -> Edit {
        self.edit_response(&resp, "remove-header", |v| v.remove_header(&name))
    }

    fn add_set_cookie(&mut self, resp: Resource<ResponseView>, cookie: SetCookie) -> Edit {
        self.edit_response(&resp, "add-set-cookie", |v| v.add_set_cookie(&cookie))
    }

    fn remove_set_cookie(&mut self, resp: Resource<ResponseView>, name: String) -> Res<u32> {
        Ok(self.table.get_mut(&resp)?.remove_set_cookie(&name))
    }

    fn rewrite_set_cookie(
        &mut self,
        resp: Resource<ResponseView>,
        name: String,
        attributes: CookieAttributes,
    ) -> Res<Result<u32, EditError>> {
        let view = self.table.get_mut(&resp)?;
        let outcome = view.rewrite_set_cookie(&name, &attributes);
        if let Err(e) = &outcome {
            view.journal.refuse("rewrite-set-cookie", e);
        }
        Ok(outcome)
    }

    fn drop(&mut self, resp: Resource<ResponseView>) -> Res<()> {
        debug_assert!(!resp.owned());
        Ok(())
    }
}
