//! pvc compiles pyvene-style interventions into standard ONNX graphs.
//!
//! The data flows one way: `cli → rewrite → {interventions, locate} → {schema, ir} → onnx`;
//! `runtime` depends only on `onnx` and runs any model, patched or not.
#![warn(missing_docs)]

pub mod fsio;
pub mod interventions;
pub mod ir;
pub mod locate;
pub mod onnx;
pub mod report;
pub mod rewrite;
pub mod runtime;
pub mod schema;

/// Model metadata key under which `pvc rewrite` records the schema it applied.
pub const PVC_SCHEMA_KEY: &str = "pvc.schema";
