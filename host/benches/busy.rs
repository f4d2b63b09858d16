//! Whether a hook call that runs to its deadline stalls other connections: weir in-process on ONE
//! tokio worker with two routes, `/boom` behind the `misbehave` test guest in `loop` mode (it
//! spins until weir's 50 ms deadline stops it) and `/` without filters. A client on its own
//! thread sends N sequential requests to `/` and reports p50, p99 and max latency, first alone,
//! then while K other clients (on a third thread) send requests to `/boom` back to back.
//!
//! ```sh
//! cargo bench -p weir --bench busy                          # 500 requests, 0 then 4 loopers
//! cargo bench -p weir --bench busy -- --requests 1000 --loopers 2
//! cargo bench -p weir --bench busy -- --event-interval 1     # tokio polls I/O every task
//! ```
//!
//! By default weir runs `scheduler = "work-stealing"` with one worker, on a runtime the bench
//! builds: `--event-interval N` sets tokio's `event_interval` on it (default 61): how many tasks
//! a worker runs between two polls of the I/O driver while tasks are runnable. `--per-core`
//! runs weir's default scheduler instead, `scheduler = "per-core"` with `workers = 1`: one
//! single-threaded worker of weir's own (tokio's default `event_interval` too).
//!
//! The backend runs on its own thread too, so only weir shares the worker with the hook calls.
//! Every phase is bounded in count and in time (`MAX_SECS`). Results and their reading are in
//! `docs/benchmarks.md`.

#![allow(clippy::print_stdout, reason = "a bench reports its results on stdout")]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use weir_tests::guests;
use weir_tests::raw::{RawClient, start_fixed_backend};

/// Bound on one phase (warm-up and measured requests).
const MAX_SECS: Duration = Duration::from_secs(60);

const PLAIN: &[u8] = b"GET /page HTTP/1.1\r\nHost: app.test\r\n\r\n";
const BOOM: &[u8] = b"GET /boom HTTP/1.1\r\nHost: app.test\r\n\r\n";

fn main() {
    let mut requests = 500usize;
    let mut loopers = 4usize;
    let mut event_interval = None;
    let mut per_core = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |flag: &str| -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{flag} needs a number"))
        };
        match arg.as_str() {
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            "--requests" => requests = number("--requests").max(1),
            "--loopers" => loopers = number("--loopers"),
            "--event-interval" => event_interval = Some(number("--event-interval") as u32),
            "--per-core" => per_core = true,
            other => panic!("unknown argument `{other}`"),
        }
    }

    let backend = on_own_thread(
        "backend",
        start_fixed_backend(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n"),
    );
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(1).enable_all();
    if let Some(n) = event_interval {
        builder.event_interval(n.max(1));
    }
    let weir_rt = builder.build().expect("weir's runtime");
    let running = weir_rt
        .block_on(weir::server::start(config(backend, per_core)))
        .expect("weir starts");
    let addr = running.addrs()[0].1;

    println!(
        "{requests} sequential requests to a route without filters, weir on 1 worker ({}, \
         event_interval {}); loopers send requests to a route whose filter loops until its 50 ms \
         deadline\n",
        if per_core {
            "per-core"
        } else {
            "work-stealing"
        },
        event_interval.map_or_else(|| "61, tokio's default".to_owned(), |n| n.to_string())
    );
    println!("| loopers | requests timed | p50 | p99 | max | looper requests answered |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for k in [0, loopers] {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let hammer = (k > 0).then(|| {
            let (stop, answered) = (stop.clone(), answered.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("loopers' runtime");
                rt.block_on(async {
                    let tasks: Vec<_> = (0..k)
                        .map(|_| tokio::spawn(loop_boom(addr, stop.clone(), answered.clone())))
                        .collect();
                    for task in tasks {
                        let _ = task.await;
                    }
                });
            })
        });
        let mut latencies = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("client's runtime");
            rt.block_on(measure(addr, requests, k > 0))
        })
        .join()
        .expect("the client ran");
        stop.store(true, Relaxed);
        if let Some(hammer) = hammer {
            hammer.join().expect("the loopers ran");
        }
        latencies.sort_unstable();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
        println!(
            "| {k} | {} | {} | {} | {} | {} |",
            latencies.len(),
            ms(at(0.50)),
            ms(at(0.99)),
            ms(at(1.0)),
            answered.load(Relaxed)
        );
    }
    weir_rt.block_on(running.shutdown());
}

