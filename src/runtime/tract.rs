//! The tract backend: pure Rust, on the CPU, the embedded default.

use super::{Backend, DType, IoSpec, NamedTensors, RuntimeError, Tensor};
use std::path::Path;
use tract_onnx::prelude::*;

/// A model optimized and planned by tract.
pub struct TractBackend {
    plan: std::sync::Arc<TypedSimplePlan>,
    inputs: Vec<IoSpec>,
    outputs: Vec<String>,
    rules: super::Rules,
}

impl TractBackend {
    /// Loads the model at `path` (external data resolves next to it) and plans it with symbolic
    /// batch and sequence dimensions.
    pub fn load(path: &Path) -> Result<TractBackend, RuntimeError> {
        let (inputs, outputs, rules) = super::model_contract(path)?;
        let tract = |e: TractError| RuntimeError::Backend(format!("tract: {e:#}"));
        let plan = guarded(|| {
            let model = tract_onnx::onnx().model_for_path(path).map_err(tract)?;
            model.into_optimized().map_err(tract)?.into_runnable().map_err(tract)
        })?;
        Ok(TractBackend { plan, inputs, outputs, rules })
    }
}

impl Backend for TractBackend {
    fn name(&self) -> &'static str {
        "tract"
    }

    fn inputs(&self) -> &[IoSpec] {
        &self.inputs
    }

    fn outputs(&self) -> &[String] {
        &self.outputs
    }

    fn run(&mut self, inputs: &NamedTensors) -> Result<NamedTensors, RuntimeError> {
        let ordered = super::checked_inputs(&self.inputs, &self.rules, inputs)?;
        let tvals: TVec<TValue> =
            ordered.into_iter().map(|t| to_tract(t).map(|t| t.into_tvalue())).collect::<Result<_, _>>()?;
        let plan = &self.plan;
        let outs = guarded(|| plan.run(tvals).map_err(|e| RuntimeError::Backend(format!("tract: {e:#}"))))?;
        self.outputs.iter().zip(outs).map(|(name, v)| Ok((name.clone(), from_tract(&v)?))).collect()
    }
}

/// Runs `f`, turning a panic inside tract into an error: a bad model must never crash pvc, nor
/// print a panic message (the error carries it, on one line).
fn guarded<T>(f: impl FnOnce() -> Result<T, RuntimeError>) -> Result<T, RuntimeError> {
    crate::panic::catch_quietly(f).unwrap_or_else(|what| {
        Err(RuntimeError::Backend(format!("tract failed on this model (internal panic: {what})")))
    })
}

fn datum(d: DType) -> Option<DatumType> {
    Some(match d {
        DType::F32 => DatumType::F32,
        DType::F16 => DatumType::F16,
        DType::F64 => DatumType::F64,
        DType::I64 => DatumType::I64,
        DType::I32 => DatumType::I32,
        DType::U8 => DatumType::U8,
        DType::Bool => DatumType::Bool,
        DType::BF16 => return None,
    })
}

fn to_tract(t: &Tensor) -> Result<tract_onnx::prelude::Tensor, RuntimeError> {
    let dt = datum(t.dtype).ok_or_else(|| RuntimeError::Backend(format!("tract has no {} tensors", t.dtype.name())))?;
    unsafe { tract_onnx::prelude::Tensor::from_raw_dt(dt, &t.shape, &t.bytes) }
        .map_err(|e| RuntimeError::Backend(format!("tract: {e:#}")))
}

fn from_tract(v: &tract_onnx::prelude::Tensor) -> Result<Tensor, RuntimeError> {
    let dtype = [DType::F32, DType::F16, DType::F64, DType::I64, DType::I32, DType::U8, DType::Bool]
        .into_iter()
        .find(|d| datum(*d) == Some(v.datum_type()))
        .ok_or_else(|| RuntimeError::Backend(format!("tract returned a {:?} tensor", v.datum_type())))?;
    Tensor::new(dtype, v.shape().to_vec(), v.as_bytes().to_vec())
}
