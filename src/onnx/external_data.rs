//! External-data references: parsing and the safety rules they must pass.
//!
//! A reference is `location` / `offset` / `length` in a tensor's `external_data`. Locations come
//! from untrusted files, so each must be relative, free of `..` and NUL, and must resolve (after
//! following symlinks) inside the model's directory; its byte range must lie inside the file.
//! None of this reads the weights: only file metadata is consulted.

use super::OnnxError;
use super::pb::{self, tensor_proto::DataLocation};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// A checked external-data reference of one tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalRef {
    /// Name of the tensor holding the reference.
    pub tensor: String,
    /// The `location` as written in the model, relative to the model's directory.
    pub location: String,
    /// Byte offset into the file.
    pub offset: u64,
    /// Byte length; the whole rest of the file when the model gives none.
    pub length: u64,
    /// The data file, canonicalized.
    pub file: PathBuf,
}

/// Whether the tensor keeps its bytes in an external file.
pub fn is_external(t: &pb::TensorProto) -> bool {
    t.data_location == Some(DataLocation::External as i32)
}

/// Checks and returns every external-data reference of `model`, whose file is `path`.
///
/// Tensors are visited in the main graph, in nested subgraphs, in node attributes, in model-local
/// functions and in training-info graphs.
pub fn external_refs(model: &pb::ModelProto, path: &Path) -> Result<Vec<ExternalRef>, OnnxError> {
    let dir = model_dir(path);
    let canon_dir = dir.canonicalize().map_err(|e| OnnxError::io(&dir, e))?;
    let mut refs = Vec::new();
    let mut tensors = Vec::new();
    if let Some(g) = &model.graph {
        collect_graph(g, &mut tensors);
    }
    for f in &model.functions {
        collect_attributes(&f.attribute_proto, &mut tensors);
        collect_nodes(&f.node, &mut tensors);
    }
    for ti in &model.training_info {
        for g in ti.initialization.iter().chain(ti.algorithm.iter()) {
            collect_graph(g, &mut tensors);
        }
    }
    let mut files = HashMap::new();
    for t in tensors.into_iter().filter(|t| is_external(t)) {
        refs.push(check(t, &dir, &canon_dir, path, &mut files)?);
    }
    Ok(refs)
}

/// The directory that external-data locations of the model at `path` are relative to.
pub fn model_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn collect_graph<'a>(g: &'a pb::GraphProto, out: &mut Vec<&'a pb::TensorProto>) {
    out.extend(&g.initializer);
    for sp in &g.sparse_initializer {
        out.extend(sp.values.iter().chain(sp.indices.iter()));
    }
    collect_nodes(&g.node, out);
}

fn collect_nodes<'a>(nodes: &'a [pb::NodeProto], out: &mut Vec<&'a pb::TensorProto>) {
    for n in nodes {
        collect_attributes(&n.attribute, out);
    }
}

fn collect_attributes<'a>(attributes: &'a [pb::AttributeProto], out: &mut Vec<&'a pb::TensorProto>) {
    for a in attributes {
        out.extend(a.t.iter().chain(a.tensors.iter()));
        for sp in a.sparse_tensor.iter().chain(a.sparse_tensors.iter()) {
            out.extend(sp.values.iter().chain(sp.indices.iter()));
        }
        for sg in a.g.iter().chain(a.graphs.iter()) {
            collect_graph(sg, out);
        }
    }
}

