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

/// `text` made safe to echo on a terminal line: control characters (newlines, escape
/// sequences, NUL) are written as Rust escapes (`\n`, `\u{1b}`); everything else is unchanged.
/// Every user-supplied string that pvc prints (tensor, node and input names, schema strings)
/// goes through it.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}
