//! Configuration: the TOML file ([`file`](mod@file)) validated into types that cannot be wrong.
//!
//! Every error names the file, the line and the key path (`route[2].pool`) and says what is
//! allowed. Quick mode (`weir run --listen … --upstream … --filter …`) builds the same types.
//! This module may use the types of lower modules (runtime, filters, upstream, proxy, server
//! settings) but none of them may use it.

mod defaults;
pub mod file;
mod limits;
mod listener;
mod pool;
mod quick;

pub use quick::{QuickMode, QuickTcp, quick, quick_tcp};

use std::collections::HashSet;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use crate::filters::{Failure, FailurePolicy};
use crate::proxy::ForwardPolicy;
use crate::proxy::HostMatch;
use crate::runtime::{EncodedSeparators, EngineSettings, FilterSettings, Isolation, PluginLimits};
use crate::upstream::{OriginSettings, PoolSettings};

/// The highest value of each per-call budget (`weir test` takes the same ranges as the config).
pub(crate) use limits::{MAX_EDITS, MAX_HEADER_BYTES, MAX_HEADER_COUNT, MAX_LOCAL_BODY};

/// A validated config.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where it came from: a file path or "command line".
    pub origin: String,
    /// The config file, when there is one (watched and re-read on reload).
    pub path: Option<PathBuf>,
    /// Wasm runtime settings (not reloadable).
    pub runtime: EngineSettings,
    /// Grace period for in-flight requests on shutdown.
    pub shutdown_grace: Duration,
    /// Admin endpoint address, if any.
    pub admin: Option<AdminConfig>,
    /// File watching for reloads, if on (only used with a config file).
    pub watch: Option<WatchSettings>,
    /// What an encoded `/`, a backslash or an encoded control character in a request path
    /// does (`[server] path_encoded_separators`).
    pub path_encoded_separators: EncodedSeparators,
    /// How connections are scheduled on threads (`[server] scheduler` and `workers`; not
    /// reloadable).
    pub scheduling: Scheduling,
    /// Listeners.
    pub listeners: Vec<ListenerConfig>,
    /// Upstream pools.
    pub pools: Vec<PoolConfig>,
    /// Filters.
    pub filters: Vec<FilterConfig>,
    /// Routes, in file order.
    pub routes: Vec<RouteConfig>,
}

/// How often files are checked, and how long they must be quiet before a reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchSettings {
    /// Poll interval.
    pub interval: Duration,
    /// Quiet period after the last change.
    pub debounce: Duration,
}

/// How many worker threads `[server] workers` may ask for.
pub const MAX_WORKERS: u32 = 1024;

/// How connections are scheduled on threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheduler {
    /// One single-threaded runtime per worker thread, each with its own `SO_REUSEPORT`
    /// socket per listener.
    PerCore,
    /// One multi-threaded runtime whose workers steal tasks from each other (tokio's default),
    /// one socket per listener.
    WorkStealing,
}

/// `[server] scheduler` and `workers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scheduling {
    /// The scheduler.
    pub scheduler: Scheduler,
    /// Worker threads; `None`: one per core the process may run on.
    pub workers: Option<NonZeroUsize>,
}

impl Scheduling {
    /// The number of worker threads: as configured, else one per core this process may run
    /// on (its CPU affinity and cgroup quota count, as `std::thread::available_parallelism`
    /// reads them).
    pub fn threads(&self) -> NonZeroUsize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN))
    }
}

/// How a listener speaks HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 and HTTP/2 with prior knowledge (h2c), detected per connection.
    Auto,
    /// HTTP/1.x only.
    Http1,
    /// HTTP/2 with prior knowledge only.
    H2c,
}

/// A validated `[[listener]]`.
#[derive(Clone, Debug)]
pub struct ListenerConfig {
    /// Name for logs.
    pub name: String,
    /// Bind address.
    pub bind: SocketAddr,
    /// Protocol.
    pub protocol: Protocol,
    /// Time allowed for a request head.
    pub header_timeout: Duration,
    /// Connection limit.
    pub max_connections: u32,
    /// What one client and one request may take.
    pub limits: ListenerLimits,
    /// Reverse proxy or forward proxy.
    pub mode: ListenerMode,
    /// TLS, when the listener speaks HTTPS (certificates already loaded and checked).
    pub tls: Option<crate::tls::ListenerTls>,
}

