//! What the TOML config file says, before validation. Every table denies unknown keys, so a
//! typo is an error rather than a silently ignored default.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::defaults;

/// The whole config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Process-wide wasm runtime settings.
    #[serde(default)]
    pub runtime: Runtime,
    /// `[server]` settings.
    #[serde(default)]
    pub server: Server,
    /// `[admin]`: the local admin endpoint. Default: none.
    #[serde(default)]
    pub admin: Option<Admin>,
    /// `[[listener]]` tables.
    #[serde(default)]
    pub listener: Vec<Listener>,
    /// `[[pool]]` tables.
    #[serde(default)]
    pub pool: Vec<Pool>,
    /// `[[filter]]` tables.
    #[serde(default)]
    pub filter: Vec<Filter>,
    /// `[[route]]` tables.
    #[serde(default)]
    pub route: Vec<Route>,
}

/// `[runtime]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// Most plugin instances alive at once. Default: 256.
    #[serde(default = "defaults::max_instances")]
    pub max_instances: u32,
    /// Ceiling for any filter's `memory_limit_bytes`. Default: 64 MiB.
    #[serde(default = "defaults::max_memory_bytes")]
    pub max_memory_bytes: u64,
    /// Epoch tick, in milliseconds. Default: 1.
    #[serde(default = "defaults::epoch_tick_ms")]
    pub epoch_tick_ms: u64,
    /// Compiled-component cache directory. Default: none (memory only).
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
}

impl Default for Runtime {
    fn default() -> Self {
        Self {
            max_instances: defaults::max_instances(),
            max_memory_bytes: defaults::max_memory_bytes(),
            epoch_tick_ms: defaults::epoch_tick_ms(),
            cache_dir: None,
        }
    }
}

/// `[server]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// How long a graceful shutdown waits for requests in flight. Default: 10000.
    #[serde(default = "defaults::shutdown_grace_ms")]
    pub shutdown_grace_ms: u64,
    /// Reload when the config file or a plugin file changes. Default: true.
    #[serde(default = "defaults::watch")]
    pub watch: bool,
    /// How often watched files are checked, in ms. Default: 500.
    #[serde(default = "defaults::watch_interval_ms")]
    pub watch_interval_ms: u64,
    /// Quiet time after the last change before reloading, in ms. Default: 1000.
    #[serde(default = "defaults::watch_debounce_ms")]
    pub watch_debounce_ms: u64,
    /// What an encoded `/`, a backslash or an encoded control character in a request path
    /// does: `reject` (400) or `keep` (left encoded). Default: reject.
    #[serde(default = "spanned_default::path_encoded_separators")]
    pub path_encoded_separators: Spanned<String>,
    /// How requests are scheduled on threads: `per-core` (one single-threaded runtime per
    /// worker, each accepting on its own `SO_REUSEPORT` socket) or `work-stealing` (one
    /// runtime whose workers share every connection). Default: per-core.
    #[serde(default = "spanned_default::scheduler")]
    pub scheduler: Spanned<String>,
    /// Worker threads serving connections; 0: one per core weir may run on. Default: 0.
    #[serde(default = "spanned_default::workers")]
    pub workers: Spanned<u32>,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            shutdown_grace_ms: defaults::shutdown_grace_ms(),
            watch: defaults::watch(),
            watch_interval_ms: defaults::watch_interval_ms(),
            watch_debounce_ms: defaults::watch_debounce_ms(),
            path_encoded_separators: spanned_default::path_encoded_separators(),
            scheduler: spanned_default::scheduler(),
            workers: spanned_default::workers(),
        }
    }
}

/// `[admin]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// Address of the admin endpoint; keep it on loopback.
    pub bind: Spanned<String>,
    /// A file holding the bearer token every admin request but `/health` and `/ready` must
    /// carry. Default: none (no authentication).
    #[serde(default)]
    pub token_file: Option<Spanned<PathBuf>>,
}

