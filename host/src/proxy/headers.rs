//! Header rules of a proxy: hop-by-hop fields and the forwarding fields weir adds.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use http::HeaderValue;
use http::header::{CONNECTION, HOST, HeaderMap, HeaderName};

/// Fields that describe one connection, never forwarded (RFC 9110 §7.6.1), plus the proxy
/// credentials meant for weir itself. Names, not strings: removing by `&str` parses the name
/// again on every call, for every message.
const HOP_BY_HOP: [HeaderName; 9] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    http::header::PROXY_AUTHENTICATE,
    http::header::PROXY_AUTHORIZATION,
    http::header::TE,
    http::header::TRAILER,
    http::header::TRANSFER_ENCODING,
    http::header::UPGRADE,
];

/// Removes hop-by-hop fields, including every field named in `Connection` (RFC 9110 §7.6.1).
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // `Connection: keep-alive` and `close` (nearly every HTTP/1.1 message) name nothing beyond
    // the fixed list, so the usual case collects nothing and allocates nothing.
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|token| {
            !token.eq_ignore_ascii_case("close")
                && !HOP_BY_HOP
                    .iter()
                    .any(|h| token.eq_ignore_ascii_case(h.as_str()))
        })
        .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    if headers.is_empty() {
        return;
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

// Names given as `&str` are turned into a new `HeaderName` (an allocation) on every insert;
// these constants share static bytes.
const XFF: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Adds `X-Forwarded-For` (appended to any existing list), `X-Forwarded-Proto`,
/// `X-Forwarded-Host` and `Via`. Without a client-sent `X-Forwarded-For` (the usual case) this
/// makes one small value and nothing else.
pub(crate) fn add_forwarding(
    headers: &mut HeaderMap,
    client: IpAddr,
    scheme: &str,
    original_host: Option<HeaderValue>,
    version: http::Version,
) {
    append_x_forwarded_for(headers, client);
    headers.insert(
        X_FORWARDED_PROTO,
        HeaderValue::from_static(if scheme == "https" { "https" } else { "http" }),
    );
    if let Some(host) = original_host {
        headers.insert(X_FORWARDED_HOST, host);
    }
    append_via(headers, version);
}

/// Fields that say who the client is or what it asked for, as some earlier proxy saw it. On a
/// forward listener the client is the first hop: anything it sends in these is its own claim.
const CLIENT_CLAIMS: [HeaderName; 5] = [
    FORWARDED,
    XFF,
    X_FORWARDED_HOST,
    X_FORWARDED_PROTO,
    X_REAL_IP,
];

/// Removes `Forwarded`, `X-Forwarded-For`, `-Host`, `-Proto` and `X-Real-IP` (forward
/// listeners, before the filters run). `Via` stays: it is how loops are found.
pub(crate) fn strip_client_claims(headers: &mut HeaderMap) {
    for name in &CLIENT_CLAIMS {
        headers.remove(name);
    }
}

/// Tells the upstream the client's address in both forms (`forwarded_for = "append"`):
/// `X-Forwarded-For` (appended to any list a filter made) and `Forwarded: for=` (RFC 7239 §4,
/// an IPv6 address quoted and bracketed, §6).
pub(crate) fn append_client(headers: &mut HeaderMap, client: IpAddr) {
    append_x_forwarded_for(headers, client);
    let value = match client {
        IpAddr::V4(v4) => format!("for={v4}"),
        IpAddr::V6(v6) => format!("for=\"[{v6}]\""),
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.append(http::header::FORWARDED, value);
    }
}

/// Appends `client` to the `X-Forwarded-For` list (several fields form one list, RFC 9110
/// §5.3, written back as one).
fn append_x_forwarded_for(headers: &mut HeaderMap, client: IpAddr) {
    // The longest IPv6 text is 45 bytes.
    let mut ip = [0u8; 48];
    let ip = {
        let mut cursor = std::io::Cursor::new(&mut ip[..]);
        let _ = write!(cursor, "{client}");
        let len = usize::try_from(cursor.position()).unwrap_or(0);
        &ip[..len]
    };
    // Several X-Forwarded-For fields form one list (RFC 9110 §5.3).
    let value = if headers.contains_key(XFF) {
        let mut list: Vec<u8> = Vec::new();
        for existing in headers.get_all(XFF) {
            let existing = existing.as_bytes().trim_ascii();
            if !existing.is_empty() {
                list.extend_from_slice(existing);
                list.extend_from_slice(b", ");
            }
        }
        list.extend_from_slice(ip);
        HeaderValue::from_bytes(&list)
    } else {
        HeaderValue::from_bytes(ip)
    };
    if let Ok(value) = value {
        headers.insert(XFF, value);
    }
}

/// Refuses what RFC 9112 §3.2 says a server must answer with 400: an HTTP/1.1 request without
/// `Host`, any request with more than one `Host` field, and a `Host` that is not an authority
/// (`host[:port]`, no user info, no path, no spaces). An empty `Host` is legal (a target with
/// no authority), and so is a missing one when the target is in absolute form: a proxy
/// replaces `Host` with the target's authority anyway (§3.2.2), and some proxy clients omit it.
/// An HTTP/2 request whose `Host` names another origin than its `:authority` is malformed too
/// (RFC 9113 §8.3.1): routes and filters would judge one host while the backend is told the
/// other. Checked before routing, so an ambiguous host can neither pick a route nor reach a
/// backend.
pub(crate) fn check_host<B>(request: &http::Request<B>) -> Result<(), super::ProxyError> {
    use super::ProxyError::Downstream;
    let mut hosts = request.headers().get_all(HOST).iter();
    let first = hosts.next();
    if hosts.next().is_some() {
        return Err(Downstream("more than one Host field"));
    }
    if request.version() == http::Version::HTTP_2
        && let (Some(authority), Some(host)) = (request.uri().authority(), first)
        && !host
            .to_str()
            .is_ok_and(|host| same_origin(authority.as_str(), host))
    {
        return Err(Downstream(
            "the Host field names another origin than :authority",
        ));
    }
    match first {
        None if request.version() == http::Version::HTTP_11
            && request.uri().authority().is_none() =>
        {
            Err(Downstream("an HTTP/1.1 request needs a Host field"))
        }
        None => Ok(()),
        Some(host) if host.is_empty() => Ok(()),
        Some(host) => match host.to_str() {
            Ok(host) if weir_rules::validate::authority(host).is_ok() => Ok(()),
            _ => Err(Downstream("the Host field is not host[:port]")),
        },
    }
}

/// Whether two authorities name the same origin: the same host (ASCII case and a trailing dot
/// aside) and the same port where both give one.
fn same_origin(a: &str, b: &str) -> bool {
    let (host_a, host_b) = (super::route::host_of(a), super::route::host_of(b));
    host_a.eq_ignore_ascii_case(host_b)
        && match (port_of(a), port_of(b)) {
            (Some(port_a), Some(port_b)) => port_a == port_b,
            _ => true,
        }
}

/// The port of `host[:port]` (`[v6]:port` too), if any.
fn port_of(authority: &str) -> Option<&str> {
    let after_host = match authority.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or("", |(_, after)| after),
        None => authority.split_once(':').map_or("", |(_, port)| port),
    };
    let port = after_host.strip_prefix(':').unwrap_or(after_host);
    (!port.is_empty()).then_some(port)
}

