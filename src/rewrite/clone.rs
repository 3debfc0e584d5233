//! Cloning parts of the graph under new value names.

use crate::ir::{Graph, NodeId};
use crate::onnx::pb;
use std::collections::BTreeSet;

/// Copies of `nodes` in topological order: outputs renamed by `rename_out`, inputs produced by a
/// copied node renamed the same way, other inputs by `rename_in` (graph inputs, shared values).
pub fn clone_nodes(
    g: &Graph,
    nodes: &BTreeSet<NodeId>,
    prefix: &str,
    rename_out: &dyn Fn(&str) -> String,
    rename_in: &dyn Fn(&str) -> String,
) -> Vec<pb::NodeProto> {
    let produced: BTreeSet<&str> =
        nodes.iter().flat_map(|&n| g.node(n).proto.output.iter().map(String::as_str)).collect();
    g.topo_order()
        .into_iter()
        .filter(|n| nodes.contains(n))
        .map(|n| {
            let mut p = g.node(n).proto.clone();
            p.name = Some(format!("{prefix}{}", g.node(n).label()));
            for o in p.output.iter_mut().filter(|o| !o.is_empty()) {
                *o = rename_out(o);
            }
            for i in p.input.iter_mut().filter(|i| !i.is_empty()) {
                *i = if produced.contains(i.as_str()) { rename_out(i) } else { rename_in(i) };
            }
            p
        })
        .collect()
}

/// Nodes that depend, directly or not, on any graph input.
pub fn input_dependent(g: &Graph) -> BTreeSet<NodeId> {
    let inits: BTreeSet<&str> = g.initializers.iter().map(|t| crate::onnx::s(&t.name)).collect();
    let mut out = BTreeSet::new();
    for v in &g.inputs {
        let name = crate::onnx::s(&v.name);
        if !inits.contains(name) {
            out.extend(g.descendants(name));
        }
    }
    out
}
