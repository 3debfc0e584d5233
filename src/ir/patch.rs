//! [`Patch`]: a rewrite as a value. Builders read the graph and return one; a single
//! [`Patch::apply`] makes it real, so a builder can never leave the graph half-changed.

use super::{Graph, Model, NodeId, Producer};
use crate::onnx::pb;
use std::collections::BTreeSet;

/// Uses of `value` switched to `by`, which the patch computes from `pre`.
///
/// On apply, the producer of `value` is renamed to write `pre`; the patch node writing `by`
/// writes `value` instead. So every later reader and any graph output of that name sees the
/// patched value, while the patch itself reads the original through `pre`. For a graph input or
/// initializer, which cannot be renamed, readers outside the patch are rewired to `by` instead.
#[derive(Debug, Clone, PartialEq)]
pub struct Shunt {
    /// The value being replaced.
    pub value: String,
    /// The name the patch reads the original under.
    pub pre: String,
    /// The patch value that replaces it.
    pub by: String,
}

/// New nodes, initializers, inputs and outputs, plus the shunts that splice them in.
#[derive(Debug, Clone, Default)]
pub struct Patch {
    /// Kebab-case rule name for reports (`zero-ablate`).
    pub rule: String,
    /// New nodes, in dataflow order.
    pub nodes: Vec<pb::NodeProto>,
    /// New initializers.
    pub initializers: Vec<pb::TensorProto>,
    /// New graph inputs.
    pub inputs: Vec<pb::ValueInfoProto>,
    /// New graph outputs.
    pub outputs: Vec<pb::ValueInfoProto>,
    /// New value infos.
    pub value_info: Vec<pb::ValueInfoProto>,
    /// Values replaced by patch values.
    pub shunts: Vec<Shunt>,
    /// The new nodes are ordered right after the producer of this value.
    pub anchor: Option<String>,
    /// Mark the new nodes frozen: they keep reading original values when later shunts apply.
    pub frozen: bool,
}

impl Patch {
    /// A patch for rule `rule` anchored after the producer of `anchor`.
    pub fn new(rule: &str, anchor: Option<&str>) -> Patch {
        Patch { rule: rule.into(), anchor: anchor.map(str::to_string), ..Default::default() }
    }

    /// Adds the patch to `model`.
    pub fn apply(self, model: &mut Model) {
        let g = &mut model.graph;
        let anchor = self.anchor.as_deref().map_or(0, |a| anchor_key(g, a));
        let mut nodes = self.nodes;
        for shunt in &self.shunts {
            apply_shunt(g, shunt, &mut nodes);
        }
        g.initializers.extend(self.initializers);
        g.inputs.extend(self.inputs);
        g.outputs.extend(self.outputs);
        g.value_info.extend(self.value_info);
        let added = g.push_nodes(nodes, anchor);
        if self.frozen {
            g.frozen.extend(added);
        }
        g.relink();
    }
}

fn anchor_key(g: &Graph, value: &str) -> u64 {
    match g.producer(value) {
        Some(Producer::Node(n, _)) => g.node(n).key.0,
        _ => 0,
    }
}

fn apply_shunt(g: &mut Graph, shunt: &Shunt, nodes: &mut [pb::NodeProto]) {
    let rename = |names: &mut Vec<String>, from: &str, to: &str| {
        for n in names.iter_mut().filter(|n| n.as_str() == from) {
            *n = to.to_string();
        }
    };
    match g.producer(&shunt.value) {
        Some(Producer::Node(p, _)) => {
            rename(&mut g.node_mut(p).output, &shunt.value, &shunt.pre);
            let frozen: Vec<NodeId> = g.frozen.iter().copied().collect();
            for f in frozen {
                rename(&mut g.node_mut(f).input, &shunt.value, &shunt.pre);
            }
            for n in nodes.iter_mut() {
                rename(&mut n.output, &shunt.by, &shunt.value);
                rename(&mut n.input, &shunt.by, &shunt.value);
            }
        }
        _ => {
            let readers: BTreeSet<NodeId> =
                g.consumers(&shunt.value).into_iter().map(|(n, _)| n).filter(|n| !g.frozen.contains(n)).collect();
            for r in readers {
                rename(&mut g.node_mut(r).input, &shunt.value, &shunt.by);
            }
            for n in nodes.iter_mut() {
                rename(&mut n.input, &shunt.pre, &shunt.value);
            }
        }
    }
}
