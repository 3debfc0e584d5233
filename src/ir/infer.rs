//! Best-effort type and shape inference through tract.

use super::{Dim, Model, ValueType};
use crate::onnx::{encode_model, pb::tensor_proto::DataType, s};
use std::collections::HashMap;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::InferenceModelExt;
use tract_onnx::tract_hir::internal::*;

/// Element type and shape of every value tract can infer, merged over the types the model
/// declares (inputs, outputs, value infos, initializers). Values tract cannot type are absent;
/// a model tract cannot analyse at all (or panics on) keeps only its declared types.
pub fn infer_types(model: &Model) -> HashMap<String, ValueType> {
    analyse_types(model).0
}

/// [`infer_types`], and why tract could not analyse the whole model (an unknown operator, a
/// malformed initializer, an untyped input), when it could not: the types are then partial.
/// A panic inside tract is caught and reported here, never printed.
pub fn analyse_types(model: &Model) -> (HashMap<String, ValueType>, Option<String>) {
    let g = &model.graph;
    let mut types: HashMap<String, ValueType> = HashMap::new();
    for v in g.inputs.iter().chain(&g.outputs).chain(&g.value_info) {
        types.insert(s(&v.name).to_string(), ValueType::from_value_info(v));
    }
    for t in &g.initializers {
        types.insert(s(&t.name).to_string(), ValueType::from_tensor(t));
    }
    let (inferred, problem) = match crate::panic::catch_quietly(|| tract_types(model)) {
        Ok(Ok((found, problem))) => (found, problem),
        Ok(Err(e)) => (vec![], Some(one_line(&format!("{e:#}")))),
        Err(panic) => (vec![], Some(format!("tract panicked: {panic}"))),
    };
    for (name, ty) in inferred {
        let entry = types.entry(name).or_default();
        if entry.elem.is_none() {
            entry.elem = ty.elem;
        }
        if entry.shape.as_ref().is_none_or(|sh| sh.iter().any(|d| *d == Dim::Named("?".into()))) && ty.shape.is_some() {
            entry.shape = ty.shape;
        }
    }
    (types, problem)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn tract_types(model: &Model) -> TractResult<(Vec<(String, ValueType)>, Option<String>)> {
    let mut proto = model.to_proto();
    externals_as_inputs(&mut proto);
    let swapped = swap_bf16(&mut proto);
    let bytes = encode_model(&proto);
    let onnx = tract_onnx::onnx();
    let proto = onnx.proto_model_for_read(&mut &bytes[..])?;
    let dir = model.dir();
    let mut parsed = onnx.parse(&proto, dir.to_str())?.model;
    let problem = parsed.analyse(false).err().map(|e| one_line(&format!("{e:#}")));
    let mut out = Vec::new();
    for node in parsed.nodes() {
        for (slot, outlet) in node.outputs.iter().enumerate() {
            let Some(label) = parsed.outlet_label(OutletId::new(node.id, slot)) else { continue };
            let mut ty = fact_type(&outlet.fact);
            if swapped && ty.elem == Some(DataType::Float16 as i32) {
                ty.elem = Some(DataType::Bfloat16 as i32);
            }
            out.push((label.to_string(), ty));
        }
    }
    Ok((out, problem))
}

/// Large weights, external or embedded, become typed graph inputs, so that inference never
/// reads nor encodes them: shapes follow from their declared dims. Small ones (shape constants)
/// stay and are read.
fn externals_as_inputs(proto: &mut crate::onnx::pb::ModelProto) {
    const SMALL: u64 = 64 * 1024;
    let Some(g) = proto.graph.as_mut() else { return };
    let large = |t: &crate::onnx::pb::TensorProto| match crate::onnx::expected_bytes(t) {
        Some(b) => b > SMALL,
        None => crate::onnx::is_external(t) || t.raw_data.as_ref().is_some_and(|r| r.len() as u64 > SMALL),
    };
    let (big, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut g.initializer).into_iter().partition(large);
    g.initializer = keep;
    for t in big {
        let ty = ValueType::from_tensor(&t);
        let name = s(&t.name).to_string();
        g.input.retain(|v| s(&v.name) != name);
        g.input.push(ty.to_value_info(&name));
    }
}

/// tract has no bfloat16. Shapes do not depend on it, so a model that uses bfloat16 and no
/// float16 is typed as float16 (same element size) and the result mapped back.
fn swap_bf16(proto: &mut crate::onnx::pb::ModelProto) -> bool {
    use crate::onnx::pb::type_proto::Value;
    let (bf, f16) = (DataType::Bfloat16 as i32, DataType::Float16 as i32);
    let Some(g) = proto.graph.as_mut() else { return false };
    let uses = |g: &crate::onnx::pb::GraphProto, elem: i32| {
        g.initializer.iter().any(|t| t.data_type == Some(elem))
            || g.input.iter().chain(&g.output).chain(&g.value_info).any(|v| {
                matches!(v.r#type.as_ref().and_then(|t| t.value.as_ref()), Some(Value::TensorType(t)) if t.elem_type == Some(elem))
            })
    };
    if !uses(g, bf) || uses(g, f16) {
        return false;
    }
    let fix = |d: &mut Option<i32>| {
        if *d == Some(bf) {
            *d = Some(f16);
        }
    };
    for t in &mut g.initializer {
        fix(&mut t.data_type);
    }
    for v in g.input.iter_mut().chain(g.output.iter_mut()).chain(g.value_info.iter_mut()) {
        if let Some(Value::TensorType(t)) = v.r#type.as_mut().and_then(|t| t.value.as_mut()) {
            fix(&mut t.elem_type);
        }
    }
    for n in &mut g.node {
        for a in &mut n.attribute {
            if let Some(t) = a.t.as_mut() {
                fix(&mut t.data_type);
            }
            if crate::onnx::s(&a.name) == "to" && a.i == Some(i64::from(bf)) {
                a.i = Some(i64::from(f16));
            }
        }
    }
    true
}

fn fact_type(fact: &InferenceFact) -> ValueType {
    let elem = fact.datum_type.concretize().and_then(onnx_elem);
    let shape = if fact.shape.is_open() {
        None
    } else {
        Some(
            fact.shape
                .dims()
                .map(|d| match d.concretize() {
                    Some(t) => match t.to_i64() {
                        Ok(v) => Dim::Fixed(v),
                        Err(_) => Dim::Named(t.to_string()),
                    },
                    None => Dim::Named("?".into()),
                })
                .collect(),
        )
    };
    ValueType { elem, shape }
}

/// The ONNX element type of a tract datum type.
pub fn onnx_elem(dt: DatumType) -> Option<i32> {
    let d = match dt {
        DatumType::F32 => DataType::Float,
        DatumType::F16 => DataType::Float16,
        DatumType::F64 => DataType::Double,
        DatumType::I64 => DataType::Int64,
        DatumType::I32 => DataType::Int32,
        DatumType::I8 => DataType::Int8,
        DatumType::U8 => DataType::Uint8,
        DatumType::Bool => DataType::Bool,
        DatumType::TDim => DataType::Int64,
        _ => return None,
    };
    Some(d as i32)
}
