//! `weir test` for stream routers: the battery (`on-data`
//! handles a corpus of first bytes — nothing, HTTP, a TLS ClientHello, a PROXY header, SSH,
//! binary, a full 16 KiB prefix — without trapping, within the deadline and the memory cap, with
//! a verdict inside the byte budget; the same bytes give the same verdict from a fresh
//! instance) and case files: bytes in, verdict out. The format is in `docs/conformance.md`.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::filters::check_router_budget;
use crate::runtime::{CallError, Connection, Isolation, Plugin, Runtime, Upstream, Verdict};

use super::battery::{call_reason, load_reason};
use super::cases::CaseError;
use super::{Check, Failure, TestOptions, record, settings};

const GROUP: &str = "battery";

/// A router case file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamCaseFile {
    /// Config (JSON) the router is loaded with for these cases; default: `--config`.
    #[serde(default)]
    pub(super) config: Option<String>,
    /// Pools that exist for these cases; default: `--pools`.
    #[serde(default)]
    pools: Option<Vec<String>>,
    /// The cases.
    #[serde(default)]
    case: Vec<StreamCase>,
}

/// One case: the connection's bytes so far, and the expected verdict.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamCase {
    name: String,
    /// The bytes, as text (TOML escapes such as `\u0000` allowed).
    #[serde(default)]
    data: Option<String>,
    /// The bytes, as hex (exclusive with `data`).
    #[serde(default)]
    data_hex: Option<String>,
    /// Client `ip:port`. Default `127.0.0.1:40000`.
    #[serde(default)]
    client: Option<String>,
    /// Listener name. Default `test`.
    #[serde(default)]
    listener: Option<String>,
    #[serde(default)]
    expect: StreamExpect,
}

/// Expectations; each one set is checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamExpect {
    /// `route`, `wait`, `close` or `close-with`.
    verdict: Option<String>,
    /// The pool routed to.
    pool: Option<String>,
    /// The address routed to.
    address: Option<String>,
    affinity_key: Option<String>,
    /// Bytes sent upstream instead of the buffered ones, as hex (`""`: nothing).
    send_upstream_hex: Option<String>,
    /// Bytes replied to the client, as hex.
    reply_hex: Option<String>,
    /// Bytes of `close-with`, as hex.
    close_with_hex: Option<String>,
}

