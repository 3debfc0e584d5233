//! Reading and writing tensors: safetensors files and JSON literals.

use super::{DType, NamedTensors, RuntimeError, Tensor};
use safetensors::{Dtype as StDtype, SafeTensors, tensor::TensorView};
use std::path::Path;

fn st_dtype(d: DType) -> StDtype {
    match d {
        DType::F32 => StDtype::F32,
        DType::F16 => StDtype::F16,
        DType::BF16 => StDtype::BF16,
        DType::F64 => StDtype::F64,
        DType::I64 => StDtype::I64,
        DType::I32 => StDtype::I32,
        DType::U8 => StDtype::U8,
        DType::Bool => StDtype::BOOL,
    }
}

fn from_st_dtype(d: StDtype) -> Option<DType> {
    Some(match d {
        StDtype::F32 => DType::F32,
        StDtype::F16 => DType::F16,
        StDtype::BF16 => DType::BF16,
        StDtype::F64 => DType::F64,
        StDtype::I64 => DType::I64,
        StDtype::I32 => DType::I32,
        StDtype::U8 => DType::U8,
        StDtype::BOOL => DType::Bool,
        _ => return None,
    })
}

/// Reads every tensor of a safetensors file, sorted by name.
pub fn read_safetensors(path: &Path) -> Result<NamedTensors, RuntimeError> {
    let bytes = std::fs::read(path).map_err(|e| RuntimeError::File(format!("{}: {e}", path.display())))?;
    safetensors_from_bytes(&bytes, path)
}

/// [`read_safetensors`] on bytes already read from `path` (which only names the file in errors).
pub fn safetensors_from_bytes(bytes: &[u8], path: &Path) -> Result<NamedTensors, RuntimeError> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| RuntimeError::File(format!("{}: not a safetensors file: {e}", path.display())))?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        let dtype = from_st_dtype(view.dtype()).ok_or_else(|| {
            RuntimeError::File(format!("{}: tensor `{name}` has unsupported type {:?}", path.display(), view.dtype()))
        })?;
        out.push((name, Tensor::new(dtype, view.shape().to_vec(), view.data().to_vec())?));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Writes tensors to a safetensors file (through a temporary file and a rename).
pub fn write_safetensors(path: &Path, tensors: &NamedTensors) -> Result<(), RuntimeError> {
    let views = tensors
        .iter()
        .map(|(n, t)| {
            TensorView::new(st_dtype(t.dtype), t.shape.clone(), &t.bytes)
                .map(|v| (n.clone(), v))
                .map_err(|e| RuntimeError::BadTensor(format!("`{n}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bytes =
        safetensors::serialize(views, None).map_err(|e| RuntimeError::File(format!("{}: {e}", path.display())))?;
    crate::onnx::write_atomic(path, &bytes).map_err(|e| RuntimeError::File(e.to_string()))
}

/// Parses a JSON number array (nested to any depth) into a tensor of `dtype`.
pub fn tensor_from_json(name: &str, text: &str, dtype: DType) -> Result<Tensor, RuntimeError> {
    let bad = |why: String| RuntimeError::BadInput { name: name.into(), reason: why };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(format!("not a JSON array: {e}")))?;
    let mut shape = Vec::new();
    let mut probe = &value;
    while let serde_json::Value::Array(items) = probe {
        shape.push(items.len());
        match items.first() {
            Some(first) => probe = first,
            None => break,
        }
    }
    let mut flat = Vec::new();
    flatten(&value, 0, &shape, &mut flat).map_err(bad)?;
    let bytes: Vec<u8> = match dtype {
        DType::F32 => flat.iter().flat_map(|v| (*v as f32).to_le_bytes()).collect(),
        DType::F64 => flat.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::F16 => flat.iter().flat_map(|v| half::f16::from_f64(*v).to_le_bytes()).collect(),
        DType::BF16 => flat.iter().flat_map(|v| half::bf16::from_f64(*v).to_le_bytes()).collect(),
        DType::I64 => ints(&flat).map_err(bad)?.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::I32 => ints(&flat).map_err(bad)?.iter().flat_map(|&v| (v as i32).to_le_bytes()).collect(),
        DType::U8 | DType::Bool => ints(&flat).map_err(bad)?.iter().map(|&v| v as u8).collect(),
    };
    Tensor::new(dtype, shape, bytes)
}

fn ints(flat: &[f64]) -> Result<Vec<i64>, String> {
    flat.iter().map(|v| if v.fract() == 0.0 { Ok(*v as i64) } else { Err(format!("{v} is not an integer")) }).collect()
}

fn flatten(v: &serde_json::Value, depth: usize, shape: &[usize], out: &mut Vec<f64>) -> Result<(), String> {
    match v {
        serde_json::Value::Array(items) => {
            if depth >= shape.len() || items.len() != shape[depth] {
                return Err("ragged array: every row must have the same length".into());
            }
            items.iter().try_for_each(|i| flatten(i, depth + 1, shape, out))
        }
        serde_json::Value::Number(n) if depth == shape.len() => {
            out.push(n.as_f64().ok_or("number out of range")?);
            Ok(())
        }
        serde_json::Value::Bool(b) if depth == shape.len() => {
            out.push(f64::from(u8::from(*b)));
            Ok(())
        }
        _ => Err(format!("expected a number at depth {depth}")),
    }
}
