//! Head units (`h`, `h.pos`): bad head addressing fails with one line naming the JSON path,
//! run-time head locations are int64 inputs, and the README's ITI example gives pyvene's numbers.

use crate::util;
use pvc::ir::Model;
use pvc::rewrite::{Options, rewrite};
use pvc::runtime::{Backend, TractBackend};
use pvc::schema::Plan;
use std::path::PathBuf;

/// Runs `pvc rewrite MODEL <schema> -o OUT`; asserts exit code 2, one `error:` line holding
/// every needle, and no output file.
fn fails(model: &str, schema: &str, needles: &[&str]) {
    let dir = util::tempdir();
    let schema_path = dir.path().join("schema.json");
    std::fs::write(&schema_path, schema).unwrap();
    let out = dir.path().join("out.onnx");
    let o = util::pvc().arg("rewrite").arg(util::model(model)).arg(&schema_path).arg("-o").arg(&out).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    util::assert_refused(o.status.code(), &err, &out, needles);
}

#[test]
fn a_head_component_the_family_does_not_map_is_named() {
    fails(
        "llama_dynamo.onnx",
        r#"{"representations": [{"layer": 0, "component": "head_querry_output", "unit": "h"}], "unit_locations": {"base": 1}}"#,
        &["representations[0].component", "`head_query_output`"],
    );
    fails(
        "gpt2_legacy.onnx",
        r#"{"representations": [{"layer": 0, "component": "mlp_output", "unit": "h", "intervention_type": "zero"}], "unit_locations": {"base": 1}}"#,
        &["representations[0].unit", "unit `h` needs a head component", "`mlp_output` is not split into heads"],
    );
    fails(
        "gpt2_dynamo.onnx",
        r#"{"representations": [{"layer": 0, "component": "head_attention_value_output", "intervention_type": "zero"}], "unit_locations": {"base": 1}}"#,
        &["representations[0].unit", "is addressed by heads: use unit \"h\" or \"h.pos\""],
    );
}

#[test]
fn a_head_index_past_the_head_count_is_refused() {
    for model in ["gpt2_legacy.onnx", "gpt2_dynamo.onnx"] {
        fails(
            model,
            r#"{"representations": [{"layer": 1, "component": "head_attention_value_output", "unit": "h.pos", "intervention_type": "zero"}],
                "unit_locations": {"base": [[[[0, 4]], [[2]]]]}}"#,
            &["unit_locations (base side of representations[0])", "head 4 is out of range", "has 4 heads"],
        );
    }
}

#[test]
fn a_kv_head_index_past_the_kv_head_count_is_refused() {
    for model in ["llama_legacy.onnx", "llama_dynamo.onnx"] {
        fails(
            model,
            r#"{"representations": [{"layer": 0, "component": "head_value_output", "unit": "h", "intervention_type": "vanilla"}],
                "unit_locations": {"sources->base": [[[[3]]], [[[1]]]]}}"#,
            &["unit_locations (source side of representations[0])", "head 3 is out of range", "2 key/value heads"],
        );
    }
}

#[test]
fn a_head_dim_that_does_not_divide_the_width_is_refused() {
    fails(
        "llama_legacy.onnx",
        r#"{"representations": [{"layer": 0, "component": "head_query_output", "unit": "h", "intervention_type": "zero"}],
            "unit_locations": {"base": 1}, "head_dim": 24}"#,
        &["schema head_dim:", "head_dim 24 does not divide the width 64 of `head_query_output`"],
    );
    fails(
        "gpt2_legacy.onnx",
        r#"{"representations": [{"layer": 0, "component": "head_key_output", "unit": "h", "intervention_type": "zero"}],
            "unit_locations": {"base": 1}, "head_dim": 32}"#,
        &["schema head_dim:", "is 32 but the model's heads are 16 wide"],
    );
}

