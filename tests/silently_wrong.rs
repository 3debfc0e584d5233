//! Never a silently wrong model: inputs that used to give a model that is invalid, or valid but
//! not what the schema says, are either compiled correctly or refused with a one-line error
//! naming the offending item, and nothing is written.

use crate::util;
use pvc::ir::Model;
use pvc::runtime::{Backend, NamedTensors, Tensor, TractBackend};
use std::path::{Path, PathBuf};

/// Writes `schema` next to the output and runs `pvc rewrite MODEL schema -o out`; returns the
/// output path on success and stderr on failure (then checking that nothing was written).
fn rewrite(model: &Path, schema: &serde_json::Value, dir: &Path, name: &str) -> Result<PathBuf, String> {
    let schema_path = dir.join(format!("{name}.json"));
    std::fs::write(&schema_path, schema.to_string()).unwrap();
    let out = dir.join(format!("{name}.onnx"));
    let st = util::pvc()
        .args(["rewrite", model.to_str().unwrap(), schema_path.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&st.stderr).to_string();
    if st.status.success() {
        return Ok(out);
    }
    assert_eq!(st.status.code(), Some(2), "{stderr}");
    assert!(!out.exists(), "a refused rewrite wrote {}", out.display());
    assert_eq!(stderr.trim().lines().count(), 1, "one-line error expected: {stderr}");
    Err(stderr)
}

fn refused(model: &Path, schema: serde_json::Value, wants: &[&str]) {
    let dir = util::tempdir();
    let err = rewrite(model, &schema, dir.path(), "s").expect_err("the rewrite must be refused");
    for w in wants {
        assert!(err.contains(w), "error lacks `{w}`: {err}");
    }
}

fn ids(rows: &[&[i64]]) -> Tensor {
    let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_i64(vec![rows.len(), rows[0].len()], &flat)
}

fn run_all(path: &Path, inputs: &NamedTensors) -> Vec<(&'static str, NamedTensors)> {
    util::backends(path).into_iter().map(|mut b| (b.name(), b.run(inputs).unwrap())).collect()
}

fn max_diff(a: &NamedTensors, b: &NamedTensors, name: &str) -> f64 {
    util::get(a, name).unwrap().max_abs_diff(util::get(b, name).unwrap()).expect("same shape")
}

/// W1: rewriting an already-patched model numbers the new names after the old ones, verifies,
/// passes onnx.checker, loads in tract and ONNX Runtime, gives the numbers of one rewrite with
/// both schemas' representations, and records both schemas.
#[test]
fn repatching_a_patched_model_composes_both_schemas() {
    let dir = util::tempdir();
    let gpt2 = util::model("gpt2_legacy.onnx");
    let zero = serde_json::json!({"model_type": "gpt2", "representations": [
        {"layer": 1, "component": "mlp_output", "unit": "pos", "intervention_type": "zero"}],
        "unit_locations": {"base": 2}});
    let swap = serde_json::json!({"model_type": "gpt2", "representations": [
        {"layer": 0, "component": "block_output", "unit": "pos", "intervention_type": "vanilla"}],
        "unit_locations": {"sources->base": [3, 4]}});
    let both = serde_json::json!({"model_type": "gpt2", "representations": [
        {"layer": 1, "component": "mlp_output", "unit": "pos", "intervention_type": "zero"},
        {"layer": 0, "component": "block_output", "unit": "pos", "intervention_type": "vanilla"}],
        "unit_locations": {"sources->base": [[[[2]], [[3]]], [[[2]], [[4]]]]}});
    let once = rewrite(&gpt2, &zero, dir.path(), "once").unwrap();
    let twice = rewrite(&once, &swap, dir.path(), "twice").unwrap();
    let again = rewrite(&once, &zero, dir.path(), "zero_twice").unwrap();
    let single = rewrite(&gpt2, &both, dir.path(), "single").unwrap();
    for p in [&twice, &again] {
        pvc::ir::verify(&Model::load(p).unwrap()).unwrap();
    }
    let m = Model::load(&twice).unwrap();
    let record: serde_json::Value = serde_json::from_str(m.metadata(pvc::PVC_SCHEMA_KEY).unwrap()).unwrap();
    assert_eq!(record, serde_json::json!([zero, swap]), "both schemas, in order");
    let inputs: NamedTensors = vec![
        ("input_ids".into(), ids(&[&[1, 2, 3, 4, 5, 6], &[7, 8, 9, 10, 11, 12]])),
        ("source.0.input_ids".into(), ids(&[&[20, 21, 22, 23, 24, 25], &[30, 31, 32, 33, 34, 35]])),
    ];
    let reference = TractBackend::load(&single).unwrap().run(&inputs).unwrap();
    let plain = TractBackend::load(&gpt2).unwrap().run(&inputs[..1].to_vec()).unwrap();
    assert!(max_diff(&reference, &plain, "logits") > 1e-3, "the interventions change the logits");
    for (engine, got) in run_all(&twice, &inputs) {
        let d = max_diff(&got, &reference, "logits");
        assert!(d <= 1e-5, "{engine}: twice-patched differs from one rewrite with both by {d:e}");
    }
    let expected = dir.path().join("expected.safetensors");
    pvc::runtime::write_safetensors(&expected, &reference).unwrap();
    let feed = dir.path().join("inputs.safetensors");
    pvc::runtime::write_safetensors(&feed, &inputs).unwrap();
    let manifest =
        serde_json::json!([{"label": "patched twice", "model": twice, "inputs": feed, "expected": expected}]);
    let path = dir.path().join("manifest.json");
    std::fs::write(&path, manifest.to_string()).unwrap();
    util::python_check(&path);
}

/// W2: a float vector at an int64 site is refused with the JSON path and the site's dtype; Zero
/// at `input_ids` makes a real int64 zero (the patched model equals feeding token 0 there).
#[test]
fn interventions_take_the_site_dtype() {
    let gpt2 = util::model("gpt2_legacy.onnx");
    refused(
        &gpt2,
        serde_json::json!({"representations": [{"component": "input_ids", "intervention_type": "addition",
            "source_representation": [5]}], "unit_locations": null}),
        &["representations[0].source_representation", "int64"],
    );
    let dir = util::tempdir();
    let zero = serde_json::json!({"representations": [{"component": "input_ids", "intervention_type": "zero"}],
        "unit_locations": {"base": 1}});
    let patched = rewrite(&gpt2, &zero, dir.path(), "zero_ids").unwrap();
    let m = Model::load(&patched).unwrap();
    for t in m.graph.initializers.iter().filter(|t| pvc::onnx::s(&t.name).starts_with("pvc/")) {
        let size = pvc::onnx::dtype_size(t.data_type.unwrap()).unwrap() as usize;
        let n: i64 = t.dims.iter().product();
        assert_eq!(t.raw_data.as_ref().unwrap().len(), size * n as usize, "{:?}", t.name);
    }
    let given = vec![("input_ids".to_string(), ids(&[&[1, 2, 3, 4], &[5, 6, 7, 8]]))];
    let zeroed = vec![("input_ids".to_string(), ids(&[&[1, 0, 3, 4], &[5, 0, 7, 8]]))];
    for ((engine, got), (_, want)) in run_all(&patched, &given).into_iter().zip(run_all(&gpt2, &zeroed)) {
        assert_eq!(max_diff(&got, &want, "logits"), 0.0, "{engine}");
    }
    let fp16 = util::model("mlp_fp16.onnx");
    let steer = serde_json::json!({"component": "net[2].output", "intervention": "addition",
        "source_representation": vec![0.5f64; 16], "unit_locations": {"base": 1}});
    let p = rewrite(&fp16, &steer, dir.path(), "fp16").unwrap();
    let m = Model::load(&p).unwrap();
    let c = m.graph.initializers.iter().find(|t| t.dims == [16]).expect("the vector");
    assert_eq!(c.data_type, Some(pvc::onnx::pb::tensor_proto::DataType::Float16 as i32));
}

/// W3: Collect columns (subspaces or interchange_dim) that do not divide into the units are
/// refused, naming the JSON path and the numbers.
#[test]
fn collect_columns_must_divide_into_units() {
    let gpt2 = util::model("gpt2_legacy.onnx");
    let rep = |extra: serde_json::Value| {
        let mut r = serde_json::json!({"layer": 1, "component": "block_output", "unit": "pos",
            "max_number_of_units": 2, "intervention_type": "collect"});
        r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        r
    };
    refused(
        &gpt2,
        serde_json::json!({"model_type": "gpt2", "representations": [rep(serde_json::json!({}))],
            "unit_locations": {"base": [[[1, 2]]]}, "subspaces": [0, 1, 2]}),
        &["subspaces[0]", "keeps 3 of the 2×64", "2 units"],
    );
    refused(
        &gpt2,
        serde_json::json!({"model_type": "gpt2", "representations": [rep(serde_json::json!({"interchange_dim": 3}))],
            "unit_locations": {"base": [[[1, 2]]]}}),
        &["representations[0].interchange_dim", "keeps 3"],
    );
    // fuzz finding (regressions/rewrite_e2e/collect-subspace-past-the-units): a Collect column
    // past the k×d flattened values made a model tract refuses and ONNX Runtime fails on
    refused(
        &util::model("mlp_legacy.onnx"),
        serde_json::json!({"representations": [{"component": "net[1].output", "intervention_type": "collect",
            "unit": "pos"}], "unit_locations": 2, "subspaces": 255}),
        &["subspaces[0]", "subspace column 255 is out of range", "1×16"],
    );
}

/// W4/W5: unknown top-level keys are refused with the nearest valid key; HF config boilerplate
/// in a pyvene save is accepted; per-representation config lists must have one entry each.
#[test]
fn unknown_keys_and_short_config_lists_are_refused() {
    let gpt2 = util::model("gpt2_legacy.onnx");
    let rep = serde_json::json!({"layer": 1, "component": "mlp_output", "unit": "pos", "intervention_type": "zero"});
    refused(
        &gpt2,
        serde_json::json!({"model_type": "gpt2", "representations": [rep], "unit_location": {"base": 2}}),
        &["schema unit_location:", "did you mean `unit_locations`"],
    );
    refused(
        &gpt2,
        serde_json::json!({"model_type": "gpt2", "representations": [rep], "subspace": [0]}),
        &["schema subspace:", "did you mean `subspaces`"],
    );
    let save = util::models().join("cases/gpt2_addition_pos/pyvene_save");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(save.join("config.json")).unwrap()).unwrap();
    let dir = util::tempdir();
    for f in std::fs::read_dir(&save).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.path().join(f.file_name().unwrap())).unwrap();
    }
    let obj = config.as_object_mut().unwrap();
    obj.insert("_name_or_path".into(), "".into());
    obj.insert("architectures".into(), serde_json::json!(["IntervenableModel"]));
    obj.insert("torch_dtype".into(), "float32".into());
    obj.insert("unit_locations".into(), serde_json::json!({"base": 5}));
    let ok = rewrite(&gpt2, &config, dir.path(), "hf_keys");
    assert!(ok.is_ok(), "HF config keys are boilerplate: {ok:?}");
    let mut short = config.clone();
    short["intervention_types"] = serde_json::json!([]);
    refused(&gpt2, short, &["schema intervention_types:", "0 entries", "1 representations"]);
    let mut long = config.clone();
    long["intervention_dimensions"] = serde_json::json!([64, 64]);
    refused(&gpt2, long, &["schema intervention_dimensions:", "2 entries"]);
}

