//! Parity with pyvene 0.1.8: every case in `models/cases/` (schema, inputs, and the outputs
//! the real pyvene produced) is rewritten into each of its fixture models and run with tract
//! and ONNX Runtime (all graph optimizations on), which must also agree with each other.

use crate::util;
use pvc::ir::{Dim, Model, ValueType};
use pvc::rewrite::{Options, rewrite};
use pvc::runtime::{Backend, NamedTensors, TractBackend};
use pvc::schema::Plan;
use std::path::Path;

const TOLERANCE: f64 = 1e-4;
/// tract and ONNX Runtime (at its default, ORT_ENABLE_ALL) must agree this closely.
const BACKENDS_AGREE: f64 = 1e-5;

/// Rewrites `model` with the case's schema (a file, or pyvene's save directory with the call-time
/// arguments of `"call"`) and returns where the patched model was written.
fn patch(case_dir: &Path, model: &Path, original: bool, out_dir: &Path) -> Result<std::path::PathBuf, String> {
    let case: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case_dir.join("case.json")).unwrap()).unwrap();
    let schema = case_dir.join(case["schema"].as_str().unwrap());
    let call: Vec<(&str, serde_json::Value)> =
        case["call"].as_object().map(|m| m.iter().map(|(k, v)| (k.as_str(), v.clone())).collect()).unwrap_or_default();
    let plan = Plan::from_path_with(&schema, &call).map_err(|e| e.to_string())?;
    let mut m = Model::load(model).map_err(|e| e.to_string())?;
    rewrite(&mut m, &plan, &Options { original, verify: true, ..Default::default() }).map_err(|e| e.to_string())?;
    let stem = model.file_stem().unwrap().to_string_lossy().replace('/', "_");
    let out = out_dir.join(format!("{stem}.patched.onnx"));
    let _ = std::fs::remove_file(&out);
    m.save(&out, &Default::default()).map_err(|e| e.to_string())?;
    Ok(out)
}

/// One patched model with the case's inputs and pyvene's outputs, for the Python check.
struct Written {
    label: String,
    model: std::path::PathBuf,
    inputs: std::path::PathBuf,
    expected: std::path::PathBuf,
}

/// Runs one case on every model it lists (patched models are written under `out`); returns
/// failures as text.
fn run_case(case_dir: &Path, out: &Path, written: &mut Vec<Written>) -> Vec<String> {
    let case: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case_dir.join("case.json")).unwrap()).unwrap();
    let name = case_dir.file_name().unwrap().to_string_lossy().to_string();
    let original = case["original"].as_bool().unwrap_or(false);
    let inputs = util::tensors(&case_dir.join(case["inputs"].as_str().unwrap()));
    let expected = util::tensors(&case_dir.join(case["expected"].as_str().unwrap()));
    let mut failures = Vec::new();
    for m in with_external_twin(&case["models"]) {
        let model = util::models().join(&m);
        let label = format!("{name} on {m}");
        let dir = out.join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        let patched = match patch(case_dir, &model, original, &dir) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{label}: rewrite failed: {e}"));
                continue;
            }
        };
        written.push(Written {
            label: label.clone(),
            model: patched.clone(),
            inputs: case_dir.join(case["inputs"].as_str().unwrap()),
            expected: case_dir.join(case["expected"].as_str().unwrap()),
        });
        let mut runs = Vec::new();
        for mut backend in util::backends(&patched) {
            match backend.run(&inputs) {
                Ok(o) => runs.push((backend.name(), o)),
                Err(e) => failures.push(format!("{label}: {} failed: {e}", backend.name())),
            }
        }
        for (engine, outputs) in &runs {
            for (out_name, want) in &expected {
                match util::get(outputs, out_name) {
                    None => failures.push(format!("{label} [{engine}]: no output `{out_name}`")),
                    Some(got) => match got.max_abs_diff(want) {
                        Some(d) if d <= TOLERANCE => {}
                        Some(d) => {
                            failures.push(format!("{label} [{engine}]: `{out_name}` differs from pyvene by {d:e}"))
                        }
                        None => failures.push(format!(
                            "{label} [{engine}]: `{out_name}` has shape {:?}, pyvene {:?}",
                            got.shape, want.shape
                        )),
                    },
                }
            }
        }
        for (engine, outputs) in &runs {
            failures.extend(
                declared_shapes_hold(&patched, &inputs, outputs)
                    .into_iter()
                    .map(|e| format!("{label} [{engine}]: {e}")),
            );
        }
        if let [(_, a), (_, b)] = runs.as_slice() {
            for (name, x) in a {
                let d = util::get(b, name).and_then(|y| x.max_abs_diff(y));
                if !d.is_some_and(|d| d <= BACKENDS_AGREE) {
                    failures.push(format!("{label}: tract and ort disagree on `{name}` ({d:?})"));
                }
            }
        }
    }
    failures
}

