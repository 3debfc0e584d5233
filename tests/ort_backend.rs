//! The ONNX Runtime backend against tract and the recorded torch outputs, its options, and its errors.
//!
//! These tests need the ONNX Runtime library (`ORT_DYLIB_PATH` or a Python `onnxruntime` package). Without it
//! they print why and pass, unless `PVC_REQUIRE_ORT=1` (CI), where they fail.

use crate::util;
use pvc::runtime::{Backend, DType, NamedTensors, OptLevel, OrtBackend, OrtOptions, TractBackend};
use std::path::{Path, PathBuf};

/// Fixture model (relative to models/) and its ref file.
const FIXTURES: &[(&str, &str)] = &[
    ("gpt2_legacy.onnx", "gpt2_legacy.ref.safetensors"),
    ("gpt2_dynamo.onnx", "gpt2_dynamo.ref.safetensors"),
    ("llama_legacy.onnx", "llama_legacy.ref.safetensors"),
    ("llama_dynamo.onnx", "llama_dynamo.ref.safetensors"),
    ("mlp_legacy.onnx", "mlp_legacy.ref.safetensors"),
    ("mlp_dynamo.onnx", "mlp_dynamo.ref.safetensors"),
    ("mlp_fp16.onnx", "mlp_fp16.ref.safetensors"),
    ("gpt2_external/model.onnx", "gpt2_legacy.ref.safetensors"),
];

/// Tolerances for a model whose outputs have type `d`: (backend vs backend, backend vs torch).
fn tolerances(d: DType) -> (f64, f64) {
    match d {
        DType::F16 | DType::BF16 => (1e-2, 1e-2),
        _ => (1e-5, 1e-4),
    }
}

fn load_ort(path: &Path, opts: &OrtOptions) -> OrtBackend {
    OrtBackend::load(path, opts).unwrap_or_else(|e| panic!("onnxruntime: {}: {e}", path.display()))
}

fn run(b: &mut dyn Backend, inputs: &NamedTensors, what: &str) -> NamedTensors {
    b.run(inputs).unwrap_or_else(|e| panic!("{what}: {} run: {e}", b.name()))
}

/// Asserts that `a` and `b` have the same output names and shapes, and values within `tol`.
fn assert_close(a: &NamedTensors, b: &NamedTensors, tol: f64, what: &str) {
    assert_eq!(
        a.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        b.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        "{what}: output names"
    );
    for ((name, x), (_, y)) in a.iter().zip(b) {
        let d = x.max_abs_diff(y).unwrap_or_else(|| panic!("{what}: `{name}` shapes {:?} vs {:?}", x.shape, y.shape));
        assert!(d <= tol, "{what}: `{name}` max |diff| {d:e} > {tol:e}");
    }
}

#[test]
fn ort_fixtures_match_tract_and_torch() {
    let Some(lib) = util::ort_lib() else { return };
    let opts = util::ort_options(&lib);
    for (model, refs) in FIXTURES {
        let path = util::model(model);
        let refs = util::tensors(&util::model(refs));
        let inputs = util::fixture_inputs(&path, &refs);
        let mut ort = load_ort(&path, &opts);
        let mut tract = TractBackend::load(&path).unwrap_or_else(|e| panic!("tract: {model}: {e}"));
        let o = run(&mut ort, &inputs, model);
        let t = run(&mut tract, &inputs, model);
        let (between, vs_torch) = tolerances(o[0].1.dtype);
        assert_close(&o, &t, between, &format!("{model}: onnxruntime vs tract"));
        for (name, out) in &o {
            let want =
                util::get(&refs, &format!("output.{name}")).unwrap_or_else(|| panic!("{model}: no output.{name}"));
            let d = out.max_abs_diff(want).unwrap_or_else(|| panic!("{model}: `{name}` shape {:?}", out.shape));
            assert!(d <= vs_torch, "{model}: onnxruntime vs torch `{name}`: max |diff| {d:e} > {vs_torch:e}");
        }
    }
}

#[test]
fn ort_optimization_levels_agree() {
    let Some(lib) = util::ort_lib() else { return };
    for (model, refs) in FIXTURES {
        let path = util::model(model);
        let inputs = util::fixture_inputs(&path, &util::tensors(&util::model(refs)));
        let mut outs = Vec::new();
        for level in [OptLevel::Disable, OptLevel::Basic, OptLevel::Extended, OptLevel::All] {
            let opts = OrtOptions { opt_level: level, ..util::ort_options(&lib) };
            outs.push((level, run(&mut load_ort(&path, &opts), &inputs, model)));
        }
        let (tol, _) = tolerances(outs[0].1[0].1.dtype);
        let (_, all) = outs.last().unwrap();
        for (level, o) in &outs {
            assert_close(o, all, tol, &format!("{model}: opt level {level} vs all"));
        }
    }
}

#[test]
fn ort_thread_options_keep_outputs() {
    let Some(lib) = util::ort_lib() else { return };
    let path = util::model("gpt2_legacy.onnx");
    let inputs = util::fixture_inputs(&path, &util::tensors(&util::model("gpt2_legacy.ref.safetensors")));
    let base = run(&mut load_ort(&path, &util::ort_options(&lib)), &inputs, "default threads");
    for (intra, inter) in [(Some(1), None), (Some(2), Some(2)), (None, Some(1))] {
        let opts = OrtOptions { intra_threads: intra, inter_threads: inter, ..util::ort_options(&lib) };
        let o = run(&mut load_ort(&path, &opts), &inputs, "threads");
        assert_close(&o, &base, 1e-5, &format!("intra {intra:?} inter {inter:?}"));
    }
}

