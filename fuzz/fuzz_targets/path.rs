#![no_main]
//! `cargo fuzz run path`: see `weir::fuzzing::path` for the input and the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir::fuzzing::path(data));
