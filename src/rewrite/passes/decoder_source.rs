//! A source run inside a KV-cache decoder: what the source slice feeds itself.
//!
//! pyvene runs each source as one forward over its own prompt, with no cache, before the
//! hooked `generate`. In the patched decoder the source slice is computed on every call from
//! `source.<g>.input_ids` alone: its past is empty, its attention mask all ones and its
//! positions `0..len`, so a runtime that drives the decoder (pvc, ONNX Runtime GenAI, a C++
//! server) feeds only the source's token ids, the same on every call.

use crate::interventions::{Builder, attr_int};
use crate::ir::{Dim, Graph, ValueType};
use crate::onnx::{pb, s};
use crate::rewrite::RewriteError;
use std::collections::BTreeSet;

/// The nodes that compute, in group `group`'s slice, the decoder inputs a source run does not
/// take (every rank-4 `past…` input, `attention_mask`, `position_ids`) among those the slice
/// reads (`read`, in `source.<group>.<input>` names), and the inputs they replace. Errors when a
/// replacement is needed and the model has no int64 `input_ids`, or a past input lacks fixed
/// kv-heads and head-size dimensions.
pub fn own_feeds(g: &Graph, group: usize, read: &BTreeSet<String>) -> Result<(Builder, Vec<String>), RewriteError> {
    let mut b = Builder::new(&format!("pvc/source.{group}/feeds"), "pvc: a source run's own decoder inputs");
    let mut replaced = Vec::new();
    let ids = format!("source.{group}.input_ids");
    let mut shape: Option<(String, String)> = None;
    for v in &g.inputs {
        let input = s(&v.name);
        let name = format!("source.{group}.{input}");
        if !read.contains(&name) {
            continue;
        }
        let ty = ValueType::from_value_info(v);
        let kind = match input {
            "attention_mask" => Feed::Mask,
            "position_ids" => Feed::Positions,
            i if i.starts_with("past") && ty.shape.as_ref().is_some_and(|d| d.len() == 4) => Feed::Empty,
            _ => continue,
        };
        let (ids_shape, batch) = match &shape {
            Some(x) => x.clone(),
            None => {
                check_ids(g, input)?;
                let sh = b.op("Shape", &[&ids], vec![]);
                let (zero, one) = (b.ints(&[1], &[0]), b.ints(&[1], &[1]));
                let batch = b.op("Slice", &[&sh, &zero, &one], vec![]);
                shape = Some((sh.clone(), batch.clone()));
                (sh, batch)
            }
        };
        let elem = ty.elem.unwrap_or(pb::tensor_proto::DataType::Int64 as i32);
        match kind {
            Feed::Mask => {
                let one = scalar(elem, 1.0, input)?;
                b.node("ConstantOfShape", &[&ids_shape], &[&name], vec![value_attr(one)]);
            }
            Feed::Positions => {
                let two = b.ints(&[1], &[2]);
                let one_at = b.ints(&[1], &[1]);
                let len = b.op("Slice", &[&ids_shape, &one_at, &two], vec![]);
                let axis = b.ints(&[1], &[0]);
                let len = b.op("Squeeze", &[&len, &axis], vec![]);
                let (zero, step) = (b.ints(&[], &[0]), b.ints(&[], &[1]));
                let range = b.op("Range", &[&zero, &len, &step], vec![]);
                let range = b.op("Cast", &[&range], vec![attr_int("to", i64::from(elem))]);
                let row = b.op("Unsqueeze", &[&range, &axis], vec![]);
                b.node("Expand", &[&row, &ids_shape], &[&name], vec![]);
            }
            Feed::Empty => {
                let dims = ty.shape.as_deref().unwrap_or_default();
                let (Some(Dim::Fixed(h)), Some(Dim::Fixed(d))) = (dims.get(1), dims.get(3)) else {
                    return Err(RewriteError::Model(format!(
                        "input `{input}` needs fixed kv_heads and head_dim ([batch, kv_heads, past, head_dim]) for a \
                         source run during generation"
                    )));
                };
                let rest = b.ints(&[3], &[*h, 0, *d]);
                let dims = b.op("Concat", &[&batch, &rest], vec![attr_int("axis", 0)]);
                let zero = scalar(elem, 0.0, input)?;
                b.node("ConstantOfShape", &[&dims], &[&name], vec![value_attr(zero)]);
            }
        }
        replaced.push(name);
    }
    Ok((b, replaced))
}

enum Feed {
    Mask,
    Positions,
    Empty,
}

fn check_ids(g: &Graph, needed_by: &str) -> Result<(), RewriteError> {
    let int64 = pb::tensor_proto::DataType::Int64 as i32;
    match g.inputs.iter().find(|v| s(&v.name) == "input_ids") {
        Some(v) if ValueType::from_value_info(v).elem == Some(int64) => Ok(()),
        _ => Err(RewriteError::Model(format!(
            "a source run during generation computes its own `{needed_by}` from the source's int64 `input_ids`, \
             and this model has no such input"
        ))),
    }
}

/// A one-element tensor of `elem` holding `v`, for `ConstantOfShape`'s `value`.
fn scalar(elem: i32, v: f64, input: &str) -> Result<pb::TensorProto, RewriteError> {
    let raw =
        crate::interventions::encode(elem, &[v]).map_err(|e| RewriteError::Model(format!("input `{input}`: {e}")))?;
    Ok(pb::TensorProto { dims: vec![1], data_type: Some(elem), raw_data: Some(raw.into()), ..Default::default() })
}

fn value_attr(t: pb::TensorProto) -> pb::AttributeProto {
    pb::AttributeProto {
        name: Some("value".into()),
        t: Some(t),
        r#type: Some(pb::attribute_proto::AttributeType::Tensor as i32),
        ..Default::default()
    }
}