/// How many `Via` entries name weir as the recipient (`1.1 weir`, `2 weir`, ...), across every
/// `Via` field. A request that keeps coming back is in a forwarding loop.
pub(crate) fn weir_hops(headers: &HeaderMap) -> usize {
    headers
        .get_all(http::header::VIA)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter(|entry| entry.split_whitespace().nth(1) == Some("weir"))
        .count()
}

/// Appends this hop to `Via` (RFC 9110 §7.6.3).
pub(crate) fn append_via(headers: &mut HeaderMap, version: http::Version) {
    let hop = match version {
        http::Version::HTTP_10 => "1.0 weir",
        http::Version::HTTP_2 => "2 weir",
        http::Version::HTTP_3 => "3 weir",
        _ => "1.1 weir",
    };
    headers.append(http::header::VIA, HeaderValue::from_static(hop));
}

/// The client of a request on a reverse listener: the connection's client (`hop`: the peer, or
/// a PROXY header's source), unless that is a trusted proxy; then the `X-Forwarded-For` (else
/// `Forwarded: for=`) entries are read right to left, skipping trusted proxies, and the first
/// other address is the client. An entry that is not an address ends the walk at the last
/// trusted one (weir does not guess). Then, unless `hop` is trusted, client-sent `Forwarded`
/// and `X-Real-IP` are removed: they are claims only a trusted proxy may make.
pub(crate) fn real_client(
    headers: &mut HeaderMap,
    hop: SocketAddr,
    trusted: &[crate::upstream::IpNet],
) -> SocketAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip.to_canonical()));
    if !is_trusted(hop.ip()) {
        headers.remove(FORWARDED);
        headers.remove(X_REAL_IP);
        return hop;
    }
    let mut client = hop.ip();
    let xff: Vec<&str> = headers
        .get_all(XFF)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let entries: Vec<Option<IpAddr>> = if xff.is_empty() {
        headers
            .get_all(FORWARDED)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(forwarded_for)
            .collect()
    } else {
        xff.iter().map(|entry| entry.trim().parse().ok()).collect()
    };
    for entry in entries.iter().rev() {
        match entry {
            Some(ip) => {
                client = ip.to_canonical();
                if !is_trusted(*ip) {
                    break;
                }
            }
            None => break,
        }
    }
    // The port of a forwarded client is unknown.
    let port = if client == hop.ip() { hop.port() } else { 0 };
    SocketAddr::new(client, port)
}

