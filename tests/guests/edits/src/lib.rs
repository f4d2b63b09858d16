//! Test-only guest: performs, in order, the edits its config names, so weir's e2e suite can
//! check every edit kind and every refusal. Not an example to copy.
//!
//! Config: `{"request": [OP...], "response": [OP...]}`, each OP an array `["op", args...]`:
//! request ops `set-path P`, `set-query Q|null`, `set-authority A`, `set-scheme S`,
//! `set-header N V`, `append-header N V`, `remove-header N`, `set-cookie N V`,
//! `remove-cookie N`, `select-backend POOL [KEY]`, `show-paths` (copies `path` and `raw-path` into
//! `x-seen-path` and `x-seen-raw-path`), `set-context K V [REPEAT]` (keeps V repeated REPEAT
//! times under K), `respond STATUS BODY [N V]...`; response ops
//! `set-status S`, `set-header N V`, `append-header N V`, `remove-header N`,
//! `add-set-cookie N V`, `remove-set-cookie N`, `secure-set-cookie N`,
//! `show-context K N` (appends header N with the context value under K, or `none`),
//! `show-instance` (appends `x-instance-requests` with how many requests this instance's
//! `on-request` saw: on purpose instance state, which `weir test` flags),
//! `respond STATUS BODY [N V]...` (the pairs after BODY are the local response's headers).
//! A refused edit appends `x-edit-error: <op>: <reason>` to the message it was editing, and an
//! unknown op fails `init`.

use serde_json::Value;
use weir_sdk::{
    CookieAttributes, EditError, Filter, LocalResponse, Request, Response, SetCookie, Verdict,
    export_filter,
};

/// The configured edits.
pub struct Edits {
    request: Vec<Vec<Value>>,
    response: Vec<Vec<Value>>,
    /// Module state: requests this instance's `on-request` saw (shows whether `on-response`
    /// runs on the same instance).
    requests_seen: u32,
}

const REQUEST_OPS: &[&str] = &[
    "set-path",
    "set-query",
    "set-authority",
    "set-scheme",
    "set-header",
    "append-header",
    "remove-header",
    "set-cookie",
    "remove-cookie",
    "select-backend",
    "show-paths",
    "set-context",
    "respond",
];
const RESPONSE_OPS: &[&str] = &[
    "set-status",
    "set-header",
    "append-header",
    "remove-header",
    "add-set-cookie",
    "remove-set-cookie",
    "secure-set-cookie",
    "show-context",
    "show-instance",
    "respond",
];

fn ops(config: &Value, side: &str, known: &[&str]) -> Result<Vec<Vec<Value>>, String> {
    let Some(list) = config.get(side) else {
        return Ok(Vec::new());
    };
    let list: Vec<Vec<Value>> =
        serde_json::from_value(list.clone()).map_err(|e| format!("`{side}`: {e}"))?;
    for op in &list {
        let name = op.first().and_then(Value::as_str).unwrap_or_default();
        if !known.contains(&name) {
            return Err(format!("`{side}`: unknown op `{name}`"));
        }
    }
    Ok(list)
}

fn text(op: &[Value], i: usize) -> &str {
    op.get(i).and_then(Value::as_str).unwrap_or_default()
}

fn number(op: &[Value], i: usize) -> u16 {
    op.get(i)
        .and_then(Value::as_u64)
        .and_then(|n| u16::try_from(n).ok())
        .unwrap_or(0)
}

/// `respond STATUS BODY [N V]...`: a local response with the given headers.
fn respond(op: &[Value]) -> Verdict {
    let mut response = LocalResponse::new(number(op, 1))
        .header("content-type", "text/plain; charset=utf-8")
        .body(text(op, 2));
    let mut i = 3;
    while i < op.len() {
        response = response.header(text(op, i), text(op, i + 1));
        i += 2;
    }
    Verdict::Respond(response)
}

fn apply_request(req: &mut Request, op: &[Value]) -> Result<Option<Verdict>, String> {
    let name = text(op, 0);
    let result = match name {
        "set-path" => req.set_path(text(op, 1)),
        "set-query" => req.set_query(op.get(1).and_then(Value::as_str)),
        "set-authority" => req.set_authority(text(op, 1)),
        "set-scheme" => req.set_scheme(text(op, 1)),
        "set-header" => req.set_header(text(op, 1), text(op, 2)),
        "append-header" => req.append_header(text(op, 1), text(op, 2)),
        "remove-header" => req.remove_header(text(op, 1)),
        "set-cookie" => req.set_cookie(text(op, 1), text(op, 2)),
        "remove-cookie" => {
            req.remove_cookie(text(op, 1));
            Ok(())
        }
        "select-backend" => req.select_backend(text(op, 1), op.get(2).and_then(Value::as_str)),
        "show-paths" => {
            let (path, raw) = (req.path(), req.raw_path());
            req.set_header("x-seen-path", &path)
                .and_then(|()| req.set_header("x-seen-raw-path", &raw))
        }
        "set-context" => {
            let times = op.get(3).and_then(Value::as_u64).unwrap_or(1);
            let value = text(op, 2).repeat(usize::try_from(times).unwrap_or(1));
            req.set_context(text(op, 1), value)
        }
        _ => return Ok(Some(respond(op))),
    };
    result.map(|()| None).map_err(|e| format!("{name}: {e}"))
}

