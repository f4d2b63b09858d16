//! Conversions between the generated WIT types and the SDK's types. Every conversion is total:
//! the two sides describe the same contract.

use super::Decision;
use super::generated::weir::filter::types as wit;
use crate::{CookieAttributes, EditError, Header, LocalResponse, SameSite, SetCookie, Verdict};

impl From<wit::EditError> for EditError {
    fn from(error: wit::EditError) -> Self {
        match error {
            wit::EditError::InvalidName(reason) => Self::InvalidName(reason),
            wit::EditError::InvalidValue(reason) => Self::InvalidValue(reason),
            wit::EditError::Forbidden(reason) => Self::Forbidden(reason),
        }
    }
}

impl From<wit::Header> for Header {
    fn from(header: wit::Header) -> Self {
        Self {
            name: header.name,
            value: header.value,
        }
    }
}

impl From<Header> for wit::Header {
    fn from(header: Header) -> Self {
        Self {
            name: header.name,
            value: header.value,
        }
    }
}

impl From<wit::SameSite> for SameSite {
    fn from(same_site: wit::SameSite) -> Self {
        match same_site {
            wit::SameSite::Strict => Self::Strict,
            wit::SameSite::Lax => Self::Lax,
            wit::SameSite::None => Self::None,
        }
    }
}

impl From<SameSite> for wit::SameSite {
    fn from(same_site: SameSite) -> Self {
        match same_site {
            SameSite::Strict => Self::Strict,
            SameSite::Lax => Self::Lax,
            SameSite::None => Self::None,
        }
    }
}

impl From<wit::SetCookie> for SetCookie {
    fn from(cookie: wit::SetCookie) -> Self {
        Self {
            name: cookie.name,
            value: cookie.value,
            domain: cookie.domain,
            path: cookie.path,
            max_age: cookie.max_age,
            expires: cookie.expires,
            secure: cookie.secure,
            http_only: cookie.http_only,
            same_site: cookie.same_site.map(SameSite::from),
        }
    }
}

impl From<&SetCookie> for wit::SetCookie {
    fn from(cookie: &SetCookie) -> Self {
        Self {
            name: cookie.name.clone(),
            value: cookie.value.clone(),
            domain: cookie.domain.clone(),
            path: cookie.path.clone(),
            max_age: cookie.max_age,
            expires: cookie.expires.clone(),
            secure: cookie.secure,
            http_only: cookie.http_only,
            same_site: cookie.same_site.map(wit::SameSite::from),
        }
    }
}

impl From<&CookieAttributes> for wit::CookieAttributes {
    fn from(change: &CookieAttributes) -> Self {
        Self {
            domain: change.domain.clone(),
            path: change.path.clone(),
            max_age: change.max_age,
            secure: change.secure,
            http_only: change.http_only,
            same_site: change.same_site.map(|s| s.map(wit::SameSite::from)),
        }
    }
}

impl From<LocalResponse> for wit::LocalResponse {
    fn from(response: LocalResponse) -> Self {
        Self {
            status: response.status,
            headers: response
                .headers
                .into_iter()
                .map(wit::Header::from)
                .collect(),
            body: response.body,
        }
    }
}

impl From<Verdict> for Decision {
    fn from(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Continue => Self::Continue,
            Verdict::Respond(response) => Self::Respond(response.into()),
        }
    }
}
