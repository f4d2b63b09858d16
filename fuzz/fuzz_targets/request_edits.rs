#![no_main]
//! `cargo fuzz run request_edits`: see `weir::fuzzing::request_edits` for the input and the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir::fuzzing::request_edits(data));
