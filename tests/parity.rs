//! Parity with pyvene 0.1.8: every case in `models/cases/` (schema, inputs, and the outputs
//! the real pyvene produced) is rewritten into each of its fixture models and run with tract.

use crate::util;
use pvc::ir::Model;
use pvc::rewrite::{Options, rewrite};
use pvc::runtime::{Backend, TractBackend};
use pvc::schema::Plan;
use std::path::Path;

const TOLERANCE: f64 = 1e-4;

/// Rewrites `model` with the case's schema and returns where the patched model was written.
fn patch(case_dir: &Path, model: &Path, original: bool, out_dir: &Path) -> Result<std::path::PathBuf, String> {
    let case: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(case_dir.join("case.json")).unwrap()).unwrap();
    let schema = case_dir.join(case["schema"].as_str().unwrap());
    let plan = Plan::from_path(&schema).map_err(|e| e.to_string())?;
    let mut m = Model::load(model).map_err(|e| e.to_string())?;
    rewrite(&mut m, &plan, &Options { original, verify: true }).map_err(|e| e.to_string())?;
    let stem = model.file_stem().unwrap().to_string_lossy().replace('/', "_");
    let out = out_dir.join(format!("{stem}.patched.onnx"));
    let _ = std::fs::remove_file(&out);
    m.save(&out, &Default::default()).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Runs one case on every model it lists; returns failures as text.
fn run_case(case_dir: &Path) -> Vec<String> {
    let case: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(case_dir.join("case.json")).unwrap()).unwrap();
    let name = case_dir.file_name().unwrap().to_string_lossy().to_string();
    let original = case["original"].as_bool().unwrap_or(false);
    let inputs = util::tensors(&case_dir.join(case["inputs"].as_str().unwrap()));
    let expected = util::tensors(&case_dir.join(case["expected"].as_str().unwrap()));
    let mut failures = Vec::new();
    for m in case["models"].as_array().unwrap() {
        let model = util::models().join(m.as_str().unwrap());
        let dir = util::tempdir();
        let label = format!("{name} on {}", m.as_str().unwrap());
        let patched = match patch(case_dir, &model, original, dir.path()) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{label}: rewrite failed: {e}"));
                continue;
            }
        };
        let outputs = match TractBackend::load(&patched).and_then(|mut b| b.run(&inputs)) {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{label}: tract failed: {e}"));
                continue;
            }
        };
        for (out_name, want) in &expected {
            match util::get(&outputs, out_name) {
                None => failures.push(format!("{label}: no output `{out_name}`")),
                Some(got) => match got.max_abs_diff(want) {
                    Some(d) if d <= TOLERANCE => {}
                    Some(d) => failures.push(format!("{label}: `{out_name}` differs from pyvene by {d:e}")),
                    None => failures.push(format!("{label}: `{out_name}` has shape {:?}, pyvene {:?}", got.shape, want.shape)),
                },
            }
        }
    }
    failures
}

#[test]
fn every_case_matches_pyvene_on_tract() {
    let mut dirs: Vec<_> = std::fs::read_dir(util::models().join("cases")).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    assert!(dirs.len() >= 20, "expected the recorded cases, found {}", dirs.len());
    let failures: Vec<String> = dirs.iter().flat_map(|d| run_case(d)).collect();
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
