//! `cargo +nightly fuzz run dep_import`: the property `kitting::fuzzing::dep_import` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kitting::fuzzing::dep_import(data));