/// Per-example subspaces fix the batch as per-example locations do (a fuzz finding,
/// regressions/rewrite_e2e/per-example-subspaces-fix-the-batch: a `[3, 1, d]` column mask
/// under a symbolic batch made a model tract refused), and the model runs on both backends.
#[test]
fn per_example_subspaces_fix_the_batch() {
    let dir = util::tempdir();
    let schema = serde_json::json!({"model_type": "gpt2", "representations": [{"layer": 0,
        "component": "block_output", "unit": "pos", "intervention_type": "zero"}],
        "unit_locations": {"base": 2}, "subspaces": [[[1], [2, 3]]]});
    let out = rewrite(&util::model("gpt2_legacy.onnx"), &schema, dir.path(), "subspaces").unwrap();
    let (specs, _) = pvc::runtime::model_io(&out).unwrap();
    assert_eq!(specs[0].dims, vec![Some(2), None], "input_ids is [2, seq]");
    let two = vec![("input_ids".to_string(), ids(&[&[1, 2, 3, 4], &[5, 6, 7, 8]]))];
    assert_eq!(run_all(&out, &two).len(), util::backends(&out).len());
}

/// W7: explicit per-example locations fix the batch in the model; both runtimes and `pvc run`
/// refuse another batch; shorthands stay batch-agnostic.
#[test]
fn per_example_locations_fix_the_batch() {
    let dir = util::tempdir();
    let gpt2 = util::model("gpt2_legacy.onnx");
    let rep = serde_json::json!({"layer": 1, "component": "mlp_output", "unit": "pos", "intervention_type": "zero"});
    let fixed = rewrite(
        &gpt2,
        &serde_json::json!({"model_type": "gpt2", "representations": [rep], "unit_locations": {"base": [[[2], [3]]]}}),
        dir.path(),
        "fixed",
    )
    .unwrap();
    let (specs, _) = pvc::runtime::model_io(&fixed).unwrap();
    assert_eq!(specs[0].dims, vec![Some(2), None], "input_ids is [2, seq]");
    let two = vec![("input_ids".to_string(), ids(&[&[1, 2, 3, 4], &[5, 6, 7, 8]]))];
    let three = vec![("input_ids".to_string(), ids(&[&[1, 2, 3, 4], &[5, 6, 7, 8], &[9, 10, 11, 12]]))];
    assert_eq!(run_all(&fixed, &two).len(), util::backends(&fixed).len());
    for mut b in util::backends(&fixed) {
        let e = b.run(&three).expect_err("batch 3 must be refused").to_string();
        assert!(e.contains("input_ids") && e.contains('2') && e.contains('3'), "{}: {e}", b.name());
    }
    let st = util::pvc()
        .args(["run", fixed.to_str().unwrap(), "--input", "input_ids=[[1,2,3],[4,5,6],[7,8,9]]"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(!st.status.success());
    assert!(err.contains("input_ids") && err.contains("batch") && err.contains("to 2, got 3"), "{err}");
    let shorthand = rewrite(
        &gpt2,
        &serde_json::json!({"model_type": "gpt2", "representations": [rep], "unit_locations": {"base": 2}}),
        dir.path(),
        "shorthand",
    )
    .unwrap();
    let (specs, _) = pvc::runtime::model_io(&shorthand).unwrap();
    assert_eq!(specs[0].dims, vec![None, None]);
    assert_eq!(run_all(&shorthand, &three).len(), util::backends(&shorthand).len());
}

/// W10: constants that overflow the site's dtype, and weights that are not vectors, are refused.
#[test]
fn overflowing_or_misshapen_constants_are_refused() {
    let gpt2 = util::model("gpt2_legacy.onnx");
    let mut v = vec![0.0f64; 64];
    v[3] = 1e300;
    refused(
        &gpt2,
        serde_json::json!({"model_type": "gpt2", "representations": [{"layer": 1, "component": "mlp_output",
            "intervention_type": "addition", "source_representation": v}]}),
        &["representations[0].source_representation[3]", "overflows float32"],
    );
    refused(
        &util::model("mlp_fp16.onnx"),
        serde_json::json!({"component": "net[2].output", "intervention": "addition",
            "source_representation": vec![70000.0f64; 16]}),
        &["source_representation", "70000", "float16"],
    );
    let dir = util::tempdir();
    let data: Vec<u8> = (0..64).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2, 32], &data).unwrap();
    safetensors::serialize_to_file([("0.source_representation", view)], None, &dir.path().join("w.safetensors"))
        .unwrap();
    let schema = serde_json::json!({"model_type": "gpt2", "weights": "w.safetensors", "representations": [
        {"layer": 1, "component": "mlp_output", "intervention_type": "addition"}]});
    let err = rewrite(&gpt2, &schema, dir.path(), "w").expect_err("a matrix is not a vector");
    assert!(err.contains("[2, 32]") && err.contains("[64]"), "{err}");
}

