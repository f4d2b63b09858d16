use super::*;
use crate::upstream::BackendPool;

fn head(fields: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in fields {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    headers
}

const CLIENT: &str = "192.0.2.7:40000";

#[test]
fn hash_is_xxh3_64_and_pinned() {
    // XXH3_64bits("") from the reference implementation's test vectors.
    assert_eq!(KeyHash::of(b"").0, 0x2d06_8005_38d3_94c2);
    // Pinned outputs: a change of hash function or of its seed fails here.
    assert_eq!(KeyHash::of(b"user-1").0, 0x7c76_15c1_1438_e5c9);
    assert_eq!(KeyHash::of(&[192, 0, 2, 7]).0, 0x54e8_211e_31db_05c1);
    assert_eq!(backend_hash("10.0.0.1:80", 1), 0xcc0c_b57c_4b1d_01ab);
}

#[test]
fn hash_key_parses_the_three_sources() {
    assert_eq!(HashKey::parse("client-addr"), Ok(HashKey::ClientAddr));
    assert_eq!(
        HashKey::parse("header:X-User"),
        Ok(HashKey::Header(HeaderName::from_static("x-user")))
    );
    assert_eq!(
        HashKey::parse("cookie:sid"),
        Ok(HashKey::Cookie("sid".into()))
    );
    for bad in [
        "client",
        "header:",
        "header:a b",
        "cookie:",
        "cookie:a;b",
        "ip",
    ] {
        assert!(HashKey::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(
        HashKey::parse("header:X-User").unwrap().to_string(),
        "header:x-user"
    );
}

#[test]
fn header_key_is_the_first_value_and_absent_when_missing_or_empty() {
    let key = HashKey::parse("header:x-user").unwrap();
    let client = CLIENT.parse().unwrap();
    let both = head(&[("x-user", "alice"), ("x-user", "bob")]);
    assert_eq!(key.of_request(&both, client), Some(KeyHash::of(b"alice")));
    assert_eq!(key.of_request(&head(&[]), client), None);
    assert_eq!(key.of_request(&head(&[("x-user", "")]), client), None);
}

#[test]
fn cookie_key_follows_the_filters_cookie_rules() {
    let key = HashKey::parse("cookie:sid").unwrap();
    let client = CLIENT.parse().unwrap();
    let headers = head(&[
        ("cookie", "a=1; junk; sidx=no"),
        ("cookie", " sid = abc ; sid=later"),
    ]);
    assert_eq!(key.of_request(&headers, client), Some(KeyHash::of(b"abc")));
    assert_eq!(key.of_request(&head(&[("cookie", "a=1")]), client), None);
    assert_eq!(key.of_request(&head(&[("cookie", "sid=")]), client), None);
}

#[test]
fn client_addr_key_ignores_the_port_and_ipv4_mapping() {
    let key = HashKey::ClientAddr;
    let none = HeaderMap::new();
    let a = key.of_request(&none, "192.0.2.7:1".parse().unwrap());
    assert_eq!(a, key.of_request(&none, "192.0.2.7:2".parse().unwrap()));
    assert_eq!(
        a,
        key.of_request(&none, "[::ffff:192.0.2.7]:3".parse().unwrap())
    );
    assert_eq!(a, Some(KeyHash::of(&[192, 0, 2, 7])));
    assert_ne!(a, key.of_request(&none, "192.0.2.8:1".parse().unwrap()));
}

fn pool(balance: crate::upstream::Balance, hash_key: Option<&str>) -> BackendPool {
    let backends = (1..=4)
        .map(|i| crate::upstream::BackendAddr {
            authority: format!("10.0.0.{i}:80").parse().unwrap(),
            https: false,
            weight: 1,
        })
        .collect();
    BackendPool::new(crate::upstream::PoolSettings {
        balance,
        hash_key: hash_key.map(|k| HashKey::parse(k).unwrap()),
        max_idle_per_backend: 0,
        ..crate::upstream::PoolSettings::new("p", backends)
    })
}

#[test]
fn a_filters_affinity_key_comes_before_the_pools_hash_key() {
    use crate::upstream::Balance;
    let client = CLIENT.parse().unwrap();
    let headers = head(&[("x-user", "alice")]);
    let hashed = pool(Balance::ConsistentHash, Some("header:x-user"));
    assert_eq!(
        hashed.key_of(Some("k"), &headers, client),
        Some(KeyHash::of(b"k"))
    );
    assert_eq!(
        hashed.key_of(None, &headers, client),
        Some(KeyHash::of(b"alice"))
    );
    assert_eq!(hashed.key_of(None, &head(&[]), client), None);
    let plain = pool(Balance::RoundRobin, None);
    assert_eq!(plain.key_of(None, &headers, client), None);
}

#[test]
fn keyed_requests_hash_on_any_pool_and_a_retry_goes_to_a_fixed_other_backend() {
    use crate::upstream::Balance;
    for balance in [Balance::RoundRobin, Balance::LeastRequests, Balance::P2c] {
        let pool = pool(balance, None);
        let key = Some(KeyHash::of(b"session-1"));
        let first = pool.select(key, |_| true).unwrap();
        let retry = pool.select(key, |i| i != first).unwrap();
        assert_ne!(first, retry);
        for _ in 0..20 {
            assert_eq!(pool.select(key, |_| true), Some(first));
            assert_eq!(pool.select(key, |i| i != first), Some(retry));
        }
    }
}
