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
    rewrite_with(dir, case, out_dir)
}

/// [`rewrite`] on the case's first model, with its call-time locations and subspaces.
fn rewrite_with(dir: &Path, case: &str, out_dir: &Path) -> (i32, String, PathBuf) {
    let out = out_dir.join("out.onnx");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(util::model(case).join("case.json")).unwrap()).unwrap();
    let model = util::model(meta["models"][0].as_str().unwrap());
    let mut cmd = util::pvc();
    cmd.args(["rewrite", model.to_str().unwrap(), dir.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    cmd.args(["--unit-locations", &call(case)["unit_locations"].to_string()]);
    if let Some(s) = call(case).get("subspaces") {
        cmd.args(["--subspaces", &s.to_string()]);
    }
    let o = cmd.output().unwrap();
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

/// `pvc export-weights DIR` writes the directory's tensors as `<i>.<param>` (R in place of its
/// parametrization); the config plus that file rewrites to the same model as the directory.
#[test]
fn exported_weights_rewrite_to_the_same_model_as_the_save_directory() {
    use prost::Message;
    for case in
        [DAS, "cases/gpt2_lowrank_mlp_output", "cases/gpt2_boundless_block_output", "cases/gpt2_loreft_block_output"]
    {
        let tmp = util::tempdir();
        let weights = tmp.path().join("w.safetensors");
        let save = util::model(case).join("pyvene_save");
        let o = util::pvc()
            .args(["export-weights", save.to_str().unwrap(), "-o", weights.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{case}: {}", String::from_utf8_lossy(&o.stderr));
        let names: Vec<String> = util::tensors(&weights).into_iter().map(|(n, _)| n).collect();
        assert!(names.iter().all(|n| n.starts_with("0.") && !n.contains("parametrizations")), "{case}: {names:?}");
        let plain = tmp.path().join("plain");
        std::fs::create_dir(&plain).unwrap();
        let mut cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(save.join("config.json")).unwrap()).unwrap();
        cfg["weights"] = serde_json::json!("w.safetensors");
        std::fs::write(plain.join("config.json"), cfg.to_string()).unwrap();
        std::fs::rename(&weights, plain.join("w.safetensors")).unwrap();
        let models: Vec<Vec<u8>> = [save, plain]
            .iter()
            .map(|dir| {
                let (code, err, out) = rewrite_with(dir, case, tmp.path());
                assert_eq!(code, 0, "{case}: {err}");
                let mut m = pvc::onnx::pb::ModelProto::decode(std::fs::read(&out).unwrap().as_slice()).unwrap();
                m.metadata_props.retain(|p| p.key.as_deref() != Some("pvc.schema"));
                std::fs::remove_file(out).unwrap();
                m.encode_to_vec()
            })
            .collect();
        assert!(models[0] == models[1], "{case}: the two rewrites differ");
    }
}

/// A SAELens directory whose architecture the intervention does not compute is refused.
#[test]
fn an_sae_of_another_architecture_is_refused() {
    let src = util::model("cases/gpt2_saelens_relu");
    let tmp = util::tempdir();
    let sae = tmp.path().join("sae");
    std::fs::create_dir(&sae).unwrap();
    std::fs::copy(src.join("sae/sae_weights.safetensors"), sae.join("sae_weights.safetensors")).unwrap();
    let cfg = std::fs::read_to_string(src.join("sae/cfg.json")).unwrap().replace("\"standard\"", "\"jumprelu\"");
    std::fs::write(sae.join("cfg.json"), cfg).unwrap();
    std::fs::copy(src.join("schema.json"), tmp.path().join("schema.json")).unwrap();
    let out = tmp.path().join("out.onnx");
    let o = util::pvc()
        .args([
            "rewrite",
            util::model("gpt2_legacy.onnx").to_str().unwrap(),
            tmp.path().join("schema.json").to_str().unwrap(),
        ])
        .args(["-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("representations[0].sae") && err.contains("holds a `jumprelu` SAE"), "{err}");
    assert!(!out.exists());
}

/// fp16 and bf16 weights at an fp16 or bf16 site stay bit for bit what was saved: every constant
/// a LoReFT adds takes the site's type, and R is stored exactly; the fp16 model runs and agrees
/// with the fp32 one patched with the same weights.
#[test]
fn half_precision_weights_keep_their_bits_at_half_precision_sites() {
    use pvc::runtime::{DType, Tensor};
    let (n, r) = (16usize, 4usize);
    let wave = |k: usize, s: f64| (0..k).map(|j| ((j * 7 % 11) as f64 - 5.0) * s).collect::<Vec<f64>>();
    let (rot, w, b) = (wave(n * r, 0.05), wave(r * n, 0.03), wave(r, 0.2));
    let schema = r#"{"representations": [{"component": "net[2].output", "intervention_type": "LoreftIntervention"}],
        "unit_locations": {"base": [1, 4]}, "weights": "w.safetensors"}"#;
    let mut outs = Vec::new();
    for (model, dt, elem) in [
        ("mlp_fp16.onnx", DType::F16, pvc::onnx::pb::tensor_proto::DataType::Float16),
        ("mlp_bf16.onnx", DType::BF16, pvc::onnx::pb::tensor_proto::DataType::Bfloat16),
        ("mlp_legacy.onnx", DType::F32, pvc::onnx::pb::tensor_proto::DataType::Float),
    ] {
        let dir = util::tempdir();
        let bits = |v: &[f64]| -> Vec<u8> {
            v.iter()
                .flat_map(|&x| match dt {
                    DType::F16 => half::f16::from_f64(x).to_le_bytes().to_vec(),
                    DType::BF16 => half::bf16::from_f64(x).to_le_bytes().to_vec(),
                    _ => (half::f16::from_f64(x).to_f32()).to_le_bytes().to_vec(),
                })
                .collect()
        };
        let ts = vec![
            ("0.rotate_layer".to_string(), Tensor::new(dt, vec![n, r], bits(&rot)).unwrap()),
            ("0.weight".to_string(), Tensor::new(dt, vec![r, n], bits(&w)).unwrap()),
            ("0.bias".to_string(), Tensor::new(dt, vec![r], bits(&b)).unwrap()),
        ];
        pvc::runtime::write_safetensors_with(&dir.path().join("w.safetensors"), &ts, &Default::default()).unwrap();
        let plan = pvc::schema::Plan::from_json(schema, dir.path()).unwrap();
        let mut m = pvc::ir::Model::load(&util::model(model)).unwrap();
        pvc::rewrite::rewrite(
            &mut m,
            &plan,
            &pvc::rewrite::Options { original: false, verify: true, ..Default::default() },
        )
        .unwrap();
        let ours: Vec<_> = m
            .graph
            .initializers
            .iter()
            .filter(|t| pvc::onnx::s(&t.name).starts_with("pvc/") && t.data_type.is_some_and(pvc::ir::is_float))
            .collect();
        assert!(ours.iter().all(|t| t.data_type == Some(elem as i32)), "{model}: constants take the site's type");
        let stored = bits(&rot);
        assert!(
            ours.iter().any(|t| t.dims == [n as i64, r as i64] && t.raw_data.as_deref() == Some(stored.as_slice())),
            "{model}: R is the saved tensor, bit for bit"
        );
        if dt != DType::BF16 {
            let out = dir.path().join("p.onnx");
            m.save(&out, &Default::default()).unwrap();
            let x = util::get(&util::tensors(&util::model("mlp_legacy.ref.safetensors")), "input.x").unwrap().clone();
            let x = if dt == DType::F16 {
                let h: Vec<u8> = x.to_f64().iter().flat_map(|v| half::f16::from_f64(*v).to_le_bytes()).collect();
                Tensor::new(DType::F16, x.shape.clone(), h).unwrap()
            } else {
                x
            };
            let y = TractBackend::load(&out).unwrap().run(&vec![("x".into(), x)]).unwrap();
            outs.push(util::get(&y, "y").unwrap().clone());
        }
    }
    let d = outs[0].max_abs_diff(&outs[1]).unwrap();
    assert!(d < 5e-2, "fp16 and fp32 LoReFT differ by {d}");
}

#[test]
fn per_example_subspaces_of_a_trained_intervention_are_refused() {
    let out = util::tempdir();
    let o = util::pvc()
        .args(["rewrite", util::model("gpt2_legacy.onnx").to_str().unwrap()])
        .arg(util::model(DAS).join("pyvene_save"))
        .args(["-o", out.path().join("o.onnx").to_str().unwrap(), "--unit-locations", r#"{"sources->base": [3, 3]}"#])
        .args(["--subspaces", "[[[0, 1], [2, 3]]]"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("subspaces[0]") && err.contains("different subspaces per example"), "{err}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "nothing written");
}
