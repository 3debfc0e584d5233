//! Reading a model file: decode, sanity-check, and check its external-data references.

use super::external_data::{self, ExternalRef};
use super::{OnnxError, pb};
use prost::Message;
use std::path::{Path, PathBuf};

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
}

impl ModelFile {
    /// Reads and checks the model at `path` without reading any external weights.
    pub fn load(path: &Path) -> Result<Self, OnnxError> {
        let bytes = std::fs::read(path).map_err(|e| OnnxError::io(path, e))?;
        Self::from_bytes(&bytes, path)
    }

    /// Decodes `bytes` as if read from `path`, which anchors external-data locations.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, OnnxError> {
        let proto = decode_model(bytes, path)?;
        let external = external_data::external_refs(&proto, path)?;
        Ok(ModelFile { proto, path: path.to_path_buf(), external })
    }

    /// The directory that external-data locations are relative to.
    pub fn dir(&self) -> PathBuf {
        external_data::model_dir(&self.path)
    }
}

/// Decodes a `ModelProto` and rejects bytes that are not plausibly an ONNX model.
pub fn decode_model(bytes: &[u8], path: &Path) -> Result<pb::ModelProto, OnnxError> {
    let not_onnx = |reason: String| OnnxError::NotOnnx { path: path.to_path_buf(), reason };
    if bytes.is_empty() {
        return Err(not_onnx("the file is empty".into()));
    }
    let proto = pb::ModelProto::decode(bytes)
        .map_err(|e| not_onnx(format!("protobuf decoding failed (truncated or garbage): {e}")))?;
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