/// A validated `[admin]`.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// Address of the admin endpoint.
    pub bind: SocketAddr,
    /// The bearer token requests must carry (read from `token_file`), if any.
    pub token: Option<Arc<str>>,
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself.
        f.debug_struct("AdminConfig")
            .field("bind", &self.bind)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// A listener's bounds on its clients: sizes answered with 4xx, and timeouts that close the
/// connections of clients that stall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Concurrent connections from one client address (none: no limit).
    pub max_connections_per_client: Option<u32>,
    /// Largest request head, in bytes (431).
    pub max_header_bytes: usize,
    /// Most header fields in a request head (431).
    pub max_header_count: usize,
    /// Longest request target, in bytes (414).
    pub max_uri_bytes: usize,
    /// Longest method token, in bytes (400).
    pub max_method_bytes: usize,
    /// Largest request body (413), unless the route sets its own.
    pub max_body_bytes: Option<u64>,
    /// A connection that sends no byte for this long after it opened (or after its TLS
    /// handshake) is closed.
    pub first_byte_timeout: Duration,
    /// A write the client does not take within this long closes the connection.
    pub send_timeout: Duration,
    /// A connection with no request in flight and none begun for this long (after its first
    /// request) is closed.
    pub keep_alive_timeout: Duration,
    /// Concurrent HTTP/2 streams per connection.
    pub h2_max_concurrent_streams: u32,
    /// When set, every connection starts with a PROXY header, accepted only from these
    /// networks.
    pub proxy_protocol_from: Option<Vec<crate::upstream::IpNet>>,
    /// Proxies whose forwarding fields are believed (empty: none).
    pub trusted_proxies: Arc<[crate::upstream::IpNet]>,
}

/// What a listener is for.
#[derive(Clone, Debug)]
pub enum ListenerMode {
    /// Requests are matched to routes and sent to pools.
    Reverse,
    /// A proxy that clients are configured to use: absolute-form requests and CONNECT.
    Forward(ForwardConfig),
    /// TCP connections routed by stream-router plugins, then spliced.
    Tcp(TcpConfig),
}

/// A validated `[listener.tcp]`: exactly what the TCP data path runs with.
pub type TcpConfig = crate::stream::TcpSettings;

/// A validated `[listener.forward]`.
#[derive(Clone, Debug)]
pub struct ForwardConfig {
    /// Filter names in chain order (each exists in `filters`).
    pub filters: Vec<Arc<str>>,
    /// CONNECT and target policy.
    pub policy: ForwardPolicy,
    /// How origins are reached.
    pub origin: OriginSettings,
}

/// A validated `[[pool]]`: exactly what the upstream pool is built from.
pub type PoolConfig = PoolSettings;

/// A validated `[[filter]]`.
#[derive(Clone, Debug)]
pub struct FilterConfig {
    /// The component file (resolved against the config file's directory).
    pub plugin: PathBuf,
    /// What a fault does to the request, and when the filter is taken out of service.
    pub failure: Failure,
    /// Runtime settings, including the name and the JSON config for `init`.
    pub settings: FilterSettings,
}

/// A validated `[[route]]`.
#[derive(Clone, Debug)]
pub struct RouteConfig {
    /// Name for logs.
    pub name: String,
    /// Host to match, if any.
    pub host: Option<HostMatch>,
    /// Path prefix to match.
    pub path_prefix: String,
    /// Filter names in chain order (each exists in `filters`).
    pub filters: Vec<Arc<str>>,
    /// Default pool (exists in `pools`).
    pub pool: Arc<str>,
    /// Largest request body on this route (none: the listener's limit).
    pub max_body_bytes: Option<u64>,
}