/// One `[[listener]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// Name used in logs. Default: the bind address.
    #[serde(default)]
    pub name: Option<String>,
    /// Address to bind, e.g. "0.0.0.0:8080".
    pub bind: Spanned<String>,
    /// `auto` (HTTP/1.1 and h2c prior knowledge), `http1` or `h2c`. Default: auto.
    #[serde(default = "spanned_default::protocol")]
    pub protocol: Spanned<String>,
    /// Time allowed to receive a request head, in ms. Default: 10000.
    #[serde(default = "defaults::header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// Concurrent connections accepted at most. Default: 10000.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: u32,
    /// Concurrent connections from one client address (0: no limit). Default: 0.
    #[serde(default)]
    pub max_connections_per_client: u32,
    /// Largest request head (request line and fields), in bytes. Default: 32768.
    #[serde(default = "spanned_default::max_header_bytes")]
    pub max_header_bytes: Spanned<u64>,
    /// Most header fields in a request head. Default: 100.
    #[serde(default = "spanned_default::listener_max_header_count")]
    pub max_header_count: Spanned<u64>,
    /// Longest request target, in bytes. Default: 8192.
    #[serde(default = "spanned_default::max_uri_bytes")]
    pub max_uri_bytes: Spanned<u64>,
    /// Longest method token, in bytes. Default: 32.
    #[serde(default = "spanned_default::max_method_bytes")]
    pub max_method_bytes: Spanned<u64>,
    /// Largest request body, in bytes (0: no limit); a route may set its own. Default: 0.
    #[serde(default)]
    pub max_body_bytes: u64,
    /// A connection that sends no byte (after its TLS handshake) is closed after this, in ms.
    /// Default: 10000.
    #[serde(default = "spanned_default::first_byte_timeout_ms")]
    pub first_byte_timeout_ms: Spanned<u64>,
    /// A write to a client that does not read is abandoned after this, in ms. Default: 60000.
    #[serde(default = "spanned_default::send_timeout_ms")]
    pub send_timeout_ms: Spanned<u64>,
    /// A connection idle between requests (HTTP/1.1 keep-alive, HTTP/2 with no stream) is
    /// closed after this, in ms. Default: 60000.
    #[serde(default = "spanned_default::keep_alive_timeout_ms")]
    pub keep_alive_timeout_ms: Spanned<u64>,
    /// Networks of proxies in front of weir whose `X-Forwarded-For` / `Forwarded` entries are
    /// believed, right to left. Default: none.
    #[serde(default = "spanned_default::trusted_proxies")]
    pub trusted_proxies: Spanned<Vec<String>>,
    /// Read a PROXY protocol header (v1 or v2) at the start of every connection. Default: false.
    #[serde(default)]
    pub proxy_protocol: bool,
    /// Networks allowed to send a PROXY header (connections from elsewhere are closed).
    /// Default: loopback only.
    #[serde(default = "spanned_default::proxy_protocol_from")]
    pub proxy_protocol_from: Spanned<Vec<String>>,
    /// Concurrent HTTP/2 streams per connection. Default: 256.
    #[serde(default = "spanned_default::h2_max_concurrent_streams")]
    pub h2_max_concurrent_streams: Spanned<u64>,
    /// `reverse` (routes and pools), `forward` (a proxy that clients are configured to use) or
    /// `tcp` (connections routed by stream-router plugins, bytes spliced). Default: reverse.
    #[serde(default = "spanned_default::mode")]
    pub mode: Spanned<String>,
    /// `[listener.tls]`: the listener speaks HTTPS. Default: none (cleartext).
    #[serde(default)]
    pub tls: Option<Spanned<ListenerTls>>,
    /// `[listener.forward]`: forward-proxy settings; only with `mode = "forward"`.
    #[serde(default)]
    pub forward: Option<Spanned<Forward>>,
    /// `[listener.tcp]`: TCP routing by stream-router plugins; only with `mode = "tcp"`.
    #[serde(default)]
    pub tcp: Option<Spanned<Tcp>>,
}

