//! The Python package's own suite (`bindings/python/tests`: byte-identical output to the CLI,
//! pyvene parity through ONNX Runtime, `PvcError`s), run through `.ci/python_tests.sh`, which
//! builds the wheel once and installs the pinned pyvene/torch stack in a cached venv. The build
//! takes minutes, so it runs where `PVC_REQUIRE_PYPKG=1` (CI sets it) and is skipped, saying so,
//! elsewhere.

use crate::util;

#[test]
fn the_python_package_passes_its_pytest_suite() {
    if !util::required("PVC_REQUIRE_PYPKG") {
        eprintln!(
            "skipping the Python package suite: set PVC_REQUIRE_PYPKG=1 (as .ci/run does) to build the wheel and run pytest"
        );
        return;
    }
    let script = util::models().join("../.ci/python_tests.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .env("PVC_BIN", env!("CARGO_BIN_EXE_pvc"))
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{} failed:\n{}\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
