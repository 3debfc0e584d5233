//! The graph pvc reasons about.
//!
//! A [`Model`] is a decoded ONNX model whose main graph is held as a [`Graph`]: nodes in a
//! petgraph DAG keyed by dataflow, with initializers, inputs, outputs and value infos beside it.
//! Every protobuf field pvc does not touch is carried through unchanged, so an untouched model
//! converts back to the very same bytes.

mod error;
mod graph;
mod infer;
mod model;
mod order;
mod patch;
mod types;
mod verify;

pub use error::IrError;
pub use graph::{Graph, Node, NodeId, Producer};
pub use infer::{analyse_types, infer_types};
pub use model::Model;
pub use patch::{Patch, Shunt};
pub use types::{Dim, ElemType, ValueType, dtype_name, is_float, is_numeric, shape_text};
pub use verify::verify;