#[test]
fn ort_backends_helper_gives_tract_and_ort() {
    let path = util::model("mlp_legacy.onnx");
    let names: Vec<&str> = util::backends(&path).iter().map(|b| b.name()).collect();
    assert_eq!(names[0], "tract");
    if util::ort_lib().is_some() {
        assert_eq!(names, ["tract", "onnxruntime"]);
    }
}

#[test]
fn ort_one_library_per_process() {
    let Some(lib) = util::ort_lib() else { return };
    let path = util::model("mlp_legacy.onnx");
    load_ort(&path, &util::ort_options(&lib));
    // The same library again, by its own path or by discovery, is fine.
    load_ort(&path, &OrtOptions::default());
    // A missing file is reported as such, before anything is loaded.
    let missing = util::tempdir().path().join("libonnxruntime.so");
    let err = OrtBackend::load(&path, &util::ort_options(&missing)).err().expect("missing library must fail");
    assert!(err.to_string().contains("does not exist"), "{err}");
    // Another existing file cannot replace the loaded library.
    let other = util::model("mlp_legacy.onnx");
    let err = OrtBackend::load(&path, &util::ort_options(&other)).err().expect("a second library must fail");
    assert!(err.to_string().contains("already loaded"), "{err}");
}

/// Writes the gpt2 fixture's inputs to a safetensors file in `dir`.
fn gpt2_inputs_file(dir: &Path) -> PathBuf {
    let path = util::model("gpt2_legacy.onnx");
    let inputs = util::fixture_inputs(&path, &util::tensors(&util::model("gpt2_legacy.ref.safetensors")));
    let file = dir.join("in.safetensors");
    pvc::runtime::write_safetensors(&file, &inputs).unwrap();
    file
}

/// Runs `pvc run models/gpt2_legacy.onnx --inputs ... ARGS`, returning (exit code, stderr).
fn pvc_run(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = util::pvc();
    cmd.arg("run").arg(util::model("gpt2_legacy.onnx")).arg("--inputs").arg(gpt2_inputs_file(dir)).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run pvc");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn ort_cli_runs_and_matches_torch() {
    let Some(lib) = util::ort_lib() else { return };
    let dir = util::tempdir();
    let out = dir.path().join("out.safetensors");
    let lib_s = lib.to_string_lossy().into_owned();
    let out_s = out.to_string_lossy().into_owned();
    let (code, err) = pvc_run(
        dir.path(),
        &["--backend", "ort", "--ort-lib", &lib_s, "--opt-level", "basic", "--threads", "1", "-o", &out_s],
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    let got = util::tensors(&out);
    let refs = util::tensors(&util::model("gpt2_legacy.ref.safetensors"));
    let d = util::get(&got, "logits").unwrap().max_abs_diff(util::get(&refs, "output.logits").unwrap()).unwrap();
    assert!(d <= 1e-4, "pvc run --backend ort vs torch: {d:e}");
}

#[test]
fn ort_cli_missing_library_is_a_clear_error() {
    // None of these needs a library.
    let dir = util::tempdir();
    let missing = dir.path().join("nowhere/libonnxruntime.so");
    let missing_s = missing.to_string_lossy().into_owned();
    let (code, err) = pvc_run(dir.path(), &["--backend", "ort", "--ort-lib", &missing_s], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&missing_s) && err.contains("does not exist"), "{err}");
    assert!(err.contains("pip install onnxruntime") && !err.contains("panicked"), "{err}");

    let (code, err) = pvc_run(dir.path(), &["--backend", "ort"], &[("ORT_DYLIB_PATH", &missing_s)]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("ORT_DYLIB_PATH") && err.contains("does not exist"), "{err}");

    // No ORT_DYLIB_PATH and no Python on PATH: nothing to discover.
    let empty = dir.path().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let mut cmd = util::pvc();
    cmd.args(["run", "--backend", "ort", "--input", "input_ids=[[1,2,3]]"])
        .arg(util::model("gpt2_legacy.onnx"))
        .env("PATH", &empty)
        .env_remove("ORT_DYLIB_PATH")
        .env_remove("VIRTUAL_ENV");
    let out = cmd.output().expect("run pvc");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no ONNX Runtime library found") && err.contains("pip install onnxruntime"), "{err}");
}

#[test]
fn ort_cli_flags_need_the_ort_backend() {
    let dir = util::tempdir();
    for flags in [&["--threads", "2"][..], &["--opt-level", "disable"], &["--backend", "tract", "--device", "cuda"]] {
        let (code, err) = pvc_run(dir.path(), flags, &[]);
        assert_eq!(code, Some(2), "{flags:?}: {err}");
        assert!(err.contains("--backend ort"), "{flags:?}: {err}");
    }
}

#[test]
fn ort_cli_cuda_on_a_cpu_library_is_an_error() {
    let Some(lib) = util::ort_lib() else { return };
    let gpu_build = lib.parent().is_some_and(|d| d.join("libonnxruntime_providers_cuda.so").exists());
    if gpu_build {
        eprintln!("skipping: {} is a GPU build", lib.display());
        return;
    }
    let dir = util::tempdir();
    let lib_s = lib.to_string_lossy().into_owned();
    // --device cuda alone selects ONNX Runtime.
    let (code, err) = pvc_run(dir.path(), &["--device", "cuda", "--ort-lib", &lib_s], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("CUDA") && err.contains("onnxruntime-gpu"), "{err}");
}
