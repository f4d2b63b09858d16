#![no_main]
//! `cargo fuzz run config`: see `weir::fuzzing::config` for the input and the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir::fuzzing::config(data));
