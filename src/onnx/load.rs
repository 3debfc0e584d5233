//! Reading a model file: map, decode, sanity-check, and check its external-data references.
//!
//! The file is memory-mapped and decoded from a [`Bytes`] of the map, so every `raw_data` is a
//! slice of the map: no weight byte is copied, and cloning a model costs nothing per weight byte.

use super::external_data::{self, ExternalRef};
use super::{OnnxError, pb};
use prost::Message;
use prost::bytes::Bytes;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A decoded model together with where it came from.
///
/// External tensors stay on disk: only their references are parsed and checked.
#[derive(Debug, Clone)]
pub struct ModelFile {
    /// The decoded protobuf, exactly as stored.
    pub proto: pb::ModelProto,
    /// The file it was read from.
    pub path: PathBuf,
    /// Every checked external-data reference, in graph order.
    pub external: Vec<ExternalRef>,
    /// The mapped file the byte fields are slices of (`None` when decoded from other bytes).
    pub source: Option<MappedSource>,
}

/// An open model file and its whole map: saving copies the untouched byte fields that are
/// slices of `map` from `file` inside the kernel ([`crate::fsio::append_span`]).
#[derive(Clone)]
pub struct MappedSource {
    /// The open file that was mapped.
    pub file: Arc<File>,
    /// The whole map; byte fields decoded from it are slices of it.
    pub map: Bytes,
}

impl MappedSource {
    /// Where `bytes` lies in the file, when it is a slice of this map.
    pub fn offset_of(&self, bytes: &[u8]) -> Option<u64> {
        let base = self.map.as_ptr() as usize;
        let at = (bytes.as_ptr() as usize).checked_sub(base)?;
        (at.checked_add(bytes.len())? <= self.map.len()).then_some(at as u64)
    }
}

impl std::fmt::Debug for MappedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedSource").field("file", &self.file).field("len", &self.map.len()).finish()
    }
}

impl ModelFile {
    /// Maps and checks the model at `path` without reading any external weights; embedded
    /// weights stay slices of the map. `path` must be a regular file (a FIFO, device or
    /// directory is refused before it is opened, so nothing blocks; a directory with the
    /// system's "Is a directory").
    ///
    /// The file must not be modified while the model is alive: it is mapped, not read.
    pub fn load(path: &Path) -> Result<Self, OnnxError> {
        let (map, file) = map_open(path)?;
        let mut model = Self::from_shared(map.clone(), path)?;
        model.source = file.map(|file| MappedSource { file: Arc::new(file), map });
        Ok(model)
    }

    /// Decodes `bytes` as if read from `path`, which anchors external-data locations.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, OnnxError> {
        Self::from_shared(Bytes::copy_from_slice(bytes), path)
    }

    /// Decodes `bytes` as if read from `path`; byte fields of the result are slices of `bytes`.
    pub fn from_shared(bytes: Bytes, path: &Path) -> Result<Self, OnnxError> {
        let proto = decode_shared(bytes, path)?;
        let external = external_data::external_refs(&proto, path)?;
        Ok(ModelFile { proto, path: path.to_path_buf(), external, source: None })
    }

    /// The directory that external-data locations are relative to.
    pub fn dir(&self) -> PathBuf {
        external_data::model_dir(&self.path)
    }
}

/// Maps the regular file at `path` (an empty file gives an empty `Bytes`, unmapped).
pub fn map_file(path: &Path) -> Result<Bytes, OnnxError> {
    Ok(map_open(path)?.0)
}

/// [`map_file`], with the open file when it was mapped.
fn map_open(path: &Path) -> Result<(Bytes, Option<File>), OnnxError> {
    let not_regular =
        |what: &str| OnnxError::NotOnnx { path: path.to_path_buf(), reason: format!("{what}, not a regular file") };
    let meta = std::fs::metadata(path).map_err(|e| OnnxError::io(path, e))?;
    if meta.is_dir() {
        return Err(OnnxError::io(path, std::io::Error::from_raw_os_error(EISDIR)));
    }
    if !meta.is_file() {
        return Err(not_regular(file_kind(&meta)));
    }
    let file = std::fs::File::open(path).map_err(|e| OnnxError::io(path, e))?;
    let meta = file.metadata().map_err(|e| OnnxError::io(path, e))?;
    if !meta.is_file() {
        return Err(not_regular(file_kind(&meta)));
    }
    if meta.len() == 0 {
        return Ok((Bytes::new(), None));
    }
    // SAFETY: the map is read-only; pvc never writes to its inputs (saving refuses to replace
    // them), and a file changed by another process while mapped is documented as unsupported.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| OnnxError::io(path, e))?;
    Ok((Bytes::from_owner(map), Some(file)))
}

/// Linux's "Is a directory", the error reading a directory gives.
const EISDIR: i32 = 21;

fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    match () {
        _ if t.is_dir() => "a directory",
        _ if t.is_fifo() => "a FIFO",
        _ if t.is_char_device() => "a character device",
        _ if t.is_block_device() => "a block device",
        _ if t.is_socket() => "a socket",
        _ => "a special file",
    }
}

/// Decodes a `ModelProto` and rejects bytes that are not plausibly an ONNX model.
pub fn decode_model(bytes: &[u8], path: &Path) -> Result<pb::ModelProto, OnnxError> {
    decode_shared(Bytes::copy_from_slice(bytes), path)
}

/// [`decode_model`] from shared bytes: the result's `raw_data` fields are slices of `bytes`.
pub fn decode_shared(bytes: Bytes, path: &Path) -> Result<pb::ModelProto, OnnxError> {
    let not_onnx = |reason: String| OnnxError::NotOnnx { path: path.to_path_buf(), reason };
    if bytes.is_empty() {
        return Err(not_onnx("the file is empty".into()));
    }
    let proto = pb::ModelProto::decode(bytes).map_err(|e| {
        not_onnx(format!("protobuf decoding failed (truncated or garbage): {}", short_path(&e.to_string())))
    })?;
    match proto.ir_version {
        Some(v) if v > 0 => {}
        _ => return Err(not_onnx("no ir_version: this protobuf is not a ModelProto".into())),
    }
    if proto.graph.is_none() {
        return Err(not_onnx("the model has no graph".into()));
    }
    if proto.opset_import.is_empty() {
        return Err(not_onnx("the model imports no opset".into()));
    }
    Ok(proto)
}

/// A prost decode error with its field path (`A.b: C.d: …: reason`) cut to the first and last
/// three steps and a count of the levels left out, so deep nesting stays a short line.
fn short_path(message: &str) -> String {
    let parts: Vec<&str> = message.split(": ").collect();
    if parts.len() <= 8 {
        return message.to_string();
    }
    let (head, tail) = (&parts[..4], &parts[parts.len() - 4..]);
    format!("{}: … ({} more levels) …: {}", head.join(": "), parts.len() - 8, tail.join(": "))
}