/// `[listener.tcp]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tcp {
    /// Stream-router filter names, in chain order (at least one).
    pub routers: Spanned<Vec<Spanned<String>>>,
    /// Most bytes buffered before the routers decide; a connection still undecided with a
    /// full buffer is closed. Default: 16384.
    #[serde(default = "spanned_default::max_prefix_bytes")]
    pub max_prefix_bytes: Spanned<u64>,
    /// Time from the connection's opening until the routers have decided, in ms; past it the
    /// connection is closed. Default: 10000.
    #[serde(default = "spanned_default::first_bytes_timeout_ms")]
    pub first_bytes_timeout_ms: Spanned<u64>,
    /// A routed connection with no bytes either way for this long is closed, in ms.
    /// Default: 300000.
    #[serde(default = "spanned_default::tcp_idle_timeout_ms")]
    pub idle_timeout_ms: Spanned<u64>,
    /// TCP connect timeout towards an address a router named, in ms (pools use their own).
    /// Default: 3000.
    #[serde(default = "spanned_default::tcp_connect_timeout_ms")]
    pub connect_timeout_ms: Spanned<u64>,
    /// Let routers send connections to a `host:port` they name (within `allow_networks`,
    /// `deny_networks` and `allow_ports`), not only to pools.
    /// Default: false.
    #[serde(default)]
    pub allow_address_targets: bool,
    /// Networks an address target may be in (CIDRs); the built-in reserved ranges (loopback,
    /// private, link-local, ...) are refused unless an entry inside them opens them. Default:
    /// any public address.
    #[serde(default)]
    pub allow_networks: Option<Vec<Spanned<String>>>,
    /// Networks no address target may be in (checked first). Default: none.
    #[serde(default)]
    pub deny_networks: Vec<Spanned<String>>,
    /// Ports an address target may use: numbers and `"low-high"` ranges. Default: every port.
    #[serde(default = "spanned_default::tcp_allow_ports")]
    pub allow_ports: Spanned<Vec<Spanned<PortEntry>>>,
    /// Bytes buffered per direction of a routed connection (each read moves at most this
    /// much). Default: 16384.
    #[serde(default = "spanned_default::tcp_buffer_bytes")]
    pub buffer_bytes: Spanned<u64>,
}

/// `[listener.tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTls {
    /// Certificates, chosen by SNI; the first is the default.
    pub certificates: Vec<Spanned<Certificate>>,
    /// Oldest TLS version accepted: "1.2" or "1.3". Default: 1.2.
    #[serde(default = "spanned_default::min_tls_version")]
    pub min_version: Spanned<String>,
    /// Issue stateless session tickets. Default: true.
    #[serde(default = "defaults::yes")]
    pub session_tickets: bool,
    /// Sessions kept in the server-side resumption cache (0 = none). Default: 10000.
    #[serde(default = "defaults::session_cache_size")]
    pub session_cache_size: usize,
    /// CA bundle for client certificates; setting it turns on mTLS. Default: none.
    #[serde(default)]
    pub client_ca: Option<Spanned<PathBuf>>,
    /// `required` or `optional` (verified when presented). Default: required.
    #[serde(default = "spanned_default::client_auth")]
    pub client_auth: Spanned<String>,
}

/// One certificate of `[listener.tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// PEM certificate chain, end-entity first (relative to the config file).
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Server names (SNI) this certificate answers; `*.example.com` allowed. Default: the DNS
    /// names of the certificate's subjectAltName.
    #[serde(default)]
    pub server_names: Option<Vec<String>>,
}

