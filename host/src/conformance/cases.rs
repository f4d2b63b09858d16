//! Author cases: TOML files of named cases, each a request (and optionally an upstream
//! response) in and an expected outcome out. Expectations are partial: only the keys a case
//! sets are checked; `edits` checks the whole journal exactly. The format is in
//! `docs/conformance.md`.

mod build;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use http::header::HeaderMap;
use serde::Deserialize;

use crate::runtime::{Decision, Isolation, LocalResponse, Plugin, RequestView, ResponseView};

use build::{build_request, build_response};

use super::battery::{call_reason, check_notes, load_reason};
use super::{Check, Failure, TestOptions, corpus, quote, record, settings};

/// A case file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// Config (JSON) the plugin is loaded with for these cases; default: `--config`.
    #[serde(default)]
    pub config: Option<String>,
    /// Pools that exist for these cases; default: `--pools`.
    #[serde(default)]
    pub pools: Option<Vec<String>>,
    /// The cases.
    #[serde(default)]
    pub case: Vec<Case>,
}

/// One case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case shows.
    pub name: String,
    /// The request in.
    #[serde(default)]
    pub request: CaseRequest,
    /// An upstream response; when given, `on-response` runs after `on-request` continues.
    #[serde(default)]
    pub response: Option<CaseResponse>,
    /// The expected outcome.
    #[serde(default)]
    pub expect: Expect,
}

/// A header value or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Values {
    /// One value.
    One(String),
    /// Several values, in order.
    Many(Vec<String>),
}

impl Values {
    fn iter(&self) -> impl Iterator<Item = &str> {
        match self {
            Self::One(v) => std::slice::from_ref(v).iter().map(String::as_str),
            Self::Many(vs) => vs.iter().map(String::as_str),
        }
    }
}

/// The request of a case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    /// Default `GET`.
    pub method: Option<String>,
    /// Default `/`.
    pub path: Option<String>,
    /// Query without `?`.
    pub query: Option<String>,
    /// Host (also sent as the `Host` header).
    pub authority: Option<String>,
    /// `http` (default) or `https`.
    pub scheme: Option<String>,
    /// `HTTP/1.0`, `HTTP/1.1` (default) or `HTTP/2`.
    pub version: Option<String>,
    /// Client `ip:port`.
    pub client: Option<String>,
    /// Header fields.
    #[serde(default)]
    pub headers: BTreeMap<String, Values>,
    /// Cookies, sent as one `Cookie` field.
    #[serde(default)]
    pub cookies: BTreeMap<String, String>,
}

/// The upstream response of a case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseResponse {
    /// Default 200.
    #[serde(default = "ok")]
    pub status: u16,
    /// Header fields.
    #[serde(default)]
    pub headers: BTreeMap<String, Values>,
}

fn ok() -> u16 {
    200
}

/// Expectations; each one set is checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `continue` or `respond`.
    pub verdict: Option<String>,
    /// Status of the local response, or of the upstream response after `on-response`.
    pub status: Option<u16>,
    /// Request path sent upstream.
    pub path: Option<String>,
    /// Request query sent upstream.
    pub query: Option<String>,
    /// The request has no query.
    #[serde(default)]
    pub no_query: bool,
    /// Authority sent upstream.
    pub authority: Option<String>,
    /// Request header values (all values, in order).
    #[serde(default)]
    pub headers: BTreeMap<String, Values>,
    /// Request headers that must be absent.
    #[serde(default)]
    pub headers_absent: Vec<String>,
    /// Request cookie values.
    #[serde(default)]
    pub cookies: BTreeMap<String, String>,
    /// Request cookies that must be absent.
    #[serde(default)]
    pub cookies_absent: Vec<String>,
    /// Pool selected.
    pub pool: Option<String>,
    /// Affinity key given with the pool.
    pub affinity_key: Option<String>,
    /// No pool selected.
    #[serde(default)]
    pub no_pool: bool,
    /// Response header values (local response, or upstream response after `on-response`).
    #[serde(default)]
    pub response_headers: BTreeMap<String, Values>,
    /// Response headers that must be absent.
    #[serde(default)]
    pub response_headers_absent: Vec<String>,
    /// Every `Set-Cookie` value of the response, in order.
    pub set_cookies: Option<Vec<String>>,
    /// Local response body, exactly.
    pub body: Option<String>,
    /// Local response body contains this.
    pub body_contains: Option<String>,
    /// The whole journal (request then response edits), exactly.
    pub edits: Option<Vec<String>>,
}

