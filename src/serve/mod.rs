//! Serving: a Triton Inference Server model repository for a (patched) model.
//!
//! [`TritonConfig::of`] reads a model's inputs and outputs and checks that Triton can batch
//! them; [`export`] writes `REPO/<name>/config.pbtxt` and `REPO/<name>/1/model.onnx` (with the
//! model's data files) through [`crate::fsio`]'s output policy. Depends on `ir`, `onnx` and `fsio`.

mod config;
mod error;
mod export;

pub use config::{Instances, Tensor, TritonConfig, triton_dtype};
pub use error::ServeError;
pub use export::export;
