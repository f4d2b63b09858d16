//! The cost of choosing a backend, per policy, and the spread of each policy over 10,000
//! requests. Pure CPU: a pool of five backends (weights 1, 1, 2, 2, 4) that is never connected
//! to, so no request is in flight and `least-requests` and `p2c` spread as on an idle pool.
//!
//! ```sh
//! cargo bench -p weir --bench balance -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! The spread table is printed first; results and their reading are in `docs/benchmarks.md`.

#![allow(clippy::print_stdout, reason = "a bench reports its results on stdout")]

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::Criterion;
use http::{HeaderMap, HeaderValue};
use weir::upstream::{BackendAddr, BackendPool, Balance, HashKey, PoolSettings};

const WEIGHTS: [u32; 5] = [1, 1, 2, 2, 4];
const REQUESTS: usize = 10_000;

fn pool(balance: Balance, hash_key: Option<&str>) -> BackendPool {
    let backends = WEIGHTS
        .iter()
        .enumerate()
        .map(|(i, &weight)| BackendAddr {
            authority: format!("10.0.0.{}:8080", i + 1).parse().expect("authority"),
            https: false,
            weight,
        })
        .collect();
    BackendPool::new(PoolSettings {
        balance,
        hash_key: hash_key.map(|k| HashKey::parse(k).expect("hash key")),
        ..PoolSettings::new("bench", backends)
    })
}

/// Every policy, by its config name; `consistent-hash` keys on `x-user`.
fn pools() -> Vec<(&'static str, BackendPool)> {
    vec![
        ("round-robin", pool(Balance::RoundRobin, None)),
        ("random", pool(Balance::Random, None)),
        ("least-requests", pool(Balance::LeastRequests, None)),
        ("p2c", pool(Balance::P2c, None)),
        (
            "consistent-hash",
            pool(Balance::ConsistentHash, Some("header:x-user")),
        ),
    ]
}

fn head(user: usize) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_str(&format!("user-{user}")).expect("header value");
    headers.insert("x-user", value);
    headers
}

fn print_spread(client: SocketAddr) {
    println!("\nspread over {REQUESTS} requests (weights {WEIGHTS:?}):\n");
    println!(
        "| policy | 10.0.0.1 (w1) | 10.0.0.2 (w1) | 10.0.0.3 (w2) | 10.0.0.4 (w2) | 10.0.0.5 (w4) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, pool) in pools() {
        let mut counts = [0usize; WEIGHTS.len()];
        for user in 0..REQUESTS {
            let key = pool.key_of(None, &head(user), client);
            counts[pool.pick(key).unwrap_or(0)] += 1;
        }
        let cells: Vec<String> = counts.iter().map(usize::to_string).collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
    println!();
}

fn choose(c: &mut Criterion, client: SocketAddr) {
    let mut group = c.benchmark_group("choose-backend");
    let headers = head(42);
    for (name, pool) in pools() {
        group.bench_function(name, |b| {
            b.iter(|| {
                let key = pool.key_of(None, black_box(&headers), client);
                black_box(pool.pick(key).unwrap_or(0))
            });
        });
    }
    // A filter's affinity key on a round-robin pool: the consistent-hash table as well.
    let affinity = pool(Balance::RoundRobin, None);
    group.bench_function("affinity-key", |b| {
        b.iter(|| {
            let key = affinity.key_of(Some(black_box("user-42")), &headers, client);
            black_box(affinity.pick(key).unwrap_or(0))
        });
    });
    let by_addr = pool(Balance::ConsistentHash, Some("client-addr"));
    group.bench_function("consistent-hash client-addr", |b| {
        b.iter(|| {
            let key = by_addr.key_of(None, &headers, black_box(client));
            black_box(by_addr.pick(key).unwrap_or(0))
        });
    });
    let by_cookie = pool(Balance::ConsistentHash, Some("cookie:sid"));
    let mut cookies = HeaderMap::new();
    cookies.insert(
        "cookie",
        HeaderValue::from_static("theme=dark; sid=3f9a2c; lang=en"),
    );
    group.bench_function("consistent-hash cookie", |b| {
        b.iter(|| {
            let key = by_cookie.key_of(None, black_box(&cookies), client);
            black_box(by_cookie.pick(key).unwrap_or(0))
        });
    });
    group.finish();
}

fn main() {
    let client: SocketAddr = "192.0.2.7:40000".parse().expect("client address");
    print_spread(client);
    let mut c = Criterion::default().configure_from_args();
    choose(&mut c, client);
    c.final_summary();
}
