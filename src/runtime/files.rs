//! Reading and writing tensors: safetensors files and JSON literals.

use super::{DType, NamedTensors, RuntimeError, Tensor};
use crate::fsio::{InputSet, MAX_INPUT_BYTES, read_input};
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

/// Reads every tensor of a safetensors file, sorted by name; refuses a file that is not a
/// regular one or is larger than [`MAX_INPUT_BYTES`].
pub fn read_safetensors(path: &Path) -> Result<NamedTensors, RuntimeError> {
    let bytes = read_input(path, MAX_INPUT_BYTES).map_err(|e| RuntimeError::File(e.to_string()))?;
    let st = SafeTensors::deserialize(&bytes)
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
    write_safetensors_with(path, tensors, &InputSet::new())
}

/// Writes tensors to a safetensors file under [`crate::fsio`]'s output policy: never over a file of
/// `inputs`, never over anything but a regular file, nothing left behind on failure.
pub fn write_safetensors_with(path: &Path, tensors: &NamedTensors, inputs: &InputSet) -> Result<(), RuntimeError> {
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
    crate::fsio::write_atomic(path, inputs, &bytes).map_err(|e| RuntimeError::File(e.to_string()))
}

/// Parses a JSON array (nested to any depth) into a tensor of `dtype`. Integers are read
/// exactly (never through f64) and must fit `dtype`; integer types take only whole numbers,
/// bool only `true`/`false`, and a float that overflows `dtype` is an error. Errors name the
/// element (`` `x`[0][2] = 300 ``), its value and the type's range.
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
    let mut bytes = Vec::with_capacity(flat.len() * dtype.size());
    for (k, v) in flat.iter().enumerate() {
        encode(v, dtype, &mut bytes).map_err(|why| {
            RuntimeError::InputValue(format!("{} = {} {why}", super::check::element(name, &shape, k), show(v)))
        })?;
    }
    Tensor::new(dtype, shape, bytes)
}

fn show(v: &serde_json::Value) -> String {
    v.to_string()
}

/// Appends the little-endian bytes of the JSON scalar `v` as `dtype`.
fn encode(v: &serde_json::Value, dtype: DType, out: &mut Vec<u8>) -> Result<(), String> {
    use serde_json::Value as V;
    let range = |lo: i128, hi: i128| format!("is out of range for {} [{lo}, {hi}]", dtype.name());
    match (dtype, v) {
        (DType::Bool, V::Bool(b)) => out.push(u8::from(*b)),
        (DType::Bool, _) => return Err("is not a bool: bool inputs take true or false".into()),
        (_, V::Bool(_)) => return Err(format!("is a bool, but the input is {}", dtype.name())),
        (_, V::Number(n)) if dtype.is_float() => {
            let x = n.as_f64().ok_or("is not a number")?;
            let (fits, max) = match dtype {
                DType::F32 => ((x as f32).is_finite(), f64::from(f32::MAX)),
                DType::F16 => (half::f16::from_f64(x).is_finite(), half::f16::MAX.to_f64()),
                DType::BF16 => (half::bf16::from_f64(x).is_finite(), half::bf16::MAX.to_f64()),
                _ => (true, f64::MAX),
            };
            if !fits {
                return Err(format!("overflows {} (largest finite value {max:e})", dtype.name()));
            }
            match dtype {
                DType::F32 => out.extend((x as f32).to_le_bytes()),
                DType::F16 => out.extend(half::f16::from_f64(x).to_le_bytes()),
                DType::BF16 => out.extend(half::bf16::from_f64(x).to_le_bytes()),
                _ => out.extend(x.to_le_bytes()),
            }
        }
        (_, V::Number(n)) => {
            let i = exact_int(n)?;
            match dtype {
                DType::I64 => {
                    out.extend(i64::try_from(i).map_err(|_| range(i64::MIN.into(), i64::MAX.into()))?.to_le_bytes())
                }
                DType::I32 => {
                    out.extend(i32::try_from(i).map_err(|_| range(i32::MIN.into(), i32::MAX.into()))?.to_le_bytes())
                }
                _ => out.push(u8::try_from(i).map_err(|_| range(0, 255))?),
            }
        }
        _ => return Err("is not a number".into()),
    }
    Ok(())
}

/// The exact integer a JSON number spells, or why it is not one.
fn exact_int(n: &serde_json::Number) -> Result<i128, String> {
    if let Some(i) = n.as_i64() {
        return Ok(i.into());
    }
    if let Some(u) = n.as_u64() {
        return Ok(u.into());
    }
    // serde_json keeps integers beyond u64 and anything with a fraction or exponent as f64.
    let x = n.as_f64().unwrap_or(f64::NAN);
    if x.fract() != 0.0 || !x.is_finite() {
        return Err("is not an integer".into());
    }
    // Beyond u64 (or below i64): out of every integer type's range.
    Ok(if x > 0.0 { i128::MAX } else { i128::MIN })
}

fn flatten<'v>(
    v: &'v serde_json::Value,
    depth: usize,
    shape: &[usize],
    out: &mut Vec<&'v serde_json::Value>,
) -> Result<(), String> {
    match v {
        serde_json::Value::Array(items) => {
            if depth >= shape.len() || items.len() != shape[depth] {
                return Err("ragged array: every row must have the same length".into());
            }
            items.iter().try_for_each(|i| flatten(i, depth + 1, shape, out))
        }
        serde_json::Value::Number(_) | serde_json::Value::Bool(_) if depth == shape.len() => {
            out.push(v);
            Ok(())
        }
        _ => Err(format!("expected a number at depth {depth}")),
    }
}
