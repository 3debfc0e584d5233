#![no_main]

//! Structure-aware: the bytes drive a schema grammar; set `PVC_FUZZ_PRINT=1` to print each case
//! (that JSON is what `fuzz/regressions/rewrite_e2e/` stores).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(case) = pvc_fuzz::rewrite_case_bytes(data) {
        if std::env::var_os("PVC_FUZZ_PRINT").is_some() {
            eprintln!("{}", String::from_utf8_lossy(&case));
        }
        pvc_fuzz::entries::rewrite_case(&case);
    }
});
