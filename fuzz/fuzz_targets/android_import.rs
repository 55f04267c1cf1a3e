//! `cargo +nightly fuzz run android_import`: the property `kitting::fuzzing::android_import` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kitting::fuzzing::android_import(data));
