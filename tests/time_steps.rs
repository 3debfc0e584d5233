//! Unit `t` (the time steps of pyvene's GRU) and its bad input: each refusal is one line naming
//! the JSON path, and nothing is written. Parity is in the `gru_t_*` cases (`models/cases_gru.py`).

use crate::util;

/// `pvc rewrite MODEL <schema> -o OUT` fails with one `error:` line holding every needle.
fn fails_on(model: &std::path::Path, schema: &str, needles: &[&str]) {
    let dir = util::tempdir();
    let schema_path = dir.path().join("schema.json");
    std::fs::write(&schema_path, schema).unwrap();
    let out = dir.path().join("out.onnx");
    let o = util::pvc()
        .args(["rewrite", model.to_str().unwrap(), schema_path.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    util::assert_refused(o.status.code(), &String::from_utf8_lossy(&o.stderr), &out, needles);
}

fn fails(model: &str, schema: &str, needles: &[&str]) {
    fails_on(&util::model(model), schema, needles);
}

#[test]
fn a_step_past_the_unrolled_steps_is_refused() {
    for model in ["pv_gru_legacy.onnx", "pv_gru_dynamo.onnx"] {
        fails(
            model,
            r#"{"model_type": "gru", "representations": [{"layer": 0, "component": "cell_output", "unit": "t", "intervention_type": "zero"}], "unit_locations": {"base": [2, 6]}}"#,
            &["unit_locations (base side of representations[0])", "step 6 is out of range", "`cells[0]` runs 6 times"],
        );
    }
    fails(
        "pv_gru_legacy.onnx",
        r#"{"model_type": "gru", "representations": [{"layer": 1, "component": "cell_output", "unit": "t", "intervention_type": "vanilla"}], "unit_locations": {"sources->base": [7, 1]}}"#,
        &["unit_locations (source side of representations[0])", "step 7 is out of range"],
    );
}

#[test]
fn unit_t_on_a_module_that_runs_once_is_refused() {
    fails(
        "gpt2_legacy.onnx",
        r#"{"model_type": "gpt2", "representations": [{"layer": 0, "component": "block_output", "unit": "t", "intervention_type": "zero"}], "unit_locations": {"base": 1}}"#,
        &[
            "representations[0].unit",
            "unit `t` selects the calls (time steps)",
            "`block_output` (`transformer.h[0]`) runs once",
        ],
    );
    fails(
        "pv_mlp_dynamo.onnx",
        r#"{"model_type": "mlp", "representations": [{"layer": 0, "component": "block_output", "unit": "t", "intervention_type": "zero"}], "unit_locations": {"base": 1}}"#,
        &["representations[0].unit", "runs once in this graph"],
    );
}

#[test]
fn unit_t_cannot_be_mixed_with_heads() {
    fails(
        "gpt2_legacy.onnx",
        r#"{"model_type": "gpt2", "representations": [{"layer": 0, "component": "head_attention_value_output", "unit": "t", "intervention_type": "zero"}], "unit_locations": {"base": 1}}"#,
        &["representations[0].unit", "cannot be mixed with heads"],
    );
}

#[test]
fn a_gru_component_needs_unit_t() {
    fails(
        "pv_gru_dynamo.onnx",
        r#"{"model_type": "gru", "representations": [{"layer": 0, "component": "cell_output", "unit": "pos", "intervention_type": "zero"}], "unit_locations": {"base": 1}}"#,
        &["representations[0].unit", "`cells[0]` runs 6 times", "address the calls with unit \"t\""],
    );
    fails(
        "pv_gru_legacy.onnx",
        r#"{"representations": [{"component": "cells[1].x2h.output", "intervention_type": "zero"}]}"#,
        &["representations[0].unit", "`cells[1].x2h` runs 6 times"],
    );
}

#[test]
fn noise_and_trained_kinds_are_refused_at_unit_t() {
    let rep = |kind: &str| {
        format!(r#"{{"layer": 0, "component": "cell_output", "unit": "t", "intervention_type": "{kind}"}}"#)
    };
    fails(
        "pv_gru_legacy.onnx",
        &format!(
            r#"{{"model_type": "gru", "representations": [{}], "unit_locations": {{"base": [0, 1, 2, 3]}}}}"#,
            rep("noise")
        ),
        &["representations[0].intervention_type", "NoiseIntervention at unit t is not supported"],
    );
    fails(
        "pv_gru_dynamo.onnx",
        &format!(
            r#"{{"model_type": "gru", "representations": [{}], "unit_locations": {{"base": [1]}}}}"#,
            rep("LoreftIntervention")
        ),
        &["representations[0].intervention_type", "LoreftIntervention at unit t is not supported"],
    );
}

/// Run-time steps (`unit_locations.<i>.base`, int64 `[batch, units]`) are checked against the
/// number of calls before the model runs, on tract and ONNX Runtime alike.
#[test]
fn run_time_steps_are_checked_against_the_number_of_calls() {
    let dir = util::tempdir();
    let schema = dir.path().join("s.json");
    std::fs::write(
        &schema,
        r#"{"model_type": "gru", "representations": [{"layer": 0, "component": "update_gate_input", "unit": "t", "intervention_type": "zero"}], "unit_locations": "runtime"}"#,
    )
    .unwrap();
    let model = dir.path().join("p.onnx");
    let o = util::pvc()
        .arg("rewrite")
        .arg(util::model("pv_gru_dynamo.onnx"))
        .arg(&schema)
        .arg("-o")
        .arg(&model)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let row = format!("[{}]", vec!["0.5"; 16].join(","));
    let x = format!("inputs_embeds=[[{}]]", vec![row; 6].join(","));
    let mut backends = vec!["tract"];
    if util::ort_lib().is_some() {
        backends.push("ort");
    }
    for backend in backends {
        for (steps, want) in [
            (
                "[[2, 6]]",
                "error: input `unit_locations.0.base`[0][1] = 6 is out of range: steps must be in [0, 6), the site has 6 steps\n",
            ),
            (
                "[[-1]]",
                "error: input `unit_locations.0.base`[0][0] = -1 is out of range: steps must be in [0, 6), the site has 6 steps\n",
            ),
            ("[[2, 5]]", ""),
        ] {
            let o = util::pvc()
                .arg("run")
                .arg(&model)
                .args(["--backend", backend, "--input", &x, "--input", &format!("unit_locations.0.base={steps}")])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&o.stderr), want, "{backend} {steps}");
            assert_eq!(o.status.code(), Some(if want.is_empty() { 0 } else { 2 }), "{backend} {steps}");
        }
    }
}

/// The legacy exporter numbers call k of `cells.0` as `/cells.0_k/...`; a graph whose numbers
/// disagree with the runs of the module's nodes cannot be split into calls with confidence.
#[test]
fn calls_that_cannot_be_told_apart_are_refused_with_the_reason() {
    let bytes = std::fs::read(util::model("pv_gru_legacy.onnx")).unwrap();
    let (from, to) = (b"/cells.0_1/Add_5".as_slice(), b"/cells.0_9/Add_5".as_slice());
    assert!(!bytes.windows(to.len()).any(|w| w == to));
    let mut edited = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            edited.extend_from_slice(to);
            i += from.len();
        } else {
            edited.push(bytes[i]);
            i += 1;
        }
    }
    let dir = util::tempdir();
    let model = dir.path().join("renumbered.onnx");
    std::fs::write(&model, edited).unwrap();
    fails_on(
        &model,
        r#"{"model_type": "gru", "representations": [{"layer": 0, "component": "cell_output", "unit": "t", "intervention_type": "zero"}], "unit_locations": {"base": 1}}"#,
        &[
            "representations[0].component",
            "pvc cannot tell the calls of `cells[0]` apart",
            "numbered a node of run 1 as call 9",
        ],
    );
}

#[test]
fn a_step_listed_twice_or_two_writes_at_one_step_are_refused() {
    fails(
        "pv_gru_dynamo.onnx",
        r#"{"model_type": "gru", "representations": [{"layer": 0, "component": "cell_output", "unit": "t", "intervention_type": "zero"}], "unit_locations": {"base": [2, 4, 2]}}"#,
        &["unit_locations (base side of representations[0], example 0)", "step 2 is listed twice"],
    );
    fails(
        "pv_gru_legacy.onnx",
        r#"{"model_type": "gru", "representations": [{"layer": 1, "component": "cell_input", "unit": "t", "intervention_type": "zero"}, {"layer": 1, "component": "cell_input", "unit": "t", "intervention_type": "zero"}], "unit_locations": {"base": [[[1, 3]], [[3]]]}}"#,
        &["representations[0]", "representations[1]"],
    );
}