#[test]
fn h_pos_takes_head_and_position_pairs() {
    fails(
        "gpt2_legacy.onnx",
        r#"{"representations": [{"layer": 0, "component": "head_query_output", "unit": "h.pos", "intervention_type": "zero"}],
            "unit_locations": {"base": 3}}"#,
        &["schema unit_locations.base:", "[[heads per example], [positions per example]]"],
    );
}

/// An interchange at `h.pos` with no locations takes heads and positions at run time, as int64
/// `[batch, units]` inputs: `unit_locations.<i>.{base,source}` and `….heads`.
#[test]
fn run_time_head_locations_are_int64_inputs() {
    let plan = Plan::from_json(
        r#"{"representations": [{"layer": 1, "component": "head_value_output", "unit": "h.pos", "intervention_type": "vanilla"}]}"#,
        std::path::Path::new("."),
    )
    .unwrap();
    let mut m = Model::load(&util::model("llama_dynamo.onnx")).unwrap();
    rewrite(&mut m, &plan, &Options::default()).unwrap();
    let proto = m.to_proto();
    let graph = proto.graph.as_ref().unwrap();
    for (name, units) in [
        ("unit_locations.0.base", "units_0"),
        ("unit_locations.0.source", "units_0"),
        ("unit_locations.0.base.heads", "heads_0"),
        ("unit_locations.0.source.heads", "heads_0"),
    ] {
        let v = graph.input.iter().find(|v| pvc::onnx::s(&v.name) == name).unwrap_or_else(|| panic!("no input {name}"));
        let dims: Vec<String> = v.r#type.as_ref().and_then(|t| t.value.as_ref()).map_or(vec![], |t| match t {
            pvc::onnx::pb::type_proto::Value::TensorType(t) => {
                assert_eq!(t.elem_type, Some(7), "{name} is int64");
                t.shape.as_ref().unwrap().dim.iter().map(|d| format!("{:?}", d.value)).collect()
            }
            _ => vec![],
        });
        assert_eq!(dims.len(), 2, "{name}: {dims:?}");
        assert!(dims[0].contains("batch") && dims[1].contains(units), "{name}: {dims:?}");
    }
}

/// `rewrites/examples/iti_heads_llama.json` (the README's ITI example) is the schema of the
/// recorded case `llama_iti_addition_heads` with its vector inline: same numbers as pyvene.
#[test]
fn iti_example_matches_pyvene() {
    let example: PathBuf = util::models().join("../rewrites/examples/iti_heads_llama.json");
    let case = util::models().join("cases/llama_iti_addition_heads");
    let inputs = util::tensors(&case.join("inputs.safetensors"));
    let expected = util::tensors(&case.join("expected.safetensors"));
    let plan = Plan::from_path(&example).unwrap();
    for model in ["llama_legacy.onnx", "llama_dynamo.onnx"] {
        let mut m = Model::load(&util::model(model)).unwrap();
        rewrite(&mut m, &plan, &Options::default()).unwrap();
        let dir = util::tempdir();
        let out = dir.path().join("iti.onnx");
        m.save(&out, &Default::default()).unwrap();
        let got = TractBackend::load(&out).unwrap().run(&inputs).unwrap();
        let d = util::get(&got, "logits").unwrap().max_abs_diff(util::get(&expected, "logits").unwrap()).unwrap();
        assert!(d <= 1e-4, "{model}: differs from pyvene by {d:e}");
    }
}

/// Two interventions on different heads of one site do not conflict; on a shared head they do.
#[test]
fn interventions_on_different_heads_of_one_site_compose() {
    let schema = |second: &str| {
        format!(
            r#"{{"model_type": "llama", "representations": [
                {{"layer": 1, "component": "head_attention_value_output", "unit": "h", "intervention_type": "zero"}},
                {{"layer": 1, "component": "head_attention_value_output", "unit": "h", "intervention_type": "addition",
                  "source_representation": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}}],
              "unit_locations": {{"base": [[[0]], [[{second}]]]}}}}"#
        )
    };
    let plan = Plan::from_json(&schema("2"), std::path::Path::new(".")).unwrap();
    let mut m = Model::load(&util::model("llama_dynamo.onnx")).unwrap();
    rewrite(&mut m, &plan, &Options { verify: true, ..Default::default() }).unwrap();
    fails("llama_dynamo.onnx", &schema("0"), &["representations[0]", "representations[1]", "the same units and dims"]);
}

