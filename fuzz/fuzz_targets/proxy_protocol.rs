#![no_main]
//! `cargo fuzz run proxy_protocol`: see `weir::fuzzing::proxy_protocol` for the input and the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir::fuzzing::proxy_protocol(data));
