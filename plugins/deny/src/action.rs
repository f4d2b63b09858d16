//! What the filter answers when a request is blocked: a text page or a redirect.

use weir_sdk::LocalResponse;

use crate::policy::BlockRule;

/// The configured answer to a blocked request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// `status` with a `text/plain` `body`.
    Deny {
        /// 400..=599.
        status: u16,
        /// Sent as is.
        body: String,
    },
    /// A redirect to `location`, with `{url}` replaced by the blocked URL, percent-encoded.
    Redirect {
        /// 301, 302, 303, 307 or 308.
        status: u16,
        /// The URL template.
        location: String,
    },
}

impl Action {
    /// The local response for a request blocked by `rule`; `url` is the blocked URL.
    /// It carries `x-weir-deny-rule` and `cache-control: no-store`, so a cache never keeps a
    /// block answer after the policy changes.
    pub(crate) fn response(&self, rule: BlockRule, url: &str) -> LocalResponse {
        let res = match self {
            Self::Deny { status, body } => LocalResponse::new(*status)
                .header("content-type", "text/plain; charset=utf-8")
                .body(body.as_bytes()),
            Self::Redirect { status, location } => LocalResponse::new(*status)
                .header("location", location.replace("{url}", &percent_encode(url))),
        };
        res.header("cache-control", "no-store")
            .header("x-weir-deny-rule", rule.to_string())
    }
}

/// Percent-encodes every byte except the unreserved characters (RFC 3986 §2.3), so the result
/// is safe as one query parameter value.
pub(crate) fn percent_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len() * 3);
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encode_keeps_only_unreserved_characters() {
        assert_eq!(
            percent_encode("http://a.test/x y?q=1&r=\u{e9}~"),
            "http%3A%2F%2Fa.test%2Fx%20y%3Fq%3D1%26r%3D%C3%A9~"
        );
    }
}
