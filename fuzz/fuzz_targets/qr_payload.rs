//! `cargo +nightly fuzz run qr_payload`: the property `kitting::fuzzing::qr_payload` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kitting::fuzzing::qr_payload(data));
