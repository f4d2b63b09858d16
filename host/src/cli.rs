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
    /// Log filter (tracing syntax, e.g. `info`, `weir=debug,weir::access=info`). Default:
    /// `info`, or `off` for `weir test` (its report carries the plugin's messages).
    /// `RUST_LOG` overrides it.
    #[arg(long, global = true)]
    pub log: Option<String>,
    /// Log line format: `text` (colours only when stderr is a terminal and `NO_COLOR` is not
    /// set) or `json` (one object per line, for log collectors).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Write the access log (target `weir::access`: one line per request and per tunnel) to
    /// this file as JSON lines instead of stderr; `SIGUSR1` reopens it after rotation.
    #[arg(long, global = true, value_name = "FILE")]
    pub access_log: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
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
    /// Start a demo: two small origin servers, weir running the example plugins in front of
    /// them and a forward proxy with a web filter, with curl lines to try.
    Demo(DemoArgs),
    /// Test a plugin without a proxy or a network: the standard conformance battery, then the
    /// cases in each CASES file. Exit code 0 only when every check passed.
    Test(TestArgs),
    /// Create a new project from a template.
    New {
        /// What to create.
        #[command(subcommand)]
        what: NewCommand,
    },
}

/// `weir new`.
#[derive(Debug, Subcommand)]
pub enum NewCommand {
    /// A plugin crate: SDK dependency, a filter with one rule, a native unit test, a cases
    /// file and a README; it builds and passes `weir test` as created.
    Plugin {
        /// Crate name, e.g. `my-filter`.
        name: String,
        /// Directory to create it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Path of weir's `sdk/` directory (default: the source tree this weir was built from).
        #[arg(long, conflicts_with = "sdk_version")]
        sdk_path: Option<PathBuf>,
        /// Use the published SDK from crates.io instead, e.g. `0.1`.
        #[arg(long)]
        sdk_version: Option<String>,
    },
}

/// Output formats of `weir test`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum OutputFormat {
    /// One line per check, for people.
    Human,
    /// JSON.
    Json,
    /// JUnit XML.
    Junit,
    /// TAP version 13.
    Tap,
}

/// `weir test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The plugin component (`.wasm`).
    pub plugin: PathBuf,
    /// Case files (TOML) to run after the battery.
    pub cases: Vec<PathBuf>,
    /// Config handed to `init`, as JSON (default `{}`). A case file's own `config` overrides it
    /// for that file's cases.
    #[arg(long, conflicts_with = "config_file")]
    pub config: Option<String>,
    /// Read the config from a file instead.
    #[arg(long)]
    pub config_file: Option<PathBuf>,
    /// Pool names that exist; selecting another one fails the check.
    #[arg(long, value_delimiter = ',')]
    pub pools: Option<Vec<String>>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
    /// Deadline per hook call, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub deadline_ms: u64,
    /// Memory cap per instance, in bytes.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    pub memory_limit_bytes: usize,
}

/// `weir run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Config file (TOML). Exclusive with quick mode.
    #[arg(long, short, conflicts_with_all = ["listen", "upstream", "filter", "forward", "tls_cert", "tls_key", "tcp_listen"])]
    pub config: Option<PathBuf>,
    /// Quick mode: address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long)]
    pub listen: Option<String>,
    /// Quick mode: upstream backend, e.g. http://127.0.0.1:9000 or https://10.0.0.5.
    #[arg(long, requires = "listen", conflicts_with = "forward")]
    pub upstream: Option<String>,
    /// Quick mode: a forward proxy (clients use it with `curl -x`, `https_proxy=…`): the
    /// filters see every request and CONNECT; origins are reached directly.
    #[arg(long, requires = "listen")]
    pub forward: bool,
    /// Quick mode: the listener speaks HTTPS with this PEM certificate chain.
    #[arg(long, requires_all = ["listen", "tls_key"], value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Quick mode: the PEM private key of `--tls-cert`.
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Quick mode: a filter plugin, optionally with its config as JSON (`PATH=JSON`).
    /// Repeatable; filters run in the order given.
    #[arg(long, value_name = "PATH[=JSON]")]
    pub filter: Vec<String>,
    /// Quick TCP mode: address of a `mode = "tcp"` listener whose connections the `--router`
    /// plugins route (stream-router world), e.g. 127.0.0.1:7000.
    #[arg(long, conflicts_with_all = ["listen", "upstream", "filter", "forward", "tls_cert"], requires = "router")]
    pub tcp_listen: Option<String>,
    /// Quick TCP mode: a stream-router plugin, optionally with its config as JSON
    /// (`PATH=JSON`). Repeatable; routers are asked in the order given.
    #[arg(long, value_name = "PATH[=JSON]", requires = "tcp_listen")]
    pub router: Vec<String>,
    /// Quick TCP mode: let routers connect to any `host:port` they name, not only to pools.
    #[arg(long, requires = "tcp_listen")]
    pub allow_address_targets: bool,
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
    /// Address of the reverse proxy in front of the demo origins.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Address of the forward proxy (`curl -x`).
    #[arg(long, default_value = "127.0.0.1:3128")]
    pub proxy_listen: String,
}
