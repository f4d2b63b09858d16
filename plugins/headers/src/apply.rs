//! Applying a validated [`Config`] to a request or a response: plain functions over SDK types.
//!
//! Templates are rendered first (reading the request), then the edits run in the order remove,
//! set, append. An edit the host refuses is logged at warn level and skipped; the others still
//! apply, and the request is never failed for it.

use weir_sdk::host::{self, Level};
use weir_sdk::{EditError, Request, Response};

use crate::config::{Config, Section};
use crate::template::Placeholder;

/// Applies the request section, then (if enabled) appends a `Forwarded` element.
///
/// Templates read `req` as it reached this filter.
pub(crate) fn apply_to_request(config: &Config, req: &mut Request) {
    let edits = Rendered::new(&config.request, |p| request_value(req, p, None));
    let forwarded = config.forwarded.then(|| {
        forwarded_element(
            &req.client_addr(),
            req.authority().as_deref(),
            &req.scheme(),
        )
    });
    edits.apply(req);
    if config.tls_headers {
        apply_tls_headers(req);
    }
    if let Some(element) = forwarded {
        // RFC 7239 §4: a proxy appends its element after those already present.
        let result = req.append_header("forwarded", &element);
        report(Request::SIDE, "append", "forwarded", result);
    }
}

/// The request headers `tls_headers` writes, and removes from every request first, so a client
/// cannot forge them: `(name, value of the session)`.
pub(crate) const TLS_HEADERS: [&str; 7] = [
    "x-tls-version",
    "x-tls-cipher",
    "x-tls-sni",
    "x-tls-alpn",
    "x-tls-resumed",
    "x-client-cert-subject",
    "x-client-cert-sha256",
];

/// Describes the downstream TLS session in request headers (RProxy-style TLS X-headers):
/// removes any client-sent copies, then sets those the session has.
fn apply_tls_headers(req: &mut Request) {
    for name in TLS_HEADERS {
        report(Request::SIDE, "remove", name, req.remove_header(name));
    }
    let Some(tls) = req.tls() else {
        return;
    };
    let values = [
        Some(tls.version),
        Some(tls.cipher_suite),
        tls.sni,
        tls.alpn,
        Some(if tls.resumed { "1" } else { "0" }.to_owned()),
        tls.client_cert_subject,
        tls.client_cert_sha256,
    ];
    for (name, value) in TLS_HEADERS.iter().zip(values) {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            report(Request::SIDE, "set", name, req.set_header(name, &value));
        }
    }
}

/// Applies the response section. Templates read `req`, the request as sent upstream, except
/// `{host}`, which is `host` when given (the host captured in `on_request`).
pub(crate) fn apply_to_response(
    section: &Section,
    req: &Request,
    host: Option<&str>,
    resp: &mut Response,
) {
    Rendered::new(section, |p| request_value(req, p, host)).apply(resp);
}

/// The RFC 7239 §4 `forwarded-element` describing this hop: `for=…;host=…;proto=…`.
///
/// An IPv6 client address is bracketed and quoted (§6); a host with a port is quoted, because
/// `:` is not a token character. `host` is left out when the request has no authority.
pub(crate) fn forwarded_element(
    client_addr: &str,
    authority: Option<&str>,
    scheme: &str,
) -> String {
    let node = if client_addr.contains(':') && !client_addr.starts_with('[') {
        quoted(&format!("[{client_addr}]"))
    } else {
        token_or_quoted(client_addr)
    };
    let mut element = format!("for={node}");
    if let Some(authority) = authority {
        element.push_str(";host=");
        element.push_str(&token_or_quoted(authority));
    }
    element.push_str(";proto=");
    element.push_str(&token_or_quoted(scheme));
    element
}

/// The value of `placeholder` for `req`; `host`, when given, replaces the request's own host.
fn request_value(req: &Request, placeholder: Placeholder, host: Option<&str>) -> String {
    match placeholder {
        Placeholder::ClientIp => req.client_addr(),
        Placeholder::ClientPort => req.client_port().to_string(),
        Placeholder::RequestId => req.id(),
        Placeholder::Host => match host {
            Some(host) => host.to_owned(),
            None => req.host().unwrap_or_default(),
        },
        Placeholder::Method => req.method(),
        Placeholder::Path => req.path(),
        Placeholder::Scheme => req.scheme(),
    }
}

/// A section with its templates rendered, ready to apply.
struct Rendered<'a> {
    remove: &'a [String],
    set: Vec<(&'a str, String)>,
    append: Vec<(&'a str, String)>,
}

impl<'a> Rendered<'a> {
    fn new(section: &'a Section, value: impl Fn(Placeholder) -> String) -> Self {
        let render = |entries: &'a [(String, crate::template::Template)]| {
            entries
                .iter()
                .map(|(name, template)| (name.as_str(), template.render(&value)))
                .collect()
        };
        Self {
            remove: &section.remove,
            set: render(&section.set),
            append: render(&section.append),
        }
    }

    /// Runs the edits in the order remove, set, append.
    fn apply<T: HeaderTarget>(&self, target: &mut T) {
        for name in self.remove {
            report(T::SIDE, "remove", name, target.remove(name));
        }
        for (name, value) in &self.set {
            report(T::SIDE, "set", name, target.set(name, value));
        }
        for (name, value) in &self.append {
            report(T::SIDE, "append", name, target.append(name, value));
        }
    }
}

/// The header edits shared by requests and responses.
trait HeaderTarget {
    /// `request` or `response`, for logs.
    const SIDE: &'static str;
    fn remove(&mut self, name: &str) -> Result<(), EditError>;
    fn set(&mut self, name: &str, value: &str) -> Result<(), EditError>;
    fn append(&mut self, name: &str, value: &str) -> Result<(), EditError>;
}

impl HeaderTarget for Request {
    const SIDE: &'static str = "request";
    fn remove(&mut self, name: &str) -> Result<(), EditError> {
        self.remove_header(name)
    }
    fn set(&mut self, name: &str, value: &str) -> Result<(), EditError> {
        self.set_header(name, value)
    }
    fn append(&mut self, name: &str, value: &str) -> Result<(), EditError> {
        self.append_header(name, value)
    }
}

impl HeaderTarget for Response {
    const SIDE: &'static str = "response";
    fn remove(&mut self, name: &str) -> Result<(), EditError> {
        self.remove_header(name)
    }
    fn set(&mut self, name: &str, value: &str) -> Result<(), EditError> {
        self.set_header(name, value)
    }
    fn append(&mut self, name: &str, value: &str) -> Result<(), EditError> {
        self.append_header(name, value)
    }
}

/// Logs a refused edit at warn level; the filter goes on with the next edit.
fn report(side: &str, edit: &str, header: &str, result: Result<(), EditError>) {
    if let Err(err) = result {
        host::log(
            Level::Warn,
            "header edit refused",
            &[
                ("side", side),
                ("edit", edit),
                ("header", header),
                ("error", &err.to_string()),
            ],
        );
    }
}

/// `value` as an RFC 7239 §4 `value`: a token when it is one, else a quoted-string.
fn token_or_quoted(value: &str) -> String {
    // RFC 9110 §5.6.2: tchar
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if !value.is_empty() && value.bytes().all(is_tchar) {
        value.to_owned()
    } else {
        quoted(value)
    }
}

/// An RFC 9110 §5.6.4 quoted-string, escaping `"` and `\`.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}
