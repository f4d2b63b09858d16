//! The command line: `weir run`, `weir check` and `weir demo`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// weir — an HTTP proxy programmed by sandboxed WebAssembly filter plugins.
///
/// Filters are wasm components (world `weir:filter/http-filter@0.1.0`) that rewrite URLs, edit
/// headers and cookies, choose backends, or answer locally (deny, redirect). Build them with
/// `cargo build --release --target wasm32-wasip2`; see docs/plugin-guide.md.
#[derive(Debug, Parser)]
#[command(name = "weir", version, about, long_about)]
pub struct Cli {
    /// Log filter (tracing syntax, e.g. `info`, `weir=debug,weir::access=info`).
    /// `RUST_LOG` overrides it.
    #[arg(long, global = true, default_value = "info")]
    pub log: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy, from a config file or in quick mode.
    ///
    /// Quick mode: `weir run --listen 127.0.0.1:8080 --upstream http://127.0.0.1:9000
    /// --filter rewrite.wasm='{"rules":[...]}' --filter headers.wasm`
    /// builds one listener, one pool and one route running every filter in the order given.
    Run(RunArgs),
    /// Validate a config file and load every plugin it names (init included), then exit:
    /// 0 when everything loads, 1 otherwise.
    Check {
        /// Config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Start a demo: a small origin server plus weir running the example plugins in front of
    /// it, with curl lines to try.
    Demo(DemoArgs),
}

/// `weir run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Config file (TOML). Exclusive with quick mode.
    #[arg(long, short, conflicts_with_all = ["listen", "upstream", "filter"])]
    pub config: Option<PathBuf>,
    /// Quick mode: address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long, requires = "upstream")]
    pub listen: Option<String>,
    /// Quick mode: upstream backend, e.g. http://127.0.0.1:9000.
    #[arg(long, requires = "listen")]
    pub upstream: Option<String>,
    /// Quick mode: a filter plugin, optionally with its config as JSON (`PATH=JSON`).
    /// Repeatable; filters run in the order given.
    #[arg(long, value_name = "PATH[=JSON]")]
    pub filter: Vec<String>,
    /// Quick mode: directory for compiled plugins (speeds up the next start).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
}

/// `weir demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory holding the built example plugins (`weir_plugin_*.wasm`).
    #[arg(long, default_value = "target/wasm32-wasip2/release")]
    pub plugins_dir: PathBuf,
    /// Address weir listens on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
}
