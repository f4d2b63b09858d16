//! A git-protocol router (ProxyMachine's example): reads the first pkt-line of a `git://`
//! connection (`git-upload-pack /repo.git\0host=...\0`), routes the connection by the
//! repository path to the pool or address the config names, and answers an `ERR` pkt-line for
//! a repository no rule covers. The request goes upstream unchanged. See the README.

use serde::Deserialize;
use weir_stream_sdk::{Connection, Route, Router, Verdict, export_router, host};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    routes: Vec<RouteConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteConfig {
    /// A path prefix such as `/team-a/`; `/` matches every repository.
    prefix: String,
    #[serde(default)]
    pool: Option<String>,
    #[serde(default)]
    address: Option<String>,
}

/// The router.
#[derive(Debug)]
pub struct GitRouter {
    routes: Vec<(String, Route)>,
}

/// The services a git daemon offers (`git help daemon`).
const SERVICES: &[&str] = &["git-upload-pack", "git-receive-pack", "git-upload-archive"];

/// A parsed first pkt-line.
#[derive(Debug, PartialEq, Eq)]
enum Request<'a> {
    Incomplete,
    Invalid,
    Service { path: &'a str },
}

fn parse(data: &[u8]) -> Request<'_> {
    let Some(hex) = data.get(..4) else {
        return if data.iter().all(u8::is_ascii_hexdigit) {
            Request::Incomplete
        } else {
            Request::Invalid
        };
    };
    let Some(length) = std::str::from_utf8(hex)
        .ok()
        .and_then(|h| usize::from_str_radix(h, 16).ok())
    else {
        return Request::Invalid;
    };
    // A pkt-line is at most 65520 bytes (gitprotocol-common); 4 is a flush, not a request.
    if !(5..=65520).contains(&length) {
        return Request::Invalid;
    }
    let Some(line) = data.get(4..length) else {
        return Request::Incomplete;
    };
    let command = line.split(|&b| b == 0).next().unwrap_or_default();
    let Ok(command) = std::str::from_utf8(command) else {
        return Request::Invalid;
    };
    match command.split_once(' ') {
        Some((service, path)) if SERVICES.contains(&service) && path.starts_with('/') => {
            Request::Service { path }
        }
        _ => Request::Invalid,
    }
}

/// An `ERR` pkt-line (gitprotocol-pack: the server's answer to a request it refuses).
fn err_line(message: &str) -> Vec<u8> {
    let payload = format!("ERR {message}\n");
    let mut line = format!("{:04x}", payload.len() + 4).into_bytes();
    line.extend_from_slice(payload.as_bytes());
    line
}

impl Router for GitRouter {
    fn init(config: &str) -> Result<Self, String> {
        let config: Config = serde_json::from_str(config).map_err(|e| e.to_string())?;
        let mut routes = Vec::with_capacity(config.routes.len());
        for (i, route) in config.routes.into_iter().enumerate() {
            if !route.prefix.starts_with('/') {
                return Err(format!("routes[{i}].prefix: must start with `/`"));
            }
            let to = match (&route.pool, &route.address) {
                (Some(pool), None) => Route::pool(pool),
                (None, Some(address)) => Route::address(address),
                _ => {
                    return Err(format!(
                        "routes[{i}]: give exactly one of `pool` and `address`"
                    ));
                }
            };
            routes.push((route.prefix, to));
        }
        Ok(Self { routes })
    }

    fn on_data(&mut self, _conn: &Connection, data: &[u8]) -> Verdict {
        let path = match parse(data) {
            Request::Incomplete => return Verdict::Wait,
            Request::Invalid => return Verdict::CloseWith(err_line("not a git protocol request")),
            Request::Service { path } => path,
        };
        let route = self
            .routes
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix.as_str()));
        match route {
            Some((_, route)) => {
                host::counter_add("routed", 1);
                Verdict::Route(route.clone())
            }
            None => {
                host::counter_add("unknown_repository", 1);
                Verdict::CloseWith(err_line(&format!("no such repository: {path}")))
            }
        }
    }
}

export_router!(GitRouter);

#[cfg(test)]
mod tests {
    use super::*;
    use weir_stream_sdk::testing::TestConnection;

    fn pkt(payload: &str) -> Vec<u8> {
        let mut line = format!("{:04x}", payload.len() + 4).into_bytes();
        line.extend_from_slice(payload.as_bytes());
        line
    }

    const CONFIG: &str = r#"{"routes": [
        {"prefix": "/team-a/", "pool": "git-a"},
        {"prefix": "/", "address": "127.0.0.1:9418"}
    ]}"#;

    #[test]
    fn routes_by_repository_prefix_once_the_pkt_line_is_complete() {
        let mut r = GitRouter::init(CONFIG).unwrap();
        let conn = TestConnection::new().build();
        let request = pkt("git-upload-pack /team-a/tool.git\0host=git.example\0");
        for end in 0..request.len() {
            assert_eq!(
                r.on_data(&conn, &request[..end]),
                Verdict::Wait,
                "prefix {end}"
            );
        }
        assert_eq!(r.on_data(&conn, &request), Route::pool("git-a").into());
        let other = pkt("git-receive-pack /b.git\0host=git.example\0");
        assert_eq!(
            r.on_data(&conn, &other),
            Route::address("127.0.0.1:9418").into()
        );
    }

    #[test]
    fn unknown_repositories_and_other_protocols_get_an_err_line() {
        let mut r = GitRouter::init(r#"{"routes": [{"prefix": "/a/", "pool": "p"}]}"#).unwrap();
        let conn = TestConnection::new().build();
        let verdict = r.on_data(&conn, &pkt("git-upload-pack /b.git\0"));
        assert_eq!(
            verdict,
            Verdict::CloseWith(pkt("ERR no such repository: /b.git\n"))
        );
        assert!(matches!(
            r.on_data(&conn, b"GET / HTTP/1.1"),
            Verdict::CloseWith(_)
        ));
        assert!(matches!(r.on_data(&conn, b"0004"), Verdict::CloseWith(_)));
        assert!(matches!(
            r.on_data(&conn, &pkt("rm -rf /\0")),
            Verdict::CloseWith(_)
        ));
    }

    #[test]
    fn a_prefix_must_be_a_path() {
        let err = GitRouter::init(r#"{"routes": [{"prefix": "a", "pool": "p"}]}"#).unwrap_err();
        assert!(err.contains("routes[0].prefix"), "{err}");
    }
}
