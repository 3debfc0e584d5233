//! Bad models: each gives a one-line error naming the problem, never a panic, and nothing is
//! written.

use crate::util;
use prost::Message;
use pvc::ir::{IrError, Model};
use pvc::onnx::{ModelFile, OnnxError, encode_model, pb};
use std::path::{Path, PathBuf};

/// Runs `pvc inspect` and `pvc rewrite` on `path`; both must fail in one `error:` line
/// containing `needle`, and the rewrite must write nothing.
fn cli_fails(path: &Path, needle: &str) {
    let out = path.with_file_name("out.onnx");
    let schema = util::models().join("../rewrites/examples/zero_mlp.json");
    for args in [
        vec!["inspect", path.to_str().unwrap()],
        vec!["rewrite", path.to_str().unwrap(), schema.to_str().unwrap(), "-o", out.to_str().unwrap()],
    ] {
        let o = util::pvc().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: ") && err.contains(needle), "{args:?}: `{needle}` not in {err}");
        assert!(!err.contains("panicked"));
        assert!(!out.exists(), "nothing may be written");
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn not_onnx_files_are_refused() {
    let dir = util::tempdir();
    let good = std::fs::read(util::model("gpt2_legacy.onnx")).unwrap();
    cli_fails(&write(dir.path(), "empty.onnx", b""), "the file is empty");
    cli_fails(&write(dir.path(), "half.onnx", &good[..good.len() / 2]), "not an ONNX model");
    cli_fails(&write(dir.path(), "garbage.onnx", &[0xff; 64]), "not an ONNX model");
    let tensor = pb::TensorProto { dims: vec![2], name: Some("t".into()), ..Default::default() };
    cli_fails(&write(dir.path(), "tensor.onnx", &tensor.encode_to_vec()), "not an ONNX model");
    cli_fails(&dir.path().join("missing.onnx"), "No such file");
}

fn gpt2() -> pb::ModelProto {
    ModelFile::load(&util::model("gpt2_legacy.onnx")).unwrap().proto
}

fn graph_error(edit: impl Fn(&mut pb::GraphProto), expect: impl Fn(&IrError) -> bool, needle: &str) {
    let mut proto = gpt2();
    edit(proto.graph.as_mut().unwrap());
    let dir = util::tempdir();
    let path = write(dir.path(), "bad.onnx", &encode_model(&proto));
    let err = pvc::ir::verify(&Model::load(&path).unwrap()).unwrap_err();
    assert!(expect(&err), "{err:?}");
    cli_fails(&path, needle);
}

#[test]
fn broken_graphs_fail_verification() {
    graph_error(
        |g| {
            let (i, j) = (0..g.node.len())
                .flat_map(|i| (i + 1..g.node.len()).map(move |j| (i, j)))
                .find(|&(i, j)| !g.node[i].input.is_empty() && g.node[j].input.contains(&g.node[i].output[0]))
                .unwrap();
            let back = g.node[j].output[0].clone();
            g.node[i].input[0] = back;
        },
        |e| matches!(e, IrError::Cycle { .. }),
        "cycle",
    );
    graph_error(
        |g| g.node[5].input[0] = "nowhere".into(),
        |e| matches!(e, IrError::Undefined { value, .. } if value == "nowhere"),
        "`nowhere`",
    );
    graph_error(
        |g| {
            let o = g.node[4].output[0].clone();
            g.node[6].output[0] = o;
        },
        |e| matches!(e, IrError::Redefined { .. }),
        "defined more than once",
    );
    graph_error(
        |g| g.node[1].domain = Some("com.example".into()),
        |e| matches!(e, IrError::MissingOpset { .. }),
        "com.example",
    );
}

/// A copy of the external-data fixture in a temp dir, with its first initializer's reference
/// edited; returns the model path.
fn external(dir: &Path, edit: impl Fn(&mut Vec<pb::StringStringEntryProto>)) -> PathBuf {
    let mut proto = ModelFile::load(&util::model("gpt2_external/model.onnx")).unwrap().proto;
    edit(&mut proto.graph.as_mut().unwrap().initializer[0].external_data);
    std::fs::copy(util::model("gpt2_external/model.onnx.data"), dir.join("model.onnx.data")).unwrap();
    write(dir, "model.onnx", &encode_model(&proto))
}

fn set(kv: &mut [pb::StringStringEntryProto], key: &str, value: &str) {
    kv.iter_mut().find(|e| e.key.as_deref() == Some(key)).unwrap().value = Some(value.into());
}

fn external_fails(path: &Path, needle: &str) {
    let err = Model::load(path).unwrap_err();
    assert!(matches!(err, OnnxError::ExternalData { .. }), "{err}");
    assert!(err.to_string().contains("initializer `"), "the error names the tensor: {err}");
    assert!(err.to_string().contains(needle), "`{needle}` not in {err}");
    cli_fails(path, needle);
}

#[test]
fn unsafe_or_broken_external_data_is_refused() {
    let d = util::tempdir();
    let p = external(d.path(), |kv| set(kv, "location", "/etc/passwd"));
    external_fails(&p, "absolute path");
    let d = util::tempdir();
    let p = external(d.path(), |kv| set(kv, "location", "../model.onnx.data"));
    external_fails(&p, "`..`");
    let d = util::tempdir();
    let p = external(d.path(), |kv| set(kv, "location", "a\0b"));
    external_fails(&p, "NUL");
    let d = util::tempdir();
    let p = external(d.path(), |kv| set(kv, "location", "missing.data"));
    external_fails(&p, "cannot be opened");
    let d = util::tempdir();
    let p = external(d.path(), |kv| set(kv, "offset", "12x"));
    external_fails(&p, "bad offset");
    let d = util::tempdir();
    let p = external(d.path(), |_| {});
    let data = d.path().join("model.onnx.data");
    let len = std::fs::metadata(&data).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&data).unwrap().set_len(len / 2).unwrap();
    external_fails(&p, "short");
    let outside = util::tempdir();
    std::fs::copy(util::model("gpt2_external/model.onnx.data"), outside.path().join("real.data")).unwrap();
    let d = util::tempdir();
    let p = external(d.path(), |kv| set(kv, "location", "link.data"));
    std::os::unix::fs::symlink(outside.path().join("real.data"), d.path().join("link.data")).unwrap();
    external_fails(&p, "outside the model directory");
}
