//! Taps: existing values exposed as new graph outputs.

use super::Patch;
use crate::ir::{Model, ValueType};
use crate::onnx::pb;

/// Builds a patch that exposes each `(value, output_name)` as a graph output through an
/// `Identity` node, typed as `ty` says (a tap always gets a shape, as `onnx.checker` requires).
pub fn tap_patch(taps: &[(String, String, ValueType)]) -> Patch {
    let mut p = Patch::new("tap", None);
    for (value, name, ty) in taps {
        p.nodes.push(pb::NodeProto {
            input: vec![value.clone()],
            output: vec![name.clone()],
            name: Some(format!("pvc/tap/{name}")),
            op_type: Some("Identity".into()),
            doc_string: Some(format!("pvc: exposes `{value}`")),
            ..Default::default()
        });
        p.outputs.push(ty.to_value_info(name));
    }
    p
}

/// Exposes values of `model` as outputs named `output_name`, typed from `types`.
pub fn expose(model: &mut Model, values: &[(String, String)], types: &std::collections::HashMap<String, ValueType>) {
    let taps: Vec<(String, String, ValueType)> =
        values.iter().map(|(v, n)| (v.clone(), n.clone(), types.get(v).cloned().unwrap_or_default())).collect();
    tap_patch(&taps).apply(model);
}
