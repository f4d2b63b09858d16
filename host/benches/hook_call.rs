//! One hook call through the runtime, as the proxy makes it: a 20-header request view moved
//! into a warm instance, `on-request` called under a deadline, the view taken back.
//!
//! Run: `cargo bench -p weir --bench hook_call`. Results and their reading are in
//! `docs/benchmarks.md`.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Method, Version};
use weir::runtime::{
    EngineSettings, FilterSettings, Isolation, Journal, Plugin, RequestId, RequestView, Runtime,
};
use weir_tests::guests;

fn runtime() -> Arc<Runtime> {
    Runtime::new(EngineSettings {
        max_instances: 64,
        max_memory_bytes: 64 << 20,
        epoch_tick: Duration::from_millis(1),
        cache_dir: None,
    })
    .expect("engine")
}

fn plugin(runtime: &Arc<Runtime>, path: &str, config: &str, isolation: Isolation) -> Plugin {
    let settings = FilterSettings {
        name: Arc::from("bench"),
        config_json: config.to_owned(),
        deadline: Duration::from_millis(100),
        init_deadline: Duration::from_secs(5),
        memory_limit_bytes: 16 << 20,
        isolation,
        recycle_after_calls: u64::MAX,
        max_idle_instances: 4,
        limits: weir::config::default_plugin_limits(),
    };
    Plugin::load(runtime, Path::new(path), settings).expect("plugin loads")
}

/// A typical browser request: 20 header fields, two cookies.
fn request() -> RequestView {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "app.example.com"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0",
        ),
        (
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        ("accept-language", "en-GB,en;q=0.5"),
        ("accept-encoding", "gzip, deflate, br"),
        ("cookie", "session=abc123; tracking=xyz"),
        ("referer", "https://app.example.com/index"),
        ("upgrade-insecure-requests", "1"),
        ("sec-fetch-dest", "document"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-site", "same-origin"),
        ("sec-fetch-user", "?1"),
        ("priority", "u=0, i"),
        ("cache-control", "max-age=0"),
        ("dnt", "1"),
        ("x-forwarded-for", "203.0.113.7"),
        ("x-request-start", "t=1700000000000"),
        ("x-user", "alice"),
        ("pragma", "no-cache"),
        ("if-none-match", "\"abc\""),
    ] {
        headers.append(name, HeaderValue::from_static(value));
    }
    RequestView {
        method: Method::GET,
        scheme: "http",
        authority: None,
        path_and_query: PathAndQuery::from_static("/old/page/42?a=1&b=2"),
        path_context: None,
        version: Version::HTTP_11,
        headers,
        client: "127.0.0.1:40000".parse().expect("address"),
        id: RequestId::fixed("bench", 1),
        tls: None,
        backend: None,
        journal: Journal::default(),
    }
}

const REWRITE: &str = r#"{"rules":[{"match":"^/old/(.*)$","replace":"/new/$1"}]}"#;
const HEADERS: &str = r#"{"request":{"set":{"x-request-id":"{request_id}","x-client-ip":"{client_ip}"},"remove":["x-user"]}}"#;
const COOKIES: &str = r#"{"request":{"strip":["tracking"]}}"#;
const ROUTER: &str = r#"{"routes":[{"header":{"name":"x-user","value":"alice"},"pool":"beta"}]}"#;

fn hook_calls(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("hook");
    group.measurement_time(Duration::from_secs(5));

    group.bench_function("baseline/clone-view", |b| {
        let template = request();
        b.iter(|| black_box(template.clone()));
    });
    for (name, path, config) in [
        ("url-rewrite", guests::URL_REWRITE, REWRITE),
        ("headers", guests::HEADERS, HEADERS),
        ("cookies", guests::COOKIES, COOKIES),
        ("router", guests::ROUTER, ROUTER),
    ] {
        let warm = plugin(&rt, path, config, Isolation::Pooled);
        let template = request();
        group.bench_function(format!("pooled/{name}"), |b| {
            b.iter(|| black_box(warm.on_request_blocking(template.clone())));
        });
    }
    // A fresh instance per call: instantiation plus `init`. url-rewrite compiles its regexes in
    // `init`; cookies has no regex, which separates the two costs.
    let template = request();
    for (name, path, config) in [
        ("url-rewrite", guests::URL_REWRITE, REWRITE),
        ("cookies", guests::COOKIES, COOKIES),
    ] {
        let fresh = plugin(&rt, path, config, Isolation::PerRequest);
        group.bench_function(format!("per-request/{name}"), |b| {
            b.iter(|| black_box(fresh.on_request_blocking(template.clone())));
        });
    }
    // A fresh instance of the post-`init` snapshot per call: instantiation without `init`, for
    // every example plugin (each must snapshot).
    for (name, path, config) in [
        ("url-rewrite", guests::URL_REWRITE, REWRITE),
        ("headers", guests::HEADERS, HEADERS),
        ("cookies", guests::COOKIES, COOKIES),
        ("router", guests::ROUTER, ROUTER),
    ] {
        let reset = plugin(&rt, path, config, Isolation::Reset);
        group.bench_function(format!("reset/{name}"), |b| {
            b.iter(|| black_box(reset.on_request_blocking(template.clone())));
        });
    }

    let chain = [
        plugin(&rt, guests::URL_REWRITE, REWRITE, Isolation::Pooled),
        plugin(&rt, guests::HEADERS, HEADERS, Isolation::Pooled),
        plugin(&rt, guests::COOKIES, COOKIES, Isolation::Pooled),
    ];
    group.bench_function("pooled/chain-of-3", |b| {
        b.iter(|| {
            let mut view = template.clone();
            for filter in &chain {
                view = filter.on_request_blocking(view).0;
            }
            black_box(view)
        });
    });
    group.finish();
}

criterion_group!(benches, hook_calls);
criterion_main!(benches);
