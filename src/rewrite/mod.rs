//! The rewrite machinery: patches, passes and the pipeline that lowers a plan into the graph.

mod patch;
mod taps;

pub use patch::{Patch, Shunt};
pub use taps::{expose, tap_patch};
