//! `pvc export-triton`: the repository it writes, and each model or option it refuses (one line,
//! naming the tensor or option, nothing written).

use crate::{serving, util};
use std::path::Path;

fn export(model: &Path, repo: &Path, flags: &[&str]) -> std::process::Output {
    util::pvc().arg("export-triton").arg(model).arg("-o").arg(repo).args(flags).output().unwrap()
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn refused(model: &Path, flags: &[&str], want: &str) {
    let dir = util::tempdir();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let o = export(model, &repo, flags);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err, format!("error: {want}\n"));
    assert!(files(&repo).is_empty(), "left {:?}", files(&repo));
}

#[test]
fn the_config_declares_every_tensor_and_the_export_is_byte_identical() {
    let dir = util::tempdir();
    let model = serving::patched(dir.path(), "gpt2_legacy.onnx", "pv", serving::SCHEMAS[0].1);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for repo in [&a, &b] {
        std::fs::create_dir(repo).unwrap();
        let o = export(&model, repo, &["--name", "pv", "--dynamic-batching", "--instances", "2"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(files(&a), ["pv", "pv/1", "pv/1/model.onnx", "pv/config.pbtxt"]);
    for f in ["pv/1/model.onnx", "pv/config.pbtxt"] {
        assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap(), "{f}");
    }
    assert_eq!(std::fs::read(a.join("pv/1/model.onnx")).unwrap(), std::fs::read(&model).unwrap());
    let text = std::fs::read_to_string(a.join("pv/config.pbtxt")).unwrap();
    let want = [
        "name: \"pv\"\nbackend: \"onnxruntime\"\nmax_batch_size: 8\n",
        "  {\n    name: \"input_ids\"\n    data_type: TYPE_INT64\n    dims: [ -1 ]\n  }",
        "  {\n    name: \"source.0.input_ids\"\n    data_type: TYPE_INT64\n    dims: [ -1 ]\n  }",
        "  {\n    name: \"unit_locations.0.base\"\n    data_type: TYPE_INT64\n    dims: [ -1 ]\n  }",
        "  {\n    name: \"logits\"\n    data_type: TYPE_FP32\n    dims: [ -1, 100 ]\n  }",
        "  {\n    name: \"collected.1\"\n    data_type: TYPE_FP32\n    dims: [ 1, 64 ]\n  }",
        "instance_group [\n  {\n    count: 2\n    kind: KIND_CPU\n  }\n]\n",
        "dynamic_batching {\n  max_queue_delay_microseconds: 100\n}\n",
    ];
    for w in want {
        assert!(text.contains(w), "config.pbtxt lacks {w:?}:\n{text}");
    }
    assert_eq!(text.matches("    name: ").count(), 7, "{text}");
    let o = export(&model, &a, &["--name", "pv", "--gpu", "--max-batch-size", "0"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(a.join("pv/config.pbtxt")).unwrap();
    assert!(text.contains("max_batch_size: 0\n") && text.contains("kind: KIND_GPU"), "{text}");
    assert!(text.contains("    name: \"logits\"\n    data_type: TYPE_FP32\n    dims: [ -1, -1, 100 ]"), "{text}");
    assert!(!text.contains("dynamic_batching"), "{text}");
}

#[test]
fn external_data_files_go_alongside_the_model() {
    let dir = util::tempdir();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let model = util::model("gpt2_external/model.onnx");
    let o = export(&model, &repo, &["--name", "ext"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = pvc::ir::Model::load(&model).unwrap();
    assert!(!m.external.is_empty());
    for r in &m.external {
        let placed = repo.join("ext/1").join(&r.location);
        assert_eq!(std::fs::read(&placed).unwrap(), std::fs::read(&r.file).unwrap(), "{}", placed.display());
    }
    pvc::runtime::TractBackend::load(&repo.join("ext/1/model.onnx")).unwrap();
}

#[test]
fn a_fixed_batch_is_refused_naming_the_tensor() {
    let dir = util::tempdir();
    let model = serving::patched(
        dir.path(),
        "gpt2_legacy.onnx",
        "fixed",
        r#"{"model_type":"gpt2","representations":[{"layer":0,"component":"mlp_output","unit":"pos","intervention_type":"zero"}],
            "unit_locations":{"base":[[[1],[2]]]}}"#,
    );
    refused(
        &model,
        &[],
        "input `input_ids`: its first dimension is fixed to 2; Triton batches every input and output along its first dimension (export with --max-batch-size 0 to serve it unbatched)",
    );
}

#[test]
fn an_output_without_the_batch_first_is_refused_naming_it() {
    let dir = util::tempdir();
    let path = dir.path().join("m.onnx");
    let mut m = pvc::onnx::decode_model(&std::fs::read(util::model("gpt2_legacy.onnx")).unwrap(), &path).unwrap();
    let g = m.graph.as_mut().unwrap();
    let mut out = g.output[0].clone();
    let logits = out.name.clone().unwrap();
    out.name = Some("seq_first".into());
    let ty = pvc::ir::ValueType::from_value_info(&out);
    let mut shape = ty.shape.clone().unwrap();
    shape.swap(0, 1);
    g.output.push(pvc::ir::ValueType { elem: ty.elem, shape: Some(shape) }.to_value_info("seq_first"));
    g.node.push(pvc::onnx::pb::NodeProto {
        input: vec![logits],
        output: vec!["seq_first".into()],
        name: Some("t".into()),
        op_type: Some("Transpose".into()),
        attribute: vec![pvc::onnx::pb::AttributeProto {
            name: Some("perm".into()),
            r#type: Some(pvc::onnx::pb::attribute_proto::AttributeType::Ints as i32),
            ints: vec![1, 0, 2],
            ..Default::default()
        }],
        ..Default::default()
    });
    std::fs::write(&path, pvc::onnx::encode_model(&m)).unwrap();
    refused(
        &path,
        &[],
        "output `seq_first`: its first dimension is `seq`, not the batch `batch`; Triton batches every input and output along its first dimension (export with --max-batch-size 0 to serve it unbatched)",
    );
}

#[test]
fn bad_options_are_refused_naming_the_option() {
    let m = util::model("gpt2_legacy.onnx");
    refused(
        &m,
        &["--max-batch-size", "0", "--dynamic-batching"],
        "--dynamic-batching: needs --max-batch-size of 1 or more: Triton batches nothing when max_batch_size is 0",
    );
    refused(
        &m,
        &["--name", "a/b"],
        "--name: `a/b` is not a model name: give one path component that does not start with `.`",
    );
    refused(
        &m,
        &["--name", ".."],
        "--name: `..` is not a model name: give one path component that does not start with `.`",
    );
    refused(&m, &["--instances", "0"], "--instances: 0 is out of range: give 1 to 1024");
    refused(
        &m,
        &["--max-batch-size", "4294967295"],
        "--max-batch-size: 4294967295 is past Triton's limit of 2147483647",
    );
}

#[test]
fn the_repository_must_exist_and_the_model_is_never_replaced() {
    let dir = util::tempdir();
    let missing = dir.path().join("nope");
    let o = export(&util::model("gpt2_legacy.onnx"), &missing, &["--name", "g"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "error: refusing to write {}: the directory {} does not exist: create it first\n",
            missing.join("g/config.pbtxt").display(),
            missing.display()
        )
    );
    assert!(!missing.exists());
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("g/1")).unwrap();
    let inside = repo.join("g/1/model.onnx");
    std::fs::copy(util::model("gpt2_legacy.onnx"), &inside).unwrap();
    let before = std::fs::read(&inside).unwrap();
    let o = export(&inside, &repo, &["--name", "g"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!("error: refusing to write {0}: it is {0}, an input of this run\n", inside.display())
    );
    assert_eq!(std::fs::read(&inside).unwrap(), before);
    assert_eq!(files(&repo), ["g", "g/1", "g/1/model.onnx"]);
}
