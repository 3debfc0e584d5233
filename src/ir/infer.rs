//! Best-effort type and shape inference through tract.

use super::{Dim, Model, ValueType};
use crate::onnx::{encode_model, pb::tensor_proto::DataType, s};
use std::collections::HashMap;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::InferenceModelExt;
use tract_onnx::tract_hir::internal::*;

/// Element type and shape of every value tract can infer, merged over the types the model
/// declares (inputs, outputs, value infos, initializers). Values tract cannot type are absent.
pub fn infer_types(model: &Model) -> HashMap<String, ValueType> {
    let g = &model.graph;
    let mut types: HashMap<String, ValueType> = HashMap::new();
    for v in g.inputs.iter().chain(&g.outputs).chain(&g.value_info) {
        types.insert(s(&v.name).to_string(), ValueType::from_value_info(v));
    }
    for t in &g.initializers {
        types.insert(s(&t.name).to_string(), ValueType::from_tensor(t));
    }
    if let Ok(tract_types) = tract_types(model) {
        for (name, ty) in tract_types {
            let entry = types.entry(name).or_default();
            if entry.elem.is_none() {
                entry.elem = ty.elem;
            }
            if entry.shape.as_ref().is_none_or(|sh| sh.iter().any(|d| *d == Dim::Named("?".into())))
                && ty.shape.is_some()
            {
                entry.shape = ty.shape;
            }
        }
    }
    types
}

fn tract_types(model: &Model) -> TractResult<Vec<(String, ValueType)>> {
    let bytes = encode_model(&model.to_proto());
    let onnx = tract_onnx::onnx();
    let proto = onnx.proto_model_for_read(&mut &bytes[..])?;
    let dir = model.dir();
    let mut parsed = onnx.parse(&proto, dir.to_str())?.model;
    let _ = parsed.analyse(false);
    let mut out = Vec::new();
    for node in parsed.nodes() {
        for (slot, outlet) in node.outputs.iter().enumerate() {
            let Some(label) = parsed.outlet_label(OutletId::new(node.id, slot)) else { continue };
            out.push((label.to_string(), fact_type(&outlet.fact)));
        }
    }
    Ok(out)
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