/// The address in one `Forwarded` element's `for=` (RFC 7239 §6), if it is one: `192.0.2.60`,
/// `"[2001:db8::1]:4711"`, `"192.0.2.60:4711"`. Obfuscated and `unknown` nodes are not.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let node = element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then_some(value.trim())
    })?;
    let node = node.trim_matches('"');
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let host = node.rsplit_once(':').map_or(node, |(host, _)| host);
    host.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weir_hops_counts_every_via_entry_weir_received() {
        let mut h = HeaderMap::new();
        assert_eq!(weir_hops(&h), 0);
        h.append(
            "via",
            HeaderValue::from_static("1.1 edge, 1.1 weir (comment)"),
        );
        h.append(
            "via",
            HeaderValue::from_static("2 weir,1.0 weird, HTTP/1.1 weir"),
        );
        h.append("via", HeaderValue::from_static("1.1 notweir"));
        assert_eq!(weir_hops(&h), 3);
        append_via(&mut h, http::Version::HTTP_11);
        assert_eq!(weir_hops(&h), 4);
    }

    #[test]
    fn hop_by_hop_fields_and_connection_tokens_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, X-Secret, bad name"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("proxy-authorization", HeaderValue::from_static("Basic x"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn forwarding_fields_extend_existing_ones() {
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", HeaderValue::from_static("203.0.113.1"));
        h.append("x-forwarded-for", HeaderValue::from_static("198.51.100.2"));
        h.insert("via", HeaderValue::from_static("1.1 edge"));
        add_forwarding(
            &mut h,
            "127.0.0.1".parse().unwrap(),
            "http",
            Some(HeaderValue::from_static("app.test")),
            http::Version::HTTP_11,
        );
        assert_eq!(h["x-forwarded-for"], "203.0.113.1, 198.51.100.2, 127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "app.test");
        let via: Vec<_> = h.get_all("via").iter().collect();
        assert_eq!(via, ["1.1 edge", "1.1 weir"]);
    }

    #[test]
    fn client_claims_are_stripped_and_via_kept() {
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("forwarded", "for=10.0.0.1"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-for", "10.0.0.2"),
            ("x-forwarded-host", "internal.test"),
            ("x-forwarded-proto", "https"),
            ("x-real-ip", "10.0.0.1"),
            ("via", "1.1 edge"),
        ] {
            h.append(name, HeaderValue::from_static(value));
        }
        strip_client_claims(&mut h);
        assert_eq!(h.len(), 1);
        assert_eq!(h["via"], "1.1 edge");
    }

    #[test]
    fn the_client_is_appended_in_both_forms() {
        let mut h = HeaderMap::new();
        append_client(&mut h, "192.0.2.7".parse().unwrap());
        assert_eq!(h["x-forwarded-for"], "192.0.2.7");
        assert_eq!(h["forwarded"], "for=192.0.2.7");
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.1"));
        append_client(&mut h, "2001:db8::1".parse().unwrap());
        assert_eq!(h["x-forwarded-for"], "198.51.100.1, 2001:db8::1");
        assert_eq!(h["forwarded"], "for=\"[2001:db8::1]\"");
    }

    #[test]
    fn host_fields_are_checked_as_rfc_9112_and_rfc_9113_say() {
        let request = |version, hosts: &[&str]| {
            let mut builder = http::Request::builder().version(version).uri("/");
            for host in hosts {
                builder = builder.header(HOST, *host);
            }
            builder.body(()).unwrap()
        };
        let (v10, v11, v2) = (
            http::Version::HTTP_10,
            http::Version::HTTP_11,
            http::Version::HTTP_2,
        );
        assert!(check_host(&request(v11, &["app.test"])).is_ok());
        assert!(check_host(&request(v11, &["[::1]:8080"])).is_ok());
        assert!(check_host(&request(v11, &[""])).is_ok());
        assert!(check_host(&request(v10, &[])).is_ok());
        assert!(check_host(&request(v2, &[])).is_ok());
        let absolute = http::Request::get("http://a.test/").body(()).unwrap();
        assert!(check_host(&absolute).is_ok(), "the target names the host");
        // HTTP/2: `Host` beside `:authority` must name the same origin.
        let h2 = |authority: &str, host: &str| {
            http::Request::get(format!("https://{authority}/"))
                .version(v2)
                .header(HOST, host)
                .body(())
                .unwrap()
        };
        for (authority, host) in [
            ("app.test", "app.test"),
            ("App.Test:443", "app.test."),
            ("app.test:8443", "app.test"),
            ("[::1]:8443", "[::1]:8443"),
        ] {
            assert!(
                check_host(&h2(authority, host)).is_ok(),
                "{authority} {host}"
            );
        }
        for (authority, host) in [
            ("app.test", "other.test"),
            ("app.test:8443", "app.test:9443"),
            ("[::1]:8443", "[::2]:8443"),
            ("app.test", ""),
        ] {
            assert!(
                check_host(&h2(authority, host)).is_err(),
                "{authority} {host}"
            );
        }
        let mut h1 = h2("app.test", "other.test");
        *h1.version_mut() = v11;
        assert!(
            check_host(&h1).is_ok(),
            "HTTP/1.1 absolute form: the target wins (RFC 9112 §3.2.2)"
        );
        for bad in [
            request(v11, &[]),
            request(v11, &["a.test", "b.test"]),
            request(v10, &["a.test", "a.test"]),
            request(v11, &["a.test/path"]),
            request(v11, &["a b.test"]),
            request(v11, &["user@a.test"]),
        ] {
            assert!(check_host(&bad).is_err(), "{:?}", bad.headers());
        }
    }

    fn nets(list: &[&str]) -> Vec<crate::upstream::IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn fields(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn an_untrusted_peer_is_the_client_and_its_claims_are_dropped() {
        let mut headers = fields(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
            ("x-real-ip", "203.0.113.9"),
        ]);
        let hop: SocketAddr = "198.51.100.1:5000".parse().unwrap();
        assert_eq!(real_client(&mut headers, hop, &nets(&["10.0.0.0/8"])), hop);
        assert!(headers.get("forwarded").is_none());
        assert!(headers.get("x-real-ip").is_none());
        // The list stays, for weir to append the peer to.
        assert_eq!(headers.get("x-forwarded-for").unwrap(), "203.0.113.9");
    }

    #[test]
    fn trusted_proxies_are_skipped_right_to_left() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1"]);
        let hop: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let client =
            |pairs: &[(&'static str, &str)]| real_client(&mut fields(pairs), hop, &trusted);
        // The spoofed left entry is not reached: 198.51.100.7 is the first untrusted one.
        assert_eq!(
            client(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.0.0.2")]).ip(),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client(&[
                ("x-forwarded-for", "198.51.100.7"),
                ("x-forwarded-for", "10.0.0.2")
            ])
            .ip(),
            "198.51.100.7".parse::<IpAddr>().unwrap(),
            "several fields form one list"
        );
        // Every entry trusted: the leftmost.
        assert_eq!(
            client(&[("x-forwarded-for", "10.0.0.3, 10.0.0.2")]).ip(),
            "10.0.0.3".parse::<IpAddr>().unwrap()
        );
        // Garbage ends the walk at the last trusted address.
        assert_eq!(
            client(&[("x-forwarded-for", "198.51.100.7, bogus, 10.0.0.2")]).ip(),
            "10.0.0.2".parse::<IpAddr>().unwrap()
        );
        // Without X-Forwarded-For, Forwarded's `for=` (IPv6 bracketed and quoted).
        assert_eq!(
            client(&[(
                "forwarded",
                "for=\"[2001:db8::7]:4711\";proto=https, for=10.0.0.2"
            )])
            .ip(),
            "2001:db8::7".parse::<IpAddr>().unwrap()
        );
        // No forwarding fields: the trusted peer itself.
        assert_eq!(client(&[]), hop);
    }
}
