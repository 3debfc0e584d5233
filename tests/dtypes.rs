//! A model keeps its dtype: interventions in fp16 and bf16 models are fp16 and bf16.

use crate::util;
use pvc::ir::Model;
use pvc::onnx::{pb::tensor_proto::DataType, s};
use pvc::rewrite::{Options, rewrite};
use pvc::runtime::{Backend, DType, Tensor, TractBackend};
use pvc::schema::Plan;

const SCHEMA: &str = r#"{"representations": [
  {"component": "net[2].output", "intervention_type": "addition", "source_representation": [0.5, -0.25, 0.125, 1, 0.5, -0.25, 0.125, 1, 0.5, -0.25, 0.125, 1, 0.5, -0.25, 0.125, 1]},
  {"component": "net[0].output", "intervention_type": "zero"},
  {"component": "net[3].output", "intervention_type": "collect"}],
  "unit_locations": {"base": [[[1], [2]], [[0, 3], [0, 3]], [[4], [5]]]}}"#;

fn patched(model: &str, dir: &std::path::Path) -> (Model, std::path::PathBuf) {
    let plan = Plan::from_json(SCHEMA, dir).unwrap();
    let mut m = Model::load(&util::model(model)).unwrap();
    rewrite(&mut m, &plan, &Options { original: false, verify: true, ..Default::default() }).unwrap();
    let out = dir.join(format!("{model}.patched.onnx"));
    m.save(&out, &Default::default()).unwrap();
    (m, out)
}

fn float_constants(m: &Model) -> Vec<i32> {
    m.graph
        .initializers
        .iter()
        .filter(|t| s(&t.name).starts_with("pvc/"))
        .filter_map(|t| t.data_type)
        .filter(|&d| pvc::ir::is_float(d))
        .collect()
}

#[test]
fn fp16_and_bf16_models_get_fp16_and_bf16_interventions() {
    let dir = util::tempdir();
    for (model, want) in [("mlp_fp16.onnx", DataType::Float16), ("mlp_bf16.onnx", DataType::Bfloat16)] {
        let (m, _) = patched(model, dir.path());
        let consts = float_constants(&m);
        assert!(!consts.is_empty());
        assert!(consts.iter().all(|&d| d == want as i32), "{model}: {consts:?}");
        let collected = m.graph.outputs.iter().find(|o| s(&o.name) == "collected.2").unwrap();
        assert_eq!(pvc::ir::ValueType::from_value_info(collected).elem, Some(want as i32));
    }
}

#[test]
fn fp16_intervention_runs_and_agrees_with_fp32() {
    let dir = util::tempdir();
    let (_, p16) = patched("mlp_fp16.onnx", dir.path());
    let (_, p32) = patched("mlp_legacy.onnx", dir.path());
    let refs = util::tensors(&util::model("mlp_fp16.ref.safetensors"));
    let x32 = util::get(&refs, "input.x").unwrap();
    let halves: Vec<u8> = x32.to_f64().iter().flat_map(|v| half::f16::from_f64(*v).to_le_bytes()).collect();
    let x16 = Tensor::new(DType::F16, x32.shape.clone(), halves).unwrap();
    let o16 = TractBackend::load(&p16).unwrap().run(&vec![("x".into(), x16)]).unwrap();
    let o32 = TractBackend::load(&p32).unwrap().run(&vec![("x".into(), x32.clone())]).unwrap();
    let mlp32 = util::tensors(&util::model("mlp_legacy.ref.safetensors"));
    let same_weights =
        util::get(&mlp32, "output.y").unwrap().max_abs_diff(util::get(&refs, "output.y").unwrap()).unwrap();
    assert!(same_weights < 5e-2, "the fp16 fixture is the fp32 one cast: {same_weights}");
    for name in ["y", "collected.2"] {
        let a = util::get(&o16, name).unwrap();
        let b = util::get(&o32, name).unwrap();
        assert_eq!(a.dtype, DType::F16);
        let d = a.max_abs_diff(b).unwrap();
        assert!(d < 5e-2, "{name}: fp16 vs fp32 differ by {d}");
    }
}
