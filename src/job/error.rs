//! Why a job failed: one typed error whose display, with its sources joined by `: `, is the
//! line `pvc` prints after `error: `.

use crate::fsio::OutputError;
use crate::onnx::OnnxError;
use crate::rewrite::RewriteError;
use crate::runtime::RuntimeError;
use crate::schema::SchemaError;
use std::path::PathBuf;

/// Why a job failed. Nothing is written when it does.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A call-time argument given as JSON text (`--unit-locations`) does not parse.
    #[error("{flag}: not valid JSON")]
    CallArg {
        /// The argument, spelled as a flag (`--unit-locations`).
        flag: String,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// The model could not be read, or an output could not be staged or written.
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    /// The model's graph breaks an invariant.
    #[error("{}: invalid graph", path.display())]
    InvalidGraph {
        /// The model.
        path: PathBuf,
        /// The broken invariant.
        #[source]
        source: crate::ir::IrError,
    },
    /// `--model-type` names no family pvc can use.
    #[error("--model-type")]
    ModelType(#[source] crate::locate::FamilyError),
    /// The schema is invalid.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The output is refused (an input of the run, not a regular file, no directory).
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The schema cannot be compiled into this model.
    #[error(transparent)]
    Rewrite(#[from] RewriteError),
    /// `check` refused the patched model.
    #[error("--check refused the patched model; {} was not written", output.display())]
    Check {
        /// The output that was not written.
        output: PathBuf,
        /// Which runtime refused it, and why.
        #[source]
        source: CheckError,
    },
}

/// Which runtime refused a patched model under `check`.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// tract could not load or plan it.
    #[error("tract refused the patched model")]
    Tract(#[source] RuntimeError),
    /// ONNX Runtime could not load it.
    #[error("ONNX Runtime refused the patched model")]
    Ort(#[source] RuntimeError),
    /// The ONNX Runtime library that was named explicitly could not be found.
    #[error(transparent)]
    Library(RuntimeError),
}

/// The broad class of a [`JobError`], for callers that map errors onto their own types (the
/// Python binding's `PvcError` subclasses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The schema or a call-time argument is wrong; [`JobError::json_path`] names the field.
    Schema,
    /// The model cannot be read, or cannot take this rewrite.
    Model,
    /// The output was refused or could not be written.
    Output,
    /// `check` refused the result.
    Check,
}

impl JobError {
    /// The broad class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            JobError::CallArg { .. } | JobError::Schema(_) | JobError::ModelType(_) => ErrorClass::Schema,
            JobError::Rewrite(e) if rewrite_path(e).is_some() => ErrorClass::Schema,
            JobError::Onnx(OnnxError::Output(_)) | JobError::Output(_) => ErrorClass::Output,
            JobError::Check { .. } => ErrorClass::Check,
            JobError::Onnx(_) | JobError::InvalidGraph { .. } | JobError::Rewrite(_) => ErrorClass::Model,
        }
    }

    /// The JSON path of the offending schema field (`representations[1].component`, or
    /// `(file)` / `(top level)` for the document itself), when the schema is at fault.
    pub fn json_path(&self) -> Option<&str> {
        match self {
            JobError::Schema(e) => Some(&e.at),
            JobError::Rewrite(e) => rewrite_path(e),
            _ => None,
        }
    }

    /// The whole message on one line: this error and each of its causes, joined by `: `
    /// (what `pvc` prints after `error: `, before escaping control characters).
    pub fn message(&self) -> String {
        let mut out = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            out.push_str(": ");
            out.push_str(&c.to_string());
            cause = c.source();
        }
        out
    }
}

fn rewrite_path(e: &RewriteError) -> Option<&str> {
    match e {
        RewriteError::Schema(s) => Some(&s.at),
        RewriteError::Locate { at, .. } => Some(at),
        RewriteError::Intervention(i) => Some(&i.at),
        RewriteError::Conflict { first, .. } => Some(first),
        RewriteError::Unanalysable { cause, .. } => rewrite_path(cause),
        RewriteError::Model(_) | RewriteError::Verify { .. } => None,
    }
}
