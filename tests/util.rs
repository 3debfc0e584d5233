//! Shared helpers for the integration tests.

use pvc::runtime::{NamedTensors, Tensor};
use std::path::{Path, PathBuf};

/// The repository's `models/` folder.
pub fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// A fixture model's path.
pub fn model(name: &str) -> PathBuf {
    models().join(name)
}

/// Reads a safetensors file of the fixtures.
pub fn tensors(path: &Path) -> NamedTensors {
    pvc::runtime::read_safetensors(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The tensor named `name`.
pub fn get<'a>(ts: &'a NamedTensors, name: &str) -> Option<&'a Tensor> {
    ts.iter().find(|(n, _)| n == name).map(|(_, t)| t)
}

/// The fixture's recorded inputs (`input.<name>` in its `.ref.safetensors`), renamed to graph
/// input names.
pub fn ref_inputs(refs: &NamedTensors) -> NamedTensors {
    refs.iter()
        .filter_map(|(n, t)| n.strip_prefix("input.").map(|n| (n.to_string(), t.clone())))
        .collect()
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// The pvc binary built for these tests.
pub fn pvc() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_pvc"))
}

/// Whether a missing optional tool must fail the test (CI sets `PVC_REQUIRE_PYTHON=1`).
fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

/// Runs `models/check_patched.py` on a manifest of patched models. Skips, with a printed
/// reason, when Python's `onnx`/`onnxruntime` are missing, unless `PVC_REQUIRE_PYTHON=1`.
pub fn python_check(manifest: &Path) {
    python_script("check_patched.py", &[manifest], "onnx, onnxruntime, safetensors, numpy");
}

/// Runs `models/<script>` with `args` when python3 can import `modules`; otherwise skips with
/// a printed reason, unless `PVC_REQUIRE_PYTHON=1`.
pub fn python_script(script: &str, args: &[&Path], modules: &str) {
    let probe = std::process::Command::new("python3").args(["-c", &format!("import {modules}")]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(!required("PVC_REQUIRE_PYTHON"), "PVC_REQUIRE_PYTHON=1 but python3 cannot import {modules}");
        eprintln!("skipping {script}: python3 cannot import {modules} (see .ci/run for the pinned packages)");
        return;
    }
    let out = std::process::Command::new("python3")
        .arg(models().join(script))
        .args(args)
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{script} failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
}
