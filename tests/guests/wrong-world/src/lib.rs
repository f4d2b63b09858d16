//! Test-only guest: a well-formed component that targets a different world
//! (`weir-test:other/counter`), so weir and `weir test` must refuse it as the wrong world.

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code, reason = "generated bindings export raw ABI functions")]
mod component {
    wit_bindgen::generate!({
        inline: "
            package weir-test:other@1.0.0;
            interface counter {
                next: func() -> u32;
            }
            world other {
                export counter;
            }
        ",
        world: "other",
    });

    struct Counter;

    impl exports::weir_test::other::counter::Guest for Counter {
        fn next() -> u32 {
            1
        }
    }

    export!(Counter);
}
