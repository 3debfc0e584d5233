//! Why a model cannot be exported for Triton.

use crate::fsio::OutputError;
use crate::onnx::OnnxError;

/// An export refusal or failure; each names the tensor, option or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A tensor Triton could not batch along its first dimension.
    #[error(
        "{kind} `{name}`: {why}; Triton batches every input and output along its first dimension (export with --max-batch-size 0 to serve it unbatched)"
    )]
    NotBatchable {
        /// `input` or `output`.
        kind: &'static str,
        /// The tensor, escaped.
        name: String,
        /// What is wrong with its first dimension.
        why: String,
    },
    /// A tensor whose element type Triton has no name for, or that declares no type.
    #[error("{kind} `{name}`: {why}")]
    Untyped {
        /// `input` or `output`.
        kind: &'static str,
        /// The tensor, escaped.
        name: String,
        /// What is missing.
        why: String,
    },
    /// An option out of range.
    #[error("{option}: {why}")]
    Option {
        /// The flag, e.g. `--name`.
        option: &'static str,
        /// What is wrong.
        why: String,
    },
    /// The model could not be read or written.
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    /// The output policy refused a file, or a write failed.
    #[error(transparent)]
    Output(#[from] OutputError),
}
