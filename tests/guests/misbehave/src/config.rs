//! The guest's config: `{"when": "init" | "request" | "response", "path": "/prefix"}`.
//!
//! Test guests may depend on `weir-sdk` only, so this is a small strict parser for a flat JSON
//! object of string values (no serde). Both keys are optional; `{}` means "misbehave on every
//! request". This file is identical in every `tests/guests/*` crate.

use std::iter::Peekable;
use std::str::Chars;

/// When the guest misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum When {
    /// In `init`: the plugin fails to load.
    Init,
    /// In `on_request` (the default).
    Request,
    /// In `on_response`.
    Response,
}

/// The parsed config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    /// The hook that misbehaves.
    pub(crate) when: When,
    /// Misbehave only for requests whose path starts with this prefix; `None`: every request.
    pub(crate) path: Option<String>,
}

impl Config {
    /// Parses the JSON config; empty text means `{}`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut config = Self {
            when: When::Request,
            path: None,
        };
        let mut seen: Vec<String> = Vec::new();
        let fields = if text.trim().is_empty() {
            Vec::new()
        } else {
            parse_object(text)?
        };
        for (key, value) in fields {
            if seen.contains(&key) {
                return Err(format!("invalid config: field `{key}` is given twice"));
            }
            match key.as_str() {
                "when" => {
                    config.when = match value.as_str() {
                        "init" => When::Init,
                        "request" => When::Request,
                        "response" => When::Response,
                        other => {
                            return Err(format!(
                                "invalid config at `when`: `{other}` is not one of \
                                 `init`, `request`, `response`"
                            ));
                        }
                    };
                }
                "path" if value.starts_with('/') => config.path = Some(value),
                "path" => {
                    return Err(format!(
                        "invalid config at `path`: `{value}` must start with `/`"
                    ));
                }
                other => {
                    return Err(format!(
                        "invalid config: unknown field `{other}`, expected `when` or `path`"
                    ));
                }
            }
            seen.push(key);
        }
        if config.when == When::Init && config.path.is_some() {
            return Err(
                "invalid config at `path`: a path prefix needs `when` = `request` or `response`"
                    .to_owned(),
            );
        }
        Ok(config)
    }

    /// Whether `hook` misbehaves for a request with this path (read only when needed).
    pub(crate) fn misbehaves(&self, hook: When, path: impl FnOnce() -> String) -> bool {
        self.when == hook
            && self
                .path
                .as_deref()
                .is_none_or(|prefix| path().starts_with(prefix))
    }
}

/// Parses `{"key": "value", ...}` into its fields, in order.
fn parse_object(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut chars = text.chars().peekable();
    let mut fields = Vec::new();
    skip_whitespace(&mut chars);
    expect(&mut chars, '{')?;
    skip_whitespace(&mut chars);
    if chars.peek() == Some(&'}') {
        chars.next();
    } else {
        loop {
            skip_whitespace(&mut chars);
            let key = parse_string(&mut chars).map_err(|err| format!("invalid config: {err}"))?;
            skip_whitespace(&mut chars);
            expect(&mut chars, ':')?;
            skip_whitespace(&mut chars);
            let value = parse_string(&mut chars)
                .map_err(|err| format!("invalid config at `{key}`: {err}"))?;
            fields.push((key, value));
            skip_whitespace(&mut chars);
            match chars.next() {
                Some(',') => {}
                Some('}') => break,
                _ => return Err("invalid config: expected `,` or `}`".to_owned()),
            }
        }
    }
    skip_whitespace(&mut chars);
    match chars.next() {
        None => Ok(fields),
        Some(_) => Err("invalid config: unexpected text after the object".to_owned()),
    }
}