/// A case file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// Unreadable.
    #[error("{file}: cannot read")]
    Read {
        /// Path.
        file: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Not valid TOML for the format.
    #[error("{file}:{line}: {message}")]
    Parse {
        /// Path.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl CaseFile {
    /// Reads and parses a case file.
    pub fn load(path: &Path) -> Result<Self, CaseError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CaseError::Read {
            file: file.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| CaseError::Parse {
            line: e.span().map_or(1, |s| {
                text[..s.start.min(text.len())].matches('\n').count() + 1
            }),
            file,
            message: e.message().to_owned(),
        })
    }
}

/// Reads every case file; each one that cannot be used is a failed check `case file is valid`.
pub(super) fn load_all(paths: &[PathBuf], checks: &mut Vec<Check>) -> Vec<(PathBuf, AnyCaseFile)> {
    let mut files = Vec::new();
    for path in paths {
        match CaseFile::load(path) {
            Ok(file) => files.push((path.clone(), AnyCaseFile::Filter(file))),
            // A stream router's case file has other fields; when it is not one either, the
            // filter's error is the one reported (the common case).
            Err(e) => match super::stream::StreamCaseFile::load(path) {
                Ok(file) => files.push((path.clone(), AnyCaseFile::Router(file))),
                Err(_) => {
                    record(checks, &group_of(path), "case file is valid", || {
                        Err(Failure {
                            reason: e.to_string(),
                            input: None,
                        })
                    });
                }
            },
        }
    }
    files
}

/// A case file of either world: an HTTP filter's or a stream router's.
pub(super) enum AnyCaseFile {
    /// Requests and responses in, edits and verdicts out.
    Filter(CaseFile),
    /// Bytes in, a routing verdict out.
    Router(super::stream::StreamCaseFile),
}

impl AnyCaseFile {
    /// The plugin config the file gives, if any.
    pub(super) fn config(&self) -> Option<&String> {
        match self {
            Self::Filter(file) => file.config.as_ref(),
            Self::Router(file) => file.config.as_ref(),
        }
    }
}

