//! weir: an HTTP proxy whose behaviour is programmed by sandboxed WebAssembly filter plugins.
//!
//! A request enters through a listener ([`server`]), is matched to a route and run through that
//! route's filter chain ([`filters`]) — each filter a wasm component run by the [`runtime`] —
//! then forwarded to a backend of an upstream pool ([`upstream`]) by the data path ([`proxy`]).
//! Everything is described by a validated [`config`]; [`cli`] is the command line.
//!
//! Modules depend one way: `cli → config → server → proxy → filters → runtime`, with `upstream`
//! beside `proxy`. TCP listeners take `server → stream → filters → runtime` (the stream-router
//! chain), with `upstream` for pools and `proxy` for the splice and the drain.

pub mod access;
pub mod admin;
pub mod cli;
pub mod config;
pub mod conformance;
pub mod demo;
pub mod dev;
pub mod filters;
#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzzing;
pub mod logfile;
pub mod metrics;
pub mod proxy;
pub mod runtime;
pub mod scaffold;
pub mod server;
pub mod stream;
pub mod tls;
pub mod upstream;
pub(crate) mod worker;
