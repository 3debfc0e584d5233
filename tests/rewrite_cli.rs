//! `pvc rewrite` as a user runs it: bad schemas fail early with the JSON path and write
//! nothing; good ones are deterministic, keep the dtype, and share the un-intervened prefix.

use crate::util;
use pvc::ir::Model;
use pvc::onnx::{pb, s};
use std::path::{Path, PathBuf};

/// Runs `pvc rewrite MODEL <schema> -o OUT` with `schema` written to a temp file; returns
/// (exit code, stderr, output path).
fn rewrite(model: &str, schema: &str, extra: &[&str]) -> (i32, String, PathBuf, tempfile::TempDir) {
    let dir = util::tempdir();
    let schema_path = dir.path().join("schema.json");
    std::fs::write(&schema_path, schema).unwrap();
    let out = dir.path().join("out.onnx");
    let o = util::pvc()
        .arg("rewrite")
        .arg(util::model(model))
        .arg(&schema_path)
        .arg("-o")
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned(), out, dir)
}

/// Asserts a clean failure: exit code 2, one `error:` line mentioning every `needle`, no output.
fn fails(model: &str, schema: &str, needles: &[&str]) {
    let (code, err, out, _dir) = rewrite(model, schema, &[]);
    assert_eq!(code, 2, "expected failure, stderr: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
    assert!(!out.exists(), "nothing may be written on error");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles.iter().filter(|n| n.len() > 20) {
        assert_eq!(err.matches(n).count(), 1, "`{n}` is repeated in: {err}");
    }
}

#[test]
fn unknown_component_lists_the_nearest_paths() {
    fails(
        "gpt2_legacy.onnx",
        r#"{"component": "transformer.h[1].mpl.output", "intervention": "ZeroIntervention"}"#,
        &["component", "unknown component `transformer.h[1].mpl.output`", "nearest: `transformer.h[1].mlp.output`"],
    );
    fails(
        "gpt2_legacy.onnx",
        r#"{"representations": [{"layer": 0, "component": "mlp_ouptut", "intervention_type": "zero"}]}"#,
        &["representations[0].component", "`mlp_output`"],
    );
}

#[test]
fn unsupported_unit_and_intervention_are_named() {
    fails(
        "gpt2_legacy.onnx",
        r#"{"representations": [{"component": "block_output", "unit": "t"}]}"#,
        &["representations[0].unit", "unit `t` selects the calls (time steps)", "runs once in this graph"],
    );
    fails(
        "gpt2_legacy.onnx",
        r#"{"representations": [{"component": "block_output", "unit": "h.t"}]}"#,
        &["representations[0].unit", "unknown unit `h.t`; pyvene's units are pos, h, h.pos, t"],
    );
    fails(
        "gpt2_legacy.onnx",
        r#"{"representations": [{"component": "block_output", "intervention_type": "RotatedSpaceIntervention"}]}"#,
        &[
            "representations[0]",
            "RotatedSpaceIntervention needs its trained tensor",
            "\"weights\" file has no tensor `0.rotate_layer",
        ],
    );
    fails(
        "gpt2_legacy.onnx",
        r#"{"representations": [{"component": "block_output", "intervention_type": "FooIntervention"}]}"#,
        &["representations[0].intervention_type", "unknown intervention"],
    );
    fails(
        "gpt2_legacy.onnx",
        r#"{"representations": [{"component": "block_output", "colour": 3}]}"#,
        &["representations[0].colour", "unknown field"],
    );
}

/// Serial mode's refusals, each naming the field: its locations keyed by run, in the full form;
/// one source-run intervention per group; parallel locations or a missing mode.
#[test]
fn serial_mode_errors_are_named() {
    let two = r#"[{"layer": 0, "component": "block_output", "intervention_type": "vanilla"},
                  {"layer": 1, "component": "block_output", "intervention_type": "vanilla"}]"#;
    let full = r#"[[[[1]]], [[[2]]]]"#;
    fails(
        "gpt2_legacy.onnx",
        &format!(r#"{{"mode": "serial", "representations": {two}, "unit_locations": {{"sources->base": [1, 1]}}}}"#),
        &["unit_locations", "unexpected key `sources->base`", "source_0->source_1, source_1->base"],
    );
    fails(
        "gpt2_legacy.onnx",
        &format!(
            r#"{{"mode": "serial", "representations": {two}, "unit_locations": {{"source_0->source_1": {full}}}}}"#
        ),
        &["unit_locations", "missing key `source_1->base`"],
    );
    fails(
        "gpt2_legacy.onnx",
        &format!(
            r#"{{"mode": "serial", "representations": {two}, "unit_locations": {{"source_0->source_1": [1, 2], "source_1->base": {full}}}}}"#
        ),
        &["unit_locations.source_0->source_1", "full form"],
    );
    fails(
        "gpt2_legacy.onnx",
        &format!(
            r#"{{"representations": {two}, "unit_locations": {{"source_0->source_1": {full}, "source_1->base": {full}}}}}"#
        ),
        &["unit_locations", "set \"mode\": \"serial\""],
    );
    fails(
        "gpt2_legacy.onnx",
        &format!(
            r#"{{"mode": "serial", "representations": [{{"component": "block_output", "intervention_type": "zero"}}], "unit_locations": {{"source_0->base": {full}}}}}"#
        ),
        &["representations[0]", "ZeroIntervention here takes no source run"],
    );
    fails(
        "gpt2_legacy.onnx",
        r#"{"mode": "serial", "representations": [
            {"layer": 0, "component": "block_output", "intervention_type": "vanilla", "group_key": 0},
            {"layer": 1, "component": "block_output", "intervention_type": "vanilla", "group_key": 0}],
            "unit_locations": {"source_0->source_1": [[[[1]]], [[[2]]]], "source_1->base": [[[[1]]], [[[2]]]]}}"#,
        &["representations[1]", "one intervention per source group"],
    );
    fails(
        "gpt2_legacy.onnx",
        r#"{"model_type": "gpt2", "mode": "serial", "representations": [
            {"layer": 0, "component": "head_attention_value_output", "unit": "h", "intervention_type": "vanilla"}],
            "unit_locations": {"source_0->base": [[[[1]]], [[[2]]]]}}"#,
        &["representations[0]", "serial mode is supported at unit pos"],
    );
    fails("gpt2_legacy.onnx", r#"{"mode": "chained", "representations": []}"#, &["mode", "unknown mode `chained`"]);
}

