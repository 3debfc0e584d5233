#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pvc_fuzz::entries::schema_parse(data));