/// `show-context K N`: what the request's context holds under K.
fn show_context(req: &Request, resp: &mut Response, op: &[Value]) -> Result<(), EditError> {
    let value = req
        .context_str(text(op, 1))
        .unwrap_or_else(|| "none".to_owned());
    resp.append_header(text(op, 2), value)
}

fn apply_response(
    req: &Request,
    resp: &mut Response,
    op: &[Value],
    seen: u32,
) -> Result<Option<Verdict>, String> {
    let name = text(op, 0);
    let result = match name {
        "set-status" => resp.set_status(number(op, 1)),
        "set-header" => resp.set_header(text(op, 1), text(op, 2)),
        "append-header" => resp.append_header(text(op, 1), text(op, 2)),
        "remove-header" => resp.remove_header(text(op, 1)),
        "add-set-cookie" => resp.add_set_cookie(&SetCookie::new(text(op, 1), text(op, 2))),
        "remove-set-cookie" => {
            resp.remove_set_cookie(text(op, 1));
            Ok(())
        }
        "secure-set-cookie" => {
            let change = CookieAttributes {
                secure: Some(true),
                http_only: Some(true),
                ..CookieAttributes::default()
            };
            resp.rewrite_set_cookie(text(op, 1), &change).map(drop)
        }
        "show-context" => show_context(req, resp, op),
        "show-instance" => resp.append_header("x-instance-requests", seen.to_string()),
        _ => return Ok(Some(respond(op))),
    };
    result.map(|()| None).map_err(|e| format!("{name}: {e}"))
}

impl Filter for Edits {
    fn init(config: &str) -> Result<Self, String> {
        let config: Value = serde_json::from_str(config).map_err(|e| e.to_string())?;
        Ok(Self {
            request: ops(&config, "request", REQUEST_OPS)?,
            response: ops(&config, "response", RESPONSE_OPS)?,
            requests_seen: 0,
        })
    }

    fn on_request(&mut self, req: &mut Request) -> Verdict {
        self.requests_seen += 1;
        for op in &self.request {
            match apply_request(req, op) {
                Ok(Some(verdict)) => return verdict,
                Ok(None) => {}
                Err(reason) => {
                    let _ = req.append_header("x-edit-error", sanitize(&reason));
                }
            }
        }
        Verdict::Continue
    }

    fn on_response(&mut self, req: &Request, resp: &mut Response) -> Verdict {
        for op in &self.response {
            match apply_response(req, resp, op, self.requests_seen) {
                Ok(Some(verdict)) => return verdict,
                Ok(None) => {}
                Err(reason) => {
                    let _ = resp.append_header("x-edit-error", sanitize(&reason));
                }
            }
        }
        Verdict::Continue
    }
}

/// Keeps an error message legal as a header value.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

export_filter!(Edits);

#[cfg(test)]
mod tests {
    use weir_sdk::testing::{self, TestRequest, TestResponse};

    use super::*;

    #[test]
    fn unknown_ops_fail_init() {
        assert!(Edits::init(r#"{"request":[["explode"]]}"#).is_err());
    }

    #[test]
    fn refused_edits_are_reported_in_a_header() {
        let mut edits =
            Edits::init(r#"{"request":[["set-header","bad name","v"],["set-path","/ok"]]}"#)
                .unwrap();
        let mut req = TestRequest::get("/").build();
        assert!(testing::run_request(&mut edits, &mut req).is_continue());
        assert_eq!(req.path(), "/ok");
        assert!(
            req.header_str("x-edit-error")
                .unwrap()
                .starts_with("set-header: ")
        );
    }

    #[test]
    fn context_reaches_on_response_on_a_fresh_instance() {
        let config = r#"{"request":[["set-context","k","v"]],"response":[["show-context","k","x-k"],["show-instance"]]}"#;
        let mut req = TestRequest::get("/").build();
        let mut resp = TestResponse::new(200).build();
        let verdict = testing::run_isolated::<Edits>(config, &mut req, &mut resp).unwrap();
        assert!(verdict.is_continue());
        assert_eq!(resp.header_str("x-k").as_deref(), Some("v"));
        assert_eq!(resp.header_str("x-instance-requests").as_deref(), Some("0"));
    }
}
