//! Head geometry of head components (`head_query_output`, …): how many heads a site splits
//! into and how wide each is, read from the graph rather than guessed.
//!
//! The head size comes from the site itself when the exporter kept it per head (dynamo's
//! `[b, s, heads, head_dim]` `c_proj` input), else from the family's attention module, whose
//! Reshapes split Q/K/V into `[b, s, heads, head_dim]`. The head count of a component is its
//! width over the head size, so K/V of grouped-query attention get the kv-head count.

use super::cut::HeadShape;
use super::family::Family;
use super::resolve::{Locator, Site, canonical};
use crate::ir::Dim;
use std::collections::BTreeSet;

/// Which head count a head component is split by (pyvene's `n_head` / `n_kv_head`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadCount {
    /// The attention (query) heads.
    Query,
    /// The key/value heads (fewer under grouped-query attention).
    Kv,
}

/// How a head component's site splits into heads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Heads {
    /// Which count it is.
    pub count: HeadCount,
    /// The size of one head, when the graph shows it.
    pub head_dim: Option<usize>,
    /// Where the head size was read, for messages.
    pub from: String,
}

impl Heads {
    /// Words for the head count in messages.
    pub fn noun(&self) -> &'static str {
        match self.count {
            HeadCount::Query => "heads",
            HeadCount::Kv => "key/value heads",
        }
    }
}

impl Locator {
    /// The head geometry of `site`, a head component of `fam` at `layer`.
    pub(super) fn heads(&self, fam: &Family, layer: i64, count: HeadCount, site: &Site) -> Heads {
        if let Some(shape) = &site.ty.shape
            && let [_, _, Dim::Fixed(_), Dim::Fixed(d)] = shape.as_slice()
        {
            return Heads { count, head_dim: Some(*d as usize), from: format!("the shape of `{}`", site.value) };
        }
        let Some(attn) = &fam.attention else {
            return Heads { count, head_dim: None, from: format!("family {} names no attention module", fam.family) };
        };
        let (pairs, from) = self.head_reshapes(fam, attn, layer);
        let dims: BTreeSet<usize> = pairs.iter().map(|&(_, d)| d).collect();
        match dims.len() {
            1 => Heads { count, head_dim: dims.first().copied(), from },
            0 => Heads { count, head_dim: None, from: format!("{from} (none found)") },
            _ => Heads { count, head_dim: None, from: format!("{from} (they disagree: {dims:?})") },
        }
    }

    /// Query and key/value head counts and the head size of `fam`'s attention at `layer`, from
    /// its per-head reshapes: the most heads are the query heads, the fewest the key/value heads.
    pub(super) fn head_shape(&self, fam: &Family, layer: i64) -> Option<HeadShape> {
        let (pairs, _) = self.head_reshapes(fam, fam.attention.as_ref()?, layer);
        let dims: BTreeSet<usize> = pairs.iter().map(|&(_, d)| d).collect();
        let [dim] = dims.into_iter().collect::<Vec<_>>()[..] else { return None };
        let query = pairs.iter().map(|&(n, _)| n).max()?;
        let kv = pairs.iter().map(|&(n, _)| n).min()?;
        Some(HeadShape { query, kv, dim })
    }

    /// `(heads, head_dim)` of every `[b, s, heads, cols]` Reshape in the attention module (cols
    /// divided by the family's `head_reshape_parts`), and where they were read.
    fn head_reshapes(&self, fam: &Family, attn: &str, layer: i64) -> (BTreeSet<(usize, usize)>, String) {
        let path = canonical(&format!("{}{}", self.root(), attn.replace("{layer}", &layer.to_string())));
        let parts = fam.head_reshape_parts.unwrap_or(1).max(1) as usize;
        let mut pairs = BTreeSet::new();
        if let Some(m) = self.modules.get(&path) {
            for (op, v) in &m.op_outputs {
                let Some(shape) = self.types.get(v).and_then(|t| t.shape.as_ref()) else { continue };
                if let (true, [_, _, Dim::Fixed(n), Dim::Fixed(d)]) = (op == "Reshape", shape.as_slice())
                    && (*d as usize).is_multiple_of(parts)
                {
                    pairs.insert((*n as usize, *d as usize / parts));
                }
            }
        }
        (pairs, format!("the per-head reshapes of `{}`", crate::locate::pyvene_spelling(&path)))
    }
}
