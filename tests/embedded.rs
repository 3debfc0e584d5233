//! Models with embedded weights: zero-copy load (weights stay slices of the mapped file),
//! streaming save, `--external-data split`, and the refusal of files that are not regular.

use crate::util;
use pvc::ir::Model;
use pvc::onnx::{ModelFile, OnnxError, SPLIT_ALIGN, SPLIT_THRESHOLD, pb, s, write_model};
use pvc::rewrite::{Options, rewrite};
use pvc::runtime::{Backend, TractBackend};
use pvc::schema::Plan;
use std::path::{Path, PathBuf};

/// Every `.onnx` fixture, external-data ones included.
fn fixtures() -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(util::models())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    all.push(util::model("gpt2_external/model.onnx"));
    all.sort();
    assert!(all.len() >= 9, "expected the fixtures, found {}", all.len());
    all
}

#[test]
fn streaming_save_gives_back_every_fixture_byte_for_byte() {
    let dir = util::tempdir();
    for path in fixtures() {
        let bytes = std::fs::read(&path).unwrap();
        let file = ModelFile::load(&path).unwrap();
        let mut streamed = Vec::new();
        write_model(&file.proto, &mut streamed).unwrap();
        assert!(streamed == bytes, "{}: streamed encoding differs", path.display());
        let model = Model::load(&path).unwrap();
        let copy = model.clone();
        let out = dir.path().join(path.file_name().unwrap());
        let _ = std::fs::remove_file(&out);
        copy.save(&out, &Default::default()).unwrap();
        assert!(std::fs::read(&out).unwrap() == bytes, "{}: saved model differs", path.display());
    }
}

/// The address ranges of this process's mappings of `file`, from `/proc/self/maps`.
fn mappings_of(file: &Path) -> Vec<(usize, usize)> {
    let file = file.canonicalize().unwrap();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .filter(|l| l.split_whitespace().nth(5).is_some_and(|p| Path::new(p) == file))
        .map(|l| {
            let (a, b) = l.split_whitespace().next().unwrap().split_once('-').unwrap();
            (usize::from_str_radix(a, 16).unwrap(), usize::from_str_radix(b, 16).unwrap())
        })
        .collect()
}

#[test]
fn loading_maps_the_file_and_never_copies_a_weight() {
    let path = util::model("gpt2_legacy.onnx");
    let model = Model::load(&path).unwrap();
    let maps = mappings_of(&path);
    assert!(!maps.is_empty(), "the model file is not mapped");
    let big: Vec<&pb::TensorProto> =
        model.graph.initializers.iter().filter(|t| t.raw_data.as_ref().is_some_and(|r| r.len() >= 4096)).collect();
    assert!(big.len() >= 10, "the fixture has {} large embedded weights", big.len());
    let pristine = model.clone();
    for (t, c) in big
        .iter()
        .zip(pristine.graph.initializers.iter().filter(|t| t.raw_data.as_ref().is_some_and(|r| r.len() >= 4096)))
    {
        let raw = t.raw_data.as_ref().unwrap();
        let (start, end) = (raw.as_ptr() as usize, raw.as_ptr() as usize + raw.len());
        assert!(
            maps.iter().any(|&(a, b)| a <= start && end <= b),
            "`{}`'s bytes are not in the mapped file",
            s(&t.name)
        );
        assert_eq!(c.raw_data.as_ref().unwrap().as_ptr(), raw.as_ptr(), "`{}`: the clone copied the bytes", s(&t.name));
    }
}

/// `file` is refused by the loader as "not a regular file" and by the CLI in one line.
fn refused(file: &Path, kind: &str) {
    match ModelFile::load(file) {
        Err(OnnxError::NotOnnx { reason, .. }) => {
            assert!(reason.contains(kind) && reason.contains("not a regular file"), "{}: {reason}", file.display())
        }
        other => panic!("{}: expected a refusal, got {other:?}", file.display()),
    }
    let out = util::tempdir();
    let o = util::pvc().arg("inspect").arg(file).arg("--json").current_dir(out.path()).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("not a regular file") && err.trim().lines().count() == 1, "{err}");
}

#[test]
fn fifos_devices_and_directories_are_refused_without_blocking() {
    let dir = util::tempdir();
    let fifo = dir.path().join("model.onnx");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    refused(&fifo, "FIFO");
    refused(Path::new("/dev/zero"), "character device");
    let err = ModelFile::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("Is a directory"), "{err}");
}

/// Rewrites `model` with `case`'s schema.
fn rewritten(model: &Path, case: &str) -> Model {
    let mut m = Model::load(model).unwrap();
    let dir = util::models().join("cases").join(case);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let plan = Plan::from_path(&dir.join(meta["schema"].as_str().unwrap())).unwrap();
    let original = meta["original"].as_bool().unwrap_or(false);
    rewrite(&mut m, &plan, &Options { original, verify: true, ..Default::default() }).unwrap();
    m
}

