//! weir's end-to-end suite: one test binary (wasmtime links once), real weir in-process on
//! loopback, real backends, real plugins built from `plugins/` and `tests/guests/`.

mod admin;
mod balancing;
mod busy_plugin;
mod client_limits;
mod config_errors;
mod conformance;
mod dashboard;
mod demo;
mod edits;
mod egress;
mod failures;
mod forward;
mod h2_conformance;
mod h2_floods;
mod h2c_upstream;
mod health_checks;
mod isolation;
mod limits;
mod observability;
mod paths;
mod plugins;
mod pools;
mod proxy_protocol;
mod reload;
mod reverse_proxy;
mod scheduling;
mod stream;
mod support;
mod tls;
mod websocket;
