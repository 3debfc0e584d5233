//! What a patched model declares is what it returns, and its tensors batch together: every
//! declared input and output shape, with each symbol bound from the inputs, against the shapes
//! tract and ONNX Runtime return; source inputs share the base input's batch symbol.

use crate::util;
use pvc::ir::{Dim, ValueType};
use pvc::runtime::{DType, NamedTensors, Tensor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Schemas covering every kind of input and output a rewrite adds.
pub const SCHEMAS: &[(&str, &str)] = &[
    (
        "runtime_interchange_and_collect",
        r#"{"model_type":"gpt2","unit_locations":"runtime","representations":[
            {"layer":1,"component":"block_output","unit":"pos","intervention_type":"vanilla"},
            {"layer":0,"component":"mlp_output","unit":"pos","intervention_type":"collect"}]}"#,
    ),
    (
        "fixed_collect_and_runtime_source",
        r#"{"model_type":"gpt2","representations":[
            {"layer":0,"component":"mlp_output","unit":"pos","intervention_type":"collect"},
            {"layer":1,"component":"block_input","unit":"pos","intervention_type":"addition"}],
            "unit_locations":{"base":[1,3]}}"#,
    ),
    (
        "whole_interchange",
        r#"{"model_type":"gpt2","unit_locations":null,"representations":[
            {"layer":1,"component":"mlp_output","intervention_type":"vanilla"}]}"#,
    ),
    (
        "runtime_heads",
        r#"{"model_type":"gpt2","representations":[
            {"layer":1,"component":"head_value_output","unit":"h.pos","intervention_type":"vanilla"}]}"#,
    ),
];

/// `pvc rewrite MODEL` with `schema` into `dir/<name>.onnx`.
pub fn patched(dir: &Path, model: &str, name: &str, schema: &str) -> PathBuf {
    let s = dir.join(format!("{name}.json"));
    std::fs::write(&s, schema).unwrap();
    let out = dir.join(format!("{name}.onnx"));
    let o = util::pvc().arg("rewrite").arg(util::model(model)).arg(&s).arg("-o").arg(&out).output().unwrap();
    assert!(o.status.success(), "{name}: {}", String::from_utf8_lossy(&o.stderr));
    out
}

/// Declared (name, type) pairs.
type Declared = Vec<(String, ValueType)>;

/// The declared (name, type) of each graph input (initializers excluded) and output.
fn declared(path: &Path) -> (Declared, Declared) {
    let m = pvc::ir::Model::load(path).unwrap();
    let inits: Vec<&str> = m.graph.initializers.iter().map(|t| pvc::onnx::s(&t.name)).collect();
    let io = |vs: &[pvc::onnx::pb::ValueInfoProto]| -> Declared {
        vs.iter()
            .filter(|v| !inits.contains(&pvc::onnx::s(&v.name)))
            .map(|v| (pvc::onnx::s(&v.name).to_string(), ValueType::from_value_info(v)))
            .collect()
    };
    (io(&m.graph.inputs), io(&m.graph.outputs))
}

/// Inputs for every declared input, each symbol bound once across inputs: the first dimension
/// `batch`, the base sequence 6, a source sequence 5, `units_<i>` 3 + i % 2 (so unit counts differ
/// from the batch and from each other), `heads_<i>` 1. Positions are distinct in each row and
/// below 5, heads 0 or 1, tokens small ids; `seed` varies the values, never the shapes.
pub fn bind_inputs(path: &Path, batch: usize, seed: usize) -> (NamedTensors, BTreeMap<String, usize>) {
    let (inputs, _) = declared(path);
    let mut sym: BTreeMap<String, usize> = BTreeMap::new();
    let mut feeds = Vec::new();
    for (name, ty) in &inputs {
        let dims = ty.shape.clone().unwrap_or_else(|| panic!("{name} declares no shape"));
        let mut shape = Vec::new();
        for (axis, d) in dims.iter().enumerate() {
            let n = match d {
                Dim::Fixed(n) => *n as usize,
                Dim::Named(s) => *sym.entry(s.clone()).or_insert_with(|| match (axis, s.as_str()) {
                    (0, _) => batch,
                    (_, s) if s.starts_with("units_") => 3 + s[6..].parse::<usize>().unwrap() % 2,
                    (_, s) if s.starts_with("heads_") => 1,
                    _ if name.starts_with("source.") => 5,
                    _ => 6,
                }),
            };
            shape.push(n);
        }
        let count: usize = shape.iter().product();
        let last = *shape.last().unwrap_or(&1);
        let ints = |f: &dyn Fn(usize) -> usize| (0..count).map(|j| f(j) as i64).collect::<Vec<_>>();
        let t = match ty.elem.and_then(DType::from_onnx) {
            Some(DType::I64) if name.ends_with(".heads") => Tensor::from_i64(shape, &ints(&|j| (j + seed) % 2)),
            Some(DType::I64) if name.starts_with("unit_locations.") => {
                Tensor::from_i64(shape, &ints(&|j| (j % last + seed) % 5))
            }
            Some(DType::I64) => Tensor::from_i64(shape, &ints(&|j| (j * 7 + seed * 3) % 50 + 1)),
            Some(DType::F32) => {
                Tensor::from_f32(shape, &(0..count).map(|j| (j + seed) as f32 * 0.01).collect::<Vec<_>>())
            }
            other => panic!("{name}: no test values for {other:?}"),
        };
        feeds.push((name.clone(), t));
    }
    (feeds, sym)
}

