//! Trained interventions (issue 10): torch's orthogonal maps made concrete exactly, pyvene's
//! save directories in both key formats, and the bad inputs of a trained save directory, each a
//! one-line error with nothing written. Parity with pyvene itself is in `parity.rs` (the
//! `models/cases/*` recorded by `models/cases_trained.py`).

use crate::util;
use pvc::runtime::{Backend, TractBackend};
use pvc::schema::{Mat, OrthMap, materialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const DAS: &str = "cases/gpt2_das_block_output";

fn mat(t: &pvc::runtime::Tensor) -> Mat {
    let v = t.to_f64();
    Mat::new(t.shape[0], t.shape[1], v)
}

/// For each of torch's maps (matrix_exp, cayley, householder), square, tall and wide, with and
/// without trivialization, `base @ map(original)` in f64 gives torch's weight.
#[test]
fn orthogonal_parametrizations_materialize_to_torchs_weight() {
    let refs = util::tensors(&util::model("orthogonal.ref.safetensors"));
    let mut checked = 0;
    for (name, weight) in &refs {
        let Some(tag) = name.strip_suffix(".weight") else { continue };
        let map = OrthMap::parse(tag.split('.').next().unwrap()).unwrap();
        let original = mat(util::get(&refs, &format!("{tag}.original")).unwrap());
        let base = util::get(&refs, &format!("{tag}.base")).map(mat);
        let got = materialize(&original, base.as_ref(), map);
        let want = mat(weight);
        assert_eq!((got.rows, got.cols), (want.rows, want.cols), "{tag}");
        let d = got.v.iter().zip(&want.v).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(d < 2e-6, "{tag}: differs from torch by {d}");
        checked += 1;
    }
    assert_eq!(checked, 12, "every map, shape and trivialization");
}

/// A copy of a case's save directory, `edit` applied to its config.json.
fn save_copy(case: &str, edit: impl Fn(&mut serde_json::Value)) -> tempfile::TempDir {
    let dir = util::tempdir();
    for e in std::fs::read_dir(util::model(case).join("pyvene_save")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    let cfg = dir.path().join("config.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&cfg, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    dir
}

fn call(case: &str) -> serde_json::Value {
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(util::model(case).join("case.json")).unwrap()).unwrap();
    c["call"].clone()
}

/// `pvc rewrite MODEL DIR` with the case's call-time locations; (exit code, stderr, output).
fn rewrite(dir: &Path, case: &str, out_dir: &Path) -> (i32, String, PathBuf) {
    let out = out_dir.join("out.onnx");
    let o = util::pvc()
        .args(["rewrite", util::model("gpt2_legacy.onnx").to_str().unwrap(), dir.to_str().unwrap()])
        .args(["-o", out.to_str().unwrap(), "--unit-locations", &call(case)["unit_locations"].to_string()])
        .output()
        .unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned(), out)
}

fn fails(dir: &Path, needles: &[&str]) -> String {
    let out = util::tempdir();
    let (code, err, written) = rewrite(dir, DAS, out.path());
    assert_eq!(code, 2, "expected a clean failure: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: ") && !err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
    assert!(!written.exists() && std::fs::read_dir(out.path()).unwrap().count() == 0, "nothing written");
    err
}

/// pyvene before 0.1.7 keyed interventions `layer.0.comp.block_output.unit.pos.nunit.1#0`
/// (files `intkey_layer.0.comp….bin`); such a directory gives pyvene's numbers too.
#[test]
fn save_directories_with_pre_0_1_7_keys_give_the_same_numbers() {
    let old = "layer.0.comp.block_output.unit.pos.nunit.1#0";
    let dir = save_copy(DAS, |v| v["sorted_keys"] = serde_json::json!([old]));
    std::fs::rename(
        dir.path().join("intkey_layer_0_comp_block_output_unit_pos_nunit_1#0.bin"),
        dir.path().join(format!("intkey_{old}.bin")),
    )
    .unwrap();
    let out = util::tempdir();
    let (code, err, patched) = rewrite(dir.path(), DAS, out.path());
    assert_eq!(code, 0, "{err}");
    let case = util::model(DAS);
    let outputs = TractBackend::load(&patched).unwrap().run(&util::tensors(&case.join("inputs.safetensors"))).unwrap();
    for (name, want) in util::tensors(&case.join("expected.safetensors")) {
        let d = util::get(&outputs, &name).unwrap().max_abs_diff(&want).unwrap();
        assert!(d <= 1e-4, "`{name}` differs from pyvene by {d}");
    }
}

#[test]
fn an_unknown_class_string_names_the_nearest_classes() {
    let dir = save_copy(DAS, |v| {
        v["intervention_types"] = serde_json::json!(["<class 'pyvene.models.interventions.RotatedSpaceIntervetion'>"])
    });
    fails(dir.path(), &["intervention_types[0]", "unknown intervention", "nearest: RotatedSpaceIntervention"]);
}

#[test]
fn a_weight_that_does_not_fit_the_site_names_both_shapes() {
    let dir = save_copy(DAS, |v| v["representations"][0][1] = serde_json::json!("mlp_activation"));
    fails(dir.path(), &["representations[0].component", "takes vectors of 64", "gives 1 units × 256 = 256"]);
}

#[test]
fn a_missing_bin_is_named() {
    let dir = save_copy(DAS, |_| {});
    std::fs::remove_file(dir.path().join("intkey_layer_0_comp_block_output_unit_pos_nunit_1#0.bin")).unwrap();
    fails(dir.path(), &["representations[0]", "RotatedSpaceIntervention needs", "is missing from the save directory"]);
}

#[test]
fn a_truncated_bin_is_refused() {
    let dir = save_copy(DAS, |_| {});
    let bin = dir.path().join("intkey_layer_0_comp_block_output_unit_pos_nunit_1#0.bin");
    let bytes = std::fs::read(&bin).unwrap();
    std::fs::write(&bin, &bytes[..bytes.len() / 2]).unwrap();
    fails(dir.path(), &["sorted_keys[0]", "intkey_layer_0_comp_block_output_unit_pos_nunit_1#0.bin"]);
}

/// A `.bin` whose pickle calls `os.system` is refused before anything runs.
#[test]
fn a_bin_whose_pickle_calls_os_system_is_refused_and_nothing_runs() {
    let dir = save_copy(DAS, |_| {});
    let marker = dir.path().join("ran");
    let bin = dir.path().join("intkey_layer_0_comp_block_output_unit_pos_nunit_1#0.bin");
    let cmd = format!("touch {}", marker.display());
    let mut pickle = b"\x80\x02cos\nsystem\nX".to_vec();
    pickle.extend((cmd.len() as u32).to_le_bytes());
    pickle.extend(cmd.as_bytes());
    pickle.extend(b"\x85R.");
    let mut zin = zip::ZipArchive::new(std::fs::File::open(&bin).unwrap()).unwrap();
    let mut zout = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..zin.len() {
        let mut f = zin.by_index(i).unwrap();
        let name = f.name().unwrap().into_owned();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        zout.start_file(&name, zip::write::SimpleFileOptions::default()).unwrap();
        zout.write_all(if name.ends_with("data.pkl") { &pickle } else { &data }).unwrap();
    }
    std::fs::write(&bin, zout.finish().unwrap().into_inner()).unwrap();
    fails(dir.path(), &["refusing to call `os.system`"]);
    assert!(!marker.exists(), "the pickle's command must never run");
}