/// `[listener.forward]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forward {
    /// Filter names, in chain order, run on every proxied request and CONNECT.
    #[serde(default)]
    pub filters: Vec<Spanned<String>>,
    /// Ports CONNECT may reach. Default: `[443]`.
    #[serde(default = "defaults::connect_ports")]
    pub connect_ports: Vec<u16>,
    /// Ports absolute-form requests (and upgrades) may reach: numbers and `"low-high"` ranges.
    /// Default: `[80, 443]`.
    #[serde(default = "spanned_default::allow_ports")]
    pub allow_ports: Spanned<Vec<Spanned<PortEntry>>>,
    /// When set, only addresses inside these networks (CIDR or one address) are reachable.
    /// Default: none (any address the other rules let through).
    #[serde(default)]
    pub allow_networks: Option<Vec<Spanned<String>>>,
    /// Networks always refused, checked first. Default: `[]` (the built-in reserved ranges
    /// apply anyway).
    #[serde(default)]
    pub deny_networks: Vec<Spanned<String>>,
    /// Shorthand that turns the built-in reserved ranges off (`allow_networks` and
    /// `deny_networks` still apply). Default: false.
    #[serde(default = "spanned_default::no")]
    pub allow_private_targets: Spanned<bool>,
    /// What origins learn of the client: `none` or `append` (`X-Forwarded-For` and
    /// `Forwarded: for=`). Default: none.
    #[serde(default = "spanned_default::forwarded_for")]
    pub forwarded_for: Spanned<String>,
    /// A tunnel with no bytes either way for this long is closed, in ms. Default: 300000.
    #[serde(default = "defaults::tunnel_idle_timeout_ms")]
    pub tunnel_idle_timeout_ms: u64,
    /// TCP connect timeout towards origins, in ms. Default: 3000.
    #[serde(default = "defaults::connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Time allowed for an origin's response head, in ms. Default: 30000.
    #[serde(default = "defaults::response_timeout_ms")]
    pub response_timeout_ms: u64,
    /// Idle origin connections are closed after this, in ms. Default: 90000.
    #[serde(default = "defaults::pool_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// Idle keep-alive connections kept per origin. Default: 64.
    #[serde(default = "defaults::max_idle_per_backend")]
    pub max_idle_per_origin: usize,
}

/// One entry of `allow_ports`.
#[derive(Clone, Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "a port (8080) or a range of ports (\"8000-8999\")"
)]
pub enum PortEntry {
    /// `8080`.
    Port(i64),
    /// `"8000-8999"` or `"8080"`.
    Text(String),
}

