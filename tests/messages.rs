//! Clear messages (issue 7, requirement 5): no panic text, model defects blamed on the model,
//! ONNX Runtime errors on one line without its own log lines, control characters escaped.

use crate::util;
use pvc::onnx::{decode_model, encode_model, pb};
use std::path::Path;

/// Runs pvc with `args`; returns the exit code and stderr.
fn run(args: &[&str]) -> (i32, String) {
    let out = util::pvc().args(args).output().expect("pvc runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `fixture` with `edit` applied to its decoded protobuf, written to `path`.
fn edited(fixture: &str, path: &Path, edit: impl FnOnce(&mut pb::ModelProto)) {
    let src = util::model(fixture);
    let mut m = decode_model(&std::fs::read(&src).unwrap(), &src).unwrap();
    edit(&mut m);
    std::fs::write(path, encode_model(&m)).unwrap();
}

fn schema(dir: &Path, json: serde_json::Value) -> String {
    let p = dir.join("schema.json");
    std::fs::write(&p, json.to_string()).unwrap();
    p.to_string_lossy().into_owned()
}

/// B1 + B2: a STRING-typed initializer makes tract panic during type inference. No panic text
/// reaches the user, and a rewrite that needs the lost types blames the model, not the schema.
#[test]
fn a_model_tract_cannot_analyse_is_blamed_as_the_model() {
    let dir = util::tempdir();
    let model = dir.path().join("string_init.onnx");
    edited("mlp_legacy.onnx", &model, |m| {
        m.graph.as_mut().unwrap().initializer[0].data_type = Some(pb::tensor_proto::DataType::String as i32);
    });
    let model = model.to_string_lossy().into_owned();
    let (_, err) = run(&["inspect", &model]);
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    let s = schema(
        dir.path(),
        serde_json::json!({"component": "net[2].output", "intervention": "zero",
            "unit_locations": {"base": [1]}, "subspaces": [0, 1]}),
    );
    let out = dir.path().join("out.onnx");
    let (code, err) = run(&["rewrite", &model, &s, "-o", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("model: tract could not analyse this model"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!out.exists());
}

/// B5: ONNX Runtime refusing a model gives one pvc line, and none of ORT's own log lines.
#[test]
fn onnx_runtime_errors_are_one_line() {
    let Some(lib) = util::ort_lib() else { return };
    let dir = util::tempdir();
    let model = dir.path().join("strange.onnx");
    util::unloadable_model(&model);
    let (code, err) = run(&[
        "run",
        model.to_str().unwrap(),
        "--backend",
        "ort",
        "--ort-lib",
        lib.to_str().unwrap(),
        "--input",
        "x=[[[1,2,3,4,5,6,7,8]]]",
    ]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "one line, no ORT log lines: {err}");
    assert!(err.starts_with("error: ") && err.contains("NoSuchOp"), "{err}");
}

/// B6: names from a model or a schema that carry control characters (terminal escapes, line
/// breaks) are printed escaped, in the inspect tree and in error lines.
#[test]
fn control_characters_in_names_are_escaped() {
    let dir = util::tempdir();
    let model = dir.path().join("evil.onnx");
    let evil = "x\u{1b}[2J\nFAKE LINE";
    edited("mlp_legacy.onnx", &model, |m| {
        let g = m.graph.as_mut().unwrap();
        let old = g.input[0].name.replace(evil.to_string()).unwrap();
        for n in &mut g.node {
            for i in n.input.iter_mut().filter(|i| **i == old) {
                *i = evil.to_string();
            }
        }
    });
    let model = model.to_string_lossy().into_owned();
    let out = util::pvc().args(["inspect", &model]).output().unwrap();
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!tree.contains('\u{1b}') && !tree.lines().any(|l| l.starts_with("FAKE LINE")), "{tree}");
    assert!(tree.contains("\\u{1b}[2J\\nFAKE LINE"), "{tree}");

    let s = schema(dir.path(), serde_json::json!({"component": "net[9]\u{1b}[31m.output", "intervention": "zero"}));
    let (code, err) = run(&["rewrite", &model, &s, "-o", dir.path().join("o.onnx").to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(!err.contains('\u{1b}') && err.contains("\\u{1b}[31m"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
