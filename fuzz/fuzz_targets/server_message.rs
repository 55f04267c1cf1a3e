//! `cargo +nightly fuzz run server_message`: the property `kitting::fuzzing::server_message` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kitting::fuzzing::server_message(data));
