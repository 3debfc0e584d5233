//! Running models: one [`Backend`] interface over tract (default) and ONNX Runtime.
//!
//! This layer depends only on `onnx`: it runs any model file, patched or not.

mod check;
mod files;
mod onnxruntime;
mod tensor;
mod tract;

pub use check::Rules;
pub use files::{read_safetensors, tensor_from_json, write_safetensors, write_safetensors_with};
pub use onnxruntime::{Device, OptLevel, OrtBackend, OrtOptions};
pub use tensor::{DType, NamedTensors, Tensor};
pub use tract::TractBackend;

use crate::onnx::{ModelFile, s};
use std::collections::HashSet;
use std::path::Path;

/// Errors from preparing inputs or running a model.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The engine refused the model or failed while running it.
    #[error("{0}")]
    Backend(String),
    /// The model could not be read.
    #[error(transparent)]
    Model(#[from] crate::onnx::OnnxError),
    /// A tensor file could not be read or written.
    #[error("{0}")]
    File(String),
    /// A tensor's bytes do not match its shape.
    #[error("{0}")]
    BadTensor(String),
    /// A value of an input is out of its range; the message starts with `input[i][j] = v`.
    #[error("input {0}")]
    InputValue(String),
    /// An input is missing, unknown or malformed.
    #[error("input `{}`: {reason}", crate::onnx::escape(name))]
    BadInput {
        /// The input.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// A graph input: name and element type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoSpec {
    /// Input name.
    pub name: String,
    /// Element type, when the model declares a supported one.
    pub dtype: Option<DType>,
    /// Declared dimensions: `Some(n)` where fixed (e.g. the batch a patched model was compiled for).
    pub dims: Vec<Option<usize>>,
}

/// A runnable model.
pub trait Backend {
    /// Engine name.
    fn name(&self) -> &'static str;
    /// Graph inputs that need feeding, in order.
    fn inputs(&self) -> &[IoSpec];
    /// Graph output names, in order.
    fn outputs(&self) -> &[String];
    /// Runs once; inputs are matched by name, outputs come back in graph order.
    fn run(&mut self, inputs: &NamedTensors) -> Result<NamedTensors, RuntimeError>;
}

/// Which engine runs a model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BackendChoice {
    /// tract: pure Rust, CPU, always available.
    #[default]
    Tract,
    /// ONNX Runtime, loaded at run time (see [`OrtBackend::find_library`]).
    Ort(OrtOptions),
}

/// Loads the model at `path` on the chosen engine.
pub fn load_backend(path: &Path, choice: BackendChoice) -> Result<Box<dyn Backend>, RuntimeError> {
    Ok(match choice {
        BackendChoice::Tract => Box::new(TractBackend::load(path)?),
        BackendChoice::Ort(opts) => Box::new(OrtBackend::load(path, &opts)?),
    })
}

/// The inputs to feed (graph inputs that are not initializers) and the output names of the
/// model at `path`.
pub fn model_io(path: &Path) -> Result<(Vec<IoSpec>, Vec<String>), RuntimeError> {
    let (inputs, outputs, _) = model_contract(path)?;
    Ok((inputs, outputs))
}

/// [`model_io`] and the [`Rules`] its inputs must follow.
pub fn model_contract(path: &Path) -> Result<(Vec<IoSpec>, Vec<String>, Rules), RuntimeError> {
    let file = ModelFile::load(path)?;
    let g = file.proto.graph.as_ref().expect("decode_model checked the graph");
    let inits: HashSet<&str> = g.initializer.iter().map(|t| s(&t.name)).collect();
    let inputs: Vec<IoSpec> = g
        .input
        .iter()
        .filter(|v| !inits.contains(s(&v.name)))
        .map(|v| IoSpec {
            name: s(&v.name).to_string(),
            dtype: elem_of(v).and_then(DType::from_onnx),
            dims: fixed_dims(v),
        })
        .collect();
    let outputs = g.output.iter().map(|v| s(&v.name).to_string()).collect();
    let names: Vec<String> = inputs.iter().map(|i: &IoSpec| i.name.clone()).collect();
    let rules = Rules::of(&file, &names);
    Ok((inputs, outputs, rules))
}

fn fixed_dims(v: &crate::onnx::pb::ValueInfoProto) -> Vec<Option<usize>> {
    use crate::onnx::pb::{tensor_shape_proto::dimension::Value, type_proto};
    let Some(type_proto::Value::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return vec![];
    };
    let dims = t.shape.as_ref().map(|s| s.dim.as_slice()).unwrap_or_default();
    dims.iter().map(|d| if let Some(Value::DimValue(n)) = d.value { usize::try_from(n).ok() } else { None }).collect()
}

fn elem_of(v: &crate::onnx::pb::ValueInfoProto) -> Option<i32> {
    match v.r#type.as_ref()?.value.as_ref()? {
        crate::onnx::pb::type_proto::Value::TensorType(t) => t.elem_type,
        _ => None,
    }
}

/// Puts `given` in the order of `specs`, checking that every input is present, known, of the
/// declared type, and follows `rules` (see [`Rules`]): what either engine would refuse, or
/// silently read out of bounds, is an error naming the input before anything runs.
pub fn checked_inputs<'a>(
    specs: &[IoSpec],
    rules: &Rules,
    given: &'a NamedTensors,
) -> Result<Vec<&'a Tensor>, RuntimeError> {
    let ordered = order_inputs(specs, given)?;
    rules.check(&check::named(specs, &ordered))?;
    Ok(ordered)
}

/// Puts `given` in the order of `specs`, checking that every input is present, known, and of
/// the declared type.
pub fn order_inputs<'a>(specs: &[IoSpec], given: &'a NamedTensors) -> Result<Vec<&'a Tensor>, RuntimeError> {
    for (name, _) in given {
        if !specs.iter().any(|s| &s.name == name) {
            let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            return Err(RuntimeError::BadInput {
                name: name.clone(),
                reason: format!("the model has no such input (inputs: {})", known.join(", ")),
            });
        }
    }
    specs
        .iter()
        .map(|spec| {
            let t = given
                .iter()
                .find(|(n, _)| n == &spec.name)
                .map(|(_, t)| t)
                .ok_or_else(|| RuntimeError::BadInput { name: spec.name.clone(), reason: "missing".into() })?;
            if let Some(d) = spec.dtype
                && d != t.dtype
            {
                return Err(RuntimeError::BadInput {
                    name: spec.name.clone(),
                    reason: format!("expected {}, got {}", d.name(), t.dtype.name()),
                });
            }
            if spec.dims.len() == t.shape.len()
                && let Some((k, want)) =
                    spec.dims.iter().enumerate().find_map(|(k, d)| d.filter(|n| *n != t.shape[k]).map(|n| (k, n)))
            {
                let what = if k == 0 { "batch (dimension 0)".to_string() } else { format!("dimension {k}") };
                return Err(RuntimeError::BadInput {
                    name: spec.name.clone(),
                    reason: format!("the model fixes its {what} to {want}, got {} (shape {:?})", t.shape[k], t.shape),
                });
            }
            Ok(t)
        })
        .collect()
}
