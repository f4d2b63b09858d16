#![allow(missing_docs, unreachable_pub, reason = "generated bindings")]
//! The one `bindgen!` site: host-side bindings for the `weir:filter` `http-filter` world.
//!
//! The `request` and `response` resources are backed by [`RequestView`] and [`ResponseView`],
//! which the store holds (lent to the guest) for the duration of one hook call.

pub use super::request::RequestView;
pub use super::response::ResponseView;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "http-filter",
    with: {
        "weir:filter/types.request": RequestView,
        "weir:filter/types.response": ResponseView,
    },
    imports: { default: trappable },
    // Hook calls are async so that a long call yields its thread at every epoch tick; `init`
    // runs off the data path and stays synchronous.
    exports: {
        "weir:filter/filter.on-request": async,
        "weir:filter/filter.on-response": async,
    },
});

pub use self::weir::filter::host::Level;
pub use self::weir::filter::types::{
    CookieAttributes, Decision, EditError, Header, HttpVersion, LocalResponse, SameSite, SetCookie,
    TlsInfo,
};

/// Host-side bindings for the `stream-router` world (same package, `wit/stream-router.wit`).
/// It shares the `host` interface with filters: the generated `host` module above serves both.
pub mod stream {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "stream-router",
        with: {
            "weir:filter/host": super::weir::filter::host,
        },
        imports: { default: trappable },
        exports: {
            "weir:filter/router.on-data": async,
        },
    });

    pub use self::weir::filter::stream_types::{Connection, Route, Upstream, Verdict};
}
