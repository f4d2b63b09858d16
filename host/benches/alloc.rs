//! Heap allocations per request through a real weir: weir started in-process from a TOML config,
//! a raw loopback backend and a raw keep-alive client that allocate nothing per request, and a
//! counting global allocator around the system one. Nearly every allocation counted is weir's
//! (hyper, the upstream client, the filter chain, wasmtime's host side); the plugins' own
//! allocations live in their linear memory and are not counted.
//!
//! ```sh
//! cargo bench -p weir --bench alloc                              # every scenario
//! cargo bench -p weir --bench alloc -- cookies demo              # some scenarios
//! cargo bench -p weir --bench alloc -- --attribute chain-of-3    # where the allocations happen
//! cargo bench -p weir --bench alloc -- --idle 5000               # heap held by idle connections
//! ```
//!
//! Options: `--requests N` (counted, default 20000; 2000 with `--attribute`), `--warmup N`
//! (default 2000), `--workers N` (weir's `[server] workers`, per-core, and the bench
//! runtime's tokio workers; default 1), `--sample-every N` (with
//! `--attribute`: capture the backtrace of one allocation in N, default 97), `--idle N` (instead
//! of counting requests: open N keep-alive connections to weir without filters, one request
//! each, and report the heap they keep while idle; client and weir share this process, so N is
//! at most half the open-file limit). Each scenario is also bounded in time
//! (`MAX_SECS`). Results and their reading are in `docs/benchmarks.md`.

#![allow(clippy::print_stdout, reason = "a bench reports its results on stdout")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use weir_tests::guests;
use weir_tests::raw::{RawClient, start_fixed_backend};

/// Every scenario, in the order of the load bench (`host/benches/load/run.sh`).
const SCENARIOS: [&str; 8] = [
    "none",
    "url-rewrite",
    "headers",
    "cookies",
    "router",
    "deny",
    "chain-of-3",
    "demo",
];

/// The request the load bench sends (wrk adds nothing else).
const REQUEST: &[u8] = b"GET /old/page HTTP/1.1\r\nHost: app.test\r\nCookie: session=abc; tracking=xyz\r\nx-user: alice\r\n\r\n";

/// Bound on one scenario's measured phase (warm-up and counted requests).
const MAX_SECS: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// The counting allocator.

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
/// Bytes allocated and not yet freed.
static LIVE: AtomicI64 = AtomicI64::new(0);
/// With `--attribute`: capture one allocation's backtrace in this many (0: off).
static SAMPLE_EVERY: AtomicU64 = AtomicU64::new(0);
static SAMPLES: Mutex<Vec<Backtrace>> = Mutex::new(Vec::new());

thread_local! {
    /// Set while this thread captures a sample: the capture's own allocations are neither
    /// counted nor sampled (no reentrancy). A const-initialised `Cell` needs no allocation and
    /// no destructor, so the allocator may touch it.
    static IN_SAMPLE: Cell<bool> = const { Cell::new(false) };
}

struct Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

fn record(bytes: usize, counter: &AtomicU64) {
    if IN_SAMPLE.try_with(Cell::get).unwrap_or(true) {
        return;
    }
    let n = counter.fetch_add(1, Relaxed);
    BYTES.fetch_add(bytes as u64, Relaxed);
    let every = SAMPLE_EVERY.load(Relaxed);
    // Scrambled, not `n % every`: a request's allocations repeat with a fixed period, which a
    // fixed sampling stride would alias with.
    if every != 0 && splitmix64(n).is_multiple_of(every) {
        sample();
    }
}

/// SplitMix64's output function: a bijective scramble of the allocation counter.
fn splitmix64(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Captures the current backtrace (unresolved: symbols are looked up after the run).
fn sample() {
    if IN_SAMPLE.try_with(|s| s.replace(true)).unwrap_or(true) {
        return;
    }
    let trace = Backtrace::force_capture();
    // `try_lock`: never wait in the allocator; a sample lost to contention is harmless.
    if let Ok(mut samples) = SAMPLES.try_lock() {
        samples.push(trace);
    }
    let _ = IN_SAMPLE.try_with(|s| s.set(false));
}

#[allow(
    unsafe_code,
    reason = "counting allocations needs a GlobalAlloc, an unsafe trait; this bench is the only user"
)]
// SAFETY: every method forwards its arguments unchanged to `System`, so the pointers and layouts
// keep `System`'s guarantees. The counting touches only atomics and a const thread-local; the
// sampling path allocates, but under `IN_SAMPLE`, which makes the nested calls skip `record`.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Relaxed);
        record(layout.size(), &ALLOCS);
        // SAFETY: the caller's contract for `alloc` is passed on to `System` unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Relaxed);
        record(layout.size(), &ALLOCS);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Relaxed);
        // SAFETY: `ptr` came from `System` (every allocation goes through it) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Relaxed);
        record(new_size.saturating_sub(layout.size()), &REALLOCS);
        // SAFETY: `ptr` came from `System` with `layout`; the caller guarantees `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[derive(Clone, Copy)]
