//! weir's end-to-end suite: one test binary (wasmtime links once), real weir in-process on
//! loopback, real backends, real plugins built from `plugins/` and `tests/guests/`.

mod admin;
mod balancing;
mod busy_plugin;
mod client_limits;
mod config_errors;
mod conformance;
mod demo;
mod edits;
mod egress;
mod failures;
mod forward;
mod h2c_upstream;
mod health_checks;
mod limits;
mod paths;
mod plugins;
mod pools;
mod proxy_protocol;
mod reload;
mod reverse_proxy;
mod stream;
mod support;
mod tls;
mod websocket;