/// One `[[pool]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// Pool name, referenced by routes and plugins.
    pub name: Spanned<String>,
    /// Backends: `"host:port"` strings or `{ addr, weight }` tables.
    pub backends: Vec<Spanned<Backend>>,
    /// `round-robin`, `random`, `least-requests`, `p2c` or `consistent-hash`. Default:
    /// round-robin.
    #[serde(default = "spanned_default::balance")]
    pub balance: Spanned<String>,
    /// With `consistent-hash` (and only then): `client-addr`, `header:<name>` or
    /// `cookie:<name>`. Default: none.
    #[serde(default)]
    pub hash_key: Option<Spanned<String>>,
    /// TCP connect timeout, in ms. Default: 3000.
    #[serde(default = "defaults::connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Time allowed for the upstream's response head, in ms. Default: 30000.
    #[serde(default = "defaults::response_timeout_ms")]
    pub response_timeout_ms: u64,
    /// Idle upstream connections are closed after this, in ms. Default: 90000.
    #[serde(default = "defaults::pool_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// Idle keep-alive connections kept per backend. Default: 64.
    #[serde(default = "defaults::max_idle_per_backend")]
    pub max_idle_per_backend: usize,
    /// Consecutive connect errors that eject a backend (0: never). Default: 1.
    #[serde(default = "defaults::eject_after_connect_errors")]
    pub eject_after_connect_errors: u32,
    /// Consecutive resets, timeouts or 5xx answers that eject a backend (0: never). Default: 5.
    #[serde(default = "defaults::eject_after_failures")]
    pub eject_after_failures: u32,
    /// First ejection's length, in ms, doubled for each ejection in a row. Default: 5000.
    #[serde(default = "spanned_default::eject_base_ms")]
    pub eject_base_ms: Spanned<u64>,
    /// Longest ejection, in ms. Default: 300000.
    #[serde(default = "spanned_default::eject_max_ms")]
    pub eject_max_ms: Spanned<u64>,
    /// Largest share of backends ejected at once, in percent (one may always be). Default: 50.
    #[serde(default = "spanned_default::max_ejected_percent")]
    pub max_ejected_percent: Spanned<u32>,
    /// Open connections per backend. Default: 1024.
    #[serde(default = "spanned_default::max_connections_per_backend")]
    pub max_connections_per_backend: Spanned<usize>,
    /// Concurrent requests on a backend's HTTP/2 connection. Default: 128.
    #[serde(default = "spanned_default::max_streams_per_backend")]
    pub max_streams_per_backend: Spanned<usize>,
    /// Requests waiting for a connection, per pool. Default: 1024.
    #[serde(default = "defaults::queue_size")]
    pub queue_size: usize,
    /// Longest wait in the queue, in ms. Default: 5000.
    #[serde(default = "spanned_default::queue_timeout_ms")]
    pub queue_timeout_ms: Spanned<u64>,
    /// Retries per request, each on another backend. Default: 2.
    #[serde(default = "defaults::max_retries")]
    pub max_retries: u32,
    /// Failures of idempotent requests that are retried: `reset`, `timeout`. Default: `["reset"]`.
    #[serde(default = "spanned_default::retry_on")]
    pub retry_on: Spanned<Vec<String>>,
    /// Statuses for which idempotent requests are retried. Default: none.
    #[serde(default = "spanned_default::retry_on_status")]
    pub retry_on_status: Spanned<Vec<u16>>,
    /// Retries as a share of the pool's requests over the last 10 s, in percent. Default: 20.
    #[serde(default = "spanned_default::retry_budget_percent")]
    pub retry_budget_percent: Spanned<u32>,
    /// Retries always allowed per second. Default: 3.
    #[serde(default = "defaults::retry_budget_min_per_sec")]
    pub retry_budget_min_per_sec: u32,
    /// Largest request body kept for a retry, in bytes. Default: 65536.
    #[serde(default = "defaults::retry_body_max_bytes")]
    pub retry_body_max_bytes: usize,
    /// Longest gap between body bytes, both directions, in ms (0: none). Default: 60000.
    #[serde(default = "defaults::body_idle_timeout_ms")]
    pub body_idle_timeout_ms: u64,
    /// Longest time for a whole request, queue to last body byte, in ms (0: none). Default: 0.
    #[serde(default)]
    pub request_timeout_ms: u64,
    /// `auto` (HTTP/1.1 on cleartext, ALPN on TLS), `h2` (HTTP/2 only: prior knowledge on
    /// cleartext) or `http1`. Default: auto.
    #[serde(default = "spanned_default::protocol")]
    pub protocol: Spanned<String>,
    /// An upgraded connection (WebSocket) with no bytes either way for this long is closed,
    /// in ms. Default: 300000.
    #[serde(default = "defaults::upgrade_idle_timeout_ms")]
    pub upgrade_idle_timeout_ms: u64,
    /// CA bundle for `https://` backends. Default: the system's trust store.
    #[serde(default)]
    pub tls_ca_file: Option<Spanned<PathBuf>>,
    /// Client certificate presented to `https://` backends. Default: none.
    #[serde(default)]
    pub tls_client_cert: Option<Spanned<PathBuf>>,
    /// Key of `tls_client_cert`.
    #[serde(default)]
    pub tls_client_key: Option<Spanned<PathBuf>>,
    /// Name sent as SNI and verified in the certificate. Default: each backend's host.
    #[serde(default)]
    pub tls_server_name: Option<Spanned<String>>,
    /// Turn off verification of `https://` backends' certificates. Default: false. Never in
    /// production: anyone on the path can impersonate the backend.
    #[serde(default)]
    pub danger_accept_invalid_upstream_certs: bool,
    /// `[pool.health_check]`: active health checks of every backend. Default: none.
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
}

/// `[pool.health_check]` (after its `[[pool]]`), or `health_check = { ... }` inline.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// Path and query of the probe request (origin-form, e.g. "/healthz").
    pub path: Spanned<String>,
    /// `GET` or `HEAD`. Default: GET.
    #[serde(default = "spanned_default::health_check_method")]
    pub method: Spanned<String>,
    /// `Host` of the probe request. Default: the backend's `host:port`.
    #[serde(default)]
    pub host: Option<Spanned<String>>,
    /// Healthy statuses: numbers (`204`) or inclusive ranges (`"200-399"`). Default: 200-399.
    #[serde(default = "spanned_default::health_check_expect")]
    pub expect: Spanned<Vec<Spanned<ExpectedStatus>>>,
    /// Time between probes of one backend, in ms. Default: 5000.
    #[serde(default = "spanned_default::health_check_interval_ms")]
    pub interval_ms: Spanned<u64>,
    /// Time allowed for connect and response head, in ms; less than `interval_ms`.
    /// Default: 2000.
    #[serde(default = "spanned_default::health_check_timeout_ms")]
    pub timeout_ms: Spanned<u64>,
    /// Good probes in a row that bring a down backend back. Default: 2.
    #[serde(default = "spanned_default::health_check_healthy_threshold")]
    pub healthy_threshold: Spanned<u32>,
    /// Failed probes in a row that mark a backend down. Default: 3.
    #[serde(default = "spanned_default::health_check_unhealthy_threshold")]
    pub unhealthy_threshold: Spanned<u32>,
}

