//! `genai_config.json` for ONNX Runtime GenAI (0.18): the decoder's I/O names in Optimum's
//! convention and the shapes GenAI sizes its KV cache with, all read from the graph.

use super::RewriteError;
use crate::ir::{Dim, Model, ValueType};
use crate::onnx::s;
use serde_json::json;

/// What the graph does not say.
#[derive(Debug, Clone)]
pub struct GenaiOptions {
    /// The patched model's file name, relative to the config.
    pub filename: String,
    /// End-of-sequence id (GenAI requires one; pick an id the model never emits to disable).
    pub eos_token_id: i64,
    /// The longest sequence GenAI may run (prompt + new tokens).
    pub context_length: usize,
}

/// The config for `model` (type `decoder`: split key/value caches), or an error naming what
/// the model lacks.
pub fn genai_config(model: &Model, o: &GenaiOptions) -> Result<serde_json::Value, RewriteError> {
    let g = &model.graph;
    let bad = |m: String| RewriteError::Model(format!("--genai-config: {m}"));
    let input = |n: &str| g.inputs.iter().find(|v| s(&v.name) == n);
    let fixed = |d: Option<&Dim>| match d {
        Some(Dim::Fixed(v)) if *v > 0 => Some(*v),
        _ => None,
    };
    let mut layers = 0;
    while input(&format!("past_key_values.{layers}.key")).is_some() {
        layers += 1;
    }
    let first = input("past_key_values.0.key")
        .ok_or_else(|| bad("the model has no KV cache (`past_key_values.0.key` input)".into()))?;
    let shape = ValueType::from_value_info(first).shape.unwrap_or_default();
    let (Some(kv_heads), Some(head)) = (fixed(shape.get(1)), fixed(shape.get(3))) else {
        return Err(bad("`past_key_values.0.key` needs fixed kv_heads and head_dim".into()));
    };
    for i in 0..layers {
        for (inp, out) in [("key", "key"), ("value", "value")] {
            let o = format!("present.{i}.{out}");
            if input(&format!("past_key_values.{i}.{inp}")).is_none() || !g.outputs.iter().any(|v| s(&v.name) == o) {
                return Err(bad(format!("layer {i} lacks `past_key_values.{i}.{inp}` or `{o}`")));
            }
        }
    }
    let logits = g.outputs.iter().find(|v| s(&v.name) == "logits").ok_or_else(|| bad("no `logits` output".into()))?;
    let vocab =
        ValueType::from_value_info(logits).last_dim().ok_or_else(|| bad("`logits` has no fixed vocab".into()))?;
    let hidden = embedding_width(model, vocab)
        .ok_or_else(|| bad(format!("no token embedding (a Gather of a [{vocab}, hidden] table) found")))?;
    let mut inputs = json!({"input_ids": "input_ids", "past_key_names": "past_key_values.%d.key",
                            "past_value_names": "past_key_values.%d.value"});
    for n in ["attention_mask", "position_ids"] {
        if input(n).is_some() {
            inputs[n] = json!(n);
        }
    }
    Ok(json!({
        "model": {
            "type": "decoder",
            "vocab_size": vocab,
            "context_length": o.context_length,
            "bos_token_id": o.eos_token_id,
            "eos_token_id": o.eos_token_id,
            "pad_token_id": o.eos_token_id,
            "decoder": {
                "filename": o.filename,
                "session_options": {"log_id": "onnxruntime-genai", "provider_options": []},
                "head_size": head,
                "hidden_size": hidden,
                "num_attention_heads": hidden / head,
                "num_key_value_heads": kv_heads,
                "num_hidden_layers": layers,
                "inputs": inputs,
                "outputs": {"logits": "logits", "present_key_names": "present.%d.key",
                            "present_value_names": "present.%d.value"}
            }
        },
        "search": {"do_sample": false, "max_length": o.context_length, "num_beams": 1, "top_k": 1, "top_p": 1.0,
                   "temperature": 1.0, "repetition_penalty": 1.0, "past_present_share_buffer": false,
                   "early_stopping": true, "min_length": 0, "no_repeat_ngram_size": 0,
                   "num_return_sequences": 1, "length_penalty": 1.0, "diversity_penalty": 0.0}
    }))
}

/// The width of the token embedding: the second dim of a `[vocab, hidden]` initializer that a
/// Gather reads (the exporters reshape `input_ids` first, so the indices are not matched).
fn embedding_width(model: &Model, vocab: i64) -> Option<i64> {
    let g = &model.graph;
    g.node_ids().find_map(|id| {
        let n = &g.node(id).proto;
        if s(&n.op_type) != "Gather" {
            return None;
        }
        let t = g.initializer(n.input.first()?)?;
        (t.dims.len() == 2 && t.dims[0] == vocab).then(|| t.dims[1])
    })
}