impl StreamCaseFile {
    /// Reads and parses a router case file.
    pub(super) fn load(path: &Path) -> Result<Self, CaseError> {
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

/// The battery for a loaded stream router, after the checks every plugin gets (load, init with
/// a malformed config).
pub(super) fn battery(
    runtime: &Arc<Runtime>,
    options: &TestOptions,
    config: &str,
    plugin: &Plugin,
    checks: &mut Vec<Check>,
) {
    let conn = connection(None, None);
    for (name, data) in corpus() {
        record(checks, GROUP, format!("on-data handles {name}"), || {
            call(plugin, &conn, &data, options.pools.as_ref()).map(drop)
        });
    }
    record(
        checks,
        GROUP,
        "the same bytes give the same verdict from a fresh instance",
        || {
            let fresh = Plugin::load(
                runtime,
                &options.plugin,
                settings(options, config, Isolation::PerRequest),
            )
            .map_err(|e| Failure {
                reason: load_reason(&e),
                input: None,
            })?;
            for (name, data) in corpus() {
                let first = fingerprint(fresh.on_data_blocking(&conn, &data));
                let second = fingerprint(fresh.on_data_blocking(&conn, &data));
                if first != second {
                    return Err(Failure {
                        reason: format!("verdicts differ: first {first}, then {second}"),
                        input: Some(name.to_owned()),
                    });
                }
            }
            Ok(())
        },
    );
}

/// Runs every case of the router case file at `path`.
pub(super) fn run_cases(
    default: &Plugin,
    path: &Path,
    options: &TestOptions,
    checks: &mut Vec<Check>,
) {
    let group = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let file = match StreamCaseFile::load(path) {
        Ok(file) => file,
        Err(e) => {
            record(checks, &group, "case file is valid", || {
                Err(Failure {
                    reason: e.to_string(),
                    input: None,
                })
            });
            return;
        }
    };
    let own;
    let plugin = match &file.config {
        None => default,
        Some(config) => match Plugin::load(
            default.runtime(),
            &options.plugin,
            settings(options, config, Isolation::Pooled),
        ) {
            Ok(plugin) => {
                own = plugin;
                &own
            }
            Err(e) => {
                record(checks, &group, "loads with the file's config", || {
                    Err(Failure {
                        reason: load_reason(&e),
                        input: None,
                    })
                });
                return;
            }
        },
    };
    let pools = file.pools.as_ref().or(options.pools.as_ref());
    for case in &file.case {
        record(checks, &group, case.name.clone(), || {
            run_case(plugin, case, pools)
        });
    }
}

fn run_case(
    plugin: &Plugin,
    case: &StreamCase,
    pools: Option<&Vec<String>>,
) -> Result<(), Failure> {
    let invalid = |reason: String| Failure {
        reason,
        input: None,
    };
    let data = match (&case.data, &case.data_hex) {
        (Some(text), None) => text.as_bytes().to_vec(),
        (None, Some(hex)) => from_hex(hex).map_err(|e| invalid(format!("data_hex: {e}")))?,
        (None, None) => Vec::new(),
        (Some(_), Some(_)) => return Err(invalid("set either data or data_hex".into())),
    };
    let client = match &case.client {
        None => None,
        Some(text) => Some(
            text.parse::<std::net::SocketAddr>()
                .map_err(|_| invalid(format!("client `{text}` is not ip:port")))?,
        ),
    };
    let conn = connection(client, case.listener.as_deref());
    let verdict = call(plugin, &conn, &data, pools)?;
    let fail = |reason: String| Failure {
        reason,
        input: Some(describe(&data)),
    };
    check_expect(&case.expect, &verdict).map_err(fail)
}

fn check_expect(e: &StreamExpect, verdict: &Verdict) -> Result<(), String> {
    let kind = match verdict {
        Verdict::Route(_) => "route",
        Verdict::Wait => "wait",
        Verdict::Close => "close",
        Verdict::CloseWith(_) => "close-with",
    };
    if let Some(expected) = &e.verdict
        && expected != kind
    {
        return Err(format!(
            "verdict is {kind}, expected {expected} ({verdict:?})"
        ));
    }
    let route = match verdict {
        Verdict::Route(route) => Some(route),
        _ => None,
    };
    let hex = |name: &str, expected: &Option<String>, got: Option<&[u8]>| match expected {
        None => Ok(()),
        Some(hex) => {
            let want = from_hex(hex).map_err(|e| format!("{name}: {e}"))?;
            if got == Some(want.as_slice()) {
                Ok(())
            } else {
                Err(format!("{name} is {:?}, expected {hex}", got.map(to_hex)))
            }
        }
    };
    let text = |name: &str, expected: &Option<String>, got: Option<&str>| match expected {
        Some(want) if got != Some(want.as_str()) => {
            Err(format!("{name} is {got:?}, expected {want:?}"))
        }
        _ => Ok(()),
    };
    let pool = route.and_then(|r| match &r.upstream {
        Upstream::Pool(p) => Some(p.as_str()),
        Upstream::Address(_) => None,
    });
    let address = route.and_then(|r| match &r.upstream {
        Upstream::Address(a) => Some(a.as_str()),
        Upstream::Pool(_) => None,
    });
    text("pool", &e.pool, pool)?;
    text("address", &e.address, address)?;
    text(
        "affinity_key",
        &e.affinity_key,
        route.and_then(|r| r.affinity_key.as_deref()),
    )?;
    hex(
        "send_upstream",
        &e.send_upstream_hex,
        route.and_then(|r| r.send_upstream.as_deref()),
    )?;
    hex("reply", &e.reply_hex, route.map(|r| r.reply.as_slice()))?;
    let closing = match verdict {
        Verdict::CloseWith(bytes) => Some(bytes.as_slice()),
        _ => None,
    };
    hex("close_with", &e.close_with_hex, closing)
}

/// Calls `on-data` and checks the verdict is one the host would carry out.
fn call(
    plugin: &Plugin,
    conn: &Connection,
    data: &[u8],
    pools: Option<&Vec<String>>,
) -> Result<Verdict, Failure> {
    let fail = |reason: String| Failure {
        reason,
        input: Some(describe(data)),
    };
    let verdict = plugin
        .on_data_blocking(conn, data)
        .map_err(|e| fail(call_reason(&e)))?;
    let limits = crate::config::default_plugin_limits();
    check_router_budget(&verdict, limits.max_local_response_body_bytes).map_err(fail)?;
    if let (Verdict::Route(route), Some(pools)) = (&verdict, pools)
        && let Upstream::Pool(pool) = &route.upstream
        && !pools.contains(pool)
    {
        return Err(fail(format!(
            "routed to pool `{pool}`, which is not one of the given pools ({})",
            pools.join(", ")
        )));
    }
    Ok(verdict)
}

fn connection(client: Option<std::net::SocketAddr>, listener: Option<&str>) -> Connection {
    let client = client.unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 40000)));
    Connection {
        listener: listener.unwrap_or("test").to_owned(),
        client_addr: client.ip().to_string(),
        client_port: client.port(),
        peer_addr: client.ip().to_string(),
        id: "conformance-0".to_owned(),
    }
}

