//! Reading the `intkey_*.bin` files of a pyvene save directory: `torch.save` archives of an
//! intervention's `state_dict`. The zip container ([`archive`]) may store or deflate its
//! entries; the pickle ([`pickle`]) is interpreted as data: only `OrderedDict` and
//! `torch._utils._rebuild_tensor_v2` over persistent storages are accepted, any other callable
//! is refused and nothing is executed. Every size read from the file goes through checked
//! arithmetic, and decoding stops past fixed budgets.

mod archive;
mod pickle;

use pickle::{TensorRef, Value};
use std::collections::HashMap;

/// Most values decoded from one state_dict, all tensors together (2^28, 1 GiB of f32).
pub const MAX_VALUES: usize = 1 << 28;

/// A tensor read from a state_dict, as f32 values with its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct StateTensor {
    /// Shape.
    pub shape: Vec<usize>,
    /// Values, converted to f32.
    pub values: Vec<f32>,
}

/// Reads every tensor of a `torch.save`d state_dict.
pub fn read_state_dict(bytes: &[u8]) -> Result<HashMap<String, StateTensor>, String> {
    let entries = archive::entries(bytes)?;
    let (prefix, pkl) = entries
        .iter()
        .find_map(|(name, data)| name.strip_suffix("data.pkl").map(|p| (p.to_string(), data)))
        .ok_or("not a torch.save archive: no data.pkl")?;
    let root = pickle::load(pkl)?;
    let items = root.dict().ok_or("the pickle is not a state_dict")?;
    let mut out = HashMap::new();
    let mut left = MAX_VALUES;
    for (k, v) in items {
        let (Value::Str(key), Value::Tensor(t)) = (k, v) else { continue };
        let file = format!("{prefix}data/{}", t.storage);
        let data = entries
            .iter()
            .find(|(n, _)| *n == file)
            .map(|(_, d)| d)
            .ok_or(format!("tensor `{key}`: missing storage {file}"))?;
        let tensor = read(&t, data, left).map_err(|e| format!("tensor `{key}`: {e}"))?;
        left -= tensor.values.len();
        out.insert(key.to_string(), tensor);
    }
    Ok(out)
}

/// Decodes `t` from its storage bytes; fails past `budget` values.
fn read(t: &TensorRef, data: &[u8], budget: usize) -> Result<StateTensor, String> {
    let (size, conv): (usize, fn(&[u8]) -> f32) = match t.dtype.as_str() {
        "FloatStorage" => (4, |b| f32::from_le_bytes(b.try_into().unwrap())),
        "DoubleStorage" => (8, |b| f64::from_le_bytes(b.try_into().unwrap()) as f32),
        "HalfStorage" => (2, |b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()),
        "BFloat16Storage" => (2, |b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()),
        "LongStorage" => (8, |b| i64::from_le_bytes(b.try_into().unwrap()) as f32),
        other => return Err(format!("unsupported storage type {other}")),
    };
    let n = t
        .shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| format!("shape {:?} overflows", t.shape))?;
    if n > budget {
        return Err(format!("shape {:?} has {n} values, past the budget of {MAX_VALUES} per file", t.shape));
    }
    let span = t
        .shape
        .iter()
        .zip(&t.stride)
        .try_fold(0usize, |m, (&d, &s)| if d == 0 { Some(m) } else { m.checked_add((d - 1).checked_mul(s)?) })
        .and_then(|last| if n == 0 { Some(0) } else { last.checked_add(1) })
        .ok_or_else(|| format!("shape {:?} with stride {:?} overflows", t.shape, t.stride))?;
    let range = t
        .offset
        .checked_mul(size)
        .and_then(|start| Some(start..start.checked_add(span.checked_mul(size)?)?))
        .ok_or_else(|| format!("offset {} with shape {:?} overflows", t.offset, t.shape))?;
    let bytes = data.get(range.clone()).ok_or_else(|| {
        format!("storage has {} bytes; the tensor needs bytes {}..{}", data.len(), range.start, range.end)
    })?;
    let mut values = Vec::with_capacity(n);
    let mut index = vec![0usize; t.shape.len()];
    for _ in 0..n {
        let at: usize = index.iter().zip(&t.stride).map(|(i, s)| i * s).sum();
        values.push(conv(&bytes[at * size..(at + 1) * size]));
        for ax in (0..index.len()).rev() {
            index[ax] += 1;
            if index[ax] < t.shape[ax] {
                break;
            }
            index[ax] = 0;
        }
    }
    Ok(StateTensor { shape: t.shape.clone(), values })
}
