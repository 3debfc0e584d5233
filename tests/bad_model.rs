//! Bad models: each gives a one-line error naming the problem, never a panic, and nothing is
//! written. Library calls return the typed error; `pvc inspect`, `pvc rewrite` and `pvc run`
//! exit with status 2 and print a single `error:` line.

use crate::util;
use prost::Message;
use pvc::ir::{IrError, Model};
use pvc::onnx::{ModelFile, OnnxError, encode_model, pb};
use std::path::{Path, PathBuf};

/// Runs `pvc inspect`, `pvc rewrite` and `pvc run` on `path`; each must fail with exit status 2
/// and one `error:` line containing `needle`, and the ones with an output must write nothing.
fn cli_fails(path: &Path, needle: &str) {
    cli_fails_in(path, needle, &["inspect", "rewrite", "run"]);
}

fn cli_fails_in(path: &Path, needle: &str, commands: &[&str]) {
    let dir = util::tempdir();
    let out = dir.path().join("out.onnx");
    let tensors = dir.path().join("out.safetensors");
    let schema = util::models().join("../rewrites/examples/zero_mlp.json");
    let p = path.to_str().unwrap();
    for &cmd in commands {
        let args = match cmd {
            "inspect" => vec!["inspect", p],
            "rewrite" => vec!["rewrite", p, schema.to_str().unwrap(), "-o", out.to_str().unwrap()],
            "run" => vec!["run", p, "--input", "input_ids=[[1,2,3]]", "-o", tensors.to_str().unwrap()],
            _ => unreachable!(),
        };
        let o = util::pvc().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.starts_with("error: ") && err.contains(needle), "{args:?}: `{needle}` not in {err}");
        assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&o.stdout));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{args:?}: nothing may be written");
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// `ModelFile::load` fails with `NotOnnx` mentioning `needle`, and so does the CLI.
fn not_onnx(path: &Path, needle: &str) {
    let err = ModelFile::load(path).unwrap_err();
    assert!(matches!(err, OnnxError::NotOnnx { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(needle) && text.contains(&path.display().to_string()), "{text}");
    assert!(!text.contains('\n'), "{text}");
    cli_fails(path, needle);
}

#[test]
fn not_onnx_files_are_refused() {
    let dir = util::tempdir();
    let good = std::fs::read(util::model("gpt2_legacy.onnx")).unwrap();
    not_onnx(&write(dir.path(), "empty.onnx", b""), "the file is empty");
    not_onnx(&write(dir.path(), "half.onnx", &good[..good.len() / 2]), "truncated or garbage");
    not_onnx(&write(dir.path(), "garbage.onnx", &[0xff; 64]), "truncated or garbage");
    not_onnx(&write(dir.path(), "text.onnx", b"this is not a model\n"), "not an ONNX model");
    let tensor = pb::TensorProto { dims: vec![2], name: Some("t".into()), ..Default::default() };
    not_onnx(&write(dir.path(), "tensor.onnx", &tensor.encode_to_vec()), "not an ONNX model");
    let graph = ModelFile::load(&util::model("mlp_legacy.onnx")).unwrap().proto.graph.unwrap();
    not_onnx(&write(dir.path(), "graph.onnx", &graph.encode_to_vec()), "not an ONNX model");

    let mut proto = ModelFile::load(&util::model("mlp_legacy.onnx")).unwrap().proto;
    proto.graph = None;
    not_onnx(&write(dir.path(), "nograph.onnx", &encode_model(&proto)), "no graph");
    let mut proto = ModelFile::load(&util::model("mlp_legacy.onnx")).unwrap().proto;
    proto.opset_import.clear();
    not_onnx(&write(dir.path(), "noopset.onnx", &encode_model(&proto)), "imports no opset");

    let missing = dir.path().join("missing.onnx");
    assert!(matches!(ModelFile::load(&missing).unwrap_err(), OnnxError::Io { .. }));
    cli_fails(&missing, "No such file");
    cli_fails(dir.path(), "Is a directory");
}

/// A model with input `x` [1, 4] float, output `y`, and `nodes` built from
/// `(name, op, inputs, outputs)`.
pub fn tiny(nodes: &[(&str, &str, &[&str], &[&str])]) -> pb::ModelProto {
    let vi = |name: &str| {
        pvc::ir::ValueType { elem: Some(1), shape: Some(vec![pvc::ir::Dim::Fixed(1), pvc::ir::Dim::Fixed(4)]) }
            .to_value_info(name)
    };
    let node = |(name, op, ins, outs): &(&str, &str, &[&str], &[&str])| pb::NodeProto {
        name: Some(name.to_string()),
        op_type: Some(op.to_string()),
        input: ins.iter().map(|s| s.to_string()).collect(),
        output: outs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    pb::ModelProto {
        ir_version: Some(8),
        opset_import: vec![pb::OperatorSetIdProto { domain: Some(String::new()), version: Some(17) }],
        graph: Some(pb::GraphProto {
            name: Some("tiny".into()),
            node: nodes.iter().map(node).collect(),
            input: vec![vi("x")],
            output: vec![vi("y")],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Writes `proto`, loads it (which succeeds: the bytes are a model) and checks that `verify`
/// fails as `expect` says and that the CLI names the problem with `needle`.
fn verify_fails(proto: &pb::ModelProto, expect: impl Fn(&IrError) -> bool, needle: &str) {
    let dir = util::tempdir();
    let path = write(dir.path(), "bad.onnx", &encode_model(proto));
    let err = pvc::ir::verify(&Model::load(&path).unwrap()).unwrap_err();
    assert!(expect(&err), "{err:?}");
    assert!(err.to_string().contains(needle), "`{needle}` not in {err}");
    cli_fails_in(&path, needle, &["inspect", "rewrite", "run"]);
}

#[test]
fn a_cycle_is_named() {
    // Two nodes feeding each other.
    let m = tiny(&[("A", "Add", &["x", "b"], &["a"]), ("B", "Relu", &["a"], &["b"]), ("C", "Relu", &["b"], &["y"])]);
    verify_fails(&m, |e| matches!(e, IrError::Cycle { node } if node == "A" || node == "B"), "cycle through node");
    // A node reading its own output.
    let m = tiny(&[("A", "Add", &["x", "a"], &["a"]), ("C", "Relu", &["a"], &["y"])]);
    verify_fails(&m, |e| matches!(e, IrError::Cycle { node } if node == "A"), "cycle through node `A`");
    // A cycle inside a real model.
    let mut m = ModelFile::load(&util::model("gpt2_legacy.onnx")).unwrap().proto;
    let g = m.graph.as_mut().unwrap();
    let (i, j) = (0..g.node.len())
        .flat_map(|i| (i + 1..g.node.len()).map(move |j| (i, j)))
        .find(|&(i, j)| !g.node[i].input.is_empty() && g.node[j].input.contains(&g.node[i].output[0]))
        .unwrap();
    g.node[i].input[0] = g.node[j].output[0].clone();
    verify_fails(&m, |e| matches!(e, IrError::Cycle { .. }), "cycle");
}

#[test]
fn undefined_and_duplicate_values_are_named() {
    let m = tiny(&[("A", "Relu", &["x"], &["a"]), ("B", "Add", &["a", "nowhere"], &["y"])]);
    verify_fails(
        &m,
        |e| matches!(e, IrError::Undefined { node, value } if node == "B" && value == "nowhere"),
        "node `B` reads `nowhere`",
    );
    let m = tiny(&[("A", "Relu", &["x"], &["a"])]);
    verify_fails(&m, |e| matches!(e, IrError::OutputUndefined { value } if value == "y"), "graph output `y`");
    let m = tiny(&[("A", "Relu", &["x"], &["a"]), ("B", "Relu", &["x"], &["a"]), ("C", "Relu", &["a"], &["y"])]);
    verify_fails(&m, |e| matches!(e, IrError::Redefined { value } if value == "a"), "`a` is defined more than once");
    let m = tiny(&[("A", "Relu", &["x"], &["x"]), ("C", "Relu", &["x"], &["y"])]);
    verify_fails(&m, |e| matches!(e, IrError::Redefined { value } if value == "x"), "`x` is defined more than once");
    let m = tiny(&[("A", "Relu", &["x"], &["a"]), ("A", "Relu", &["a"], &["y"])]);
    verify_fails(&m, |e| matches!(e, IrError::DuplicateNode { node } if node == "A"), "two nodes are named `A`");
    let mut m = tiny(&[("A", "Relu", &["x"], &["y"])]);
    let w = pb::TensorProto { name: Some("w".into()), dims: vec![1], data_type: Some(1), ..Default::default() };
    m.graph.as_mut().unwrap().initializer.extend([w.clone(), w]);
    verify_fails(&m, |e| matches!(e, IrError::Redefined { value } if value == "w"), "`w` is defined more than once");
}

#[test]
fn a_missing_opset_is_named() {
    let mut m = tiny(&[("A", "Relu", &["x"], &["a"]), ("B", "Gelu", &["a"], &["y"])]);
    m.graph.as_mut().unwrap().node[1].domain = Some("com.example".into());
    verify_fails(
        &m,
        |e| matches!(e, IrError::MissingOpset { node, domain } if node == "B" && domain == "com.example"),
        "com.example",
    );
    // Only a non-default domain is imported: default-domain nodes have no opset.
    let mut m = tiny(&[("A", "Relu", &["x"], &["y"])]);
    m.opset_import[0].domain = Some("com.example".into());
    verify_fails(&m, |e| matches!(e, IrError::MissingOpset { node, .. } if node == "A"), "does not import");
}

/// A copy of the external-data fixture in a fresh temp dir, with its first initializer's
/// reference edited; returns the dir, the model path and the edited tensor's name.
fn external(edit: impl Fn(&mut Vec<pb::StringStringEntryProto>)) -> (tempfile::TempDir, PathBuf, String) {
    let dir = util::tempdir();
    let mut proto = ModelFile::load(&util::model("gpt2_external/model.onnx")).unwrap().proto;
    let t = &mut proto.graph.as_mut().unwrap().initializer[0];
    edit(&mut t.external_data);
    let name = t.name.clone().unwrap();
    std::fs::copy(util::model("gpt2_external/model.onnx.data"), dir.path().join("model.onnx.data")).unwrap();
    let p = write(dir.path(), "model.onnx", &encode_model(&proto));
    (dir, p, name)
}

fn set(kv: &mut Vec<pb::StringStringEntryProto>, key: &str, value: &str) {
    match kv.iter_mut().find(|e| e.key.as_deref() == Some(key)) {
        Some(e) => e.value = Some(value.into()),
        None => kv.push(pb::StringStringEntryProto { key: Some(key.into()), value: Some(value.into()) }),
    }
}

/// Loading fails with `ExternalData` naming `tensor` and `needle`, and so does the CLI.
fn external_fails(path: &Path, tensor: &str, needle: &str) {
    let err = Model::load(path).unwrap_err();
    let text = err.to_string();
    assert!(matches!(&err, OnnxError::ExternalData { tensor: t, .. } if t == tensor), "{err:?}");
    assert!(text.contains(&format!("initializer `{tensor}`")), "the error names the tensor: {text}");
    assert!(text.contains(needle), "`{needle}` not in {text}");
    assert!(!text.contains('\n'), "{text}");
    cli_fails(path, needle);
}

#[test]
fn unsafe_or_broken_external_data_is_refused() {
    let cases: &[(&str, &str, &str)] = &[
        ("location", "/etc/passwd", "absolute path"),
        ("location", "../model.onnx.data", "`..` leaves the model directory"),
        ("location", "sub/../../model.onnx.data", "`..` leaves the model directory"),
        ("location", "a\0b", "NUL"),
        ("location", "", "empty path"),
        ("location", "missing.data", "cannot be opened"),
        ("location", ".", "not a regular file"),
        ("offset", "12x", "bad offset `12x`"),
        ("offset", "-4", "bad offset `-4`"),
        ("length", "lots", "bad length `lots`"),
        ("length", "4", "holds 4 bytes but its shape and type need"),
        ("offset", "18446744073709551615", "offset 18446744073709551615 plus length 25600 overflows 64 bits"),
        ("offset", "1000000", "bytes 1000000..1025600 lie past the end"),
    ];
    for &(key, value, needle) in cases {
        let (_d, p, name) = external(|kv| set(kv, key, value));
        external_fails(&p, &name, needle);
    }
    let (_d, p, name) = external(|kv| kv.retain(|e| e.key.as_deref() != Some("location")));
    external_fails(&p, &name, "no `location`");
}

#[test]
fn missing_or_short_data_files_are_refused() {
    let (d, p, name) = external(|_| {});
    std::fs::remove_file(d.path().join("model.onnx.data")).unwrap();
    external_fails(&p, &name, "cannot be opened");

    let (d, p, _) = external(|_| {});
    let data = d.path().join("model.onnx.data");
    let len = std::fs::metadata(&data).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&data).unwrap().set_len(len / 2).unwrap();
    // The first tensor past the cut is named.
    let m = ModelFile::load(&util::model("gpt2_external/model.onnx")).unwrap();
    let first_cut = m.external.iter().find(|r| r.offset + r.length > len / 2).unwrap();
    external_fails(&p, &first_cut.tensor, "the file is short");
}

#[test]
fn a_symlink_out_of_the_model_directory_is_refused() {
    let outside = util::tempdir();
    std::fs::copy(util::model("gpt2_external/model.onnx.data"), outside.path().join("real.data")).unwrap();
    let (d, p, name) = external(|kv| set(kv, "location", "link.data"));
    std::os::unix::fs::symlink(outside.path().join("real.data"), d.path().join("link.data")).unwrap();
    external_fails(&p, &name, "resolves outside the model directory");
    // A directory symlink is followed too.
    let (d, p, name) = external(|kv| set(kv, "location", "weights/real.data"));
    std::os::unix::fs::symlink(outside.path(), d.path().join("weights")).unwrap();
    external_fails(&p, &name, "resolves outside the model directory");
    // A symlink that stays inside the directory is fine.
    let (d, p, _) = external(|kv| set(kv, "location", "inside.data"));
    std::os::unix::fs::symlink(d.path().join("model.onnx.data"), d.path().join("inside.data")).unwrap();
    Model::load(&p).unwrap();
}

/// A float [2] tensor named `name` whose 8 bytes live at the start of `location`.
pub fn external_tensor(name: &str, location: &str) -> pb::TensorProto {
    pb::TensorProto {
        name: Some(name.into()),
        dims: vec![2],
        data_type: Some(pb::tensor_proto::DataType::Float as i32),
        data_location: Some(pb::tensor_proto::DataLocation::External as i32),
        external_data: [("location", location), ("offset", "0"), ("length", "8")]
            .into_iter()
            .map(|(k, v)| pb::StringStringEntryProto { key: Some(k.into()), value: Some(v.into()) })
            .collect(),
        ..Default::default()
    }
}

/// `tiny` models with an external tensor named `t` in `location` somewhere outside the main
/// graph's initializers, each with a label.
pub fn tensors_off_the_main_graph(location: &str) -> Vec<(&'static str, pb::ModelProto)> {
    let t = external_tensor("t", location);
    let attr = |name: &str| pb::AttributeProto {
        name: Some(name.into()),
        r#type: Some(pb::attribute_proto::AttributeType::Tensor as i32),
        t: Some(t.clone()),
        ..Default::default()
    };
    let constant = pb::NodeProto {
        name: Some("K".into()),
        op_type: Some("Constant".into()),
        output: vec!["k".into()],
        attribute: vec![attr("value")],
        ..Default::default()
    };
    let sparse = pb::SparseTensorProto {
        values: Some(t.clone()),
        indices: Some(pb::TensorProto {
            name: Some("i".into()),
            dims: vec![2],
            data_type: Some(pb::tensor_proto::DataType::Int64 as i32),
            int64_data: vec![0, 1],
            ..Default::default()
        }),
        dims: vec![4],
    };
    let base = || tiny(&[("A", "Relu", &["x"], &["y"])]);
    let mut out = Vec::new();

    let mut m = base();
    m.graph.as_mut().unwrap().node.insert(0, constant.clone());
    out.push(("Constant node attribute", m));

    let mut m = base();
    m.graph.as_mut().unwrap().sparse_initializer.push(sparse.clone());
    out.push(("sparse initializer", m));

    let mut m = base();
    let mut node = constant.clone();
    node.attribute = vec![pb::AttributeProto {
        name: Some("sparse_value".into()),
        r#type: Some(pb::attribute_proto::AttributeType::SparseTensor as i32),
        sparse_tensor: Some(sparse),
        ..Default::default()
    }];
    m.graph.as_mut().unwrap().node.insert(0, node);
    out.push(("sparse attribute", m));

    let mut m = base();
    let body = pb::GraphProto { name: Some("then".into()), initializer: vec![t.clone()], ..Default::default() };
    m.graph.as_mut().unwrap().node.insert(
        0,
        pb::NodeProto {
            name: Some("If".into()),
            op_type: Some("If".into()),
            input: vec!["x".into()],
            output: vec!["z".into()],
            attribute: vec![pb::AttributeProto {
                name: Some("then_branch".into()),
                r#type: Some(pb::attribute_proto::AttributeType::Graph as i32),
                g: Some(body),
                ..Default::default()
            }],
            ..Default::default()
        },
    );
    out.push(("subgraph initializer", m));

    let mut m = base();
    m.functions.push(pb::FunctionProto {
        name: Some("F".into()),
        domain: Some("local".into()),
        output: vec!["k".into()],
        node: vec![constant],
        opset_import: m.opset_import.clone(),
        ..Default::default()
    });
    out.push(("function body", m));

    let mut m = base();
    m.functions.push(pb::FunctionProto {
        name: Some("G".into()),
        domain: Some("local".into()),
        attribute_proto: vec![attr("default")],
        opset_import: m.opset_import.clone(),
        ..Default::default()
    });
    out.push(("function attribute default", m));

    let mut m = base();
    m.training_info.push(pb::TrainingInfoProto {
        initialization: Some(pb::GraphProto { name: Some("init".into()), initializer: vec![t], ..Default::default() }),
        ..Default::default()
    });
    out.push(("training-info graph", m));
    out
}

#[test]
fn references_off_the_main_graph_are_checked_too() {
    for (what, m) in tensors_off_the_main_graph("/etc/passwd") {
        let dir = util::tempdir();
        let path = write(dir.path(), "m.onnx", &encode_model(&m));
        let err = ModelFile::load(&path).err().unwrap_or_else(|| panic!("{what}: the reference was not checked"));
        assert!(matches!(&err, OnnxError::ExternalData { tensor, .. } if tensor == "t"), "{what}: {err:?}");
        assert!(err.to_string().contains("absolute path"), "{what}: {err}");
    }
}

/// Subgraphs nested past prost's recursion limit are refused with a short line: the decoder's
/// path through the nesting is cut to its two ends and a count.
#[test]
fn deeply_nested_subgraphs_give_a_short_error() {
    let mut graph = pb::GraphProto { name: Some("leaf".into()), ..Default::default() };
    for depth in 0..120 {
        let attr = pb::AttributeProto {
            name: Some("then_branch".into()),
            g: Some(graph),
            r#type: Some(pb::attribute_proto::AttributeType::Graph as i32),
            ..Default::default()
        };
        let node = pb::NodeProto { op_type: Some("If".into()), attribute: vec![attr], ..Default::default() };
        graph = pb::GraphProto { name: Some(format!("g{depth}")), node: vec![node], ..Default::default() };
    }
    let model = pb::ModelProto {
        ir_version: Some(8),
        graph: Some(graph),
        opset_import: vec![pb::OperatorSetIdProto { version: Some(17), ..Default::default() }],
        ..Default::default()
    };
    let dir = util::tempdir();
    let path = write(dir.path(), "deep.onnx", &model.encode_to_vec());
    let err = ModelFile::load(&path).unwrap_err().to_string();
    assert!(err.len() < 400, "{} bytes: {err}", err.len());
    assert!(err.contains("recursion limit") && err.contains("more levels"), "{err}");
    cli_fails(&path, "recursion limit");
}
