//! The schema's weights: a safetensors file whose tensor `<i>.<name>` is representation i's
//! parameter, and the `intkey_*.bin` state_dicts of a pyvene save directory.

use super::SchemaError;
use super::json::At;
use crate::fsio::{MAX_INPUT_BYTES, read_input};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a schema's pyvene state dicts (`torch.save`d `intkey_<key>.bin` archives, one per key
/// of `"sorted_keys"`) come from.
#[derive(Debug, Clone, Default)]
pub enum StateDicts {
    /// The files `intkey_<key>.bin` next to the schema (a pyvene save directory); a missing file
    /// means that intervention has no state.
    #[default]
    Files,
    /// In memory, by key, as `torch.save` writes them (what `IntervenableModel.save` would write);
    /// a key absent here has no state, and no file is read.
    Memory(BTreeMap<String, Vec<u8>>),
}

/// The weight files the schema `root` names, relative to `dir`: `"weights"` and, when the state
/// dicts are files, every `intkey_<key>.bin` of `"sorted_keys"` (whether or not they exist).
pub(super) fn files(root: &At, dir: &Path, dicts: &StateDicts) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> =
        root.get("weights").and_then(|w| w.str().ok().map(|rel| dir.join(rel))).into_iter().collect();
    if let (StateDicts::Files, Some(keys)) = (dicts, root.get("sorted_keys").and_then(|k| k.items().ok())) {
        out.extend(keys.iter().filter_map(|k| k.str().ok()).map(|k| intkey_file(dir, k)));
    }
    let reps = match root.get("representations") {
        Some(r) if r.v.is_array() => r.items().unwrap_or_default(),
        Some(r) => vec![r],
        None => vec![root.clone()],
    };
    for rep in reps {
        if let Some(sae) = rep.get("sae").and_then(|s| s.str().ok().map(str::to_string)) {
            out.push(dir.join(&sae));
            out.extend(super::saelens::files(&dir.join(sae)));
        }
    }
    out
}

/// A safetensors tensor's values as f32 (f32, f64, f16, bf16).
pub(super) fn decode(dtype: safetensors::Dtype, data: &[u8]) -> Result<Vec<f32>, String> {
    Ok(match dtype {
        safetensors::Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect(),
        safetensors::Dtype::F64 => {
            data.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap()) as f32).collect()
        }
        safetensors::Dtype::F16 => {
            data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
        }
        safetensors::Dtype::BF16 => {
            data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
        }
        other => return Err(format!("unsupported type {other:?}")),
    })
}

fn intkey_file(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("intkey_{key}.bin"))
}

/// Loaded weights, by name.
#[derive(Debug, Default)]
pub struct Weights {
    tensors: Vec<Stored>,
    /// Per representation of a save directory, its `intkey_<key>.bin` and whether it exists.
    bins: Vec<(PathBuf, bool)>,
}

/// One named tensor: where it came from (for errors), its shape and its values.
#[derive(Debug)]
struct Stored {
    name: String,
    file: String,
    shape: Vec<usize>,
    values: Vec<f32>,
}

impl Weights {
    /// Loads `"weights"` (a path relative to `dir`) if the schema names one, and the state dicts
    /// of a pyvene save directory (`dicts`) for the keys in `"sorted_keys"`.
    pub fn load(root: &At, dir: &Path, dicts: &StateDicts) -> Result<Weights, SchemaError> {
        let mut w = Weights::load_safetensors(root, dir)?;
        w.load_pyvene_bins(root, dir, dicts)?;
        Ok(w)
    }

