//! ONNX protobuf types and model file I/O.
//!
//! This layer knows nothing of the IR: it turns files into [`pb::ModelProto`] values and back,
//! byte for byte, and treats every external-data reference as untrusted input.

mod error;
mod external_data;
mod load;
mod save;
mod split;
mod stream;

/// Generated prost types for `onnx-ml.proto` from onnx 1.23.2 (IR version 14).
///
/// Regenerate with protox + prost-build from `src/onnx/proto/onnx-ml.proto`
/// (`protox::compile` then `prost_build::Config::compile_fds`, with `TensorProto`'s `raw_data` and
/// `string_data` as `bytes::Bytes`); see `src/onnx/proto/README.md`.
#[allow(clippy::all, missing_docs, rustdoc::all)]
pub mod pb {
    include!("pb_onnx.rs");
}

pub use error::{OnnxError, escape};
pub use external_data::{ExternalRef, dtype_size, expected_bytes, external_refs, is_external, model_dir};
pub use load::{MappedSource, ModelFile, decode_model, decode_shared, map_file};
pub use save::{DataPolicy, SaveOptions, Staged, encode_model, write_atomic};
pub use split::{SPLIT_ALIGN, SPLIT_THRESHOLD};
pub use stream::{write_model, write_model_file};

/// The ONNX IR version this build's protobuf schema describes.
pub const IR_VERSION: i64 = 14;

/// The string of a proto2 optional string field, or `""` when unset.
pub fn s(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}
