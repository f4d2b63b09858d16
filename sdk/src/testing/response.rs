//! [`MemoryResponse`]: the in-memory response behind [`TestResponse`](super::TestResponse).
//! Every edit is validated with the host's rules and journaled in the host's words.

use super::header_list::HeaderList;
use super::journal::{Journal, show_value};
use crate::response::ResponseBackend;
use crate::validate::{self, Side};
use crate::{CookieAttributes, EditError, Header, SetCookie};

/// An upstream response head held in memory.
#[derive(Clone, Debug)]
pub(crate) struct MemoryResponse {
    pub(crate) status: u16,
    pub(crate) headers: HeaderList,
    pub(crate) journal: Journal,
}

impl MemoryResponse {
    fn edit_header(&mut self, name: &str, value: &[u8], append: bool) -> Result<(), EditError> {
        let name = validate::header_name(name, Side::Response)?;
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

impl ResponseBackend for MemoryResponse {
    fn status(&self) -> u16 {
        self.status
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

    fn set_cookies(&self) -> Vec<SetCookie> {
        self.headers
            .all("set-cookie")
            .filter_map(SetCookie::parse_bytes)
            .collect()
    }

    fn set_status(&mut self, status: u16) -> Result<(), EditError> {
        validate::status(status)?;
        self.journal.record(format!("set-status {status}"));
        self.status = status;
        Ok(())
    }

    fn set_header(&mut self, name: &str, value: &[u8]) -> Result<(), EditError> {
        self.edit_header(name, value, false)
    }

    fn append_header(&mut self, name: &str, value: &[u8]) -> Result<(), EditError> {
        self.edit_header(name, value, true)
    }

    fn remove_header(&mut self, name: &str) -> Result<(), EditError> {
        let name = validate::header_name(name, Side::Response)?;
        if self.headers.remove(&name) {
            self.journal.record(format!("remove-header {name}"));
        }
        Ok(())
    }

    fn add_set_cookie(&mut self, cookie: &SetCookie) -> Result<(), EditError> {
        let rendered = weir_rules::cookie::check_set_cookie(cookie)?;
        self.journal
            .record(format!("add-set-cookie {}", cookie.name));
        self.headers.append("set-cookie", rendered.into_bytes());
        Ok(())
    }

    fn remove_set_cookie(&mut self, name: &str) -> u32 {
        let removed = self.headers.edit_each("set-cookie", |value| {
            let parsed = SetCookie::parse_bytes(value)?;
            (parsed.name == name).then_some(None)
        });
        if removed > 0 {
            self.journal
                .record(format!("remove-set-cookie {name} ({removed})"));
        }
        removed
    }

    fn rewrite_set_cookie(
        &mut self,
        name: &str,
        attributes: &CookieAttributes,
    ) -> Result<u32, EditError> {
        weir_rules::cookie::check_attributes(attributes)?;
        let rewritten = self.headers.edit_each("set-cookie", |value| {
            // A cookie that no longer renders as a legal value is kept unchanged, as the host does.
            let rendered = weir_rules::cookie::rewrite_set_cookie(value, name, attributes)?;
            Some(Some(rendered.into_bytes()))
        });
        if rewritten > 0 {
            self.journal
                .record(format!("rewrite-set-cookie {name} ({rewritten})"));
        }
        Ok(rewritten)
    }
}
