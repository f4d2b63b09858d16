//! Quick mode: the command line's `--listen … --upstream …|--forward --filter …` and
//! `--tcp-listen … --router …` built into the same raw config types a file gives, then
//! validated like a file (errors name `command line`).

use std::path::{Path, PathBuf};

use toml::Spanned;

use super::{Config, ConfigError, Validator, defaults, file, table_defaults};

/// Options of quick mode, as given on the command line.
#[derive(Clone, Debug)]
pub struct QuickMode {
    /// `--listen`.
    pub listen: String,
    /// `--upstream`; `None` makes a forward proxy (`--forward`).
    pub upstream: Option<String>,
    /// `--filter PATH[=JSON]`, in chain order.
    pub filters: Vec<String>,
    /// `--cache-dir`.
    pub cache_dir: Option<PathBuf>,
    /// `--tls-cert` and `--tls-key`.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// Builds the config quick mode describes: one listener, and either one pool and one route with
/// every filter (reverse proxy) or a forward proxy running every filter.
pub fn quick(mode: &QuickMode) -> Result<Config, ConfigError> {
    let unset = |s: &str| Spanned::new(0..0, s.to_owned());
    let mut raw = file::ConfigFile::default();
    raw.runtime.cache_dir = mode.cache_dir.clone();
    let tls = mode
        .tls
        .as_ref()
        .map(|(cert, key)| -> Result<_, ConfigError> {
            let mut tls: file::ListenerTls = table_defaults("certificates = []", "listener.tls")?;
            tls.certificates.push(Spanned::new(
                0..0,
                file::Certificate {
                    cert: cert.clone(),
                    key: key.clone(),
                    server_names: None,
                },
            ));
            Ok(Spanned::new(0..0, tls))
        });
    let tls = tls.transpose()?;
    let mut listener = quick_listener(
        &mode.listen,
        if mode.upstream.is_some() {
            "reverse"
        } else {
            "forward"
        },
    );
    listener.tls = tls;
    raw.listener.push(listener);
    if let Some(upstream) = &mode.upstream {
        raw.pool.push(file::Pool {
            name: unset("default"),
            backends: vec![Spanned::new(0..0, file::Backend::Addr(upstream.clone()))],
            balance: unset("round-robin"),
            hash_key: None,
            connect_timeout_ms: defaults::connect_timeout_ms(),
            response_timeout_ms: defaults::response_timeout_ms(),
            idle_timeout_ms: defaults::pool_idle_timeout_ms(),
            max_idle_per_backend: defaults::max_idle_per_backend(),
            eject_after_connect_errors: defaults::eject_after_connect_errors(),
            eject_after_failures: defaults::eject_after_failures(),
            eject_base_ms: Spanned::new(0..0, defaults::eject_base_ms()),
            eject_max_ms: Spanned::new(0..0, defaults::eject_max_ms()),
            max_ejected_percent: Spanned::new(0..0, defaults::max_ejected_percent()),
            max_connections_per_backend: Spanned::new(
                0..0,
                defaults::max_connections_per_backend(),
            ),
            max_streams_per_backend: Spanned::new(0..0, defaults::max_streams_per_backend()),
            queue_size: defaults::queue_size(),
            queue_timeout_ms: Spanned::new(0..0, defaults::queue_timeout_ms()),
            max_retries: defaults::max_retries(),
            retry_on: Spanned::new(0..0, defaults::retry_on()),
            retry_on_status: Spanned::new(0..0, Vec::new()),
            retry_budget_percent: Spanned::new(0..0, defaults::retry_budget_percent()),
            retry_budget_min_per_sec: defaults::retry_budget_min_per_sec(),
            retry_body_max_bytes: defaults::retry_body_max_bytes(),
            body_idle_timeout_ms: defaults::body_idle_timeout_ms(),
            request_timeout_ms: 0,
            protocol: unset("auto"),
            upgrade_idle_timeout_ms: defaults::upgrade_idle_timeout_ms(),
            tls_ca_file: None,
            tls_client_cert: None,
            tls_client_key: None,
            tls_server_name: None,
            danger_accept_invalid_upstream_certs: false,
            health_check: None,
        });
    }
    let names = quick_filters(&mut raw, &mode.filters);
    if mode.upstream.is_some() {
        raw.route.push(file::Route {
            name: Some("quick".into()),
            host: None,
            path_prefix: unset("/"),
            filters: names,
            pool: unset("default"),
            max_body_bytes: 0,
        });
    } else if let Some(listener) = raw.listener.first_mut() {
        let mut forward: file::Forward = table_defaults("", "listener.forward")?;
        forward.filters = names;
        listener.forward = Some(Spanned::new(0..0, forward));
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    Validator {
        text: "",
        file: "command line",
        base: &cwd,
    }
    .config(raw)
}

/// Options of quick TCP mode (`weir run --tcp-listen … --router …`).
#[derive(Clone, Debug)]
pub struct QuickTcp {
    /// `--tcp-listen`.
    pub listen: String,
    /// `--router PATH[=JSON]`, in chain order.
    pub routers: Vec<String>,
    /// `--allow-address-targets`.
    pub allow_address_targets: bool,
    /// `--cache-dir`.
    pub cache_dir: Option<PathBuf>,
}

/// Builds the config quick TCP mode describes: one `mode = "tcp"` listener running every
/// router.
pub fn quick_tcp(mode: &QuickTcp) -> Result<Config, ConfigError> {
    let mut raw = file::ConfigFile::default();
    raw.runtime.cache_dir = mode.cache_dir.clone();
    let routers = quick_filters(&mut raw, &mode.routers);
    let mut tcp: file::Tcp = table_defaults("routers = []", "listener.tcp")?;
    tcp.routers = Spanned::new(0..0, routers);
    tcp.allow_address_targets = mode.allow_address_targets;
    let mut listener = quick_listener(&mode.listen, "tcp");
    listener.tcp = Some(Spanned::new(0..0, tcp));
    raw.listener.push(listener);
    let cwd = std::env::current_dir().unwrap_or_default();
    Validator {
        text: "",
        file: "command line",
        base: &cwd,
    }
    .config(raw)
}

fn quick_listener(bind: &str, mode: &str) -> file::Listener {
    let unset = |s: &str| Spanned::new(0..0, s.to_owned());
    file::Listener {
        name: Some("quick".into()),
        bind: unset(bind),
        protocol: unset("auto"),
        header_timeout_ms: defaults::header_timeout_ms(),
        max_connections: defaults::max_connections(),
        max_connections_per_client: 0,
        max_header_bytes: Spanned::new(0..0, defaults::max_header_bytes()),
        max_header_count: Spanned::new(0..0, defaults::listener_max_header_count()),
        max_uri_bytes: Spanned::new(0..0, defaults::max_uri_bytes()),
        max_method_bytes: Spanned::new(0..0, defaults::max_method_bytes()),
        max_body_bytes: 0,
        first_byte_timeout_ms: Spanned::new(0..0, defaults::first_byte_timeout_ms()),
        send_timeout_ms: Spanned::new(0..0, defaults::send_timeout_ms()),
        keep_alive_timeout_ms: Spanned::new(0..0, defaults::keep_alive_timeout_ms()),
        h2_max_concurrent_streams: Spanned::new(0..0, defaults::h2_max_concurrent_streams()),
        proxy_protocol: false,
        proxy_protocol_from: Spanned::new(0..0, Vec::new()),
        trusted_proxies: Spanned::new(0..0, Vec::new()),
        mode: unset(mode),
        tls: None,
        forward: None,
        tcp: None,
    }
}

/// Adds a `[[filter]]` for each `PATH[=JSON]` spec, named `N-stem`; returns the names.
fn quick_filters(raw: &mut file::ConfigFile, specs: &[String]) -> Vec<Spanned<String>> {
    let unset = |s: &str| Spanned::new(0..0, s.to_owned());
    let mut names = Vec::new();
    let first = raw.filter.len();
    for (i, spec) in specs.iter().enumerate() {
        let i = first + i;
        let (path, json) = match spec.split_once('=') {
            Some((path, json)) => (path, Some(json)),
            None => (spec.as_str(), None),
        };
        let stem = Path::new(path)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "filter".into());
        let name = format!("{i}-{stem}");
        names.push(unset(&name));
        raw.filter.push(file::Filter {
            name: unset(&name),
            plugin: Spanned::new(0..0, PathBuf::from(path)),
            config: None,
            config_json: json.map(unset),
            failure: unset("fail-closed"),
            isolation: unset("pooled"),
            deadline_ms: defaults::deadline_ms(),
            init_deadline_ms: defaults::init_deadline_ms(),
            memory_limit_bytes: Spanned::new(0..0, defaults::memory_limit_bytes()),
            recycle_after_calls: defaults::recycle_after_calls(),
            max_idle_instances: defaults::max_idle_instances(),
            max_edits_per_call: Spanned::new(0..0, defaults::max_edits_per_call()),
            max_header_bytes_per_call: Spanned::new(0..0, defaults::max_header_bytes_per_call()),
            max_header_count: Spanned::new(0..0, defaults::max_header_count()),
            max_local_response_body_bytes: Spanned::new(
                0..0,
                defaults::max_local_response_body_bytes(),
            ),
            breaker_after_faults: defaults::breaker_after_faults(),
            breaker_backoff_ms: Spanned::new(0..0, defaults::breaker_backoff_ms()),
            breaker_max_backoff_ms: Spanned::new(0..0, defaults::breaker_max_backoff_ms()),
        });
    }
    names
}
