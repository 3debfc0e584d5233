//! Driving a decoder token by token: the KV cache in Optimum's convention when the model has
//! one (the whole sequence recomputed each step when not), greedy or seeded sampling, EOS,
//! and each call's extra outputs (`collected.*` taps) kept per step.
//!
//! Depends only on [`crate::runtime`]: any model, patched or not, on any backend.

mod kv;
mod sample;
mod text;

pub use kv::Cache;
pub use sample::{Sampler, Sampling};
pub use text::Text;

use crate::runtime::{Backend, DType, NamedTensors, RuntimeError, Tensor};

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The model cannot be driven as a decoder.
    #[error("model: {0}")]
    Model(String),
    /// An option is invalid for this model.
    #[error("{0}")]
    Option(String),
    /// The backend failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Request {
    /// Prompt token ids (one sequence).
    pub prompt: Vec<i64>,
    /// Tokens to add at most.
    pub max_new_tokens: usize,
    /// Stop after this token.
    pub eos: Option<i64>,
    /// Greedy when `None`.
    pub sampling: Option<Sampling>,
    /// The model's other inputs (e.g. `source.0.input_ids`), fed unchanged to every call.
    pub extra: NamedTensors,
}

/// The result.
#[derive(Debug, Clone)]
pub struct Generated {
    /// Prompt and new ids.
    pub sequences: Vec<i64>,
    /// Each call's last-position logits, in call order.
    pub logits: Vec<Vec<f32>>,
    /// The model's other outputs (Collect taps), one tensor per call.
    pub per_call: Vec<(String, Vec<Tensor>)>,
}

impl Generated {
    /// `sequences` int64 `[1, n]`, `logits` float32 `[1, steps, vocab]`, and each other output
    /// concatenated over calls along axis 1 (pyvene's per-call list of a Collect, joined).
    pub fn tensors(&self) -> Result<NamedTensors, GenerateError> {
        let mut out = vec![("sequences".to_string(), Tensor::from_i64(vec![1, self.sequences.len()], &self.sequences))];
        let vocab = self.logits.first().map_or(0, Vec::len);
        let flat: Vec<f32> = self.logits.iter().flatten().copied().collect();
        out.push(("logits".to_string(), Tensor::from_f32(vec![1, self.logits.len(), vocab], &flat)));
        for (name, calls) in &self.per_call {
            out.push((name.clone(), concat_calls(name, calls)?));
        }
        Ok(out)
    }
}

/// Joins per-call tensors `[b, k_call, ...]` along axis 1.
fn concat_calls(name: &str, calls: &[Tensor]) -> Result<Tensor, GenerateError> {
    let first = &calls[0];
    let bad = || GenerateError::Model(format!("output `{name}` changes rank, type or trailing shape between calls"));
    if first.shape.len() < 2 {
        return Err(bad());
    }
    let tail: usize = first.shape[2..].iter().product::<usize>() * first.dtype.size();
    let mut total = 0;
    for t in calls {
        if t.dtype != first.dtype || t.shape.len() != first.shape.len() || t.shape[2..] != first.shape[2..] {
            return Err(bad());
        }
        total += t.shape[1];
    }
    let batch = first.shape[0];
    let mut bytes = Vec::with_capacity(batch * total * tail);
    for b in 0..batch {
        for t in calls {
            let row = t.shape[1] * tail;
            bytes.extend_from_slice(&t.bytes[b * row..(b + 1) * row]);
        }
    }
    let mut shape = first.shape.clone();
    shape[1] = total;
    Ok(Tensor::new(first.dtype, shape, bytes)?)
}