#[test]
fn static_location_out_of_range() {
    fails(
        "gpt2_legacy.onnx",
        r#"{"representations": [{"layer": 1, "component": "mlp_output", "intervention_type": "zero"}], "unit_locations": {"base": 40}}"#,
        &["unit_locations", "position 40 is out of range", "32 positions"],
    );
    fails(
        "gpt2_legacy.onnx",
        r#"{"representations": [{"layer": 1, "component": "mlp_output", "intervention_type": "zero"}], "unit_locations": {"base": -1}}"#,
        &["unit_locations", "negative"],
    );
    fails(
        "gpt2_legacy.onnx",
        r#"{"representations": [{"layer": 1, "component": "mlp_output", "intervention_type": "zero"}], "unit_locations": {"base": 1}, "subspaces": [[[70]]]}"#,
        &["subspaces[0]", "column 70 is out of range"],
    );
}

#[test]
fn vector_of_the_wrong_size() {
    fails(
        "gpt2_legacy.onnx",
        r#"{"representations": [{"layer": 1, "component": "mlp_output", "intervention_type": "addition", "source_representation": [1.0, 2.0, 3.0]}], "unit_locations": null}"#,
        &["representations[0].source_representation", "has 3 values", "64 wide"],
    );
}

#[test]
fn missing_weights_are_reported() {
    fails(
        "gpt2_legacy.onnx",
        r#"{"representations": [[0, "block_output", "pos", 1, null, null, null, null, null, null, null, null, true, null]], "intervention_types": ["<class 'pyvene.models.interventions.AdditionIntervention'>"], "unit_locations": {"base": 1}}"#,
        &["representations[0]", "0.source_representation"],
    );
    fails(
        "gpt2_legacy.onnx",
        r#"{"representations": [{"component": "block_output", "intervention_type": "addition"}], "weights": "nope.safetensors", "unit_locations": null}"#,
        &["weights", "nope.safetensors"],
    );
}

