//! Header value templates: literal text with `{placeholder}`s filled from the request.
//!
//! A template is parsed once, at init, so an unknown placeholder or a stray brace is a config
//! error and rendering on the data path cannot fail. Rendering asks for the value of each
//! placeholder the template contains, so a template without placeholders costs no host call.

use std::fmt;

/// A value a template can insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placeholder {
    /// `{client_ip}`: the downstream client's IP address.
    ClientIp,
    /// `{client_port}`: the downstream client's source port.
    ClientPort,
    /// `{request_id}`: the per-request id weir assigned.
    RequestId,
    /// `{host}`: the request's host (without port), as it reached this filter.
    Host,
    /// `{method}`: the request method.
    Method,
    /// `{path}`: the request path, without the query.
    Path,
    /// `{scheme}`: `http` or `https`.
    Scheme,
}

impl Placeholder {
    /// Every placeholder, in the order the docs list them.
    const ALL: [Self; 7] = [
        Self::ClientIp,
        Self::ClientPort,
        Self::RequestId,
        Self::Host,
        Self::Method,
        Self::Path,
        Self::Scheme,
    ];

    /// The name written between braces.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::ClientIp => "client_ip",
            Self::ClientPort => "client_port",
            Self::RequestId => "request_id",
            Self::Host => "host",
            Self::Method => "method",
            Self::Path => "path",
            Self::Scheme => "scheme",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// A parsed header value template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Placeholder(Placeholder),
}

/// Why a template was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TemplateError {
    /// `{name}` is not a known placeholder.
    UnknownPlaceholder(String),
    /// A `{` without its `}`.
    Unclosed,
    /// A `}` that closes nothing (write `}}` for a literal one).
    UnmatchedClose,
    /// A control character (other than tab) in the literal text; not allowed in a header value.
    ControlCharacter,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownPlaceholder(name) => {
                let known: Vec<String> = Placeholder::ALL
                    .iter()
                    .map(|p| format!("{{{}}}", p.name()))
                    .collect();
                write!(
                    f,
                    "unknown placeholder `{{{name}}}`; known placeholders are {}",
                    known.join(", ")
                )
            }
            Self::Unclosed => f.write_str("`{` is not closed; write `{{` for a literal brace"),
            Self::UnmatchedClose => {
                f.write_str("`}` closes nothing; write `}}` for a literal brace")
            }
            Self::ControlCharacter => {
                f.write_str("control characters (other than tab) are not allowed in header values")
            }
        }
    }
}

impl Template {
    /// Parses `text`; `{{` and `}}` stand for literal braces.
    pub(crate) fn parse(text: &str) -> Result<Self, TemplateError> {
        if text.chars().any(|c| c.is_control() && c != '\t') {
            return Err(TemplateError::ControlCharacter);
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(TemplateError::UnmatchedClose),
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(TemplateError::Unclosed),
                        }
                    }
                    let placeholder = Placeholder::from_name(&name)
                        .ok_or(TemplateError::UnknownPlaceholder(name))?;
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Placeholder(placeholder));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self { parts })
    }

    /// Whether the template inserts `placeholder`.
    pub(crate) fn uses(&self, placeholder: Placeholder) -> bool {
        self.parts.contains(&Part::Placeholder(placeholder))
    }

    /// The header value, asking `value` for each placeholder the template contains.
    pub(crate) fn render(&self, value: impl Fn(Placeholder) -> String) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Placeholder(p) => out.push_str(&value(*p)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every placeholder with its own name in capitals.
    fn shouting(placeholder: Placeholder) -> String {
        placeholder.name().to_uppercase()
    }

    fn render(text: &str) -> String {
        Template::parse(text)
            .expect("the template is valid")
            .render(shouting)
    }

    #[test]
    fn literal_text_renders_unchanged() {
        assert_eq!(render("no placeholders here"), "no placeholders here");
        assert_eq!(render(""), "");
    }

    #[test]
    fn every_placeholder_is_known() {
        let text = "{client_ip} {client_port} {request_id} {host} {method} {path} {scheme}";
        assert_eq!(
            render(text),
            "CLIENT_IP CLIENT_PORT REQUEST_ID HOST METHOD PATH SCHEME"
        );
    }

    #[test]
    fn adjacent_placeholders_and_text_mix() {
        assert_eq!(render("{scheme}://{host}{path}"), "SCHEME://HOSTPATH");
    }

    #[test]
    fn doubled_braces_are_literal_braces() {
        assert_eq!(render("{{host}} {{{host}}}"), "{host} {HOST}");
        assert_eq!(render("a}}b"), "a}b");
    }

    #[test]
    fn unknown_placeholder_is_rejected_naming_it() {
        let err = Template::parse("x-{hots}").expect_err("hots is unknown");
        assert_eq!(err, TemplateError::UnknownPlaceholder("hots".into()));
        let message = err.to_string();
        assert!(message.contains("`{hots}`"), "{message}");
        assert!(message.contains("{client_ip}"), "{message}");
    }

    #[test]
    fn unclosed_brace_is_rejected() {
        assert_eq!(Template::parse("a{host"), Err(TemplateError::Unclosed));
    }

    #[test]
    fn lone_closing_brace_is_rejected() {
        assert_eq!(Template::parse("a}b"), Err(TemplateError::UnmatchedClose));
    }

    #[test]
    fn control_characters_are_rejected_but_tab_is_allowed() {
        assert_eq!(
            Template::parse("a\r\nb"),
            Err(TemplateError::ControlCharacter)
        );
        assert_eq!(render("a\tb"), "a\tb");
    }

    #[test]
    fn uses_reports_only_placeholders_present() {
        let template = Template::parse("{host}-{{path}}").expect("the template is valid");
        assert!(template.uses(Placeholder::Host));
        assert!(!template.uses(Placeholder::Path));
    }
}
