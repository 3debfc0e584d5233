//! [`Tensor`]: a dense little-endian tensor, the currency between files, pvc and runtimes.

use super::RuntimeError;

/// Element types pvc moves between files and runtimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 16-bit float.
    F16,
    /// bfloat16.
    BF16,
    /// 64-bit float.
    F64,
    /// 64-bit integer.
    I64,
    /// 32-bit integer.
    I32,
    /// 8-bit unsigned integer.
    U8,
    /// Boolean, one byte each.
    Bool,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::F64 | DType::I64 => 8,
            DType::U8 | DType::Bool => 1,
        }
    }

    /// Whether this is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16 | DType::BF16 | DType::F64)
    }

    /// The ONNX element type code.
    pub fn onnx(self) -> i32 {
        use crate::onnx::pb::tensor_proto::DataType as D;
        (match self {
            DType::F32 => D::Float,
            DType::F16 => D::Float16,
            DType::BF16 => D::Bfloat16,
            DType::F64 => D::Double,
            DType::I64 => D::Int64,
            DType::I32 => D::Int32,
            DType::U8 => D::Uint8,
            DType::Bool => D::Bool,
        }) as i32
    }

    /// The type for an ONNX element type code.
    pub fn from_onnx(code: i32) -> Option<DType> {
        [DType::F32, DType::F16, DType::BF16, DType::F64, DType::I64, DType::I32, DType::U8, DType::Bool]
            .into_iter()
            .find(|d| d.onnx() == code)
    }

    /// Lower-case name as PyTorch spells it.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F64 => "float64",
            DType::I64 => "int64",
            DType::I32 => "int32",
            DType::U8 => "uint8",
            DType::Bool => "bool",
        }
    }
}

/// A dense tensor: element type, shape and little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Element type.
    pub dtype: DType,
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major little-endian bytes; `len == shape.product() * dtype.size()`.
    pub bytes: Vec<u8>,
}

impl Tensor {
    /// Wraps bytes, checking that their length fits the shape.
    pub fn new(dtype: DType, shape: Vec<usize>, bytes: Vec<u8>) -> Result<Tensor, RuntimeError> {
        let n: usize = shape.iter().product();
        if n * dtype.size() != bytes.len() {
            return Err(RuntimeError::BadTensor(format!(
                "{} bytes do not fill a {} tensor of shape {shape:?}",
                bytes.len(),
                dtype.name()
            )));
        }
        Ok(Tensor { dtype, shape, bytes })
    }

    /// A float32 tensor.
    pub fn from_f32(shape: Vec<usize>, data: &[f32]) -> Tensor {
        Tensor { dtype: DType::F32, shape, bytes: data.iter().flat_map(|v| v.to_le_bytes()).collect() }
    }

    /// An int64 tensor.
    pub fn from_i64(shape: Vec<usize>, data: &[i64]) -> Tensor {
        Tensor { dtype: DType::I64, shape, bytes: data.iter().flat_map(|v| v.to_le_bytes()).collect() }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as f64, for comparisons and summaries (any numeric type).
    pub fn to_f64(&self) -> Vec<f64> {
        let c = self.bytes.chunks_exact(self.dtype.size());
        match self.dtype {
            DType::F32 => c.map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64).collect(),
            DType::F64 => c.map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect(),
            DType::F16 => c.map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f64()).collect(),
            DType::BF16 => c.map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f64()).collect(),
            DType::I64 => c.map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f64).collect(),
            DType::I32 => c.map(|b| i32::from_le_bytes(b.try_into().unwrap()) as f64).collect(),
            DType::U8 | DType::Bool => c.map(|b| b[0] as f64).collect(),
        }
    }

    /// Largest absolute elementwise difference; `None` when the shapes differ.
    pub fn max_abs_diff(&self, other: &Tensor) -> Option<f64> {
        if self.shape != other.shape {
            return None;
        }
        let (a, b) = (self.to_f64(), other.to_f64());
        Some(a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max))
    }
}

/// Tensors with names, in a meaningful order (graph order for outputs).
pub type NamedTensors = Vec<(String, Tensor)>;
