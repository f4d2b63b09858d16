//! A SOCKS4-style router (ProxyMachine's example): reads a SOCKS4 or SOCKS4a CONNECT request,
//! answers "request granted" and joins the client to the address it asked for; the request
//! itself is not sent upstream. Ports and hosts can be restricted by config. See the README.

use serde::Deserialize;
use weir_stream_sdk::{Connection, Route, Router, Verdict, export_router, host};

/// The config.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Ports clients may connect to (empty: any).
    #[serde(default)]
    allow_ports: Vec<u16>,
    /// Whether SOCKS4a host names are accepted (else only IPv4 addresses).
    #[serde(default = "yes")]
    allow_hostnames: bool,
}

fn yes() -> bool {
    true
}

/// The router.
#[derive(Debug)]
pub struct Socks4Router {
    config: Config,
}

/// The longest request read (the user id and the host name are NUL-terminated strings).
const MAX_REQUEST: usize = 1024;

/// A parsed SOCKS4 request.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    /// More bytes are needed.
    Incomplete,
    /// Not a SOCKS4 CONNECT.
    Invalid,
    /// CONNECT to `target`; the request was `length` bytes long.
    Connect {
        target: String,
        port: u16,
        length: usize,
    },
}

fn parse(data: &[u8]) -> Request {
    let (Some(&version), Some(&command)) = (data.first(), data.get(1)) else {
        return if data.first().is_none_or(|&v| v == 4) {
            Request::Incomplete
        } else {
            Request::Invalid
        };
    };
    if version != 4 || command != 1 {
        return Request::Invalid;
    }
    let Some(fixed) = data.get(..8) else {
        return Request::Incomplete;
    };
    let port = u16::from_be_bytes([fixed[2], fixed[3]]);
    let ip = [fixed[4], fixed[5], fixed[6], fixed[7]];
    let Some(user_end) = nul(data, 8) else {
        return incomplete_unless_too_long(data);
    };
    // SOCKS4a: 0.0.0.x (x != 0) means "the host name follows the user id".
    if ip[..3] == [0, 0, 0] && ip[3] != 0 {
        let Some(host_end) = nul(data, user_end + 1) else {
            return incomplete_unless_too_long(data);
        };
        let Ok(name) = std::str::from_utf8(&data[user_end + 1..host_end]) else {
            return Request::Invalid;
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return Request::Invalid;
        }
        return Request::Connect {
            target: name.to_owned(),
            port,
            length: host_end + 1,
        };
    }
    Request::Connect {
        target: format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]),
        port,
        length: user_end + 1,
    }
}

fn nul(data: &[u8], from: usize) -> Option<usize> {
    data.get(from..)?
        .iter()
        .position(|&b| b == 0)
        .map(|i| from + i)
}

fn incomplete_unless_too_long(data: &[u8]) -> Request {
    if data.len() >= MAX_REQUEST {
        Request::Invalid
    } else {
        Request::Incomplete
    }
}

/// The 8-byte SOCKS4 reply: `0x5a` granted, `0x5b` rejected.
fn reply(code: u8) -> Vec<u8> {
    vec![0, code, 0, 0, 0, 0, 0, 0]
}

impl Router for Socks4Router {
    fn init(config: &str) -> Result<Self, String> {
        let config = serde_json::from_str(config).map_err(|e| e.to_string())?;
        Ok(Self { config })
    }

    fn on_data(&mut self, _conn: &Connection, data: &[u8]) -> Verdict {
        match parse(data) {
            Request::Incomplete => Verdict::Wait,
            Request::Invalid => Verdict::Close,
            Request::Connect {
                target,
                port,
                length,
            } => {
                let port_allowed =
                    self.config.allow_ports.is_empty() || self.config.allow_ports.contains(&port);
                let name_allowed =
                    self.config.allow_hostnames || target.parse::<std::net::Ipv4Addr>().is_ok();
                if !port_allowed || !name_allowed {
                    host::counter_add("rejected", 1);
                    return Verdict::CloseWith(reply(0x5b));
                }
                host::counter_add("granted", 1);
                // What the client sent after its request (it may not wait for the reply) goes
                // upstream; the request itself does not.
                let rest = data.get(length..).unwrap_or_default().to_vec();
                Route::address(&format!("{target}:{port}"))
                    .send_upstream(rest)
                    .reply(reply(0x5a))
                    .into()
            }
        }
    }
}

export_router!(Socks4Router);

#[cfg(test)]
mod tests {
    use super::*;
    use weir_stream_sdk::testing::TestConnection;

    fn request(port: u16, ip: [u8; 4], user: &str, host: Option<&str>) -> Vec<u8> {
        let mut out = vec![4, 1];
        out.extend_from_slice(&port.to_be_bytes());
        out.extend_from_slice(&ip);
        out.extend_from_slice(user.as_bytes());
        out.push(0);
        if let Some(host) = host {
            out.extend_from_slice(host.as_bytes());
            out.push(0);
        }
        out
    }

    #[test]
    fn a_connect_is_granted_and_routed_without_the_request() {
        let mut r = Socks4Router::init("{}").unwrap();
        let conn = TestConnection::new().build();
        let mut data = request(8080, [127, 0, 0, 1], "me", None);
        for end in 0..data.len() {
            assert_eq!(
                r.on_data(&conn, &data[..end]),
                Verdict::Wait,
                "prefix {end}"
            );
        }
        data.extend_from_slice(b"early");
        let expected = Route::address("127.0.0.1:8080")
            .send_upstream(b"early".to_vec())
            .reply(reply(0x5a));
        assert_eq!(r.on_data(&conn, &data), expected.into());
    }

    #[test]
    fn socks4a_names_and_port_rules() {
        let mut r =
            Socks4Router::init(r#"{"allow_ports": [443], "allow_hostnames": false}"#).unwrap();
        let conn = TestConnection::new().build();
        let named = request(443, [0, 0, 0, 1], "", Some("example.com"));
        assert_eq!(r.on_data(&conn, &named), Verdict::CloseWith(reply(0x5b)));
        let wrong_port = request(22, [10, 0, 0, 1], "", None);
        assert_eq!(
            r.on_data(&conn, &wrong_port),
            Verdict::CloseWith(reply(0x5b))
        );
        let mut r = Socks4Router::init("{}").unwrap();
        assert_eq!(
            r.on_data(&conn, &named),
            Route::address("example.com:443")
                .send_upstream(Vec::new())
                .reply(reply(0x5a))
                .into()
        );
    }

    #[test]
    fn other_protocols_and_endless_user_ids_are_closed() {
        let mut r = Socks4Router::init("{}").unwrap();
        let conn = TestConnection::new().build();
        assert_eq!(r.on_data(&conn, b"GET /"), Verdict::Close);
        assert_eq!(r.on_data(&conn, &[5, 1, 0]), Verdict::Close);
        let mut long = request(80, [1, 2, 3, 4], "", None);
        long.pop();
        long.extend(std::iter::repeat_n(b'u', MAX_REQUEST));
        assert_eq!(r.on_data(&conn, &long), Verdict::Close);
    }
}
