//! Per-architecture component maps, kept as data in `rewrites/<family>/components.json`.

use serde::Deserialize;
use std::collections::BTreeMap;

/// Which side of a module a hook reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    /// The pre-hook: the module's input.
    Input,
    /// The forward hook: the module's output.
    Output,
}

/// A slice of the last axis, for fused projections such as GPT-2's `c_attn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Split {
    /// Number of equal parts.
    pub parts: u32,
    /// Which part.
    pub index: u32,
}

/// One abstract component: a module path with `{layer}` and a hook side.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentRule {
    /// Module path in pyvene's spelling, relative to the family's root, with `{layer}`.
    pub module: String,
    /// Input or output.
    pub hook: Hook,
    /// A slice of the tensor rather than the whole of it.
    #[serde(default)]
    pub split: Option<Split>,
    /// The tensor may exist only before the heads were merged (dynamo); merge them.
    #[serde(default)]
    pub merge_heads: bool,
    /// The component is addressed by heads (pyvene's `split_head_and_permute`), counted with
    /// this head count.
    #[serde(default)]
    pub heads: Option<super::heads::HeadCount>,
}

/// How to find a module that emitted no nodes (eval-mode Dropout).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodelessRule {
    /// The module path ends with this.
    pub suffix: String,
    /// Its tensor is this sibling path's (relative to where `suffix` starts).
    #[serde(default)]
    pub same_as: Option<String>,
    /// The sibling's side.
    #[serde(default)]
    pub hook: Option<Hook>,
    /// Or: the output of the last node of this op type in the parent module.
    #[serde(default)]
    pub last_op_in_parent: Option<String>,
    /// Why the rule holds.
    pub why: String,
}

/// A model family's component map.
#[derive(Debug, Clone, Deserialize)]
pub struct Family {
    /// Family name (`gpt2`).
    pub family: String,
    /// Spellings of model types that select this family.
    pub model_types: Vec<String>,
    /// Module-path prefixes of the family's base model, tried in order.
    pub roots: Vec<String>,
    /// A module that exists under the right root (`h.0`).
    pub anchor: String,
    /// Components by pyvene name.
    pub components: BTreeMap<String, ComponentRule>,
    /// Module (relative to the root) holding the learned position table, if the family has one;
    /// its row count bounds static positions.
    #[serde(default)]
    pub position_table: Option<String>,
    /// Rules for node-less modules.
    #[serde(default)]
    pub nodeless: Vec<NodelessRule>,
    /// The attention module (relative to the root, with `{layer}`) whose per-head reshapes
    /// (`[b, s, heads, head_dim]`) give the head size of head components.
    #[serde(default)]
    pub attention: Option<String>,
}

const BUILTIN: &[(&str, &str)] = &[
    ("gpt2", include_str!("../../rewrites/gpt2/components.json")),
    ("llama", include_str!("../../rewrites/llama/components.json")),
];

/// The built-in families, parsed from the embedded `rewrites/` data.
pub fn builtin() -> Vec<Family> {
    BUILTIN
        .iter()
        .map(|(name, text)| {
            serde_json::from_str(text).unwrap_or_else(|e| panic!("rewrites/{name}/components.json is invalid: {e}"))
        })
        .collect()
}

/// The built-in family a model type names: `gpt2`, `GPT2LMHeadModel`, or pyvene's saved
/// `"<class 'transformers.models.gpt2.modeling_gpt2.GPT2LMHeadModel'>"`.
pub fn by_model_type(model_type: &str) -> Option<Family> {
    let bare =
        model_type.trim_start_matches("<class '").trim_end_matches("'>").rsplit('.').next().unwrap_or(model_type);
    builtin().into_iter().find(|f| f.model_types.iter().any(|t| t.eq_ignore_ascii_case(bare)))
}
