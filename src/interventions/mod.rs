//! Intervention subgraphs: each representation of a plan, at its located site, becomes a
//! [`Patch`](crate::ir::Patch) of standard ONNX ops that works for any batch size and
//! sequence length.

mod builder;
mod calls;
mod heads;
mod lower;
mod noise;
mod select;
mod steps;
mod trained;
mod what;

pub use builder::{Builder, attr_int, encode};
pub use calls::{check as check_calls, lower_steps, step_tensors};
pub use heads::{check as check_heads, runtime_heads};
pub use lower::{Target, collected_name, lower};
pub use noise::pyvene_noise;
pub use steps::StepGate;

/// An intervention that cannot be built at its site, located by JSON path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema {at}: {message}")]
pub struct InterventionError {
    /// JSON path of the offending field.
    pub at: String,
    /// What is wrong.
    pub message: String,
}

impl InterventionError {
    /// An error at `at`.
    pub fn new(at: impl Into<String>, message: impl Into<String>) -> InterventionError {
        InterventionError { at: at.into(), message: message.into() }
    }
}