/// A whole-tensor Zero on a value that feeds a MatMul (MLP `net[2].input`) loads on both
/// backends, and the output no longer depends on the input at all: finite, NaN or infinite
/// inputs give the same output (a fuzz finding: tract refused the `ConstantOfShape` form).
#[test]
fn whole_tensor_zero_before_a_matmul_ignores_nan_inputs() {
    let dir = util::tempdir();
    let schema = serde_json::json!({"component": "net[2].input", "intervention": "ZeroIntervention",
        "max_number_of_units": 110});
    let out = rewrite(&util::model("mlp_legacy.onnx"), &schema, dir.path(), "zero").unwrap();
    let finite: Vec<f32> = (0..16).map(|i| i as f32 * 0.25 - 2.0).collect();
    let mut odd = finite.clone();
    odd[3] = f32::NAN;
    odd[9] = f32::INFINITY;
    let feed = |v: &[f32]| -> NamedTensors { vec![("x".to_string(), Tensor::from_f32(vec![1, 2, 8], v))] };
    let runs = [run_all(&out, &feed(&finite)), run_all(&out, &feed(&odd))];
    assert!(!runs[0].is_empty());
    let first = &runs[0][0].1;
    assert!(util::get(first, "y").unwrap().to_f64().iter().all(|v| v.is_finite()));
    for run in &runs {
        for (engine, outs) in run {
            assert!(max_diff(first, outs, "y") < 1e-6, "{engine}: the output depends on the zeroed input");
        }
    }
}

