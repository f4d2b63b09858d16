//! The command line: `weir run`, `weir check`, `weir demo`, `weir test`, `weir new` and `weir dev`.

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
    /// Write the access log (one record per request and per tunnel, with the decision trace)
    /// to this file, or to stdout with `-`, instead of stderr (target `weir::access`);
    /// `SIGUSR1` reopens the file after rotation.
    #[arg(long, global = true, value_name = "FILE")]
    pub access_log: Option<PathBuf>,
    /// The access log's format with `--access-log`: `json` (JSON lines, every field and the
    /// decision trace) or `combined` (the Apache/nginx combined log format).
    #[arg(long, global = true, value_enum, default_value_t = AccessLogFormat::Json)]
    pub access_log_format: AccessLogFormat,
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

/// How access records are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AccessLogFormat {
    /// JSON lines.
    Json,
    /// The combined log format.
    Combined,
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
    /// Develop a plugin: build it (`cargo build --release --target wasm32-wasip2`), run weir
    /// with the crate's `weir.dev.toml`, and rebuild on every change to `src/` or `Cargo.toml`;
    /// weir reloads the new build by itself (a failed build or reload keeps the old one).
    Dev(DevArgs),
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
    /// A plugin crate: this weir's SDK (copied under `vendor/`), a filter, native unit tests,
    /// a cases file, a `weir dev` config and a README; it builds and passes `weir test` as
    /// created, with no weir source checkout.
    Plugin {
        /// Crate name, e.g. `my-filter`.
        name: String,
        /// What the filter does to begin with: `request` (adds a request header), `response`
        /// (edits response headers only) or `router` (chooses a backend pool).
        #[arg(long, value_enum, default_value_t = PluginTemplate::Request)]
        template: PluginTemplate,
        /// Directory to create it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Depend on a weir checkout's `sdk/` directory instead of a vendored copy.
        #[arg(long, conflicts_with = "sdk_version")]
        sdk_path: Option<PathBuf>,
        /// Depend on a published SDK version from the registry instead, e.g. `0.1`.
        #[arg(long)]
        sdk_version: Option<String>,
    },
}

/// The templates of `weir new plugin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PluginTemplate {
    /// Edits requests: adds a header to requests under a path prefix.
    Request,
    /// Edits responses only: sets and removes response headers.
    Response,
    /// Chooses the backend pool of each request (path prefix, cookie affinity).
    Router,
}

/// `weir dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// The plugin crate (made by `weir new plugin`).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// weir's config, relative to `--dir`; its filters name the crate's `.wasm`.
    #[arg(long, short, default_value = "weir.dev.toml")]
    pub config: PathBuf,
    /// How often to look for changes under `src/` and `Cargo.toml`, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub poll_ms: u64,
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
    /// Case files (TOML) to run after the battery. They are read first: when one cannot be
    /// used, nothing runs.
    pub cases: Vec<PathBuf>,
    /// Config handed to `init`, as JSON. Default: the first case file's `config`, else `{}`.
    /// A case file's own `config` replaces it for that file's cases.
    #[arg(long, conflicts_with = "config_file")]
    pub config: Option<String>,
    /// Read the config from a file instead.
    #[arg(long)]
    pub config_file: Option<PathBuf>,
    /// Pool names that exist; selecting another one fails the check. Default: any pool.
    #[arg(long, value_delimiter = ',')]
    pub pools: Option<Vec<String>>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
    /// Deadline per hook call, in milliseconds (the proxy's `deadline_ms`).
    #[arg(long, default_value_t = 50)]
    pub deadline_ms: u64,
    /// Memory cap per instance, in bytes (the proxy's `memory_limit_bytes`).
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    pub memory_limit_bytes: usize,
    /// Edits one hook call may make (the filter's `max_edits_per_call` in the proxy).
    #[arg(long, default_value_t = limit_default(|l| l.max_edits_per_call.into()),
          value_parser = clap::value_parser!(u64).range(1..=crate::config::MAX_EDITS))]
    pub max_edits_per_call: u64,
    /// Header bytes one hook call may add (the filter's `max_header_bytes_per_call`).
    #[arg(long, default_value_t = limit_default(|l| l.max_header_bytes_per_call as u64),
          value_parser = clap::value_parser!(u64).range(1..=crate::config::MAX_HEADER_BYTES))]
    pub max_header_bytes_per_call: u64,
    /// Header fields a message may reach through edits, and a local response may carry (the
    /// filter's `max_header_count`).
    #[arg(long, default_value_t = limit_default(|l| l.max_header_count as u64),
          value_parser = clap::value_parser!(u64).range(1..=crate::config::MAX_HEADER_COUNT))]
    pub max_header_count: u64,
    /// Largest body of a local response (the filter's `max_local_response_body_bytes`).
    #[arg(long, default_value_t = limit_default(|l| l.max_local_response_body_bytes as u64),
          value_parser = clap::value_parser!(u64).range(1..=crate::config::MAX_LOCAL_BODY))]
    pub max_local_response_body_bytes: u64,
}

impl TestArgs {
    /// The per-call budgets the options give (each within the config's range).
    pub fn limits(&self) -> crate::runtime::PluginLimits {
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        crate::runtime::PluginLimits {
            max_edits_per_call: u32::try_from(self.max_edits_per_call).unwrap_or(u32::MAX),
            max_header_bytes_per_call: size(self.max_header_bytes_per_call),
            max_header_count: size(self.max_header_count),
            max_local_response_body_bytes: size(self.max_local_response_body_bytes),
        }
    }
}

/// One of the proxy's default budgets, as the option's default.
fn limit_default(pick: fn(&crate::runtime::PluginLimits) -> u64) -> u64 {
    pick(&crate::config::default_plugin_limits())
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
    /// Quick TCP mode: let routers connect to a `host:port` they name, not only to pools
    /// (public addresses only; a config file's `allow_networks` opens private ones).
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
