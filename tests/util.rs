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
    refs.iter().filter_map(|(n, t)| n.strip_prefix("input.").map(|n| (n.to_string(), t.clone()))).collect()
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
pub fn required(var: &str) -> bool {
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
    python_script_gated(script, args, modules, "PVC_REQUIRE_PYTHON")
}

/// [`python_script`], with `gate` (e.g. `PVC_REQUIRE_GENAI`) the variable that makes a missing
/// module fail instead of skip.
pub fn python_script_gated(script: &str, args: &[&Path], modules: &str, gate: &str) {
    let probe = std::process::Command::new("python3").args(["-c", &format!("import {modules}")]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(!required(gate), "{gate}=1 but python3 cannot import {modules}");
        eprintln!("skipping {script}: python3 cannot import {modules} (see .ci/run for the pinned packages)");
        return;
    }
    let out =
        std::process::Command::new("python3").arg(models().join(script)).args(args).output().expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{script} failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
}

/// Whether CI demands ONNX Runtime (`PVC_REQUIRE_ORT=1`): then a missing library fails instead of skipping.
pub fn require_ort() -> bool {
    std::env::var("PVC_REQUIRE_ORT").is_ok_and(|v| v == "1")
}

/// The ONNX Runtime library (`ORT_DYLIB_PATH`, else a Python `onnxruntime` package), or `None` after printing why
/// the ONNX Runtime checks are skipped. Panics instead when `PVC_REQUIRE_ORT=1`.
pub fn ort_lib() -> Option<PathBuf> {
    match pvc::runtime::OrtBackend::find_library(None) {
        Ok(p) => Some(p),
        Err(e) if require_ort() => panic!("PVC_REQUIRE_ORT=1 but {e}"),
        Err(e) => {
            eprintln!("skipping the ONNX Runtime checks: {e}");
            None
        }
    }
}

/// ONNX Runtime options with the test library and everything else at its default.
pub fn ort_options(lib: &Path) -> pvc::runtime::OrtOptions {
    pvc::runtime::OrtOptions { lib: Some(lib.to_path_buf()), ..Default::default() }
}

/// The model at `path` loaded on every available backend: tract, and ONNX Runtime when its library is found
/// (required when `PVC_REQUIRE_ORT=1`).
pub fn backends(path: &Path) -> Vec<Box<dyn pvc::runtime::Backend>> {
    let mut out: Vec<Box<dyn pvc::runtime::Backend>> = vec![Box::new(
        pvc::runtime::TractBackend::load(path).unwrap_or_else(|e| panic!("tract: {}: {e}", path.display())),
    )];
    if let Some(lib) = ort_lib() {
        out.push(Box::new(
            pvc::runtime::OrtBackend::load(path, &ort_options(&lib))
                .unwrap_or_else(|e| panic!("onnxruntime: {}: {e}", path.display())),
        ));
    }
    out
}

/// The fixture's recorded inputs for the model at `path`, cast to the element types the model declares (the
/// refs store float16/bfloat16 inputs as float32).
pub fn fixture_inputs(path: &Path, refs: &NamedTensors) -> NamedTensors {
    let (specs, _) = pvc::runtime::model_io(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ref_inputs(refs)
        .into_iter()
        .map(|(name, t)| {
            let want = specs.iter().find(|s| s.name == name).and_then(|s| s.dtype);
            let t = match want {
                Some(d) if d != t.dtype => cast(&t, d),
                _ => t,
            };
            (name, t)
        })
        .collect()
}

/// `t` converted to a float type (from any numeric type).
pub fn cast(t: &Tensor, to: pvc::runtime::DType) -> Tensor {
    use pvc::runtime::DType;
    let v = t.to_f64();
    let bytes: Vec<u8> = match to {
        DType::F32 => v.iter().flat_map(|x| (*x as f32).to_le_bytes()).collect(),
        DType::F64 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        DType::F16 => v.iter().flat_map(|x| half::f16::from_f64(*x).to_le_bytes()).collect(),
        DType::BF16 => v.iter().flat_map(|x| half::bf16::from_f64(*x).to_le_bytes()).collect(),
        other => panic!("cast to {} is not supported here", other.name()),
    };
    Tensor::new(to, t.shape.clone(), bytes).expect("same element count")
}

/// `mlp_legacy` plus a node of an operator no runtime has, feeding a graph output: pvc rewrites
/// it, tract refuses it.
pub fn unloadable_model(path: &Path) {
    let mut m = pvc::onnx::decode_model(&std::fs::read(model("mlp_legacy.onnx")).unwrap(), path).unwrap();
    let g = m.graph.as_mut().unwrap();
    let x = g.input[0].name.clone().unwrap();
    g.node.push(pvc::onnx::pb::NodeProto {
        input: vec![x],
        output: vec!["strange".into()],
        name: Some("strange".into()),
        op_type: Some("NoSuchOp".into()),
        domain: Some("com.example".into()),
        ..Default::default()
    });
    g.output.push(pvc::onnx::pb::ValueInfoProto { name: Some("strange".into()), ..Default::default() });
    m.opset_import.push(pvc::onnx::pb::OperatorSetIdProto { domain: Some("com.example".into()), version: Some(1) });
    std::fs::write(path, pvc::onnx::encode_model(&m)).unwrap();
}

/// Asserts a clean refusal of a `pvc` run: exit code 2, one `error:` line (no panic text)
/// containing every needle, and nothing at `out`.
pub fn assert_refused(code: Option<i32>, err: &str, out: &Path, needles: &[&str]) {
    assert_eq!(code, Some(2), "expected a clean failure, stderr: {err}");
    assert_eq!(err.lines().count(), 1, "expected one line, got: {err}");
    assert!(err.starts_with("error: ") && !err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
    assert!(!out.exists(), "nothing may be written on error");
}