/// A whole-tensor interchange with a constant before a MatMul (GPT-2 `ln_2`'s output, here a
/// Skip whose source is a constant from `weights`) loads and runs on both backends, with the
/// same numbers (a fuzz finding, regressions/rewrite_e2e/skip-ln2-tract-einsum: tract
/// mis-shaped the broadcast read only through `Shape`).
#[test]
fn whole_tensor_constant_interchange_before_a_matmul_runs_on_both_backends() {
    let dir = util::tempdir();
    let v: Vec<f32> = (0..64).map(|i| (i as f32 - 32.0) / 16.0).collect();
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![64], &bytes).unwrap();
    safetensors::serialize_to_file([("0.source_representation", view)], None, &dir.path().join("w.safetensors"))
        .unwrap();
    let schema = serde_json::json!({"weights": "w.safetensors", "representations": [
        {"component": "transformer.h[1].ln_2.output", "intervention": "SkipIntervention"}]});
    let out = rewrite(&util::model("gpt2_legacy.onnx"), &schema, dir.path(), "skip").unwrap();
    let runs = run_all(&out, &vec![("input_ids".to_string(), Tensor::from_i64(vec![1, 4], &[1, 2, 3, 4]))]);
    assert!(runs.len() >= 2 || !util::require_ort(), "both backends must run it");
    for (engine, outs) in &runs {
        assert!(max_diff(&runs[0].1, outs, "logits") < 1e-5, "{engine} differs from {}", runs[0].0);
    }
}

