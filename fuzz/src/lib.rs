//! Fuzzing harness for pvc: the entry points under fuzz ([`entries`], shared with the root
//! crate's regression test) and the schema grammar of `rewrite_e2e` ([`grammar`]).

pub mod entries;
pub mod grammar;

use std::sync::OnceLock;

/// The tensor names produced by nodes of a rewrite fixture (raw-name components).
pub fn value_names(model: &str) -> &'static [String] {
    static NAMES: OnceLock<Vec<(&'static str, Vec<String>)>> = OnceLock::new();
    let all = NAMES.get_or_init(|| {
        entries::REWRITE_MODELS
            .iter()
            .map(|m| {
                let proto = entries::fixture(m).to_proto();
                let g = proto.graph.unwrap_or_default();
                let mut names: Vec<String> = g.node.iter().flat_map(|n| n.output.iter().cloned()).collect();
                names.extend(g.input.iter().filter_map(|v| v.name.clone()));
                (*m, names)
            })
            .collect()
    });
    &all.iter().find(|(m, _)| *m == model).expect("a rewrite fixture").1
}

/// Builds a rewrite case (JSON bytes for [`entries::rewrite_case`]) from fuzz bytes.
pub fn rewrite_case_bytes(data: &[u8]) -> Option<Vec<u8>> {
    let mut u = arbitrary::Unstructured::new(data);
    let model = *u.choose(&entries::REWRITE_MODELS).ok()?;
    let case = grammar::case(&mut u, model, value_names(model)).ok()?;
    serde_json::to_vec(&case).ok()
}
