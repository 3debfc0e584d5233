//! Numbering of the names a rewrite adds, so that rewriting an already-patched model never
//! reuses a name an earlier rewrite made.
//!
//! Every name pvc makes carries a representation number (`pvc/rep<i>/...`, `collected.<i>`,
//! `unit_locations.<i>.base`, `source_representations.<i>`) or a source-group number
//! (`pvc/source.<g>/...`, `source.<g>.<input>`). A rewrite numbers its representations and
//! groups after the highest ones already in the graph, so a second rewrite's names are exactly
//! those a single rewrite with both schemas' representations would give.

use crate::ir::Graph;
use crate::onnx::s;

/// Where a rewrite's representation and source-group numbers start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Numbering {
    /// Added to every representation index in generated names.
    pub reps: usize,
    /// Added to every source group in generated names.
    pub groups: usize,
}

impl Numbering {
    /// The first free numbers in `g`.
    pub fn of(g: &Graph) -> Numbering {
        let mut n = Numbering::default();
        let mut see = |name: &str| {
            for (prefix, sep, groups) in [
                ("pvc/rep", '/', false),
                ("collected.", '.', false),
                ("unit_locations.", '.', false),
                ("source_representations.", '.', false),
                ("pvc/source.", '/', true),
                ("source.", '.', true),
            ] {
                let Some(rest) = name.strip_prefix(prefix) else { continue };
                let digits = rest.split(sep).next().unwrap_or("");
                if let Ok(k) = digits.parse::<usize>() {
                    let slot = if groups { &mut n.groups } else { &mut n.reps };
                    *slot = (*slot).max(k.saturating_add(1));
                }
            }
        };
        for id in g.node_ids() {
            let p = &g.node(id).proto;
            see(p.name.as_deref().unwrap_or(""));
            p.output.iter().for_each(|o| see(o));
        }
        for v in g.inputs.iter().chain(&g.outputs).chain(&g.value_info) {
            see(s(&v.name));
        }
        for t in &g.initializers {
            see(s(&t.name));
        }
        n
    }
}

/// The applied-schemas record: `previous` (the model's `pvc.schema` metadata, if any) with
/// `schema` appended. The record is a JSON list of schemas in the order they were applied; a
/// single schema object (what pvc wrote before it recorded lists) reads as a list of one.
pub fn record_schemas(previous: Option<&str>, schema: &serde_json::Value) -> String {
    let mut list = match previous.map(serde_json::from_str::<serde_json::Value>) {
        Some(Ok(serde_json::Value::Array(items))) => items,
        Some(Ok(v)) => vec![v],
        Some(Err(_)) => vec![serde_json::Value::String(previous.unwrap_or_default().to_string())],
        None => vec![],
    };
    list.push(schema.clone());
    serde_json::Value::Array(list).to_string()
}