/// A whole-tensor Collect at an abstract component would keep pyvene's `interchange_dim`
/// columns of the flattened tensor, viewed per position, which needs a fixed sequence length:
/// refused, pointing at the module path that collects the whole tensor.
#[test]
fn whole_tensor_collect_at_an_abstract_component_is_refused() {
    refused(
        &util::model("gpt2_legacy.onnx"),
        serde_json::json!({"model_type": "gpt2", "representations": [
            {"layer": 0, "component": "block_output", "intervention_type": "collect"}]}),
        &["representations[0].component", "fixed sequence length", "transformer.h.0.output"],
    );
}

/// Fuzz findings (regressions/rewrite_e2e/skip-*): Skip swaps a module's output for its input,
/// which must then have the output's type; a Linear that narrows 16 → 4 or an embedding (int64
/// ids in, floats out) made models no runtime loads.
#[test]
fn skip_needs_a_module_whose_input_matches_its_output() {
    refused(
        &util::model("mlp_legacy.onnx"),
        serde_json::json!({"component": "net[4].output", "intervention": "SkipIntervention"}),
        &[
            "schema component",
            "replaces `net[4]`'s output with its input",
            "float32 [batch, seq, 16]",
            "[batch, seq, 4]",
        ],
    );
    refused(
        &util::model("gpt2_legacy.onnx"),
        serde_json::json!({"representations": [{"component": "transformer.wte.output", "intervention": "skip"}]}),
        &["representations[0].component", "int64 [batch, seq]", "float32 [batch, seq, 64]"],
    );
}