/// Generates from `req` on `backend`, calling `on_token` with each new id as it is chosen.
pub fn generate(
    backend: &mut dyn Backend,
    req: &Request,
    mut on_token: impl FnMut(i64),
) -> Result<Generated, GenerateError> {
    if req.prompt.is_empty() {
        return Err(GenerateError::Option("the prompt is empty".into()));
    }
    let cache = Cache::of(backend.inputs(), backend.outputs())?;
    if let Some((n, _)) = req.extra.iter().find(|(n, _)| {
        ["input_ids", "attention_mask", "position_ids"].contains(&n.as_str()) || n.starts_with("past_key_values.")
    }) {
        return Err(GenerateError::Option(format!(
            "`{n}` is fed by generation itself on every call; leave it out of the other inputs"
        )));
    }
    let mut sampler = req.sampling.clone().map(Sampler::new).transpose().map_err(GenerateError::Option)?;
    let mut seq = req.prompt.clone();
    let mut logits = Vec::new();
    let mut per_call: Vec<(String, Vec<Tensor>)> = Vec::new();
    let mut past: Option<NamedTensors> = None;
    while logits.len() < req.max_new_tokens {
        let fed = match (&cache, &past) {
            (Some(_), Some(_)) => &seq[seq.len() - 1..],
            _ => &seq[..],
        };
        let mut feeds = cache::feeds(backend, &cache, fed, seq.len(), past.take())?;
        for (n, t) in &req.extra {
            feeds.retain(|(m, _)| m != n);
            feeds.push((n.clone(), t.clone()));
        }
        let outs = backend.run(&feeds)?;
        let (row, next_past, extra) = split_outputs(outs, cache.as_ref())?;
        for (name, t) in extra {
            match per_call.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => v.push(t),
                None => per_call.push((name, vec![t])),
            }
        }
        let tok = match &mut sampler {
            Some(s) => s.pick(&row),
            None => sample::argmax(&row),
        } as i64;
        logits.push(row);
        seq.push(tok);
        on_token(tok);
        if req.eos == Some(tok) {
            break;
        }
        past = next_past;
    }
    Ok(Generated { sequences: seq, logits, per_call })
}

mod cache {
    use super::*;

    /// One call's inputs: `ids` (the new tokens), with `total` tokens in the sequence so far.
    pub fn feeds(
        backend: &dyn Backend,
        cache: &Option<Cache>,
        ids: &[i64],
        total: usize,
        past: Option<NamedTensors>,
    ) -> Result<NamedTensors, GenerateError> {
        let n = ids.len();
        let start = total - n;
        let mut f = vec![("input_ids".to_string(), Tensor::from_i64(vec![1, n], ids))];
        let names: Vec<&str> = backend.inputs().iter().map(|s| s.name.as_str()).collect();
        if names.contains(&"attention_mask") {
            f.push(("attention_mask".into(), Tensor::from_i64(vec![1, total], &vec![1; total])));
        }
        if names.contains(&"position_ids") {
            let pos: Vec<i64> = (start as i64..total as i64).collect();
            f.push(("position_ids".into(), Tensor::from_i64(vec![1, n], &pos)));
        }
        if let Some(c) = cache {
            f.extend(past.unwrap_or_else(|| c.empty()));
        }
        if !names.contains(&"input_ids") {
            return Err(GenerateError::Model(
                "it has no `input_ids` input, so it is not a decoder pvc can drive".into(),
            ));
        }
        Ok(f)
    }
}

/// The last position's logits, the next call's past (from `present.*`), and the other outputs.
#[allow(clippy::type_complexity)]
fn split_outputs(
    outs: NamedTensors,
    cache: Option<&Cache>,
) -> Result<(Vec<f32>, Option<NamedTensors>, NamedTensors), GenerateError> {
    let mut row = None;
    let mut present = Vec::new();
    let mut extra = Vec::new();
    for (name, t) in outs {
        if name == "logits" {
            if t.dtype != DType::F32 || t.shape.len() != 3 || t.shape[0] != 1 {
                return Err(GenerateError::Model(format!(
                    "`logits` is {}{:?}; pvc generate needs float32 [1, seq, vocab]",
                    t.dtype.name(),
                    t.shape
                )));
            }
            let (s, v) = (t.shape[1], t.shape[2]);
            let all: Vec<f32> = t.bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
            row = Some(all[(s - 1) * v..s * v].to_vec());
        } else if let Some(c) = cache
            && let Some(p) = c.past_of(&name)
        {
            present.push((p, t));
        } else if !name.starts_with("original.") {
            extra.push((name, t));
        }
    }
    let row = row.ok_or_else(|| GenerateError::Model("it has no `logits` output".into()))?;
    Ok((row, cache.map(|_| present), extra))
}