struct Counts {
    allocs: u64,
    reallocs: u64,
    bytes: u64,
}

fn counts() -> Counts {
    Counts {
        allocs: ALLOCS.load(Relaxed),
        reallocs: REALLOCS.load(Relaxed),
        bytes: BYTES.load(Relaxed),
    }
}

// ---------------------------------------------------------------------------------------------
// Command line.

struct Options {
    scenarios: Vec<String>,
    requests: u64,
    warmup: u64,
    workers: usize,
    attribute: bool,
    sample_every: u64,
    idle: u64,
}

fn options() -> Options {
    let mut opts = Options {
        scenarios: Vec::new(),
        requests: 0,
        warmup: 2_000,
        workers: 1,
        attribute: false,
        sample_every: 97,
        idle: 0,
    };
    let mut args = std::env::args().skip(1);
    let number = |v: Option<String>, flag: &str| -> u64 {
        v.and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{flag} needs a number"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            "--attribute" => opts.attribute = true,
            "--requests" => opts.requests = number(args.next(), "--requests"),
            "--warmup" => opts.warmup = number(args.next(), "--warmup"),
            "--workers" => opts.workers = number(args.next(), "--workers") as usize,
            "--idle" => opts.idle = number(args.next(), "--idle"),
            "--sample-every" => opts.sample_every = number(args.next(), "--sample-every").max(1),
            s if SCENARIOS.contains(&s) => opts.scenarios.push(s.to_owned()),
            other => panic!(
                "unknown argument `{other}`; scenarios: {}",
                SCENARIOS.join(" ")
            ),
        }
    }
    if opts.scenarios.is_empty() {
        opts.scenarios = SCENARIOS.iter().map(|s| (*s).to_owned()).collect();
    }
    if opts.requests == 0 {
        opts.requests = if opts.attribute { 2_000 } else { 20_000 };
    }
    opts
}

fn main() {
    let opts = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.workers.max(1))
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(&opts));
}