/// A run-time head index past the head count is refused before either engine runs, naming
/// the input, the element and the (key/value) head count.
#[test]
fn a_run_time_head_index_past_the_head_count_is_refused() {
    let dir = util::tempdir();
    let schema = dir.path().join("schema.json");
    std::fs::write(
        &schema,
        r#"{"representations": [{"layer": 1, "component": "head_value_output", "unit": "h.pos", "intervention_type": "vanilla"}]}"#,
    )
    .unwrap();
    let out = dir.path().join("out.onnx");
    let o = util::pvc().arg("rewrite").arg(util::model("llama_dynamo.onnx")).arg(&schema).arg("-o").arg(&out).output();
    assert!(o.unwrap().status.success());
    let mut backends = vec![vec![]];
    if let Some(lib) = util::ort_lib() {
        backends.push(vec!["--backend".into(), "ort".into(), "--ort-lib".into(), lib.to_string_lossy().into_owned()]);
    }
    for backend in backends {
        let o = util::pvc()
            .arg("run")
            .arg(&out)
            .args(&backend)
            .args(["--input", "input_ids=[[1,2,3,4]]", "--input", "source.0.input_ids=[[4,3,2,1]]"])
            .args(["--input", "unit_locations.0.base=[[1]]", "--input", "unit_locations.0.source=[[2]]"])
            .args(["--input", "unit_locations.0.base.heads=[[2]]", "--input", "unit_locations.0.source.heads=[[0]]"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{backend:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("`unit_locations.0.base.heads`[0][0] = 2 is out of range: heads must be in [0, 2)"),
            "{backend:?}: {err}"
        );
    }
}

/// pyvene views a head Collect's `[..., :idim]` as `[b, heads, positions, -1]`; when the heads do
/// not divide idim pyvene fails, and pvc says so.
#[test]
fn a_head_collect_pyvene_cannot_shape_is_refused() {
    fails(
        "gpt2_legacy.onnx",
        r#"{"representations": [{"layer": 0, "component": "head_query_output", "unit": "h", "intervention_type": "collect"}],
            "unit_locations": {"base": [0, 1, 2]}}"#,
        &[
            "representations[0].max_number_of_units",
            "Collect keeps 16 of the 3 heads' 48 columns",
            "set max_number_of_units to 3",
        ],
    );
}

/// Rewriting an already-patched model numbers the new head-location inputs after the old ones.
#[test]
fn a_second_rewrite_numbers_its_head_inputs_after_the_first() {
    let plan = Plan::from_json(
        r#"{"representations": [{"layer": 0, "component": "head_key_output", "unit": "h", "intervention_type": "vanilla"}]}"#,
        std::path::Path::new("."),
    )
    .unwrap();
    let mut m = Model::load(&util::model("llama_legacy.onnx")).unwrap();
    rewrite(&mut m, &plan, &Options::default()).unwrap();
    rewrite(&mut m, &plan, &Options { verify: true, ..Default::default() }).unwrap();
    let proto = m.to_proto();
    let names: Vec<&str> = proto.graph.as_ref().unwrap().input.iter().map(|v| pvc::onnx::s(&v.name)).collect();
    for n in ["unit_locations.0.base.heads", "unit_locations.1.base.heads", "unit_locations.1.source.heads"] {
        assert!(names.contains(&n), "{n} not in {names:?}");
    }
    assert!(!names.contains(&"unit_locations.1.base"), "unit h takes no positions: {names:?}");
}
