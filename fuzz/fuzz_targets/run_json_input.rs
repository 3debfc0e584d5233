#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pvc_fuzz::entries::run_json_input(data));
