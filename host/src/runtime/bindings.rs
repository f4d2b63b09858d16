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

#[cfg(test)]
mod tests {
    /// The plugin guide's table of Rust types names every type of the WIT and every function
    /// of its `host` and `filter` interfaces, so a WIT addition cannot go undocumented there.
    #[test]
    fn plugin_guide_names_a_rust_type_for_every_wit_shape() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let wit = std::fs::read_to_string(format!("{root}/wit/filter.wit")).unwrap();
        let guide = std::fs::read_to_string(format!("{root}/docs/plugin-guide.md")).unwrap();
        let table = guide
            .split("### Rust types for every WIT shape")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("the guide has the table");
        let mentions = |name: &str| {
            table.match_indices(name).any(|(at, _)| {
                let before = table[..at].chars().next_back();
                let after = table[at + name.len()..].chars().next();
                let word =
                    |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-');
                !word(before) && !word(after)
            })
        };
        let mut shapes = Vec::new();
        let mut interface = "";
        for line in wit.lines().map(str::trim) {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("interface"), Some(name)) => interface = name,
                (Some("record" | "variant" | "enum" | "resource" | "flags"), Some(name)) => {
                    shapes.push(name.to_owned());
                }
                (Some(first), _)
                    if matches!(interface, "host" | "filter") && line.contains(": func(") =>
                {
                    shapes.push(first.trim_end_matches(':').to_owned());
                }
                _ => {}
            }
        }
        assert!(shapes.len() > 15, "parsed {shapes:?}");
        let missing: Vec<&String> = shapes.iter().filter(|s| !mentions(s)).collect();
        assert!(
            missing.is_empty(),
            "docs/plugin-guide.md's table lacks {missing:?}"
        );
    }
}
