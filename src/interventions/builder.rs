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

    /// A constant of element type `elem` (a float, integer or bool type), or an error naming
    /// the first value that element type cannot hold (e.g. 70000 in float16).
    pub fn constant(&mut self, elem: i32, dims: &[i64], values: &[f64]) -> Result<String, String> {
        let raw = encode(elem, values)?;
        let name = self.fresh("const");
        self.initializers.push(pb::TensorProto {
            dims: dims.to_vec(),
            data_type: Some(elem),
            name: Some(name.clone()),
            raw_data: Some(raw.into()),
            ..Default::default()
        });
        Ok(name)
    }
}

/// `values` as little-endian bytes of element type `elem`.
pub fn encode(elem: i32, values: &[f64]) -> Result<Vec<u8>, String> {
    let ty = DataType::try_from(elem).map_err(|_| format!("element type {elem} is unknown"))?;
    let name = crate::ir::dtype_name(elem);
    let out_of_range = |v: f64| format!("{v} does not fit the site's element type {name}");
    let float =
        |v: f64, narrowed: f64| if v.is_finite() && !narrowed.is_finite() { Err(out_of_range(v)) } else { Ok(()) };
    let int = |v: f64, lo: f64, hi: f64| {
        if v.fract() != 0.0 || v < lo || v > hi { Err(out_of_range(v)) } else { Ok(v) }
    };
    let mut raw = Vec::new();
    for &v in values {
        match ty {
            DataType::Float => {
                float(v, f64::from(v as f32))?;
                raw.extend((v as f32).to_le_bytes());
            }
            DataType::Double => raw.extend(v.to_le_bytes()),
            DataType::Float16 => {
                let h = half::f16::from_f64(v);
                float(v, h.to_f64())?;
                raw.extend(h.to_le_bytes());
            }
            DataType::Bfloat16 => {
                let h = half::bf16::from_f64(v);
                float(v, h.to_f64())?;
                raw.extend(h.to_le_bytes());
            }
            DataType::Int64 => raw.extend((int(v, -(2f64.powi(63)), 2f64.powi(63) - 1.0)? as i64).to_le_bytes()),
            DataType::Int32 => raw.extend((int(v, f64::from(i32::MIN), f64::from(i32::MAX))? as i32).to_le_bytes()),
            DataType::Int16 => raw.extend((int(v, f64::from(i16::MIN), f64::from(i16::MAX))? as i16).to_le_bytes()),
            DataType::Int8 => raw.extend((int(v, f64::from(i8::MIN), f64::from(i8::MAX))? as i8).to_le_bytes()),
            DataType::Uint64 => raw.extend((int(v, 0.0, 2f64.powi(64) - 1.0)? as u64).to_le_bytes()),
            DataType::Uint32 => raw.extend((int(v, 0.0, f64::from(u32::MAX))? as u32).to_le_bytes()),
            DataType::Uint16 => raw.extend((int(v, 0.0, f64::from(u16::MAX))? as u16).to_le_bytes()),
            DataType::Uint8 => raw.push(int(v, 0.0, f64::from(u8::MAX))? as u8),
            DataType::Bool => raw.push(u8::from(int(v, 0.0, 1.0)? != 0.0)),
            _ => return Err(format!("pvc cannot make constants of element type {name}")),
        }
    }
    Ok(raw)
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