async fn run(opts: &Options) {
    let main_pool =
        start_fixed_backend(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nmain\n").await;
    let beta_pool =
        start_fixed_backend(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nbeta\n").await;
    if opts.idle > 0 {
        let running =
            weir::server::start(scenario_config("none", main_pool, beta_pool, opts.workers))
                .await
                .expect("weir starts");
        let addr = running.addrs()[0].1;
        let (held, bytes) = tokio::task::spawn_blocking({
            let n = opts.idle;
            move || hold_idle(addr, n)
        })
        .await
        .expect("the idle client ran");
        println!(
            "{held} idle keep-alive connections, one request each: weir's heap grew by {:.1} MiB, {:.0} bytes per connection",
            bytes as f64 / (1 << 20) as f64,
            bytes as f64 / held as f64
        );
        return;
    }
    if !opts.attribute {
        println!(
            "{} requests counted per scenario after {} warm-up requests, one keep-alive connection, {} tokio worker(s)\n",
            opts.requests, opts.warmup, opts.workers
        );
        println!("| scenario | allocations/request | reallocations/request | bytes/request |");
        println!("|---|---:|---:|---:|");
    }
    for scenario in &opts.scenarios {
        let config = scenario_config(scenario, main_pool, beta_pool, opts.workers);
        let running = weir::server::start(config).await.expect("weir starts");
        let addr = running
            .addr_of(weir::demo::REVERSE_LISTENER)
            .unwrap_or_else(|| running.addrs()[0].1);
        let deadline = Instant::now() + MAX_SECS;
        let measured = tokio::time::timeout(MAX_SECS, measure(addr, opts, deadline))
            .await
            .unwrap_or_else(|_| panic!("{scenario}: no answer within {MAX_SECS:?}"));
        let (n, before, after) = measured;
        if opts.attribute {
            report_sites(scenario, n, opts.sample_every, &before, &after);
        } else {
            let per = |a: u64, b: u64| (b - a) as f64 / n as f64;
            println!(
                "| {scenario} | {:.1} | {:.1} | {:.0} |",
                per(before.allocs, after.allocs),
                per(before.reallocs, after.reallocs),
                per(before.bytes, after.bytes),
            );
        }
        running.shutdown().await;
    }
}

/// Sends `REQUEST` and reads the whole response; panics on anything but a 200.
async fn request(client: &mut RawClient) {
    let status = client.request(REQUEST).await.expect("request to weir");
    assert_eq!(status, 200, "weir answered {status}");
}

/// Warms up, then counts allocations over `opts.requests` requests (fewer if `deadline` passes).
/// Returns the requests counted and the counters before and after.
async fn measure(addr: SocketAddr, opts: &Options, deadline: Instant) -> (u64, Counts, Counts) {
    let mut client = RawClient::connect(addr, MAX_SECS)
        .await
        .expect("connect to weir");
    for _ in 0..opts.warmup {
        request(&mut client).await;
    }
    if opts.attribute {
        SAMPLE_EVERY.store(opts.sample_every, Relaxed);
    }
    let before = counts();
    let mut n = 0;
    while n < opts.requests && Instant::now() < deadline {
        request(&mut client).await;
        n += 1;
    }
    let after = counts();
    SAMPLE_EVERY.store(0, Relaxed);
    // Closed before shutdown, so that weir does not wait for an idle connection to drain.
    drop(client);
    (n.max(1), before, after)
}

/// Opens `n` connections to `addr` with blocking std sockets (which allocate nothing), one
/// request each, and returns how many were opened and how much the heap grew while they stay
/// open (measured after a pause, so that finished work has been freed).
fn hold_idle(addr: SocketAddr, n: u64) -> (u64, i64) {
    use std::io::{Read, Write};
    let mut held = Vec::with_capacity(n as usize);
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + MAX_SECS;
    std::thread::sleep(Duration::from_millis(200));
    let before = LIVE.load(Relaxed);
    while (held.len() as u64) < n && Instant::now() < deadline {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect to weir");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        stream.write_all(REQUEST).expect("write request");
        let mut filled = 0;
        while !buf[..filled].ends_with(b"main\n") && !buf[..filled].ends_with(b"beta\n") {
            match stream.read(&mut buf[filled..]) {
                Ok(0) | Err(_) => panic!("weir did not answer connection {}", held.len()),
                Ok(k) => filled += k,
            }
        }
        held.push(stream);
    }
    std::thread::sleep(Duration::from_secs(1));
    let after = LIVE.load(Relaxed);
    (held.len().max(1) as u64, after - before)
}

// ---------------------------------------------------------------------------------------------
// weir's configs.

fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("weir-alloc-bench-cache")
}

/// The load bench's configs (`host/benches/load/run.sh`), with the plugins built by `weir-tests`;
/// `demo` is `weir demo`'s embedded config with its five-filter route.
fn scenario_config(
    scenario: &str,
    main: SocketAddr,
    beta: SocketAddr,
    workers: usize,
) -> weir::config::Config {
    let mut config = scenario_config_of(scenario, main, beta);
    config.scheduling.workers = std::num::NonZeroUsize::new(workers.max(1));
    config
}

/// The config of `scenario`, with weir's default scheduling.
fn scenario_config_of(scenario: &str, main: SocketAddr, beta: SocketAddr) -> weir::config::Config {
    if scenario == "demo" {
        let plugins = Path::new(guests::DENY)
            .parent()
            .expect("a plugin has a folder");
        let mut config = weir::demo::demo_config("127.0.0.1:0", "127.0.0.1:0", main, beta, plugins)
            .expect("the demo config is valid");
        config.runtime.cache_dir = Some(cache_dir());
        return config;
    }
    let chain = match scenario {
        "none" => "",
        "url-rewrite" => r#""rewrite""#,
        "headers" => r#""headers""#,
        "cookies" => r#""cookies""#,
        "router" => r#""router""#,
        "deny" => r#""deny""#,
        "chain-of-3" => r#""rewrite", "headers", "cookies""#,
        other => panic!("unknown scenario {other}"),
    };
    let toml = format!(
        r#"
[runtime]
cache_dir = {cache:?}
[[listener]]
bind = "127.0.0.1:0"
[[pool]]
name = "main"
backends = ["{main}"]
[[pool]]
name = "beta"
backends = ["{beta}"]
[[filter]]
name = "rewrite"
plugin = {rewrite:?}
config = {{ rules = [ {{ match = "^/old/(.*)$", replace = "/new/$1" }} ] }}
[[filter]]
name = "headers"
plugin = {headers:?}
config = {{ request = {{ set = {{ "x-request-id" = "{{request_id}}", "x-client-ip" = "{{client_ip}}" }} }} }}
[[filter]]
name = "cookies"
plugin = {cookies:?}
config = {{ request = {{ strip = ["tracking"] }} }}
[[filter]]
name = "router"
plugin = {router:?}
config = {{ routes = [ {{ header = {{ name = "x-user", value = "alice" }}, pool = "beta" }} ] }}
[[filter]]
name = "deny"
plugin = {deny:?}
config = {{ block_path_prefixes = ["/admin"], block_patterns = ["(?i)casino"] }}
[[route]]
pool = "main"
filters = [{chain}]
"#,
        cache = cache_dir().display().to_string(),
        rewrite = guests::URL_REWRITE,
        headers = guests::HEADERS,
        cookies = guests::COOKIES,
        router = guests::ROUTER,
        deny = guests::DENY,
    );
    weir::config::parse(&toml, "alloc-bench.toml", Path::new("/")).expect("the config is valid")
}

// ---------------------------------------------------------------------------------------------
// Attribution: which code the sampled allocations came from.

/// Frames that say nothing about who allocated: the allocator, std's collections and
/// formatting, the bench itself (crate `alloc`, like std's).
const PLUMBING: [&str; 8] = [
    "alloc::",
    "core::",
    "std::",
    "__rust",
    "__rdl",
    "hashbrown::",
    "rust_",
    "_start",
];

fn is_plumbing(frame: &str) -> bool {
    // `<Type as Trait>::f`: judged by `Type`, so a weir type's derived `Clone` is kept.
    let subject = frame
        .strip_prefix('<')
        .map_or(frame, |s| s.split_once(" as ").map_or(s, |(ty, _)| ty));
    let subject = subject.trim_start_matches(['&', '[', '(']);
    !subject.contains("::") || PLUMBING.iter().any(|p| subject.starts_with(p))
}

/// Function names of a captured backtrace, innermost first.
fn frames(trace: &Backtrace) -> Vec<String> {
    trace
        .to_string()
        .lines()
        .filter_map(|line| {
            let (index, name) = line.trim_start().split_once(": ")?;
            index.parse::<u32>().ok()?;
            Some(name.trim().to_owned())
        })
        .collect()
}

/// Prints two tables: allocations per request by call site (the first three frames outside the
/// plumbing, and the innermost weir frame), and by innermost weir function alone.
fn report_sites(scenario: &str, requests: u64, every: u64, before: &Counts, after: &Counts) {
    let samples = std::mem::take(&mut *SAMPLES.lock().expect("samples lock"));
    let total = (after.allocs - before.allocs + after.reallocs - before.reallocs) as f64;
    let mut sites: HashMap<String, u64> = HashMap::new();
    let mut owners: HashMap<String, u64> = HashMap::new();
    for trace in &samples {
        let frames = frames(trace);
        let kept: Vec<&str> = frames
            .iter()
            .map(String::as_str)
            .filter(|f| !is_plumbing(f))
            .collect();
        let weir = kept
            .iter()
            .find(|f| f.starts_with("weir::") || f.starts_with("<weir::"));
        let mut site = kept.iter().take(3).copied().collect::<Vec<_>>().join(" ← ");
        if let Some(weir) = weir.filter(|w| !kept.iter().take(3).any(|k| k == *w)) {
            site = format!("{site} ← … ← {weir}");
        }
        *sites.entry(site).or_default() += 1;
        // Without a weir frame (hyper's upstream connection task, tokio), the outermost frame
        // below the runtime names the task.
        let owner = match weir {
            Some(weir) => (*weir).to_owned(),
            None => format!(
                "(no weir frame) {}",
                kept.iter()
                    .rev()
                    .find(|f| !f.starts_with("tokio::") && !f.starts_with("<tokio::"))
                    .unwrap_or(&"?")
            ),
        };
        *owners.entry(owner).or_default() += 1;
    }
    let per_request = |count: u64| (count * every) as f64 / requests as f64;
    println!(
        "\n### {scenario}: {:.1} allocations and reallocations per request ({} samples, 1 in {every}, over {requests} requests)\n",
        total / requests as f64,
        samples.len()
    );
    for (title, map, limit) in [
        ("innermost weir function", &owners, 20),
        ("call site (first frames outside std)", &sites, 40),
    ] {
        let mut rows: Vec<_> = map.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        println!("| ≈ per request | {title} |\n|---:|---|");
        for (name, count) in rows.into_iter().take(limit) {
            println!("| {:.1} | `{name}` |", per_request(*count));
        }
        println!();
    }
}