/// Fuzz finding (regressions/rewrite_e2e/vanilla-at-a-shape-tensor): an interchange at a raw
/// rank-1 tensor (a `Shape` output) built a GatherNd no runtime loads.
#[test]
fn sites_of_rank_below_two_are_refused() {
    for kind in ["VanillaIntervention", "zero"] {
        refused(
            &util::model("gpt2_legacy.onnx"),
            serde_json::json!({"representations": [{"component": "/transformer/h.0/attn/c_attn/Shape_2_output_0",
                "intervention_type": kind}], "unit_locations": null}),
            &["representations[0].component", "is a rank-1 tensor ([3])", "rank 2 or more"],
        );
    }
}

#[test]
fn vectors_at_scalar_units_of_a_rank_two_site_are_refused() {
    let schema = |kind: &str| {
        serde_json::json!({"representations": [{"component": "/cells.0_2/Mul_6_output_0", "unit": "pos",
            "intervention_type": kind}], "subspaces": 3, "unit_locations": {"base": 3}})
    };
    for kind in ["vanilla", "zero", "collect"] {
        refused(
            &util::model("pv_gru_legacy.onnx"),
            schema(kind),
            &["unit_locations (representation 0)", "`/cells.0_2/Mul_6_output_0` is [batch, 16]", "one number"],
        );
    }
    refused(
        &util::model("pv_gru_legacy.onnx"),
        serde_json::json!({"representations": [{"component": "/cells.0_2/Mul_6_output_0", "unit": "pos",
            "intervention_type": "addition", "source_representation": vec![1.0; 16]}], "unit_locations": {"base": 3}}),
        &["unit_locations (representation 0)", "not AdditionIntervention"],
    );
    let zero = serde_json::json!({"representations": [{"component": "/cells.0_2/Mul_6_output_0", "unit": "pos",
        "intervention_type": "zero"}], "unit_locations": {"base": 3}});
    let dir = util::tempdir();
    rewrite(&util::model("pv_gru_legacy.onnx"), &zero, dir.path(), "zero").expect("Zero fits scalar units");
    let whole = serde_json::json!({"representations": [{"component": "/cells.0_2/Mul_6_output_0",
        "intervention_type": "zero"}], "subspaces": 3, "unit_locations": null});
    let dir = util::tempdir();
    rewrite(&util::model("pv_gru_legacy.onnx"), &whole, dir.path(), "whole").expect("the whole tensor with subspaces");
}

#[test]
fn empty_position_and_subspace_lists_are_refused() {
    let mlp = util::model("mlp_legacy.onnx");
    let rep = serde_json::json!([{"component": "/net/net.1/Relu_output_0", "intervention_type": "collect"}]);
    refused(
        &mlp,
        serde_json::json!({"representations": rep, "unit_locations": {"base": []}}),
        &["unit_locations.base", "selects no positions"],
    );
    refused(
        &mlp,
        serde_json::json!({"representations": rep, "unit_locations": {"base": 1}, "subspaces": [[]]}),
        &["subspaces[0]", "selects no subspace"],
    );
    refused(
        &mlp,
        serde_json::json!({"representations": rep, "unit_locations": {"base": 1}, "subspaces": []}),
        &["subspaces", "selects no subspace"],
    );
}

#[test]
fn an_interchange_dim_of_zero_is_refused() {
    for kind in ["CollectIntervention", "vanilla"] {
        refused(
            &util::model("pv_gru_legacy.onnx"),
            serde_json::json!({"component": "cells[1].input", "interchange_dim": 0, "intervention_type": kind,
                "unit": "t", "unit_locations": null}),
            &["interchange_dim", "is 0, which selects no dimensions"],
        );
    }
}

