//! Reload costs: building and swapping a new state for a changed plugin (compiled) and an
//! unchanged one (cache hit), and request latency while reloads happen against a run without.
//!
//! Run: `cargo bench -p weir --bench reload`. Results are in `docs/benchmarks.md`.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::Criterion;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use weir::config::{self, Config};
use weir::runtime::Runtime;
use weir::server;
use weir_tests::{Backend, guests};

fn config(backend: &str) -> Config {
    let toml = format!(
        "[runtime]\nmax_instances = 64\n[[listener]]\nbind = \"127.0.0.1:0\"\n[[pool]]\nname = \"main\"\nbackends = [\"{backend}\"]\n[[filter]]\nname = \"rewrite\"\nplugin = {:?}\nconfig = {{ rules = [ {{ match = \"^/old/(.*)$\", replace = \"/new/$1\" }} ] }}\n[[route]]\npool = \"main\"\nfilters = [\"rewrite\"]\n",
        guests::URL_REWRITE
    );
    config::parse(&toml, "bench.toml", Path::new("/")).expect("bench config")
}

fn swap_costs(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    let config = config("127.0.0.1:9");
    let mut group = c.benchmark_group("reload");
    group.sample_size(10);
    group.bench_function("changed-plugin (compiled)", |b| {
        b.iter(|| {
            // A fresh engine has nothing cached: this is a reload of a module never seen.
            let runtime = Runtime::new(config.runtime.clone()).expect("engine");
            rt.block_on(server::build_state(&config, &runtime, 2, None))
                .expect("state")
        });
    });
    let runtime = Runtime::new(config.runtime.clone()).expect("engine");
    rt.block_on(server::build_state(&config, &runtime, 1, None))
        .expect("state");
    group.bench_function("unchanged-plugin (cache hit)", |b| {
        b.iter(|| {
            rt.block_on(server::build_state(&config, &runtime, 2, None))
                .expect("state")
        });
    });
    group.finish();
}

/// Request latency percentiles over `count` sequential requests, with a reload every
/// `reload_every` (or none).
async fn latencies(
    count: usize,
    reload_every: Option<Duration>,
) -> (Duration, Duration, Duration, u64) {
    let backend = Backend::start("bench").await;
    let running = server::start(config(&backend.addr().to_string()))
        .await
        .expect("weir starts");
    let addr = running.addrs()[0].1;
    let control = running.control().clone();
    let reloads = reload_every.map(|every| {
        let control = control.clone();
        let config = config(&backend.addr().to_string());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let _ = control.reload(config.clone()).await;
            }
        })
    });
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let uri: http::Uri = format!("http://{addr}/old/x").parse().expect("uri");
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let res = client.get(uri.clone()).await.expect("response");
        res.into_body().collect().await.expect("body");
        samples.push(started.elapsed());
    }
    if let Some(task) = reloads {
        task.abort();
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    (
        at(0.5),
        at(0.99),
        samples[samples.len() - 1],
        control.stats().applied,
    )
}

#[allow(clippy::print_stdout, reason = "the bench reports its table on stdout")]
fn latency_during_reloads() {
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    println!("\nrequest latency, 5000 sequential requests (p50 / p99 / max):");
    for (name, every) in [
        ("no reloads", None),
        ("a reload every 20 ms", Some(Duration::from_millis(20))),
    ] {
        let (p50, p99, max, reloads) = rt.block_on(latencies(5000, every));
        println!("  {name:<22} {p50:>10.1?} {p99:>10.1?} {max:>10.1?}   ({reloads} reloads)");
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    swap_costs(&mut criterion);
    criterion.final_summary();
    latency_during_reloads();
}
