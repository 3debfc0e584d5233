use std::path::PathBuf;

/// Errors from reading, checking or writing an ONNX model file.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error (part of the message, not a separate cause: printed once).
        error: std::io::Error,
    },
    /// The bytes are not a protobuf `ModelProto` (truncated, garbage, or another message).
    #[error("{path}: not an ONNX model: {reason}")]
    NotOnnx {
        /// The file involved.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// An initializer's external-data reference is malformed, unsafe or points past its file.
    #[error("{path}: initializer `{tensor}`: {reason}")]
    ExternalData {
        /// The model file.
        path: PathBuf,
        /// The tensor whose reference is bad.
        tensor: String,
        /// What was wrong.
        reason: String,
    },
    /// The output was refused or could not be written; nothing was left behind.
    #[error(transparent)]
    Output(#[from] crate::fsio::OutputError),
}

impl OnnxError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        OnnxError::Io { path: path.into(), error: source }
    }
}
