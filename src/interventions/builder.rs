//! [`Builder`]: emits ONNX nodes and constants under one `pvc/...` name prefix.

use crate::onnx::pb::{self, attribute_proto::AttributeType, tensor_proto::DataType};

/// Collects new nodes and initializers; every name it makes starts with its prefix.
#[derive(Debug)]
pub struct Builder {
    prefix: String,
    doc: String,
    count: usize,
    /// Nodes made so far, in dataflow order.
    pub nodes: Vec<pb::NodeProto>,
    /// Constants made so far.
    pub initializers: Vec<pb::TensorProto>,
}

impl Builder {
    /// A builder naming things `<prefix>/<op>_<n>`, with `doc` as every node's doc_string.
    pub fn new(prefix: &str, doc: &str) -> Builder {
        Builder { prefix: prefix.into(), doc: doc.into(), count: 0, nodes: vec![], initializers: vec![] }
    }

    /// A fresh value name.
    pub fn fresh(&mut self, hint: &str) -> String {
        self.count += 1;
        format!("{}/{hint}_{}", self.prefix, self.count)
    }

    /// Adds node `op` reading `inputs`; returns its single output.
    pub fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<pb::AttributeProto>) -> String {
        let out = self.fresh(op);
        self.node(op, inputs, &[&out], attrs);
        out
    }

    /// Adds node `op` with explicit outputs.
    pub fn node(&mut self, op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<pb::AttributeProto>) {
        let name = format!("{}/node_{}", self.prefix, self.nodes.len());
        self.nodes.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name: Some(name),
            op_type: Some(op.into()),
            attribute: attrs,
            doc_string: Some(self.doc.clone()),
            ..Default::default()
        });
    }

    /// An int64 constant of shape `dims`.
    pub fn ints(&mut self, dims: &[i64], values: &[i64]) -> String {
        let name = self.fresh("const");
        self.initializers.push(pb::TensorProto {
            dims: dims.to_vec(),
            data_type: Some(DataType::Int64 as i32),
            name: Some(name.clone()),
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..Default::default()
        });
        name
    }

    /// A boolean constant of shape `dims`.
    pub fn bools(&mut self, dims: &[i64], values: &[bool]) -> String {
        let name = self.fresh("mask");
        self.initializers.push(pb::TensorProto {
            dims: dims.to_vec(),
            data_type: Some(DataType::Bool as i32),
            name: Some(name.clone()),
            raw_data: Some(values.iter().map(|&b| u8::from(b)).collect()),
            ..Default::default()
        });
        name
    }

    /// A floating constant of element type `elem` (float, float16, bfloat16 or double).
    pub fn floats(&mut self, elem: i32, dims: &[i64], values: &[f64]) -> String {
        let name = self.fresh("const");
        let raw: Vec<u8> = match DataType::try_from(elem) {
            Ok(DataType::Float16) => values.iter().flat_map(|v| half::f16::from_f64(*v).to_le_bytes()).collect(),
            Ok(DataType::Bfloat16) => values.iter().flat_map(|v| half::bf16::from_f64(*v).to_le_bytes()).collect(),
            Ok(DataType::Double) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            _ => values.iter().flat_map(|v| (*v as f32).to_le_bytes()).collect(),
        };
        self.initializers.push(pb::TensorProto {
            dims: dims.to_vec(),
            data_type: Some(elem),
            name: Some(name.clone()),
            raw_data: Some(raw.into()),
            ..Default::default()
        });
        name
    }
}

/// An integer attribute.
pub fn attr_int(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: Some(name.into()),
        i: Some(v),
        r#type: Some(AttributeType::Int as i32),
        ..Default::default()
    }
}

/// An integer-list attribute.
pub fn attr_ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: Some(name.into()),
        ints: v.to_vec(),
        r#type: Some(AttributeType::Ints as i32),
        ..Default::default()
    }
}

/// A tensor attribute.
pub fn attr_tensor(name: &str, t: pb::TensorProto) -> pb::AttributeProto {
    pb::AttributeProto {
        name: Some(name.into()),
        t: Some(t),
        r#type: Some(AttributeType::Tensor as i32),
        ..Default::default()
    }
}