/// Checks one tensor's reference. `files` caches each checked location's canonical file and size.
fn check(
    t: &pb::TensorProto,
    dir: &Path,
    canon_dir: &Path,
    model: &Path,
    files: &mut HashMap<String, (PathBuf, u64)>,
) -> Result<ExternalRef, OnnxError> {
    let tensor = super::s(&t.name).to_string();
    let bad = |reason: String| OnnxError::ExternalData { path: model.to_path_buf(), tensor: tensor.clone(), reason };
    let mut location = None;
    let mut offset = 0u64;
    let mut length = None;
    for kv in &t.external_data {
        let value = super::s(&kv.value);
        match super::s(&kv.key) {
            "location" => location = Some(value.to_string()),
            "offset" => offset = value.parse().map_err(|_| bad(format!("bad offset `{value}`")))?,
            "length" => length = Some(value.parse().map_err(|_| bad(format!("bad length `{value}`")))?),
            _ => {}
        }
    }
    let location = location.ok_or_else(|| bad("external data has no `location`".into()))?;
    let (file, size) = match files.get(&location) {
        Some(known) => known.clone(),
        None => {
            check_location(&location).map_err(|r| bad(format!("unsafe location `{location}`: {r}")))?;
            let joined = dir.join(&location);
            let file = joined
                .canonicalize()
                .map_err(|e| bad(format!("external data file `{location}` cannot be opened: {e}")))?;
            if !file.starts_with(canon_dir) {
                return Err(bad(format!(
                    "unsafe location `{location}`: resolves outside the model directory (symlink)"
                )));
            }
            let meta = std::fs::metadata(&file).map_err(|e| bad(format!("`{location}`: {e}")))?;
            if !meta.is_file() {
                return Err(bad(format!("`{location}` is not a regular file")));
            }
            files.insert(location.clone(), (file.clone(), meta.len()));
            (file, meta.len())
        }
    };
    let length = match length {
        Some(l) => l,
        None => size
            .checked_sub(offset)
            .ok_or_else(|| bad(format!("offset {offset} is past the end of `{location}` ({size} bytes)")))?,
    };
    if offset.checked_add(length).is_none() {
        return Err(bad(format!("offset {offset} plus length {length} overflows 64 bits")));
    }
    if offset + length > size {
        return Err(bad(format!(
            "bytes {offset}..{} lie past the end of `{location}` ({size} bytes): the file is short",
            offset + length
        )));
    }
    if let Some(need) = expected_bytes(t)
        && need != length
    {
        return Err(bad(format!("holds {length} bytes but its shape and type need {need}")));
    }
    Ok(ExternalRef { tensor, location, offset, length, file })
}

/// Rejects absolute paths, parent components, NUL bytes and empty locations.
fn check_location(location: &str) -> Result<(), &'static str> {
    if location.is_empty() {
        return Err("empty path");
    }
    if location.contains('\0') {
        return Err("contains a NUL byte");
    }
    if location.starts_with('/') || location.starts_with('\\') || location.contains(':') {
        return Err("absolute path");
    }
    for c in Path::new(location).components() {
        match c {
            Component::ParentDir => return Err("`..` leaves the model directory"),
            Component::RootDir | Component::Prefix(_) => return Err("absolute path"),
            _ => {}
        }
    }
    if location.split(['/', '\\']).any(|seg| seg == "..") {
        return Err("`..` leaves the model directory");
    }
    Ok(())
}

/// Bytes a dense tensor of this shape and element type occupies, when the type has a fixed size.
pub fn expected_bytes(t: &pb::TensorProto) -> Option<u64> {
    let elem = dtype_size(t.data_type?)?;
    t.dims.iter().try_fold(elem, |acc, &d| acc.checked_mul(u64::try_from(d).ok()?))
}

/// Size in bytes of one element of ONNX data type `dt`, for fixed-size numeric types.
pub fn dtype_size(dt: i32) -> Option<u64> {
    use pb::tensor_proto::DataType as D;
    Some(match D::try_from(dt).ok()? {
        D::Float | D::Int32 | D::Uint32 => 4,
        D::Uint8 | D::Int8 | D::Bool => 1,
        D::Uint16 | D::Int16 | D::Float16 | D::Bfloat16 => 2,
        D::Int64 | D::Uint64 | D::Double | D::Complex64 => 8,
        D::Complex128 => 16,
        D::Float8e4m3fn | D::Float8e4m3fnuz | D::Float8e5m2 | D::Float8e5m2fnuz => 1,
        _ => return None,
    })
}