/// Offsets and lengths of `path`'s external tensors, checked against the split rules (tensors
/// that were external in the source move whatever their size: pass `min` 0 for those models).
fn split_layout(path: &Path, min: u64) -> Vec<(String, u64, u64)> {
    let file = ModelFile::load(path).unwrap();
    let data = format!("{}.data", path.file_name().unwrap().to_string_lossy());
    for r in &file.external {
        assert_eq!(r.location, data, "`{}`", r.tensor);
        assert_eq!(r.offset % SPLIT_ALIGN, 0, "`{}` at {}", r.tensor, r.offset);
        assert!(r.length >= min, "`{}` has {} bytes", r.tensor, r.length);
    }
    let g = file.proto.graph.as_ref().unwrap();
    for t in &g.initializer {
        assert!(t.raw_data.as_ref().is_none_or(|r| (r.len() as u64) < SPLIT_THRESHOLD), "`{}` stayed", s(&t.name));
    }
    file.external.iter().map(|r| (r.tensor.clone(), r.offset, r.length)).collect()
}

#[test]
fn split_output_loads_in_tract_onnx_checker_and_onnxruntime() {
    let dir = util::tempdir();
    let mut manifest = Vec::new();
    for (fixture, case) in [
        ("gpt2_legacy.onnx", "gpt2_addition_pos"),
        ("gpt2_external/model.onnx", "gpt2_vanilla_block_output"),
        ("llama_legacy.onnx", "llama_addition_pos"),
    ] {
        let case_dir = util::models().join("cases").join(case);
        let m = rewritten(&util::model(fixture), case);
        let whole = dir.path().join(format!("{case}.whole.onnx"));
        m.save(&whole, &Default::default()).unwrap();
        let out = dir.path().join(format!("{case}.onnx"));
        m.save(&out, &split()).unwrap();
        let min = if fixture.contains("external") { 0 } else { SPLIT_THRESHOLD };
        let layout = split_layout(&out, min);
        assert!(layout.len() >= 10, "{case}: only {} tensors moved", layout.len());
        let data = std::fs::read(dir.path().join(format!("{case}.onnx.data"))).unwrap();
        let whole_m = Model::load(&whole).unwrap();
        for (name, offset, length) in &layout {
            let t = whole_m.graph.initializers.iter().find(|t| s(&t.name) == name).unwrap();
            let want = match &t.raw_data {
                Some(r) => r.to_vec(),
                None => {
                    let r = whole_m.external.iter().find(|r| &r.tensor == name).unwrap();
                    std::fs::read(&r.file).unwrap()[r.offset as usize..(r.offset + r.length) as usize].to_vec()
                }
            };
            assert!(data[*offset as usize..(offset + length) as usize] == want[..], "{case}: `{name}` moved wrongly");
        }
        let inputs = util::tensors(&case_dir.join("inputs.safetensors"));
        let expected = util::tensors(&case_dir.join("expected.safetensors"));
        let got = TractBackend::load(&out).unwrap().run(&inputs).unwrap();
        for (name, want) in &expected {
            let d = util::get(&got, name).and_then(|g| g.max_abs_diff(want));
            assert!(d.is_some_and(|d| d <= 1e-4), "{case}: tract on the split model: `{name}` {d:?}");
        }
        manifest.push(serde_json::json!({
            "label": format!("{case} split"), "model": out,
            "inputs": case_dir.join("inputs.safetensors"), "expected": case_dir.join("expected.safetensors"),
        }));
    }
    let path = dir.path().join("manifest.json");
    std::fs::write(&path, serde_json::to_string(&manifest).unwrap()).unwrap();
    util::python_check(&path);
}

#[test]
fn split_keeps_an_identical_data_file_and_refuses_a_different_one() {
    let dir = util::tempdir();
    let m = rewritten(&util::model("gpt2_legacy.onnx"), "gpt2_addition_pos");
    let out = dir.path().join("m.onnx");
    m.save(&out, &split()).unwrap();
    let first = std::fs::read(&out).unwrap();
    m.save(&out, &split()).unwrap();
    assert!(std::fs::read(&out).unwrap() == first, "a second identical split must succeed");
    let data = dir.path().join("m.onnx.data");
    let mut other = std::fs::read(&data).unwrap();
    other[0] ^= 1;
    std::fs::write(&data, &other).unwrap();
    std::fs::remove_file(&out).unwrap();
    let err = m.save(&out, &split()).unwrap_err().to_string();
    assert!(err.contains("m.onnx.data") && err.contains("different file"), "{err}");
    assert!(!out.exists(), "the model was written although its data file was refused");
    assert!(std::fs::read(&data).unwrap() == other, "the foreign data file was touched");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}

#[test]
fn split_through_the_cli_and_an_empty_schema_copies() {
    let dir = util::tempdir();
    let schema = dir.path().join("empty.json");
    std::fs::write(&schema, "{\"representations\": []}").unwrap();
    let model = util::model("gpt2_legacy.onnx");
    let copy = dir.path().join("copy.onnx");
    let o =
        util::pvc().arg("rewrite").args([model.as_os_str(), schema.as_os_str()]).arg("-o").arg(&copy).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read(&copy).unwrap() == std::fs::read(&model).unwrap(), "the copy differs");
    let split = dir.path().join("split.onnx");
    let o = util::pvc()
        .arg("rewrite")
        .args([model.as_os_str(), schema.as_os_str()])
        .arg("-o")
        .arg(&split)
        .args(["--external-data", "split"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(split_layout(&split, SPLIT_THRESHOLD).len() >= 10);
    assert!(std::fs::metadata(&split).unwrap().len() < std::fs::metadata(&model).unwrap().len() / 4);
}

/// Save options that split the weights into `<out>.data`.
fn split() -> pvc::onnx::SaveOptions {
    pvc::onnx::SaveOptions { data: pvc::onnx::DataPolicy::Split, ..Default::default() }
}