/// `dims` with every symbol replaced by its bound size; an unbound symbol is an error naming it.
fn expect(what: &str, dims: &[Dim], sym: &BTreeMap<String, usize>) -> Result<Vec<usize>, String> {
    dims.iter()
        .map(|d| match d {
            Dim::Fixed(n) => Ok(*n as usize),
            Dim::Named(s) => sym.get(s).copied().ok_or_else(|| format!("{what}: symbol `{s}` is bound by no input")),
        })
        .collect()
}

#[test]
fn every_declared_output_shape_is_what_both_backends_return() {
    let dir = util::tempdir();
    for model in ["gpt2_legacy.onnx", "gpt2_dynamo.onnx"] {
        for (name, schema) in SCHEMAS {
            let path = patched(dir.path(), model, &format!("{}_{name}", &model[..model.len() - 5]), schema);
            let (feeds, sym) = bind_inputs(&path, 2, 0);
            let (_, outputs) = declared(&path);
            for mut backend in util::backends(&path) {
                let got = backend.run(&feeds).unwrap_or_else(|e| panic!("{model} {name} {}: {e}", backend.name()));
                for (out, ty) in &outputs {
                    let what = format!("{model} {name} output {out}");
                    let dims = ty.shape.as_deref().unwrap_or_else(|| panic!("{what} declares no shape"));
                    let want = expect(&what, dims, &sym).unwrap_or_else(|e| panic!("{e}"));
                    let t = util::get(&got, out).unwrap_or_else(|| panic!("{what}: not returned"));
                    assert_eq!(t.shape, want, "{what} on {}: declared {dims:?}", backend.name());
                }
            }
        }
    }
}

#[test]
fn source_inputs_share_the_base_batch_on_both_backends() {
    let dir = util::tempdir();
    for model in ["gpt2_legacy.onnx", "gpt2_dynamo.onnx"] {
        let path = patched(dir.path(), model, &format!("{}_rt", &model[..model.len() - 5]), SCHEMAS[0].1);
        let (inputs, _) = declared(&path);
        let batch = |n: &str| inputs.iter().find(|(x, _)| x == n).unwrap().1.shape.clone().unwrap()[0].clone();
        let base = batch("input_ids");
        assert!(matches!(&base, Dim::Named(_)), "{model}: input_ids batch {base:?}");
        for (n, _) in &inputs {
            assert_eq!(batch(n), base, "{model}: {n} does not share the base batch");
        }
        let (mut feeds, _) = bind_inputs(&path, 2, 0);
        let src = feeds.iter_mut().find(|(n, _)| n == "source.0.input_ids").unwrap();
        src.1 = Tensor::from_i64(vec![3, 5], &[1; 15]);
        for mut backend in util::backends(&path) {
            let err =
                backend.run(&feeds).err().unwrap_or_else(|| panic!("{}: ran with batches 2 and 3", backend.name()));
            assert!(
                err.to_string().starts_with("input `source.0.input_ids`: dimension 0"),
                "{}: {err}",
                backend.name()
            );
        }
    }
}
