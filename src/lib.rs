//! pvc compiles pyvene-style interventions into standard ONNX graphs.
//!
//! The data flows one way: `cli → job → rewrite → {interventions, locate} → {schema, ir} → onnx`;
//! `runtime` depends only on `onnx` and runs any model, patched or not.
#![warn(missing_docs)]

pub mod fsio;
pub mod generate;
pub mod interventions;
pub mod ir;
pub mod job;
pub mod locate;
pub mod onnx;
pub(crate) mod panic;
pub mod report;
pub mod rewrite;
pub mod runtime;
pub mod schema;
pub mod serve;

/// Model metadata key under which `pvc rewrite` records the schema it applied.
pub const PVC_SCHEMA_KEY: &str = "pvc.schema";

/// Model metadata key under which `pvc rewrite` records, for each run-time positions input
/// (`unit_locations.<i>.base` / `.source`), the sequence length and batch its values must fit:
/// a JSON object `{input: {"length": n | [graph_input, axis], "batch": [graph_input, axis]}}`.
/// `pvc run` checks the inputs against it before either engine runs.
pub const PVC_LOCATIONS_KEY: &str = "pvc.locations";