    fn load_pyvene_bins(&mut self, root: &At, dir: &Path, dicts: &StateDicts) -> Result<(), SchemaError> {
        let Some(keys) = root.get("sorted_keys") else { return Ok(()) };
        for (i, key) in keys.items()?.iter().enumerate() {
            let name = key.str()?;
            let (bytes, file) = match dicts {
                StateDicts::Files => {
                    let file = intkey_file(dir, name);
                    self.bins.push((file.clone(), file.is_file()));
                    if !file.is_file() {
                        continue;
                    }
                    (Cow::Owned(read_input(&file, MAX_INPUT_BYTES).map_err(|e| key.err(e.to_string()))?), file)
                }
                StateDicts::Memory(map) => {
                    let file = PathBuf::from(format!("intkey_{name}.bin (in memory)"));
                    self.bins.push((file.clone(), map.contains_key(name)));
                    match map.get(name) {
                        Some(bytes) => (Cow::Borrowed(bytes.as_slice()), file),
                        None => continue,
                    }
                }
            };
            let state =
                super::torch_bin::read_state_dict(&bytes).map_err(|e| key.err(format!("{}: {e}", file.display())))?;
            let mut names: Vec<&String> = state.keys().collect();
            names.sort();
            for name in names {
                let t = &state[name];
                let full = format!("{i}.{name}");
                if !self.tensors.iter().any(|s| s.name == full) {
                    let file = file.display().to_string();
                    self.tensors.push(Stored { name: full, file, shape: t.shape.clone(), values: t.values.clone() });
                }
            }
        }
        Ok(())
    }

    fn load_safetensors(root: &At, dir: &Path) -> Result<Weights, SchemaError> {
        let Some(at) = root.get("weights") else { return Ok(Weights::default()) };
        let rel = at.str()?;
        let path = dir.join(rel);
        let bytes = read_input(&path, MAX_INPUT_BYTES).map_err(|e| at.err(e.to_string()))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| at.err(format!("`{}` is not a safetensors file: {e}", path.display())))?;
        let mut tensors = Vec::new();
        for (name, view) in st.tensors() {
            let vals = decode(view.dtype(), view.data())
                .map_err(|m| at.err(format!("tensor `{name}` in {}: {m}", path.display())))?;
            let shape = view.shape().to_vec();
            tensors.push(Stored { name, file: path.display().to_string(), shape, values: vals });
        }
        Ok(Weights { tensors, bins: vec![] })
    }

    /// Adds representation `i`'s tensors (unprefixed names), taking precedence over any loaded so
    /// far; `file` names where they came from.
    pub fn insert(&mut self, i: usize, file: &Path, tensors: Vec<(String, Vec<usize>, Vec<f32>)>) {
        for (name, shape, values) in tensors {
            let full = format!("{i}.{name}");
            self.tensors.retain(|s| s.name != full);
            self.tensors.push(Stored { name: full, file: file.display().to_string(), shape, values });
        }
    }

    /// Representation `i`'s tensor `name`: its shape, values and the file it came from.
    pub fn tensor(&self, i: usize, name: &str) -> Option<(&[usize], &[f32], &str)> {
        let key = format!("{i}.{name}");
        self.tensors.iter().find(|s| s.name == key).map(|s| (s.shape.as_slice(), s.values.as_slice(), s.file.as_str()))
    }

    /// Every tensor of representation `i`, by parameter name, in name order.
    pub fn of(&self, i: usize) -> Vec<(&str, &[usize], &[f32])> {
        let prefix = format!("{i}.");
        let mut out: Vec<_> = self
            .tensors
            .iter()
            .filter_map(|s| Some((s.name.strip_prefix(&prefix)?, s.shape.as_slice(), s.values.as_slice())))
            .collect();
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// The state_dict file of representation `i` in a save directory, and whether it exists.
    pub fn bin(&self, i: usize) -> Option<(&Path, bool)> {
        self.bins.get(i).map(|(p, e)| (p.as_path(), *e))
    }

    /// Representation `i`'s vector parameter `name`: it must be rank 1 and finite (a float64
    /// value past float32's range is refused, not turned into infinity).
    pub fn vector(&self, i: usize, name: &str, at: &At) -> Result<Option<Vec<f32>>, SchemaError> {
        let key = format!("{i}.{name}");
        let Some(t) = self.tensors.iter().find(|s| s.name == key) else { return Ok(None) };
        if t.shape.len() != 1 {
            return Err(at.err(format!(
                "tensor `{key}` in {} has shape {:?}; a {name} is a vector of shape [{}]",
                t.file,
                t.shape,
                t.values.len()
            )));
        }
        if let Some(j) = t.values.iter().position(|v| !v.is_finite()) {
            return Err(at.err(format!(
                "tensor `{key}` in {} holds {} at index {j} (out of float32 range, or not a number)",
                t.file, t.values[j]
            )));
        }
        Ok(Some(t.values.clone()))
    }
}
