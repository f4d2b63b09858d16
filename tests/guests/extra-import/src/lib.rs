//! Test-only guest: a well-formed `http-filter` that also imports
//! `weir:filter/host@0.1.0#extra-feature`, a function weir does not provide. It is built from a
//! copy of the WIT with that one function added (`wit/filter.wit`). weir, `weir check` and
//! `weir test` must refuse it at load, naming the function; a host that stubbed unknown
//! functions would load it and trap on the first request instead.

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code, reason = "generated bindings export raw ABI functions")]
mod component {
    wit_bindgen::generate!({
        path: "wit",
        world: "http-filter",
    });

    use exports::weir::filter::filter::Guest;
    use weir::filter::host;
    use weir::filter::types::{Decision, Request, Response};

    struct ExtraImport;

    impl Guest for ExtraImport {
        fn init(_config: String) -> Result<(), String> {
            Ok(())
        }

        fn on_request(_req: &Request) -> Decision {
            // The call keeps the import in the component: unused imports are dropped.
            if host::extra_feature() == 0 {
                return Decision::Continue;
            }
            Decision::Continue
        }

        fn on_response(_req: &Request, _resp: &Response) -> Decision {
            Decision::Continue
        }
    }

    export!(ExtraImport);
}
