//! The guest's config: `{"fault": "trap" | "loop" | "hog", "when": "init" | "request" |
//! "response", "path": "/prefix"}`, or `{"flood": "headers" | ..., "count": N, "bytes": N,
//! "path": "/prefix"}` (floods run in `on_request`). One of `fault` and `flood` is required;
//! `when` defaults to `request`, and without `path` every request misbehaves in that hook.
//!
//! Read with `weir_sdk::config::from_json`, so errors name the key like the plugins' do.

use serde::Deserialize;
use weir_sdk::config::{self, ConfigError};

use crate::fault::Fault;
use crate::flood::Flood;

/// When the guest misbehaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
// The variant names are the config's values (`"init"`, ...); Rust spells them in CamelCase.
#[serde(rename_all = "snake_case")]
pub(crate) enum When {
    /// In `init`: the plugin fails to load.
    Init,
    /// In `on_request` (the default).
    #[default]
    Request,
    /// In `on_response`.
    Response,
}

/// The parsed config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// How the guest misbehaves: a fault ...
    #[serde(default)]
    pub(crate) fault: Option<Fault>,
    /// ... or a flood of legal calls.
    #[serde(default)]
    pub(crate) flood: Option<Flood>,
    /// How many calls a flood makes. Default: 40000.
    #[serde(default = "default_count")]
    pub(crate) count: u64,
    /// How many bytes a flood's one value or body has. Default: 4 MiB.
    #[serde(default = "default_bytes")]
    pub(crate) bytes: u64,
    /// The hook that misbehaves.
    #[serde(default)]
    pub(crate) when: When,
    /// Misbehave only for requests whose path starts with this prefix; `None`: every request.
    #[serde(default)]
    pub(crate) path: Option<String>,
}

impl Config {
    /// Parses and checks the JSON config.
    pub(crate) fn parse(text: &str) -> Result<Self, ConfigError> {
        let config: Self = config::from_json(text)?;
        match (&config.fault, &config.flood) {
            (None, None) => return Err(ConfigError::new("fault", "missing field `fault`")),
            (Some(_), Some(_)) => {
                return Err(ConfigError::new("flood", "set either `fault` or `flood`"));
            }
            _ => {}
        }
        if config.flood.is_some() && config.when != When::Request {
            return Err(ConfigError::new("when", "a flood runs in `request`"));
        }
        if let Some(path) = &config.path {
            if !path.starts_with('/') {
                return Err(ConfigError::new(
                    "path",
                    format!("`{path}` must start with `/`"),
                ));
            }
            if config.when == When::Init {
                return Err(ConfigError::new(
                    "path",
                    "a path prefix needs `when` = `request` or `response`",
                ));
            }
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

fn default_count() -> u64 {
    40_000
}

fn default_bytes() -> u64 {
    4 << 20
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        Config::parse(text).expect("the config is valid")
    }

    fn error(text: &str) -> String {
        Config::parse(text)
            .expect_err("the config is invalid")
            .to_string()
    }

    #[test]
    fn fault_alone_misbehaves_on_every_request() {
        for (text, fault) in [
            (r#"{"fault":"trap"}"#, Fault::Trap),
            (r#"{"fault": "loop"}"#, Fault::Loop),
            (" { \"fault\" : \"hog\" } ", Fault::Hog),
        ] {
            let config = parse(text);
            assert_eq!(config.fault, Some(fault), "{text:?}");
            assert_eq!(config.when, When::Request, "{text:?}");
            assert_eq!(config.path, None, "{text:?}");
        }
    }

    #[test]
    fn flood_takes_a_count_and_bytes_and_excludes_fault() {
        let config = parse(r#"{"flood":"headers","count":5}"#);
        assert_eq!(config.flood, Some(Flood::Headers));
        assert_eq!((config.count, config.bytes), (5, 4 << 20));
        assert!(error(r#"{"flood":"edits","fault":"trap"}"#).contains("`flood`"));
        assert!(error(r#"{"flood":"edits","when":"response"}"#).contains("`when`"));
    }

    #[test]
    fn fault_is_required() {
        for text in ["{}", r#"{"when":"request"}"#] {
            assert!(error(text).contains("missing field `fault`"), "{text:?}");
        }
    }

    #[test]
    fn unknown_fault_is_rejected_naming_it() {
        let err = error(r#"{"fault":"crash"}"#);
        assert!(
            err.starts_with("invalid config at `fault`: unknown variant `crash`"),
            "{err}"
        );
    }

    #[test]
    fn when_selects_the_hook() {
        assert_eq!(parse(r#"{"fault":"trap","when":"init"}"#).when, When::Init);
        assert_eq!(
            parse(r#"{"fault":"trap","when": "request"}"#).when,
            When::Request
        );
        assert_eq!(
            parse("{\n  \"fault\": \"trap\",\n  \"when\": \"response\"\n}").when,
            When::Response
        );
    }

    #[test]
    fn path_limits_misbehaviour_to_a_prefix() {
        let config = parse(r#"{"fault":"trap","when":"request","path":"/boom"}"#);
        assert_eq!(config.path.as_deref(), Some("/boom"));
        assert!(config.misbehaves(When::Request, || "/boom/x".to_owned()));
        assert!(!config.misbehaves(When::Request, || "/fine".to_owned()));
        assert!(!config.misbehaves(When::Response, || "/boom".to_owned()));
    }

    #[test]
    fn without_a_path_every_request_misbehaves_in_the_chosen_hook() {
        let config = parse(r#"{"fault":"hog","when":"response"}"#);
        assert!(config.misbehaves(When::Response, || "/anything".to_owned()));
        assert!(!config.misbehaves(When::Request, || "/anything".to_owned()));
    }

    #[test]
    fn unknown_when_is_rejected_naming_it() {
        let err = error(r#"{"fault":"trap","when":"later"}"#);
        assert!(err.contains("`when`") && err.contains("`later`"), "{err}");
    }

    #[test]
    fn unknown_field_is_rejected_naming_it() {
        let err = error(r#"{"fault":"trap","wen":"init"}"#);
        assert!(err.contains("unknown field `wen`"), "{err}");
    }

    #[test]
    fn non_string_value_is_rejected_naming_its_field() {
        let err = error(r#"{"fault":"trap","path": 5}"#);
        assert!(err.contains("`path`"), "{err}");
    }

    #[test]
    fn relative_path_is_rejected() {
        let err = error(r#"{"fault":"trap","path":"boom"}"#);
        assert_eq!(err, "invalid config at `path`: `boom` must start with `/`");
    }

    #[test]
    fn path_with_init_is_rejected() {
        let err = error(r#"{"fault":"loop","when":"init","path":"/x"}"#);
        assert!(err.starts_with("invalid config at `path`: "), "{err}");
    }

    #[test]
    fn repeated_field_is_rejected() {
        let err = error(r#"{"fault":"trap","when":"init","when":"request"}"#);
        assert!(err.contains("duplicate field `when`"), "{err}");
    }

    #[test]
    fn malformed_json_is_rejected() {
        for text in [
            "",
            "[]",
            "{",
            r#"{"fault"}"#,
            r#"{"fault":"trap",}"#,
            r#"{"fault":"trap"} x"#,
        ] {
            assert!(Config::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn escapes_in_strings_are_decoded() {
        assert_eq!(
            parse(r#"{"fault":"trap","path":"\/a\"b"}"#).path.as_deref(),
            Some("/a\"b")
        );
    }
}