/// A run-time source at a site whose unit width is not a fixed number (attention weights end in
/// the sequence axis) is typed with the site's own symbol, never an unnamed dim, which tract
/// refused to load (a fuzz finding); a zero source then leaves the logits as they were.
#[test]
fn a_runtime_source_of_symbolic_width_is_typed_and_runs_on_both_backends() {
    let dir = util::tempdir();
    let schema = serde_json::json!({"component": "attention_weight", "intervention": "SubtractionIntervention",
        "layer": 0, "max_number_of_units": 3, "unit": "pos", "unit_locations": {"base": 2}});
    let out = rewrite(&util::model("gpt2_legacy.onnx"), &schema, dir.path(), "sub").unwrap();
    let ids = ("input_ids".to_string(), Tensor::from_i64(vec![1, 4], &[1, 2, 3, 4]));
    let plain = run_all(&util::model("gpt2_legacy.onnx"), &vec![ids.clone()]);
    let zeros = ("source_representations.0".to_string(), Tensor::from_f32(vec![1, 1, 4], &[0.0; 4]));
    let runs = run_all(&out, &vec![ids, zeros]);
    assert!(runs.len() >= 2 || !util::require_ort(), "both backends must run it");
    for ((engine, outs), (_, base)) in runs.iter().zip(&plain) {
        assert!(max_diff(base, outs, "logits") < 1e-5, "{engine}: a zero source changed the logits");
    }
}

/// Positions past 2^31 - 1 are refused where the schema is read (near `i64::MAX` one overflowed
/// tract's shape arithmetic at a site of unbounded length), and static positions past a
/// recurrent export's unrolled steps are refused with the step count (tract folded the symbolic
/// sequence to it and refused the model); both fuzz findings. The largest position still rewrites.
#[test]
fn positions_past_the_supported_range_or_the_unrolled_steps_are_refused() {
    let zero = |p: i64| {
        serde_json::json!({"representations": [{"component": "net[0].output", "intervention_type": "zero"}],
            "unit_locations": {"sources->base": p}})
    };
    let huge = zero(i64::MAX);
    refused(
        &util::model("mlp_legacy.onnx"),
        huge,
        &["unit_locations.sources->base", "position 9223372036854775807 is past the largest supported position"],
    );
    let dir = util::tempdir();
    rewrite(&util::model("mlp_legacy.onnx"), &zero(i32::MAX as i64), dir.path(), "max")
        .expect("the largest supported position rewrites");
    let gru = serde_json::json!({"component": "hidden_states", "intervention": "zero", "unit": "pos",
        "unit_locations": {"sources->base": 101}});
    refused(
        &util::model("pv_gru_legacy.onnx"),
        gru,
        &["unit_locations (base side)", "position 101 is out of range", "cells.0 runs 6 times"],
    );
}

/// A site of bool values (GPT-2's causal mask, `onnx::Slice_171`) takes only Collect: a write
/// there is refused, naming the component and its dtype (a fuzz finding,
/// regressions/rewrite_e2e/zero-at-a-bool-site: the model loaded in neither tract, which has no
/// bool `Equal`, nor ONNX Runtime, which has no bool `Where`). The Collect runs on both backends
/// and taps the mask itself.
#[test]
fn bool_sites_take_only_collect() {
    let gpt2 = util::model("gpt2_legacy.onnx");
    let at_mask = |kind: &str| {
        serde_json::json!({"representations": [
        {"component": "onnx::Slice_171", "intervention_type": kind}], "unit_locations": null})
    };
    for kind in ["ZeroIntervention", "VanillaIntervention", "AdditionIntervention"] {
        refused(&gpt2, at_mask(kind), &["representations[0].component", "`onnx::Slice_171` holds bool values", kind]);
    }
    refused(&gpt2, at_mask("SkipIntervention"), &["`onnx::Slice_171` is a tensor, not a module's output"]);
    let dir = util::tempdir();
    let tap = rewrite(&gpt2, &at_mask("CollectIntervention"), dir.path(), "tap").unwrap();
    let runs = run_all(&tap, &vec![("input_ids".to_string(), ids(&[&[1, 2, 3, 4]]))]);
    assert!(runs.len() >= 2 || !util::require_ort(), "both backends must run it");
    for (engine, outs) in &runs {
        let mask = util::get(outs, "collected.0").unwrap().to_f64();
        assert_eq!(mask.len(), 32 * 32, "{engine}");
        let causal = (0..32 * 32).all(|k| mask[k] == f64::from(u8::from(k % 32 <= k / 32)));
        assert!(causal, "{engine}: the tap is not the causal mask");
    }
}