fn skip_whitespace(chars: &mut Peekable<Chars<'_>>) {
    while chars
        .next_if(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
        .is_some()
    {}
}

fn expect(chars: &mut Peekable<Chars<'_>>, wanted: char) -> Result<(), String> {
    match chars.next() {
        Some(c) if c == wanted => Ok(()),
        _ => Err(format!(
            "invalid config: expected `{wanted}` (the config is a JSON object of strings)"
        )),
    }
}

/// Parses a JSON string with simple escapes (`\u` escapes are not supported).
fn parse_string(chars: &mut Peekable<Chars<'_>>) -> Result<String, String> {
    if chars.next() != Some('"') {
        return Err("expected a string".to_owned());
    }
    let mut out = String::new();
    loop {
        match chars.next() {
            Some('"') => return Ok(out),
            Some('\\') => match chars.next() {
                Some(c @ ('"' | '\\' | '/')) => out.push(c),
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                _ => return Err("unsupported escape in string".to_owned()),
            },
            Some(c) => out.push(c),
            None => return Err("unterminated string".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        Config::parse(text).expect("the config is valid")
    }

    #[test]
    fn empty_config_misbehaves_on_every_request() {
        for text in ["", "{}", " { } "] {
            let config = parse(text);
            assert_eq!(config.when, When::Request, "{text:?}");
            assert_eq!(config.path, None, "{text:?}");
        }
    }

    #[test]
    fn when_selects_the_hook() {
        assert_eq!(parse(r#"{"when":"init"}"#).when, When::Init);
        assert_eq!(parse(r#"{"when": "request"}"#).when, When::Request);
        assert_eq!(parse("{\n  \"when\": \"response\"\n}").when, When::Response);
    }

    #[test]
    fn path_limits_misbehaviour_to_a_prefix() {
        let config = parse(r#"{"when":"request","path":"/boom"}"#);
        assert_eq!(config.path.as_deref(), Some("/boom"));
        assert!(config.misbehaves(When::Request, || "/boom/x".to_owned()));
        assert!(!config.misbehaves(When::Request, || "/fine".to_owned()));
        assert!(!config.misbehaves(When::Response, || "/boom".to_owned()));
    }

    #[test]
    fn without_a_path_every_request_misbehaves_in_the_chosen_hook() {
        let config = parse(r#"{"when":"response"}"#);
        assert!(config.misbehaves(When::Response, || "/anything".to_owned()));
        assert!(!config.misbehaves(When::Request, || "/anything".to_owned()));
    }

    #[test]
    fn unknown_when_is_rejected_naming_it() {
        let err = Config::parse(r#"{"when":"later"}"#).expect_err("later is unknown");
        assert!(err.contains("`when`") && err.contains("`later`"), "{err}");
    }

    #[test]
    fn unknown_field_is_rejected_naming_it() {
        let err = Config::parse(r#"{"wen":"init"}"#).expect_err("wen is unknown");
        assert!(err.contains("unknown field `wen`"), "{err}");
    }

    #[test]
    fn non_string_value_is_rejected_naming_its_field() {
        let err = Config::parse(r#"{"path": 5}"#).expect_err("5 is not a string");
        assert!(err.contains("`path`"), "{err}");
    }

    #[test]
    fn relative_path_is_rejected() {
        let err = Config::parse(r#"{"path":"boom"}"#).expect_err("boom is relative");
        assert!(err.contains("must start with `/`"), "{err}");
    }

    #[test]
    fn path_with_init_is_rejected() {
        let err = Config::parse(r#"{"when":"init","path":"/x"}"#).expect_err("init has no path");
        assert!(err.contains("`path`"), "{err}");
    }

    #[test]
    fn repeated_field_is_rejected() {
        let err = Config::parse(r#"{"when":"init","when":"request"}"#).expect_err("repeated");
        assert!(err.contains("twice"), "{err}");
    }

    #[test]
    fn malformed_json_is_rejected() {
        for text in ["[]", "{", r#"{"when"}"#, r#"{"when":"init",}"#, r#"{} x"#] {
            assert!(Config::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn escapes_in_strings_are_decoded() {
        assert_eq!(parse(r#"{"path":"\/a\"b"}"#).path.as_deref(), Some("/a\"b"));
    }
}