/// One entry of `expect`.
#[derive(Clone, Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "a status (200) or a range of statuses (\"200-399\")"
)]
pub enum ExpectedStatus {
    /// `204`.
    Code(i64),
    /// `"200-399"` or `"204"`.
    Text(String),
}

/// A backend entry.
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "a backend: \"host:port\" or { addr = \"host:port\", weight = N }"
)]
pub enum Backend {
    /// `"127.0.0.1:9000"` or `"http://127.0.0.1:9000"`.
    Addr(String),
    /// `{ addr = "...", weight = 3 }`.
    Weighted(WeightedBackend),
}

/// A backend with a weight.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedBackend {
    /// Address.
    pub addr: String,
    /// Relative weight. Default: 1.
    #[serde(default = "defaults::weight")]
    pub weight: u32,
}

/// One `[[filter]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Filter name, referenced by routes.
    pub name: Spanned<String>,
    /// Path of the `.wasm` component, relative to the config file.
    pub plugin: Spanned<PathBuf>,
    /// Config handed to the plugin's `init`, as JSON. Default: `{}`.
    #[serde(default)]
    pub config: Option<toml::Value>,
    /// The same as a JSON string (exclusive with `config`); keeps JSON `null`s. Default: none.
    #[serde(default)]
    pub config_json: Option<Spanned<String>>,
    /// `fail-closed` (answer 5xx) or `fail-open` (skip the filter). Default: fail-closed.
    #[serde(default = "spanned_default::failure")]
    pub failure: Spanned<String>,
    /// `pooled`, `reset` or `per-request`. Default: pooled.
    #[serde(default = "spanned_default::isolation")]
    pub isolation: Spanned<String>,
    /// Deadline per hook call, in ms. Default: 50.
    #[serde(default = "defaults::deadline_ms")]
    pub deadline_ms: u64,
    /// Deadline for `init`, in ms. Default: 1000.
    #[serde(default = "defaults::init_deadline_ms")]
    pub init_deadline_ms: u64,
    /// Memory cap per instance, in bytes. Default: 16 MiB.
    #[serde(default = "spanned_default::memory_limit_bytes")]
    pub memory_limit_bytes: Spanned<u64>,
    /// Replace a warm instance after this many hook calls. Default: 100000.
    #[serde(default = "defaults::recycle_after_calls")]
    pub recycle_after_calls: u64,
    /// Warm instances kept idle at most. Default: 16.
    #[serde(default = "defaults::max_idle_instances")]
    pub max_idle_instances: usize,
    /// Edits (accepted or refused) one hook call may make. Default: 256.
    #[serde(default = "spanned_default::max_edits_per_call")]
    pub max_edits_per_call: Spanned<u64>,
    /// Bytes of header names and values one hook call may add. Default: 65536.
    #[serde(default = "spanned_default::max_header_bytes_per_call")]
    pub max_header_bytes_per_call: Spanned<u64>,
    /// Header fields a request or response may reach through a filter's edits, and the most a
    /// local response may carry. Default: 1024.
    #[serde(default = "spanned_default::max_header_count")]
    pub max_header_count: Spanned<u64>,
    /// Largest local-response body, in bytes. Default: 1 MiB.
    #[serde(default = "spanned_default::max_local_response_body_bytes")]
    pub max_local_response_body_bytes: Spanned<u64>,
    /// Consecutive faults that take the filter out of service (0: never). Default: 5.
    #[serde(default = "defaults::breaker_after_faults")]
    pub breaker_after_faults: u32,
    /// How long the filter first stays out of service, in ms. Default: 1000.
    #[serde(default = "spanned_default::breaker_backoff_ms")]
    pub breaker_backoff_ms: Spanned<u64>,
    /// The longest it stays out of service (the back-off doubles up to it), in ms.
    /// Default: 60000.
    #[serde(default = "spanned_default::breaker_max_backoff_ms")]
    pub breaker_max_backoff_ms: Spanned<u64>,
}

