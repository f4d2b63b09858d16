//! Every default value of the config, in one place. `docs/configuration.md` lists the same.

pub(crate) fn max_instances() -> u32 {
    256
}
pub(crate) fn max_memory_bytes() -> u64 {
    64 * 1024 * 1024
}
pub(crate) fn epoch_tick_ms() -> u64 {
    1
}
pub(crate) fn protocol() -> String {
    "auto".to_owned()
}
pub(crate) fn header_timeout_ms() -> u64 {
    10_000
}
pub(crate) fn max_connections() -> u32 {
    10_000
}
pub(crate) fn max_header_bytes() -> u64 {
    32 * 1024
}
pub(crate) fn listener_max_header_count() -> u64 {
    100
}
pub(crate) fn max_uri_bytes() -> u64 {
    8 * 1024
}
pub(crate) fn max_method_bytes() -> u64 {
    32
}
pub(crate) fn first_byte_timeout_ms() -> u64 {
    10_000
}
pub(crate) fn max_prefix_bytes() -> u64 {
    16_384
}
pub(crate) fn first_bytes_timeout_ms() -> u64 {
    10_000
}
pub(crate) fn send_timeout_ms() -> u64 {
    60_000
}
pub(crate) fn keep_alive_timeout_ms() -> u64 {
    60_000
}
pub(crate) fn h2_max_concurrent_streams() -> u64 {
    256
}
pub(crate) fn balance() -> String {
    "round-robin".to_owned()
}
pub(crate) fn weight() -> u32 {
    1
}
pub(crate) fn connect_timeout_ms() -> u64 {
    3_000
}
pub(crate) fn response_timeout_ms() -> u64 {
    30_000
}
pub(crate) fn pool_idle_timeout_ms() -> u64 {
    90_000
}
pub(crate) fn max_idle_per_backend() -> usize {
    64
}
pub(crate) fn eject_after_connect_errors() -> u32 {
    1
}
pub(crate) fn eject_after_failures() -> u32 {
    5
}
pub(crate) fn eject_base_ms() -> u64 {
    5_000
}
pub(crate) fn eject_max_ms() -> u64 {
    300_000
}
pub(crate) fn max_ejected_percent() -> u32 {
    50
}
pub(crate) fn max_connections_per_backend() -> usize {
    1024
}
pub(crate) fn max_streams_per_backend() -> usize {
    128
}
pub(crate) fn queue_size() -> usize {
    1024
}
pub(crate) fn queue_timeout_ms() -> u64 {
    5_000
}
pub(crate) fn max_retries() -> u32 {
    2
}
pub(crate) fn retry_on() -> Vec<String> {
    vec!["reset".to_owned()]
}
pub(crate) fn retry_budget_percent() -> u32 {
    20
}
pub(crate) fn retry_budget_min_per_sec() -> u32 {
    3
}
pub(crate) fn retry_body_max_bytes() -> usize {
    64 * 1024
}
pub(crate) fn body_idle_timeout_ms() -> u64 {
    60_000
}
pub(crate) fn health_check_method() -> String {
    "GET".to_owned()
}
pub(crate) fn health_check_expect() -> String {
    "200-399".to_owned()
}
pub(crate) fn health_check_interval_ms() -> u64 {
    5_000
}
pub(crate) fn health_check_timeout_ms() -> u64 {
    2_000
}
/// Two good probes: one lucky answer does not bring a flapping backend back.
pub(crate) fn health_check_healthy_threshold() -> u32 {
    2
}
/// Three failed probes: one lost packet does not take a backend out.
pub(crate) fn health_check_unhealthy_threshold() -> u32 {
    3
}
pub(crate) fn failure() -> String {
    "fail-closed".to_owned()
}
pub(crate) fn isolation() -> String {
    "pooled".to_owned()
}
pub(crate) fn deadline_ms() -> u64 {
    50
}
pub(crate) fn init_deadline_ms() -> u64 {
    1_000
}
pub(crate) fn memory_limit_bytes() -> u64 {
    16 * 1024 * 1024
}
pub(crate) fn recycle_after_calls() -> u64 {
    100_000
}
pub(crate) fn max_idle_instances() -> usize {
    16
}
/// Enough for any real filter (the example plugins make a handful per call), few enough that
/// the journal of one call stays small.
pub(crate) fn max_edits_per_call() -> u64 {
    256
}
/// 64 KiB: servers refuse request heads past 8 to 64 KiB, so more is never useful upstream.
pub(crate) fn max_header_bytes_per_call() -> u64 {
    64 * 1024
}
/// Above what weir accepts from a peer (hyper parses 100 fields on HTTP/1.1, and a 16 KiB
/// HTTP/2 header list holds about 500), so a filter can still add to any message weir took in;
/// far below the 24576 names an `http::HeaderMap` can hold.
pub(crate) fn max_header_count() -> u64 {
    1024
}
/// 1 MiB: deny pages and redirects are small; bigger answers belong to a backend.
pub(crate) fn max_local_response_body_bytes() -> u64 {
    1024 * 1024
}
/// Five faults in a row: not one unlucky request, soon enough to spare a broken plugin's load.
pub(crate) fn breaker_after_faults() -> u32 {
    5
}
pub(crate) fn breaker_backoff_ms() -> u64 {
    1_000
}
pub(crate) fn breaker_max_backoff_ms() -> u64 {
    60_000
}
pub(crate) fn path_prefix() -> String {
    "/".to_owned()
}
pub(crate) fn shutdown_grace_ms() -> u64 {
    10_000
}
pub(crate) fn watch() -> bool {
    true
}
pub(crate) fn watch_interval_ms() -> u64 {
    500
}
pub(crate) fn watch_debounce_ms() -> u64 {
    1_000
}
pub(crate) fn path_encoded_separators() -> String {
    "reject".to_owned()
}
pub(crate) fn yes() -> bool {
    true
}
pub(crate) fn session_cache_size() -> usize {
    10_000
}
pub(crate) fn connect_ports() -> Vec<u16> {
    vec![443]
}
/// The web's ports: anything else (SMTP, Redis, an admin port) is not for proxied requests.
pub(crate) fn allow_ports() -> Vec<u16> {
    vec![80, 443]
}
pub(crate) fn forwarded_for() -> String {
    "none".to_owned()
}
pub(crate) fn tunnel_idle_timeout_ms() -> u64 {
    300_000
}
/// As long as a tunnel's: a WebSocket that sends nothing for five minutes has no keep-alive
/// pings and is most likely gone.
pub(crate) fn upgrade_idle_timeout_ms() -> u64 {
    300_000
}

pub(crate) fn scheduler() -> String {
    "per-core".to_owned()
}
