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

/// A part of the last axis, for fused projections: GPT-2's `c_attn` (equal thirds), Phi-3's
/// `qkv_proj` (parts sized by head counts under GQA), GPT-NeoX's `query_key_value` (q/k/v
/// interleaved per head).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// Number of parts.
    pub parts: u32,
    /// Which part.
    pub index: u32,
    /// How the parts lie along the axis; equal contiguous parts when absent.
    #[serde(default)]
    pub layout: Layout,
}

/// How the parts of a fused projection lie along its last axis.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `parts` equal contiguous slices.
    #[default]
    Equal,
    /// Contiguous slices of `count × head_dim` columns, one head count per part
    /// (`["query", "kv", "kv"]`: Q, then K and V of grouped-query attention).
    Heads(Vec<super::heads::HeadCount>),
    /// Per head, `parts` blocks of `head_dim` columns (`[h0: q k v | h1: q k v | …]`).
    Interleaved,
}

/// One abstract component: a module path with `{layer}` and a hook side.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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

/// A module whose output is a tuple (Llama's `rotary_emb` returns `(cos, sin)`): its boundary
/// tensors are the elements in the order they are produced, and its hooks see `element`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TupleRule {
    /// The module path ends with this.
    pub suffix: String,
    /// The element pyvene's hook takes (`output[0]`).
    pub element: usize,
    /// The elements' names, for display.
    pub elements: Vec<String>,
    /// Why the rule holds.
    pub why: String,
}

/// A model family's component map.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Family {
    /// Family name (`gpt2`).
    pub family: String,
    /// What the map follows and where it departs from pyvene.
    #[serde(default)]
    pub about: String,
    /// Spellings of model types that select this family.
    pub model_types: Vec<String>,
    /// Module-path prefixes of the family's base model, tried in order.
    pub roots: Vec<String>,
    /// A module that exists under the right root (`h.0`).
    pub anchor: String,
    /// Modules (relative to the root) that must all exist for the graph to be detected as this
    /// family; more of them make the family more specific.
    #[serde(default)]
    pub signature: Vec<String>,
    /// Prefixes of class names (recorded by the dynamo exporter) that identify the family.
    #[serde(default)]
    pub classes: Vec<String>,
    /// Dimensions pyvene reads from the config, by name (informational).
    #[serde(default)]
    pub dims: BTreeMap<String, String>,
    /// The per-head reshapes of the attention module hold this many parts × head_dim columns
    /// (GPT-NeoX's fused q/k/v); 1 when absent.
    #[serde(default)]
    pub head_reshape_parts: Option<u32>,
    /// Modules returning tuples.
    #[serde(default)]
    pub tuples: Vec<TupleRule>,
    /// Components pvc refuses for this family, with the reason (e.g. a module called once per
    /// time step).
    #[serde(default)]
    pub refused: BTreeMap<String, String>,
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
    ("mistral", include_str!("../../rewrites/mistral/components.json")),
    ("qwen2", include_str!("../../rewrites/qwen2/components.json")),
    ("qwen3", include_str!("../../rewrites/qwen3/components.json")),
    ("gemma", include_str!("../../rewrites/gemma/components.json")),
    ("gemma2", include_str!("../../rewrites/gemma2/components.json")),
    ("olmo", include_str!("../../rewrites/olmo/components.json")),
    ("phi3", include_str!("../../rewrites/phi3/components.json")),
    ("gpt_neo", include_str!("../../rewrites/gpt_neo/components.json")),
    ("gpt_neox", include_str!("../../rewrites/gpt_neox/components.json")),
    ("mlp", include_str!("../../rewrites/mlp/components.json")),
    ("gru", include_str!("../../rewrites/gru/components.json")),
];

/// Why a family file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FamilyError {
    /// The file could not be read.
    #[error("model type file: {0}")]
    Read(crate::fsio::InputError),
    /// The file is not a valid family map.
    #[error("model type file {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, with its line and column.
        message: String,
    },
    /// `infer` was asked for and the module tree is not a conventional decoder.
    #[error("{why}")]
    Uninferable {
        /// What inference found.
        why: String,
    },
    /// No built-in family has this name.
    #[error("unknown model type `{name}`; known: {known}, `infer`, or a path to a components.json file")]
    Unknown {
        /// The name given.
        name: String,
        /// The built-in families.
        known: String,
    },
}

/// A family map from a user's `components.json` file (the format of `rewrites/<family>/`).
pub fn from_file(path: &std::path::Path) -> Result<Family, FamilyError> {
    let shown = path.display().to_string();
    let bytes = crate::fsio::read_input(path, 1 << 24).map_err(FamilyError::Read)?;
    let text = String::from_utf8_lossy(&bytes);
    parse(&text).map_err(|message| FamilyError::Invalid { path: shown, message })
}

/// Parses and checks a family map: every component's module has `{layer}` or is layer-free,
/// and its split names a part that exists.
pub fn parse(text: &str) -> Result<Family, String> {
    let f: Family = serde_json::from_str(text).map_err(|e| e.to_string())?;
    for (name, rule) in &f.components {
        if let Some(sp) = &rule.split {
            let n = match &sp.layout {
                Layout::Heads(counts) => counts.len() as u32,
                _ => sp.parts,
            };
            if sp.parts == 0 || sp.index >= n || n != sp.parts {
                return Err(format!(
                    "components.{name}.split: part {} of {} parts does not exist (layout has {n})",
                    sp.index, sp.parts
                ));
            }
        }
    }
    Ok(f)
}

/// A family by built-in name or model type (see [`by_model_type`]), or read from a
/// `components.json` path.
pub fn resolve_model_type(spec: &str) -> Result<Family, FamilyError> {
    let path = std::path::Path::new(spec);
    if spec.ends_with(".json") || path.is_file() {
        return from_file(path);
    }
    by_model_type(spec).ok_or_else(|| FamilyError::Unknown {
        name: spec.to_string(),
        known: builtin().into_iter().map(|f| f.family).collect::<Vec<_>>().join(", "),
    })
}

/// The built-in families, parsed from the embedded `rewrites/` data.
pub fn builtin() -> Vec<Family> {
    BUILTIN
        .iter()
        .map(|(name, text)| parse(text).unwrap_or_else(|e| panic!("rewrites/{name}/components.json is invalid: {e}")))
        .collect()
}

/// The built-in family a model type names: `gpt2`, `GPT2LMHeadModel`, or pyvene's saved
/// `"<class 'transformers.models.gpt2.modeling_gpt2.GPT2LMHeadModel'>"`.
pub fn by_model_type(model_type: &str) -> Option<Family> {
    let bare =
        model_type.trim_start_matches("<class '").trim_end_matches("'>").rsplit('.').next().unwrap_or(model_type);
    builtin().into_iter().find(|f| f.model_types.iter().any(|t| t.eq_ignore_ascii_case(bare)))
}
