//! Jobs: each command of `pvc` as one library call, so that the binary and the Python binding
//! (`bindings/python`) run the same code and give the same results and messages.
//!
//! A job takes plain data ([`RewriteJob`], a model path), reports progress lines through a
//! callback (what `pvc` prints on stderr, in order), and returns a report as data or a typed
//! [`JobError`]. Callers print nothing of their own but the final error.

mod check;
mod error;
mod inspect;
mod rewrite;

pub use error::{CheckError, ErrorClass, JobError};
pub use inspect::{components, inspect};
pub use rewrite::{Applied, JsonArg, RewriteJob, RewriteReport, SchemaSource, rewrite};
