#![no_main]
//! `cargo fuzz run local_response`: see `weir::fuzzing::local_response` for the input and the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir::fuzzing::local_response(data));