fn fingerprint(result: Result<Verdict, CallError>) -> String {
    match result {
        Ok(verdict) => format!("{verdict:?}"),
        Err(e) => call_reason(&e),
    }
}

/// First bytes a router meets in the wild.
fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("no bytes yet (the call at open)", Vec::new()),
        ("one byte", vec![0x16]),
        (
            "an HTTP/1.1 request head",
            b"GET / HTTP/1.1\r\nHost: app.example.test\r\n\r\n".to_vec(),
        ),
        (
            "a TLS ClientHello with SNI and ALPN",
            client_hello("app.example.test"),
        ),
        (
            "a PROXY v1 header and a request",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 40000 443\r\nGET / HTTP/1.1\r\n\r\n".to_vec(),
        ),
        ("an SSH banner", b"SSH-2.0-OpenSSH_9.6\r\n".to_vec()),
        ("NUL bytes", vec![0; 64]),
        ("0xff bytes", vec![0xff; 64]),
        (
            "a full 16 KiB prefix",
            (0..16_384u32).map(|i| (i % 251) as u8).collect(),
        ),
    ]
}

/// A TLS 1.3-style ClientHello record with `sni` and ALPN `h2`, `http/1.1`.
fn client_hello(sni: &str) -> Vec<u8> {
    let name = sni.as_bytes();
    let mut sni_ext = Vec::new();
    sni_ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    sni_ext.push(0);
    sni_ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni_ext.extend_from_slice(name);
    let alpn_list = b"\x02h2\x08http/1.1";
    let mut alpn_ext = (alpn_list.len() as u16).to_be_bytes().to_vec();
    alpn_ext.extend_from_slice(alpn_list);
    let mut extensions = Vec::new();
    for (kind, data) in [(0u16, sni_ext), (16u16, alpn_ext)] {
        extensions.extend_from_slice(&kind.to_be_bytes());
        extensions.extend_from_slice(&(data.len() as u16).to_be_bytes());
        extensions.extend_from_slice(&data);
    }
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(&extensions);
    let mut record = vec![22, 3, 1];
    record.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
    record.push(1);
    record.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    record.extend_from_slice(&body);
    record
}

/// The bytes for a report: text when printable, else hex; at most 64 bytes shown.
fn describe(data: &[u8]) -> String {
    let shown = &data[..data.len().min(64)];
    let more = if data.len() > 64 { "…" } else { "" };
    if shown.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!(
            "{} bytes \"{}{more}\"",
            data.len(),
            String::from_utf8_lossy(shown)
        )
    } else {
        format!("{} bytes 0x{}{more}", data.len(), to_hex(shown))
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err("an odd number of hex digits".into());
    }
    digits
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| format!("`{}` is not a hex byte", String::from_utf8_lossy(pair)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_bad_digits() {
        assert_eq!(from_hex("00 5a ff").unwrap(), [0, 0x5a, 0xff]);
        assert_eq!(to_hex(&[0, 0x5a]), "005a");
        assert!(from_hex("0").is_err());
        assert!(from_hex("zz").is_err());
    }

    #[test]
    fn describe_shows_text_or_hex() {
        assert_eq!(describe(b"GET /"), "5 bytes \"GET /\"");
        assert_eq!(describe(&[0, 1]), "2 bytes 0x0001");
    }
}