/// A config error, naming where it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read config")]
    Read {
        /// Path.
        file: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax or type error.
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        /// Path.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A value is not allowed.
    #[error("{location}: `{key}`: {message}")]
    Invalid {
        /// `file:line`, or the file alone when the value came from a default.
        location: String,
        /// Key path, e.g. `route[2].pool`.
        key: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: file.clone(),
        source,
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut config = parse(&text, &file, &base)?;
    config.path = Some(path.to_path_buf());
    Ok(config)
}

/// Parses and validates config text; relative plugin paths resolve against `base`.
pub fn parse(text: &str, file: &str, base: &Path) -> Result<Config, ConfigError> {
    let raw: file::ConfigFile = toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|span| line_col(text, span.start))
            .unwrap_or((1, 1));
        ConfigError::Parse {
            file: file.to_owned(),
            line,
            column,
            message: e.message().to_owned(),
        }
    })?;
    Validator { text, file, base }.config(raw)
}

struct Validator<'a> {
    text: &'a str,
    file: &'a str,
    base: &'a Path,
}

impl Validator<'_> {
    fn invalid<T>(
        &self,
        span: std::ops::Range<usize>,
        key: String,
        message: impl Into<String>,
    ) -> Result<T, ConfigError> {
        let location = if span.is_empty() || self.text.is_empty() {
            self.file.to_owned()
        } else {
            format!("{}:{}", self.file, line_col(self.text, span.start).0)
        };
        Err(ConfigError::Invalid {
            location,
            key,
            message: message.into(),
        })
    }

    fn config(&self, raw: file::ConfigFile) -> Result<Config, ConfigError> {
        let runtime = self.runtime(&raw.runtime)?;
        if raw.listener.is_empty() {
            return self.invalid(
                0..0,
                "listener".into(),
                "at least one [[listener]] is required",
            );
        }
        let listeners = raw
            .listener
            .iter()
            .enumerate()
            .map(|(i, l)| self.listener(i, l))
            .collect::<Result<Vec<_>, _>>()?;
        let pools = raw
            .pool
            .iter()
            .enumerate()
            .map(|(i, p)| self.pool(i, p))
            .collect::<Result<Vec<_>, _>>()?;
        self.unique(raw.pool.iter().map(|p| &p.name), "pool")?;
        self.unique_listener_names(&listeners)?;
        let filters = raw
            .filter
            .iter()
            .enumerate()
            .map(|(i, f)| self.filter(i, f, &runtime))
            .collect::<Result<Vec<_>, _>>()?;
        self.unique(raw.filter.iter().map(|f| &f.name), "filter")?;
        for (i, listener) in raw.listener.iter().enumerate() {
            if let Some(forward) = &listener.forward {
                self.filter_names(
                    &forward.get_ref().filters,
                    &filters,
                    &format!("listener[{i}].forward.filters"),
                )?;
            }
            if let Some(tcp) = &listener.tcp {
                self.filter_names(
                    tcp.get_ref().routers.get_ref(),
                    &filters,
                    &format!("listener[{i}].tcp.routers"),
                )?;
            }
        }
        let reverse = listeners
            .iter()
            .any(|l| matches!(l.mode, ListenerMode::Reverse));
        if raw.route.is_empty() && reverse {
            return self.invalid(
                0..0,
                "route".into(),
                "at least one [[route]] is required (a reverse-proxy listener needs one)",
            );
        }
        let routes = raw
            .route
            .iter()
            .enumerate()
            .map(|(i, r)| self.route(i, r, &pools, &filters))
            .collect::<Result<Vec<_>, _>>()?;
        let admin = match &raw.admin {
            None => None,
            Some(admin) => Some(self.admin(admin)?),
        };
        Ok(Config {
            origin: self.file.to_owned(),
            path: None,
            runtime,
            shutdown_grace: Duration::from_millis(raw.server.shutdown_grace_ms),
            admin,
            watch: raw.server.watch.then(|| WatchSettings {
                interval: Duration::from_millis(raw.server.watch_interval_ms.max(10)),
                debounce: Duration::from_millis(raw.server.watch_debounce_ms),
            }),
            path_encoded_separators: self.path_encoded_separators(&raw.server)?,
            scheduling: self.scheduling(&raw.server)?,
            listeners,
            pools,
            filters,
            routes,
        })
    }

    fn path_encoded_separators(
        &self,
        raw: &file::Server,
    ) -> Result<EncodedSeparators, ConfigError> {
        let setting = &raw.path_encoded_separators;
        match setting.get_ref().as_str() {
            "reject" => Ok(EncodedSeparators::Reject),
            "keep" => Ok(EncodedSeparators::Keep),
            other => self.invalid(
                setting.span(),
                "server.path_encoded_separators".into(),
                format!("`{other}` is not reject or keep"),
            ),
        }
    }

    fn scheduling(&self, raw: &file::Server) -> Result<Scheduling, ConfigError> {
        let scheduler = match raw.scheduler.get_ref().as_str() {
            "per-core" => Scheduler::PerCore,
            "work-stealing" => Scheduler::WorkStealing,
            other => {
                return self.invalid(
                    raw.scheduler.span(),
                    "server.scheduler".into(),
                    format!("`{other}` is not per-core or work-stealing"),
                );
            }
        };
        let workers = *raw.workers.get_ref();
        if workers > MAX_WORKERS {
            return self.invalid(
                raw.workers.span(),
                "server.workers".into(),
                format!("must be 0 (one per core) to {MAX_WORKERS}"),
            );
        }
        Ok(Scheduling {
            scheduler,
            workers: NonZeroUsize::new(workers as usize),
        })
    }

    fn runtime(&self, raw: &file::Runtime) -> Result<EngineSettings, ConfigError> {
        if raw.max_instances == 0 {
            return self.invalid(0..0, "runtime.max_instances".into(), "must be at least 1");
        }
        if !(1..=1000).contains(&raw.epoch_tick_ms) {
            return self.invalid(0..0, "runtime.epoch_tick_ms".into(), "must be 1 to 1000");
        }
        let Ok(max_memory_bytes) = usize::try_from(raw.max_memory_bytes) else {
            return self.invalid(
                0..0,
                "runtime.max_memory_bytes".into(),
                "too large for this machine",
            );
        };
        if max_memory_bytes < 1 << 20 || raw.max_memory_bytes > 4 << 30 {
            return self.invalid(
                0..0,
                "runtime.max_memory_bytes".into(),
                "must be 1 MiB to 4 GiB",
            );
        }
        Ok(EngineSettings {
            max_instances: raw.max_instances,
            max_memory_bytes,
            epoch_tick: Duration::from_millis(raw.epoch_tick_ms),
            cache_dir: raw.cache_dir.as_ref().map(|d| self.base.join(d)),
        })
    }

    fn filter(
        &self,
        i: usize,
        raw: &file::Filter,
        runtime: &EngineSettings,
    ) -> Result<FilterConfig, ConfigError> {
        let key = |k: &str| format!("filter[{i}].{k}");
        self.name(&raw.name, key("name"))?;
        let plugin = self.base.join(raw.plugin.get_ref());
        if !plugin.is_file() {
            return self.invalid(
                raw.plugin.span(),
                key("plugin"),
                format!("no plugin file at {}", plugin.display()),
            );
        }
        let failure = match raw.failure.get_ref().as_str() {
            "fail-closed" => FailurePolicy::FailClosed,
            "fail-open" => FailurePolicy::FailOpen,
            other => {
                return self.invalid(
                    raw.failure.span(),
                    key("failure"),
                    format!("`{other}` is not fail-closed or fail-open"),
                );
            }
        };
        let isolation = match raw.isolation.get_ref().as_str() {
            "pooled" => Isolation::Pooled,
            "per-request" => Isolation::PerRequest,
            "reset" => Isolation::Reset,
            other => {
                return self.invalid(
                    raw.isolation.span(),
                    key("isolation"),
                    format!("`{other}` is not pooled, reset or per-request"),
                );
            }
        };
        let memory = *raw.memory_limit_bytes.get_ref();
        let max = runtime.max_memory_bytes as u64;
        if memory < 1 << 20 || memory > max {
            return self.invalid(
                raw.memory_limit_bytes.span(),
                key("memory_limit_bytes"),
                format!("must be between 1 MiB and runtime.max_memory_bytes ({max})"),
            );
        }
        self.positive(
            &key,
            &[
                ("deadline_ms", raw.deadline_ms),
                ("init_deadline_ms", raw.init_deadline_ms),
                ("recycle_after_calls", raw.recycle_after_calls),
            ],
        )?;
        let limits = self.plugin_limits(i, raw)?;
        let config_json = match (&raw.config, &raw.config_json) {
            (Some(_), Some(json)) => {
                return self.invalid(
                    json.span(),
                    key("config_json"),
                    "set either `config` or `config_json`, not both",
                );
            }
            (Some(value), None) => {
                serde_json::to_string(value).map_err(|e| ConfigError::Invalid {
                    location: self.file.to_owned(),
                    key: key("config"),
                    message: format!("cannot be expressed as JSON: {e}"),
                })?
            }
            (None, Some(json)) => {
                if let Err(e) = serde_json::from_str::<serde_json::Value>(json.get_ref()) {
                    return self.invalid(
                        json.span(),
                        key("config_json"),
                        format!("is not JSON: {e}"),
                    );
                }
                json.get_ref().clone()
            }
            (None, None) => "{}".to_owned(),
        };
        let breaker = self.breaker(i, raw)?;
        Ok(FilterConfig {
            plugin,
            failure: Failure {
                policy: failure,
                breaker,
            },
            settings: FilterSettings {
                name: Arc::from(raw.name.get_ref().as_str()),
                config_json,
                deadline: Duration::from_millis(raw.deadline_ms),
                init_deadline: Duration::from_millis(raw.init_deadline_ms),
                memory_limit_bytes: usize::try_from(memory).unwrap_or(usize::MAX),
                isolation,
                recycle_after_calls: raw.recycle_after_calls,
                max_idle_instances: raw.max_idle_instances,
                limits,
            },
        })
    }

    fn route(
        &self,
        i: usize,
        raw: &file::Route,
        pools: &[PoolConfig],
        filters: &[FilterConfig],
    ) -> Result<RouteConfig, ConfigError> {
        let key = |k: &str| format!("route[{i}].{k}");
        if !pools.iter().any(|p| *p.name == **raw.pool.get_ref()) {
            let known: Vec<&str> = pools.iter().map(|p| &*p.name).collect();
            return self.invalid(
                raw.pool.span(),
                key("pool"),
                format!(
                    "no pool named `{}` (pools: {})",
                    raw.pool.get_ref(),
                    known.join(", ")
                ),
            );
        }
        let chain = self.filter_names(&raw.filters, filters, &key("filters"))?;
        let prefix = raw.path_prefix.get_ref();
        if !prefix.starts_with('/') {
            return self.invalid(
                raw.path_prefix.span(),
                key("path_prefix"),
                "must start with `/`",
            );
        }
        // Request paths are normalised before matching, so a prefix in any other spelling
        // would never match. `keep` accepts every spelling either setting can produce.
        match weir_rules::path::normalise(prefix, EncodedSeparators::Keep) {
            Ok(std::borrow::Cow::Borrowed(_)) => {}
            Ok(std::borrow::Cow::Owned(normal)) => {
                return self.invalid(
                    raw.path_prefix.span(),
                    key("path_prefix"),
                    format!(
                        "`{prefix}` is not a normalised path (request paths are normalised \
                         before matching): write `{normal}`"
                    ),
                );
            }
            Err(error) => {
                return self.invalid(
                    raw.path_prefix.span(),
                    key("path_prefix"),
                    error.to_string(),
                );
            }
        }
        let host = match &raw.host {
            None => None,
            Some(host) => Some(HostMatch::parse(host.get_ref()).ok_or(()).or_else(|()| {
                self.invalid(
                    host.span(),
                    key("host"),
                    "must be a host name or `*.suffix`",
                )
            })?),
        };
        Ok(RouteConfig {
            name: raw.name.clone().unwrap_or_else(|| format!("route[{i}]")),
            host,
            path_prefix: prefix.clone(),
            filters: chain,
            pool: Arc::from(raw.pool.get_ref().as_str()),
            max_body_bytes: (raw.max_body_bytes > 0).then_some(raw.max_body_bytes),
        })
    }

    /// Checks that every name in a chain is a configured filter; returns the chain.
    fn filter_names(
        &self,
        names: &[Spanned<String>],
        filters: &[FilterConfig],
        key: &str,
    ) -> Result<Vec<Arc<str>>, ConfigError> {
        let mut chain = Vec::with_capacity(names.len());
        for (j, name) in names.iter().enumerate() {
            if !filters.iter().any(|f| *f.settings.name == **name.get_ref()) {
                return self.invalid(
                    name.span(),
                    format!("{key}[{j}]"),
                    format!("no filter named `{}`", name.get_ref()),
                );
            }
            chain.push(Arc::from(name.get_ref().as_str()));
        }
        Ok(chain)
    }

    /// Refuses zero for each named quantity. These keys are plain numbers without spans, so the
    /// error names the key path and the file.
    fn admin(&self, raw: &file::Admin) -> Result<AdminConfig, ConfigError> {
        let Ok(bind) = raw.bind.get_ref().parse::<SocketAddr>() else {
            return self.invalid(
                raw.bind.span(),
                "admin.bind".into(),
                format!("`{}` is not an IP:port address", raw.bind.get_ref()),
            );
        };
        let token = match &raw.token_file {
            None => None,
            Some(file) => {
                let path = self.base.join(file.get_ref());
                let token = match std::fs::read_to_string(&path) {
                    Ok(text) => text.trim().to_owned(),
                    Err(e) => {
                        return self.invalid(
                            file.span(),
                            "admin.token_file".into(),
                            format!("cannot read {}: {e}", path.display()),
                        );
                    }
                };
                if token.len() < 16 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return self.invalid(
                        file.span(),
                        "admin.token_file".into(),
                        format!(
                            "{} must hold one token of at least 16 characters without spaces",
                            path.display()
                        ),
                    );
                }
                Some(Arc::from(token))
            }
        };
        Ok(AdminConfig { bind, token })
    }

    fn positive(
        &self,
        key: &dyn Fn(&str) -> String,
        values: &[(&str, u64)],
    ) -> Result<(), ConfigError> {
        match values.iter().find(|(_, value)| *value == 0) {
            Some((name, _)) => self.invalid(0..0, key(name), "must be positive"),
            None => Ok(()),
        }
    }

    fn name(&self, name: &Spanned<String>, key: String) -> Result<(), ConfigError> {
        let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        let n = name.get_ref();
        if (1..=64).contains(&n.len()) && n.chars().all(legal) {
            Ok(())
        } else {
            self.invalid(
                name.span(),
                key,
                format!("`{n}` is not a name (1-64 of A-Z a-z 0-9 . _ -)"),
            )
        }
    }

    fn unique<'n>(
        &self,
        names: impl Iterator<Item = &'n Spanned<String>>,
        table: &str,
    ) -> Result<(), ConfigError> {
        let mut seen = HashSet::new();
        for (i, name) in names.enumerate() {
            if !seen.insert(name.get_ref().as_str()) {
                return self.invalid(
                    name.span(),
                    format!("{table}[{i}].name"),
                    format!("duplicate {table} name `{}`", name.get_ref()),
                );
            }
        }
        Ok(())
    }
}

/// The per-call budgets of a `[[filter]]` that sets none (for `weir test` and tests that load
/// plugins without a config file).
pub fn default_plugin_limits() -> PluginLimits {
    let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    PluginLimits {
        max_edits_per_call: u32::try_from(defaults::max_edits_per_call()).unwrap_or(u32::MAX),
        max_header_bytes_per_call: size(defaults::max_header_bytes_per_call()),
        max_header_count: size(defaults::max_header_count()),
        max_local_response_body_bytes: size(defaults::max_local_response_body_bytes()),
    }
}

/// A table with every key at its default, as if the file wrote it with only `text`.
fn table_defaults<T: serde::de::DeserializeOwned>(text: &str, key: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Invalid {
        location: "defaults".into(),
        key: key.into(),
        message: e.message().to_owned(),
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

#[cfg(test)]
mod tests;