/// Runs `fut` (which returns once it is serving) on a current-thread runtime of its own thread,
/// kept alive for the rest of the process.
fn on_own_thread<F>(name: &str, fut: F) -> SocketAddr
where
    F: std::future::Future<Output = SocketAddr> + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                tx.send(fut.await).expect("report the address");
                std::future::pending::<()>().await;
            });
        })
        .expect("spawn thread");
    rx.recv_timeout(MAX_SECS).expect("the thread started")
}

/// Two routes: `/boom` through the looping guest (fail-closed, so each answer is a 5xx after the
/// deadline), everything else without filters. The breaker is turned off where the config has
/// one (it came with the hook-call rewrite), so that every `/boom` request runs to the deadline.
fn config(backend: SocketAddr, per_core: bool) -> weir::config::Config {
    let scheduler = if per_core {
        "per-core"
    } else {
        "work-stealing"
    };
    let with = |breaker: &str| {
        format!(
            r#"
[server]
scheduler = "{scheduler}"
workers = 1
[[listener]]
bind = "127.0.0.1:0"
[[pool]]
name = "main"
backends = ["{backend}"]
[[filter]]
name = "loop"
plugin = {plugin:?}
config_json = '{{"fault":"loop","when":"request","path":"/boom"}}'
deadline_ms = 50
{breaker}
[[route]]
path_prefix = "/boom"
pool = "main"
filters = ["loop"]
[[route]]
pool = "main"
"#,
            plugin = guests::MISBEHAVE,
        )
    };
    weir::config::parse(
        &with("breaker_after_faults = 0"),
        "busy.toml",
        Path::new("/"),
    )
    .or_else(|_| weir::config::parse(&with(""), "busy.toml", Path::new("/")))
    .expect("the config is valid")
}

/// Sends `n` requests to `/` one after another on one keep-alive connection (after a short
/// warm-up) and returns each one's latency; fewer if `MAX_SECS` passes first.
async fn measure(addr: SocketAddr, n: usize, busy: bool) -> Vec<Duration> {
    let deadline = Instant::now() + MAX_SECS;
    let mut conn = RawClient::connect(addr, MAX_SECS)
        .await
        .expect("connect to weir");
    for _ in 0..50 {
        conn.request(PLAIN).await.expect("warm-up request");
    }
    if busy {
        // Let the loopers get their first requests in.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut latencies = Vec::with_capacity(n);
    while latencies.len() < n && Instant::now() < deadline {
        let start = Instant::now();
        let status = conn.request(PLAIN).await.expect("request to weir");
        assert_eq!(status, 200, "a plain request was not answered 200");
        latencies.push(start.elapsed());
    }
    latencies
}

/// Sends requests to `/boom` back to back until `stop`, reconnecting when weir closes.
async fn loop_boom(addr: SocketAddr, stop: Arc<AtomicBool>, answered: Arc<AtomicU64>) {
    let deadline = Instant::now() + MAX_SECS;
    while !stop.load(Relaxed) && Instant::now() < deadline {
        let Ok(mut conn) = RawClient::connect(addr, MAX_SECS).await else {
            return;
        };
        while !stop.load(Relaxed) && Instant::now() < deadline {
            match conn.request(BOOM).await {
                Ok(_) => {
                    answered.fetch_add(1, Relaxed);
                }
                Err(_) => break,
            }
        }
    }
}