/// Checks every declared input and output shape of `model` against the tensors of one run: a
/// fixed dim must match, and each symbol must stand for one size throughout (bound first from
/// the inputs). Returns one line per mismatch.
fn declared_shapes_hold(model: &Path, inputs: &NamedTensors, outputs: &NamedTensors) -> Vec<String> {
    let file = pvc::onnx::ModelFile::load(model).unwrap();
    let graph = file.proto.graph.as_ref().unwrap();
    let mut bound: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut errors = Vec::new();
    let sides = [(&graph.input, inputs, "input"), (&graph.output, outputs, "output")];
    for (declared, tensors, side) in sides {
        for v in declared.iter() {
            let name = v.name.clone().unwrap_or_default();
            let (Some(t), Some(shape)) = (util::get(tensors, &name), ValueType::from_value_info(v).shape) else {
                continue;
            };
            if shape.len() != t.shape.len() {
                errors.push(format!("{side} `{name}` is declared {shape:?} but has shape {:?}", t.shape));
                continue;
            }
            for (d, &n) in shape.iter().zip(&t.shape) {
                let ok = match d {
                    Dim::Fixed(f) => *f == n as i64,
                    Dim::Named(sym) => *bound.entry(sym.clone()).or_insert(n) == n,
                };
                if !ok {
                    errors.push(format!("{side} `{name}` is declared {shape:?} but has shape {:?}", t.shape));
                    break;
                }
            }
        }
    }
    errors
}

/// A case's fixtures, plus the external-data copy of `gpt2_legacy.onnx` wherever that one is
/// listed, so every GPT-2 case also runs with its weights outside the `.onnx`.
fn with_external_twin(models: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = models.as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_string()).collect();
    let twin = "gpt2_external/model.onnx".to_string();
    if out.iter().any(|m| m == "gpt2_legacy.onnx") && !out.contains(&twin) {
        out.push(twin);
    }
    out
}

fn case_dirs() -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> =
        std::fs::read_dir(util::models().join("cases")).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    assert!(dirs.len() >= 20, "expected the recorded cases, found {}", dirs.len());
    dirs
}

/// Every case, on tract; then every patched model through `models/check_patched.py`
/// (`onnx.checker` with full_check, and Python onnxruntime against pyvene's numbers).
#[test]
fn every_case_matches_pyvene_on_tract_and_passes_onnx_checker() {
    let out = util::tempdir();
    let mut written = Vec::new();
    let failures: Vec<String> = case_dirs().iter().flat_map(|d| run_case(d, out.path(), &mut written)).collect();
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    let manifest: Vec<serde_json::Value> = written
        .iter()
        .map(|w| serde_json::json!({"label": w.label, "model": w.model, "inputs": w.inputs, "expected": w.expected}))
        .collect();
    let path = out.path().join("manifest.json");
    std::fs::write(&path, serde_json::to_string(&manifest).unwrap()).unwrap();
    util::python_check(&path);
}

/// pyvene's save directories are read as they are: `config.json` plus the `intkey_*.bin`
/// state_dicts (here an Addition vector), with the call-time locations added by the user.
#[test]
fn pyvene_save_directories_import_as_they_are() {
    for case in ["gpt2_addition_pos", "gpt2_zero_mlp_output_pos", "gpt2_group_key_interchange"] {
        let dir = util::models().join("cases").join(case);
        let ours = Plan::from_path(&dir.join("schema.json")).unwrap();
        let locations = ours.json["unit_locations"].clone();
        let saved = Plan::from_path_with(&dir.join("pyvene_save"), &[("unit_locations", locations.clone())]).unwrap();
        let out = util::tempdir();
        let patched = out.path().join("p.onnx");
        let st = util::pvc()
            .args([
                "rewrite",
                util::model("gpt2_legacy.onnx").to_str().unwrap(),
                dir.join("pyvene_save").to_str().unwrap(),
            ])
            .args(["-o", patched.to_str().unwrap(), "--original", "--unit-locations", &locations.to_string()])
            .output()
            .unwrap();
        assert!(st.status.success(), "{case}: {}", String::from_utf8_lossy(&st.stderr));
        let outputs =
            TractBackend::load(&patched).unwrap().run(&util::tensors(&dir.join("inputs.safetensors"))).unwrap();
        for (name, want) in util::tensors(&dir.join("expected.safetensors")) {
            let d = util::get(&outputs, &name).unwrap().max_abs_diff(&want).unwrap();
            assert!(d <= TOLERANCE, "{case}: `{name}` differs from pyvene by {d}");
        }
        assert_eq!(saved.reps.len(), ours.reps.len(), "{case}");
        for (a, b) in saved.reps.iter().zip(&ours.reps) {
            assert_eq!((a.kind, a.layer, &a.component, &a.dims), (b.kind, b.layer, &b.component, &b.dims), "{case}");
            if let pvc::schema::Source::Constant(v) = &b.source {
                assert_eq!(&a.source, &pvc::schema::Source::Constant(v.clone()), "{case}: vector from the .bin");
            }
        }
    }
}