/// One `[[route]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Name used in logs. Default: `route[N]`.
    #[serde(default)]
    pub name: Option<String>,
    /// Host to match: exact (`app.example.com`) or wildcard (`*.example.com`). Default: any.
    #[serde(default)]
    pub host: Option<Spanned<String>>,
    /// Path prefix to match. Default: "/".
    #[serde(default = "spanned_default::path_prefix")]
    pub path_prefix: Spanned<String>,
    /// Filter names, in chain order.
    #[serde(default)]
    pub filters: Vec<Spanned<String>>,
    /// Pool that serves the route unless a filter selects another.
    pub pool: Spanned<String>,
    /// Largest request body on this route, in bytes (0: the listener's). Default: 0.
    #[serde(default)]
    pub max_body_bytes: u64,
}

/// Defaults for spanned keys: an empty span marks a value the file did not set.
mod spanned_default {
    use toml::Spanned;

    use super::defaults;

    fn unset<T>(value: T) -> Spanned<T> {
        Spanned::new(0..0, value)
    }
    pub(super) fn protocol() -> Spanned<String> {
        unset(defaults::protocol())
    }
    pub(super) fn scheduler() -> Spanned<String> {
        unset(defaults::scheduler())
    }
    pub(super) fn workers() -> Spanned<u32> {
        unset(0)
    }
    pub(super) fn tcp_allow_ports() -> Spanned<Vec<Spanned<super::PortEntry>>> {
        unset(vec![unset(super::PortEntry::Text("1-65535".to_owned()))])
    }
    pub(super) fn allow_ports() -> Spanned<Vec<Spanned<super::PortEntry>>> {
        unset(
            defaults::allow_ports()
                .into_iter()
                .map(|p| unset(super::PortEntry::Port(i64::from(p))))
                .collect(),
        )
    }
    pub(super) fn no() -> Spanned<bool> {
        unset(false)
    }
    pub(super) fn forwarded_for() -> Spanned<String> {
        unset(defaults::forwarded_for())
    }
    pub(super) fn max_header_bytes() -> Spanned<u64> {
        unset(defaults::max_header_bytes())
    }
    pub(super) fn listener_max_header_count() -> Spanned<u64> {
        unset(defaults::listener_max_header_count())
    }
    pub(super) fn max_uri_bytes() -> Spanned<u64> {
        unset(defaults::max_uri_bytes())
    }
    pub(super) fn max_method_bytes() -> Spanned<u64> {
        unset(defaults::max_method_bytes())
    }
    pub(super) fn first_byte_timeout_ms() -> Spanned<u64> {
        unset(defaults::first_byte_timeout_ms())
    }
    pub(super) fn send_timeout_ms() -> Spanned<u64> {
        unset(defaults::send_timeout_ms())
    }
    pub(super) fn keep_alive_timeout_ms() -> Spanned<u64> {
        unset(defaults::keep_alive_timeout_ms())
    }
    pub(super) fn h2_max_concurrent_streams() -> Spanned<u64> {
        unset(defaults::h2_max_concurrent_streams())
    }
    pub(super) fn trusted_proxies() -> Spanned<Vec<String>> {
        unset(Vec::new())
    }
    pub(super) fn proxy_protocol_from() -> Spanned<Vec<String>> {
        unset(vec!["127.0.0.0/8".to_owned(), "::1/128".to_owned()])
    }
    pub(super) fn mode() -> Spanned<String> {
        unset("reverse".to_owned())
    }
    pub(super) fn max_prefix_bytes() -> Spanned<u64> {
        unset(defaults::max_prefix_bytes())
    }
    pub(super) fn first_bytes_timeout_ms() -> Spanned<u64> {
        unset(defaults::first_bytes_timeout_ms())
    }
    pub(super) fn tcp_idle_timeout_ms() -> Spanned<u64> {
        unset(defaults::tunnel_idle_timeout_ms())
    }
    pub(super) fn tcp_buffer_bytes() -> Spanned<u64> {
        unset(16_384)
    }
    pub(super) fn tcp_connect_timeout_ms() -> Spanned<u64> {
        unset(defaults::connect_timeout_ms())
    }
    pub(super) fn min_tls_version() -> Spanned<String> {
        unset("1.2".to_owned())
    }
    pub(super) fn client_auth() -> Spanned<String> {
        unset("required".to_owned())
    }
    pub(super) fn balance() -> Spanned<String> {
        unset(defaults::balance())
    }
    pub(super) fn eject_base_ms() -> Spanned<u64> {
        unset(defaults::eject_base_ms())
    }
    pub(super) fn eject_max_ms() -> Spanned<u64> {
        unset(defaults::eject_max_ms())
    }
    pub(super) fn max_ejected_percent() -> Spanned<u32> {
        unset(defaults::max_ejected_percent())
    }
    pub(super) fn max_connections_per_backend() -> Spanned<usize> {
        unset(defaults::max_connections_per_backend())
    }
    pub(super) fn max_streams_per_backend() -> Spanned<usize> {
        unset(defaults::max_streams_per_backend())
    }
    pub(super) fn queue_timeout_ms() -> Spanned<u64> {
        unset(defaults::queue_timeout_ms())
    }
    pub(super) fn retry_on() -> Spanned<Vec<String>> {
        unset(defaults::retry_on())
    }
    pub(super) fn retry_on_status() -> Spanned<Vec<u16>> {
        unset(Vec::new())
    }
    pub(super) fn retry_budget_percent() -> Spanned<u32> {
        unset(defaults::retry_budget_percent())
    }
    pub(super) fn health_check_method() -> Spanned<String> {
        unset(defaults::health_check_method())
    }
    pub(super) fn health_check_expect() -> Spanned<Vec<Spanned<super::ExpectedStatus>>> {
        unset(vec![unset(super::ExpectedStatus::Text(
            defaults::health_check_expect(),
        ))])
    }
    pub(super) fn health_check_interval_ms() -> Spanned<u64> {
        unset(defaults::health_check_interval_ms())
    }
    pub(super) fn health_check_timeout_ms() -> Spanned<u64> {
        unset(defaults::health_check_timeout_ms())
    }
    pub(super) fn health_check_healthy_threshold() -> Spanned<u32> {
        unset(defaults::health_check_healthy_threshold())
    }
    pub(super) fn health_check_unhealthy_threshold() -> Spanned<u32> {
        unset(defaults::health_check_unhealthy_threshold())
    }
    pub(super) fn failure() -> Spanned<String> {
        unset(defaults::failure())
    }
    pub(super) fn isolation() -> Spanned<String> {
        unset(defaults::isolation())
    }
    pub(super) fn path_prefix() -> Spanned<String> {
        unset(defaults::path_prefix())
    }
    pub(super) fn path_encoded_separators() -> Spanned<String> {
        unset(defaults::path_encoded_separators())
    }
    pub(super) fn memory_limit_bytes() -> Spanned<u64> {
        unset(defaults::memory_limit_bytes())
    }
    pub(super) fn max_edits_per_call() -> Spanned<u64> {
        unset(defaults::max_edits_per_call())
    }
    pub(super) fn max_header_bytes_per_call() -> Spanned<u64> {
        unset(defaults::max_header_bytes_per_call())
    }
    pub(super) fn max_header_count() -> Spanned<u64> {
        unset(defaults::max_header_count())
    }
    pub(super) fn max_local_response_body_bytes() -> Spanned<u64> {
        unset(defaults::max_local_response_body_bytes())
    }
    pub(super) fn breaker_backoff_ms() -> Spanned<u64> {
        unset(defaults::breaker_backoff_ms())
    }
    pub(super) fn breaker_max_backoff_ms() -> Spanned<u64> {
        unset(defaults::breaker_max_backoff_ms())
    }
}
