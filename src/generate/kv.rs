//! The KV cache in Optimum's convention: inputs `past_key_values.<n>.key/.value`
//! `[batch, kv_heads, past, head_dim]`, outputs `present.<n>.key/.value`.

use super::GenerateError;
use crate::runtime::{DType, IoSpec, NamedTensors, Tensor};

/// A model's cache inputs, each with its `[kv_heads, head_dim]`.
#[derive(Debug, Clone)]
pub struct Cache {
    past: Vec<(String, usize, usize, DType)>,
}

impl Cache {
    /// The cache of a model with these inputs and outputs, or `None` when it has no
    /// `past_key_values.*` inputs; errors when one lacks its `present.*` output or fixed dims.
    pub fn of(inputs: &[IoSpec], outputs: &[String]) -> Result<Option<Cache>, GenerateError> {
        let mut past = Vec::new();
        for s in inputs.iter().filter(|s| s.name.starts_with("past_key_values.")) {
            let present = s.name.replacen("past_key_values.", "present.", 1);
            if !outputs.contains(&present) {
                return Err(GenerateError::Model(format!("input `{}` has no `{present}` output", s.name)));
            }
            let (Some(Some(h)), Some(Some(d))) = (s.dims.get(1), s.dims.get(3)) else {
                return Err(GenerateError::Model(format!(
                    "input `{}` needs fixed kv_heads and head_dim ([batch, kv_heads, past, head_dim])",
                    s.name
                )));
            };
            past.push((s.name.clone(), *h, *d, s.dtype.unwrap_or(DType::F32)));
        }
        Ok((!past.is_empty()).then_some(Cache { past }))
    }

    /// The prompt pass's past: every cache input with length 0.
    pub fn empty(&self) -> NamedTensors {
        self.past
            .iter()
            .map(|(n, h, d, t)| (n.clone(), Tensor::new(*t, vec![1, *h, 0, *d], vec![]).expect("empty tensor")))
            .collect()
    }

    /// The input fed by output `name` on the next call.
    pub fn past_of(&self, name: &str) -> Option<String> {
        let p = name.strip_prefix("present.").map(|r| format!("past_key_values.{r}"))?;
        self.past.iter().any(|(n, ..)| *n == p).then_some(p)
    }
}
