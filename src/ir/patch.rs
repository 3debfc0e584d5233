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

    /// Adds the patch to `model`, relinking only the nodes it touches: its own, the producer
    /// and the readers of each shunted value.
    pub fn apply(self, model: &mut Model) {
        let g = &mut model.graph;
        let anchor = self.anchor.as_deref().map_or(0, |a| anchor_key(g, a));
        let mut nodes = self.nodes;
        let mut touched = BTreeSet::new();
        for shunt in &self.shunts {
            apply_shunt(g, shunt, &mut nodes, &mut touched);
        }
        let (inputs_from, initializers_from) = (g.inputs.len(), g.initializers.len());
        g.initializers.extend(self.initializers);
        g.inputs.extend(self.inputs);
        g.outputs.extend(self.outputs);
        g.value_info.extend(self.value_info);
        g.index_values(inputs_from, initializers_from);
        let added = g.push_nodes(nodes, anchor);
        if self.frozen {
            g.frozen.extend(added.iter().copied());
        }
        touched.extend(added);
        g.relink_nodes(&touched.into_iter().collect::<Vec<_>>());
    }
}

fn anchor_key(g: &Graph, value: &str) -> u64 {
    match g.producer(value) {
        Some(Producer::Node(n, _)) => g.node(n).key.0,
        _ => 0,
    }
}

fn apply_shunt(g: &mut Graph, shunt: &Shunt, nodes: &mut [pb::NodeProto], touched: &mut BTreeSet<NodeId>) {
    let rename = |names: &mut Vec<String>, from: &str, to: &str| {
        for n in names.iter_mut().filter(|n| n.as_str() == from) {
            *n = to.to_string();
        }
    };
    let readers: Vec<NodeId> = g.readers(&shunt.value).collect();
    match g.producer(&shunt.value) {
        Some(Producer::Node(p, _)) => {
            rename(&mut g.node_mut(p).output, &shunt.value, &shunt.pre);
            touched.insert(p);
            for r in readers {
                if g.frozen.contains(&r) {
                    rename(&mut g.node_mut(r).input, &shunt.value, &shunt.pre);
                }
                touched.insert(r);
            }
            for n in nodes.iter_mut() {
                rename(&mut n.output, &shunt.by, &shunt.value);
                rename(&mut n.input, &shunt.by, &shunt.value);
            }
        }
        _ => {
            for r in readers {
                if g.frozen.contains(&r) {
                    continue;
                }
                rename(&mut g.node_mut(r).input, &shunt.value, &shunt.by);
                touched.insert(r);
            }
            for n in nodes.iter_mut() {
                rename(&mut n.input, &shunt.pre, &shunt.value);
            }
        }
    }
}