/// A value that depends on no input (Llama's rotary `inv_freq`, the constant `onnx::Expand_81`)
/// is shared by the base and the source runs, except when a representation writes it: then each
/// source run reads its own pre-intervention copy. A whole-tensor interchange there rewrites
/// (it made a cycle: the source read the intervention's own output, a fuzz finding,
/// regressions/rewrite_e2e/vanilla-at-a-bool-site) and changes nothing; zeroing it changes the
/// logits, but not those of a source run: swapping in the last block's output from a source of
/// the same tokens gives back the plain logits, on both backends.
#[test]
fn source_runs_read_input_independent_values_before_the_intervention() {
    let dir = util::tempdir();
    let llama = util::model("llama_legacy.onnx");
    let inv_freq = |kind: &str| serde_json::json!({"component": "onnx::Expand_81", "intervention_type": kind});
    let schema = |reps: Vec<serde_json::Value>| serde_json::json!({"representations": reps, "unit_locations": null});
    let tokens = ids(&[&[1, 2, 3, 4]]);
    let base = vec![("input_ids".to_string(), tokens.clone())];
    let plain = run_all(&llama, &base);
    let swap = rewrite(&llama, &schema(vec![inv_freq("VanillaIntervention")]), dir.path(), "swap").unwrap();
    let zero = rewrite(&llama, &schema(vec![inv_freq("ZeroIntervention")]), dir.path(), "zero").unwrap();
    let last = serde_json::json!({"layer": 1, "component": "block_output", "intervention_type": "VanillaIntervention"});
    let both = schema(vec![inv_freq("ZeroIntervention"), last]);
    let restored = rewrite(&llama, &both, dir.path(), "restored").unwrap();
    let mut with_source = base.clone();
    with_source.push(("source.0.input_ids".to_string(), tokens));
    let runs = [run_all(&swap, &base), run_all(&zero, &base), run_all(&restored, &with_source)];
    assert!(runs[2].len() >= 2 || !util::require_ort(), "both backends must run it");
    for (k, (engine, plain)) in plain.iter().enumerate() {
        assert!(max_diff(plain, &runs[0][k].1, "logits") < 1e-6, "{engine}: the interchange changed the logits");
        assert!(max_diff(plain, &runs[1][k].1, "logits") > 1e-3, "{engine}: zeroing inv_freq changed nothing");
        assert!(max_diff(plain, &runs[2][k].1, "logits") < 1e-5, "{engine}: the source run read the zeroed value");
    }
}

/// In serial mode, a representation at a value that depends on no input writes the next run's
/// own copy of it: adding source 0's `inv_freq` row into run 1 changes what run 1's last block
/// gives, which the base takes at position 1 only (position 0's logits stay the plain ones), on
/// both backends alike.
#[test]
fn serial_mode_writes_the_next_runs_copy_of_an_input_independent_value() {
    let dir = util::tempdir();
    let llama = util::model("llama_legacy.onnx");
    let schema = serde_json::json!({"mode": "serial", "representations": [
        {"component": "onnx::Expand_81", "intervention_type": "AdditionIntervention"},
        {"layer": 1, "component": "block_output", "intervention_type": "VanillaIntervention"}],
        "unit_locations": {"source_0->source_1": [[[[0]]], [[[0]]]], "source_1->base": [[[[1]]], [[[1]]]]}});
    let out = rewrite(&llama, &schema, dir.path(), "serial").unwrap();
    let tokens = ids(&[&[1, 2, 3, 4]]);
    let base = vec![("input_ids".to_string(), tokens.clone())];
    let plain = run_all(&llama, &base);
    let mut feeds = base.clone();
    feeds.push(("source.1.input_ids".to_string(), tokens));
    let runs = run_all(&out, &feeds);
    assert!(runs.len() >= 2 || !util::require_ort(), "both backends must run it");
    let row =
        |outs: &NamedTensors, p: usize| util::get(outs, "logits").unwrap().to_f64()[p * 100..(p + 1) * 100].to_vec();
    let gap = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max);
    for ((engine, outs), (_, plain)) in runs.iter().zip(&plain) {
        assert!(max_diff(&runs[0].1, outs, "logits") < 1e-5, "{engine} differs from tract");
        assert!(gap(&row(plain, 0), &row(outs, 0)) < 1e-6, "{engine}: position 0 changed");
        assert!(gap(&row(plain, 1), &row(outs, 1)) > 1e-4, "{engine}: run 1 was not written");
    }
}