#[test]
fn conflicting_interventions_on_one_site() {
    fails(
        "gpt2_legacy.onnx",
        r#"{"representations": [{"layer": 1, "component": "mlp_output", "intervention_type": "zero"}, {"component": "transformer.h[1].mlp.output", "intervention_type": "addition", "source_representation": [0.5]}], "unit_locations": {"base": 2}}"#,
        &["representations[0] and representations[1] conflict"],
    );
}

#[test]
fn bad_json_and_bad_model_are_one_line_errors() {
    fails("gpt2_legacy.onnx", "{not json", &["not valid JSON"]);
    let dir = util::tempdir();
    let bad = dir.path().join("bad.onnx");
    std::fs::write(&bad, b"garbage").unwrap();
    let (code, err, out, _d) = rewrite(bad.to_str().unwrap(), r#"{"component": "x", "intervention": "zero"}"#, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("not an ONNX model"), "{err}");
    assert!(!out.exists());
}

#[test]
fn refuses_to_write_over_the_input() {
    let dir = util::tempdir();
    let model = dir.path().join("m.onnx");
    std::fs::copy(util::model("gpt2_legacy.onnx"), &model).unwrap();
    let before = std::fs::read(&model).unwrap();
    let o = util::pvc()
        .args(["rewrite", model.to_str().unwrap()])
        .arg(util::models().join("../rewrites/examples/zero_mlp.json"))
        .args(["-o", model.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("refusing to write"));
    assert_eq!(std::fs::read(&model).unwrap(), before);
}

#[test]
fn an_empty_schema_gives_back_the_same_bytes() {
    let (code, err, out, _d) = rewrite("gpt2_dynamo.onnx", r#"{"representations": []}"#, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(out).unwrap(), std::fs::read(util::model("gpt2_dynamo.onnx")).unwrap());
}

#[test]
fn the_same_inputs_give_identical_bytes() {
    let schema = std::fs::read_to_string(util::models().join("cases/gpt2_group_key_interchange/schema.json")).unwrap();
    let (c1, e1, a, _d1) = rewrite("gpt2_legacy.onnx", &schema, &["--original"]);
    let (c2, e2, b, _d2) = rewrite("gpt2_legacy.onnx", &schema, &["--original"]);
    assert_eq!((c1, c2), (0, 0), "{e1}{e2}");
    assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
}

/// One model's locator reused across plans (`rewrite_with`) gives what `rewrite` gives.
#[test]
fn a_reused_locator_gives_the_same_model() {
    let base = Model::load(&util::model("gpt2_legacy.onnx")).unwrap();
    let loc = pvc::locate::Locator::new(&base);
    let opts = pvc::rewrite::Options { original: true, ..Default::default() };
    for case in ["gpt2_group_key_interchange", "gpt2_hpos_collect_runtime_locations", "gpt2_addition_pos"] {
        let plan = pvc::schema::Plan::from_path(&util::models().join("cases").join(case).join("schema.json")).unwrap();
        let (mut a, mut b) = (base.clone(), base.clone());
        pvc::rewrite::rewrite(&mut a, &plan, &opts).unwrap();
        pvc::rewrite::rewrite_with(&mut b, &plan, &opts, loc.clone()).unwrap();
        assert!(a.to_proto() == b.to_proto(), "{case}");
    }
}

fn nodes(path: &Path) -> Vec<pb::NodeProto> {
    Model::load(path).unwrap().to_proto().graph.unwrap().node
}

#[test]
fn original_outputs_share_everything_upstream_of_the_first_intervention() {
    let schema = r#"{"model_type": "gpt2", "representations": [{"layer": 1, "component": "block_output", "intervention_type": "zero"}], "unit_locations": {"base": 1}}"#;
    let (code, err, out, _d) = rewrite("gpt2_legacy.onnx", schema, &["--original"]);
    assert_eq!(code, 0, "{err}");
    let before = nodes(&util::model("gpt2_legacy.onnx"));
    let after = nodes(&out);
    let embeds = after.iter().filter(|n| n.input.iter().any(|i| i == "transformer.wte.weight")).count();
    assert_eq!(embeds, 1, "the embedding is upstream of layer 1 and must not be duplicated");
    let cloned = after.iter().filter(|n| s(&n.name).starts_with("pvc/original/")).count();
    let layer0 = before.iter().filter(|n| s(&n.name).starts_with("/transformer/h.0/")).count();
    assert!(cloned > 0 && cloned < before.len() - layer0, "cloned {cloned} of {} nodes", before.len());
    let meta = Model::load(&out).unwrap();
    assert!(meta.metadata(pvc::PVC_SCHEMA_KEY).unwrap().contains("block_output"));
    assert!(
        after
            .iter()
            .filter(|n| s(&n.name).starts_with("pvc/rep0"))
            .all(|n| s(&n.doc_string).contains("representations[0]"))
    );
}

/// `rewrites/schema.json` accepts every example schema, every case schema and pyvene's saved
/// configs.
#[test]
fn the_json_schema_accepts_every_shipped_schema() {
    util::python_script("check_schemas.py", &[], "jsonschema");
}

/// `--check` loads the patched model in tract and, when the library is there, ONNX Runtime.
#[test]
fn check_loads_the_patched_model_in_every_runtime() {
    let schema = std::fs::read_to_string(util::models().join("../rewrites/examples/zero_mlp.json")).unwrap();
    let mut extra = vec!["--check"];
    let lib = util::ort_lib();
    let lib_text = lib.as_ref().map(|l| l.to_string_lossy().into_owned());
    if let Some(l) = &lib_text {
        extra.extend(["--ort-lib", l.as_str()]);
    }
    let (code, err, out, _d) = rewrite("gpt2_legacy.onnx", &schema, &extra);
    assert_eq!(code, 0, "{err}");
    assert!(out.exists());
    assert!(err.contains("check: tract loads"), "{err}");
    if lib.is_some() {
        assert!(err.contains("check: ONNX Runtime"), "{err}");
    }
    let (code, err, out, _d) =
        rewrite("gpt2_legacy.onnx", &schema, &["--check", "--ort-lib", "/nonexistent/libonnxruntime.so"]);
    assert_eq!(code, 2, "{err}");
    assert!(!out.exists(), "a refused model is removed");
}

#[test]
fn errors_of_abstract_components_and_source_needs() {
    fails(
        "mlp_legacy.onnx",
        r#"{"representations": [{"component": "block_output", "intervention_type": "zero"}]}"#,
        &["representations[0].component", "needs the model family"],
    );
    fails(
        "gpt2_legacy.onnx",
        r#"{"model_type": "gpt2", "representations": [{"layer": 1, "component": "mlp_output", "intervention_type": "skip"}], "unit_locations": {"base": 2}}"#,
        &["representations[0]", "SkipIntervention needs a source run"],
    );
    fails(
        "gpt2_legacy.onnx",
        r#"{"model_type": "gpt2", "representations": [{"layer": 1, "component": "block_input", "intervention_type": "noise"}], "unit_locations": {"base": 2}}"#,
        &["representations[0].unit_locations", "needs exactly 4 positions"],
    );
}