fn group_of(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Runs every case of `file`, read from `path`.
pub(super) fn run(
    default: &Plugin,
    path: &Path,
    file: &CaseFile,
    options: &TestOptions,
    checks: &mut Vec<Check>,
) {
    let group = group_of(path);
    let own;
    let plugin = match &file.config {
        None => default,
        Some(config) => {
            match Plugin::load(
                default.runtime(),
                &options.plugin,
                settings(options, config, Isolation::Pooled),
            ) {
                Ok(plugin) => {
                    own = plugin;
                    &own
                }
                Err(e) => {
                    record(
                        checks,
                        &group,
                        "plugin loads with the file's config",
                        || {
                            Err(Failure {
                                reason: load_reason(&e),
                                input: Some(format!("config {}", quote::text(config))),
                            })
                        },
                    );
                    return;
                }
            }
        }
    };
    let pools = file.pools.as_ref().or(options.pools.as_ref());
    for case in &file.case {
        record(checks, &group, case.name.clone(), || {
            run_case(plugin, case, pools, options)
        });
    }
}

fn run_case(
    plugin: &Plugin,
    case: &Case,
    pools: Option<&Vec<String>>,
    options: &TestOptions,
) -> Result<(), Failure> {
    let view = build_request(&case.request).map_err(|reason| Failure {
        reason,
        input: None,
    })?;
    let input = corpus::describe(&view);
    let fail = |reason: String| Failure {
        reason,
        input: Some(input.clone()),
    };
    let (view, result) = plugin.on_request_blocking(view);
    let decision = result.map_err(|e| fail(call_reason(&e)))?;
    let mut journal: Vec<String> = view
        .journal
        .entries()
        .iter()
        .map(|e| e.edit.clone())
        .collect();
    if let Some(refused) = view.journal.refusals().first() {
        return Err(fail(format!("invalid edit: {}", refused.edit)));
    }
    check_notes(&view.journal).map_err(fail)?;
    let e = &case.expect;
    check_request(e, &view, pools).map_err(fail)?;
    match (decision, &case.response) {
        (Decision::Respond(local), _) => {
            expect_verdict(e, "respond")?;
            check_local(e, &local, options).map_err(fail)?;
        }
        (Decision::Continue, None) => {
            expect_verdict(e, "continue").map_err(|f| Failure {
                input: Some(input.clone()),
                ..f
            })?;
            if expects_a_response(e) {
                return Err(fail(
                    "the case expects a response (status, response headers, Set-Cookies or body), but the plugin continued and the case has no [case.response] to run on-response on".to_owned(),
                ));
            }
        }
        (Decision::Continue, Some(upstream)) => {
            let response = build_response(upstream).map_err(fail)?;
            let (_, response, result) = plugin.on_response_blocking(view, response);
            let decision = result.map_err(|e| fail(call_reason(&e)))?;
            if let Some(refused) = response.journal.refusals().first() {
                return Err(fail(format!("invalid edit: {}", refused.edit)));
            }
            journal.extend(response.journal.entries().iter().map(|e| e.edit.clone()));
            match decision {
                Decision::Respond(local) => {
                    expect_verdict(e, "respond")?;
                    check_local(e, &local, options).map_err(fail)?;
                }
                Decision::Continue => {
                    expect_verdict(e, "continue")?;
                    check_response(e, &response).map_err(fail)?;
                }
            }
        }
    }
    if let Some(edits) = &e.edits
        && *edits != journal
    {
        return Err(fail(format!(
            "edits: expected {}, got {}",
            quote::list(edits),
            quote::list(&journal)
        )));
    }
    Ok(())
}

fn expects_a_response(e: &Expect) -> bool {
    e.status.is_some()
        || !e.response_headers.is_empty()
        || !e.response_headers_absent.is_empty()
        || e.set_cookies.is_some()
        || e.body.is_some()
        || e.body_contains.is_some()
}

fn expect_verdict(expect: &Expect, actual: &str) -> Result<(), Failure> {
    match &expect.verdict {
        Some(wanted) if wanted != actual => Err(Failure {
            reason: format!("verdict: expected {wanted}, got {actual}"),
            input: None,
        }),
        _ => Ok(()),
    }
}

fn check_request(
    e: &Expect,
    view: &RequestView,
    pools: Option<&Vec<String>>,
) -> Result<(), String> {
    same("path", e.path.as_deref(), Some(view.path()))?;
    if e.query.is_some() {
        same("query", e.query.as_deref(), view.query())?;
    }
    if e.no_query && view.query().is_some() {
        return Err(format!(
            "query: expected none, got {}",
            quote::opt(view.query())
        ));
    }
    if e.authority.is_some() {
        same("authority", e.authority.as_deref(), view.authority())?;
    }
    check_headers("header", &e.headers, &e.headers_absent, &view.headers)?;
    let cookies = crate::runtime::request_cookies(view);
    for (name, wanted) in &e.cookies {
        let got = cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        same(&format!("cookie `{name}`"), Some(wanted.as_str()), got)?;
    }
    for name in &e.cookies_absent {
        if cookies.iter().any(|(n, _)| n == name) {
            return Err(format!("cookie `{name}`: expected absent, but it is sent"));
        }
    }
    let chosen = view.backend.as_ref();
    if e.pool.is_some() {
        same("pool", e.pool.as_deref(), chosen.map(|c| c.pool.as_str()))?;
    }
    if e.affinity_key.is_some() {
        same(
            "affinity key",
            e.affinity_key.as_deref(),
            chosen.and_then(|c| c.affinity_key.as_deref()),
        )?;
    }
    if e.no_pool && chosen.is_some() {
        return Err(format!(
            "pool: expected none, got {}",
            quote::opt(chosen.map(|c| c.pool.as_str()))
        ));
    }
    if let (Some(choice), Some(pools)) = (chosen, pools)
        && !pools.contains(&choice.pool)
    {
        return Err(format!(
            "selected pool `{}`, which is not one of {}",
            choice.pool,
            pools.join(", ")
        ));
    }
    Ok(())
}

fn check_local(e: &Expect, local: &LocalResponse, options: &TestOptions) -> Result<(), String> {
    let response = crate::filters::into_http_response_within(local.clone(), &options.limits)
        .map_err(|err| format!("invalid verdict: {err}"))?;
    if let Some(status) = e.status {
        same(
            "status",
            Some(&status.to_string()),
            Some(&response.status().as_u16().to_string()),
        )?;
    }
    check_headers(
        "response header",
        &e.response_headers,
        &e.response_headers_absent,
        response.headers(),
    )?;
    check_set_cookies(e, response.headers())?;
    let body = String::from_utf8_lossy(response.body());
    if e.body.is_some() {
        same("body", e.body.as_deref(), Some(&body))?;
    }
    if let Some(part) = &e.body_contains
        && !body.contains(part.as_str())
    {
        return Err(format!(
            "body: expected to contain {}, got {}",
            quote::text(part),
            quote::text(&body)
        ));
    }
    Ok(())
}

fn check_response(e: &Expect, response: &ResponseView) -> Result<(), String> {
    if e.body.is_some() || e.body_contains.is_some() {
        return Err("the case expects a body, but the plugin let the upstream response through and filters do not see upstream bodies".to_owned());
    }
    if let Some(status) = e.status {
        same(
            "status",
            Some(&status.to_string()),
            Some(&response.status.as_u16().to_string()),
        )?;
    }
    check_headers(
        "response header",
        &e.response_headers,
        &e.response_headers_absent,
        &response.headers,
    )?;
    check_set_cookies(e, &response.headers)
}

fn check_set_cookies(e: &Expect, headers: &HeaderMap) -> Result<(), String> {
    let Some(wanted) = &e.set_cookies else {
        return Ok(());
    };
    let got: Vec<String> = headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    if *wanted != got {
        return Err(format!(
            "set-cookie: expected {}, got {}",
            quote::list(wanted),
            quote::list(&got)
        ));
    }
    Ok(())
}

fn check_headers(
    what: &str,
    wanted: &BTreeMap<String, Values>,
    absent: &[String],
    headers: &HeaderMap,
) -> Result<(), String> {
    for (name, values) in wanted {
        let got: Vec<String> = headers
            .get_all(name.to_ascii_lowercase().as_str())
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let wanted: Vec<&str> = values.iter().collect();
        if wanted != got {
            return Err(format!(
                "{what} `{name}`: expected {}, got {}",
                quote::list(&wanted),
                quote::list(&got)
            ));
        }
    }
    for name in absent {
        if headers.contains_key(name.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "{what} `{name}`: expected absent, but it is present"
            ));
        }
    }
    Ok(())
}

fn same(what: &str, wanted: Option<&str>, got: Option<&str>) -> Result<(), String> {
    match wanted {
        Some(w) if Some(w) != got => Err(format!(
            "{what}: expected {}, got {}",
            quote::text(w),
            quote::opt(got)
        )),
        _ => Ok(()),
    }
}
