//! TLS passthrough by server name: reads the SNI of each connection's ClientHello (without
//! terminating TLS) and routes the connection, bytes untouched, to the pool or address the
//! config names for that host. See the README for the config.

use serde::Deserialize;
use weir_stream_sdk::tls::{self, HelloError};
use weir_stream_sdk::{Connection, Route, Router, Verdict, export_router, host};

/// The config: host patterns in order, first match wins.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    routes: Vec<RouteConfig>,
    #[serde(default)]
    default: Option<Target>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteConfig {
    /// `a.example` (exact) or `*.example` (any subdomain).
    sni: String,
    #[serde(default)]
    pool: Option<String>,
    #[serde(default)]
    address: Option<String>,
}

/// A pool or an address.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    #[serde(default)]
    pool: Option<String>,
    #[serde(default)]
    address: Option<String>,
}

impl Target {
    fn route(&self) -> Option<Route> {
        match (&self.pool, &self.address) {
            (Some(pool), None) => Some(Route::pool(pool)),
            (None, Some(address)) => Some(Route::address(address)),
            _ => None,
        }
    }
}

/// The router.
#[derive(Debug)]
pub struct SniRouter {
    routes: Vec<(Pattern, Route)>,
    default: Option<Route>,
}

/// A host pattern.
#[derive(Debug)]
enum Pattern {
    Exact(String),
    /// The suffix after `*`, e.g. `.example`.
    Subdomain(String),
}

impl Pattern {
    fn parse(text: &str) -> Result<Self, String> {
        let text = text.to_ascii_lowercase();
        match text.strip_prefix('*') {
            Some(suffix) if suffix.starts_with('.') && suffix.len() > 1 => {
                Ok(Self::Subdomain(suffix.to_owned()))
            }
            Some(_) => Err(format!("`{text}`: a wildcard is `*.` followed by a domain")),
            None if text.is_empty() || text.contains('*') => {
                Err(format!("`{text}` is not a host name or `*.domain`"))
            }
            None => Ok(Self::Exact(text)),
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(name) => name == host,
            Self::Subdomain(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
        }
    }
}

impl Router for SniRouter {
    fn init(config: &str) -> Result<Self, String> {
        let config: Config = serde_json::from_str(config).map_err(|e| e.to_string())?;
        let target = |t: &Target, key: &str| {
            t.route()
                .ok_or_else(|| format!("{key}: give exactly one of `pool` and `address`"))
        };
        let mut routes = Vec::with_capacity(config.routes.len());
        for (i, route) in config.routes.iter().enumerate() {
            let key = format!("routes[{i}]");
            let pattern = Pattern::parse(&route.sni).map_err(|e| format!("{key}.sni: {e}"))?;
            let to = Target {
                pool: route.pool.clone(),
                address: route.address.clone(),
            };
            routes.push((pattern, target(&to, &key)?));
        }
        let default = match &config.default {
            Some(t) => Some(target(t, "default")?),
            None => None,
        };
        Ok(Self { routes, default })
    }

    fn on_data(&mut self, _conn: &Connection, data: &[u8]) -> Verdict {
        let hello = match tls::parse_client_hello(data) {
            Ok(hello) => hello,
            Err(HelloError::Incomplete) => return Verdict::Wait,
            Err(e) => {
                host::counter_add("not_tls", 1);
                host::log(
                    host::Level::Debug,
                    "not a TLS ClientHello",
                    &[("error", &e.to_string())],
                );
                return Verdict::Close;
            }
        };
        let chosen = hello.sni.as_deref().and_then(|sni| {
            self.routes
                .iter()
                .find(|(pattern, _)| pattern.matches(sni))
                .map(|(_, route)| route)
        });
        match chosen.or(self.default.as_ref()) {
            Some(route) => Verdict::Route(route.clone()),
            None => {
                host::counter_add("unknown_sni", 1);
                Verdict::Close
            }
        }
    }
}

export_router!(SniRouter);

#[cfg(test)]
mod tests {
    use super::*;
    use weir_stream_sdk::testing::{TestConnection, client_hello};

    fn router(config: &str) -> SniRouter {
        SniRouter::init(config).unwrap()
    }

    const CONFIG: &str = r#"{"routes": [
        {"sni": "a.example", "pool": "a"},
        {"sni": "*.b.example", "address": "127.0.0.1:9443"}
    ], "default": {"pool": "other"}}"#;

    #[test]
    fn routes_by_exact_and_wildcard_sni_with_a_default() {
        let mut r = router(CONFIG);
        let conn = TestConnection::new().build();
        let on =
            |r: &mut SniRouter, sni: Option<&str>| r.on_data(&conn, &client_hello(sni, &["h2"]));
        assert_eq!(on(&mut r, Some("a.example")), Route::pool("a").into());
        assert_eq!(
            on(&mut r, Some("x.b.example")),
            Route::address("127.0.0.1:9443").into()
        );
        assert_eq!(on(&mut r, Some("b.example")), Route::pool("other").into());
        assert_eq!(on(&mut r, None), Route::pool("other").into());
    }

    #[test]
    fn waits_for_the_whole_hello_and_closes_other_protocols() {
        let mut r = router(r#"{"routes": [{"sni": "a.example", "pool": "a"}]}"#);
        let conn = TestConnection::new().build();
        let hello = client_hello(Some("a.example"), &[]);
        assert_eq!(r.on_data(&conn, b""), Verdict::Wait);
        assert_eq!(r.on_data(&conn, &hello[..hello.len() - 1]), Verdict::Wait);
        assert_eq!(r.on_data(&conn, b"GET / HTTP/1.1\r\n"), Verdict::Close);
        assert_eq!(
            r.on_data(&conn, &client_hello(Some("z.example"), &[])),
            Verdict::Close
        );
    }

    #[test]
    fn bad_configs_are_refused_with_the_key() {
        let err = SniRouter::init(r#"{"routes": [{"sni": "a*", "pool": "a"}]}"#).unwrap_err();
        assert!(err.contains("routes[0].sni"), "{err}");
        let err = SniRouter::init(r#"{"routes": [{"sni": "a", "pool": "a", "address": "x:1"}]}"#)
            .unwrap_err();
        assert!(err.contains("exactly one"), "{err}");
    }
}
