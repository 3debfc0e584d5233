//! Element types and shapes of values.

use crate::onnx::pb::{self, tensor_proto::DataType, tensor_shape_proto::dimension, type_proto};
use std::fmt;

/// An ONNX element type code (`TensorProto.DataType`).
pub type ElemType = i32;

/// One dimension of a shape.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum Dim {
    /// A known size.
    Fixed(i64),
    /// A symbolic size, such as `batch`.
    Named(String),
}

/// Element type and (possibly partial) shape of a tensor value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValueType {
    /// Element type, when known.
    pub elem: Option<ElemType>,
    /// Shape, when the rank is known; unknown dimensions are `Named("?")`.
    pub shape: Option<Vec<Dim>>,
}

impl ValueType {
    /// Reads the tensor type of a `ValueInfoProto`.
    pub fn from_value_info(v: &pb::ValueInfoProto) -> ValueType {
        let Some(type_proto::Value::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
            return ValueType::default();
        };
        let shape = t.shape.as_ref().map(|sh| {
            sh.dim
                .iter()
                .map(|d| match &d.value {
                    Some(dimension::Value::DimValue(v)) => Dim::Fixed(*v),
                    Some(dimension::Value::DimParam(p)) => Dim::Named(p.clone()),
                    None => Dim::Named("?".into()),
                })
                .collect()
        });
        ValueType { elem: t.elem_type, shape }
    }

    /// The type of an initializer.
    pub fn from_tensor(t: &pb::TensorProto) -> ValueType {
        ValueType { elem: t.data_type, shape: Some(t.dims.iter().map(|&d| Dim::Fixed(d)).collect()) }
    }

    /// A `ValueInfoProto` named `name` with this type; unknown dims are left without a value.
    pub fn to_value_info(&self, name: &str) -> pb::ValueInfoProto {
        let shape = self.shape.as_ref().map(|dims| pb::TensorShapeProto {
            dim: dims
                .iter()
                .map(|d| pb::tensor_shape_proto::Dimension {
                    value: match d {
                        Dim::Fixed(v) => Some(dimension::Value::DimValue(*v)),
                        Dim::Named(p) if p != "?" => Some(dimension::Value::DimParam(p.clone())),
                        Dim::Named(_) => None,
                    },
                    denotation: None,
                })
                .collect(),
        });
        pb::ValueInfoProto {
            name: Some(name.to_string()),
            r#type: Some(pb::TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor { elem_type: self.elem, shape })),
                denotation: None,
            }),
            ..Default::default()
        }
    }

    /// The last dimension when it is known.
    pub fn last_dim(&self) -> Option<i64> {
        match self.shape.as_ref()?.last()? {
            Dim::Fixed(v) => Some(*v),
            Dim::Named(_) => None,
        }
    }

    /// Whether the element type is a floating-point type.
    pub fn is_float(&self) -> bool {
        self.elem.is_some_and(is_float)
    }
}

/// `[batch, seq, 16]`: a shape as messages print it (`?` for an unknown dimension).
pub fn shape_text(dims: &[Dim]) -> String {
    let d: Vec<String> = dims
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => n.to_string(),
            Dim::Named(p) => p.clone(),
        })
        .collect();
    format!("[{}]", d.join(", "))
}

/// Whether `elem` is a floating-point element type.
pub fn is_float(elem: ElemType) -> bool {
    matches!(DataType::try_from(elem), Ok(DataType::Float | DataType::Float16 | DataType::Bfloat16 | DataType::Double))
}

/// Whether `elem` is a number type (floating-point or integer): not bool, string or complex.
pub fn is_numeric(elem: ElemType) -> bool {
    use DataType::*;
    is_float(elem)
        || matches!(DataType::try_from(elem), Ok(Int8 | Int16 | Int32 | Int64 | Uint8 | Uint16 | Uint32 | Uint64))
}

/// A short name for an element type, as PyTorch spells dtypes (`float32`, `int64`).
pub fn dtype_name(elem: ElemType) -> &'static str {
    match DataType::try_from(elem) {
        Ok(DataType::Float) => "float32",
        Ok(DataType::Float16) => "float16",
        Ok(DataType::Bfloat16) => "bfloat16",
        Ok(DataType::Double) => "float64",
        Ok(DataType::Int64) => "int64",
        Ok(DataType::Int32) => "int32",
        Ok(DataType::Int8) => "int8",
        Ok(DataType::Uint8) => "uint8",
        Ok(DataType::Bool) => "bool",
        Ok(DataType::String) => "string",
        _ => "other",
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let elem = self.elem.map_or("?", dtype_name);
        match &self.shape {
            None => write!(f, "{elem}"),
            Some(dims) => {
                let dims: Vec<String> = dims
                    .iter()
                    .map(|d| match d {
                        Dim::Fixed(v) => v.to_string(),
                        Dim::Named(p) => p.clone(),
                    })
                    .collect();
                write!(f, "{elem}[{}]", dims.join(","))
            }
        }
    }
}
