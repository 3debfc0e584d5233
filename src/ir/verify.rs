//! [`verify`]: the invariants every pass must leave intact.

use super::{IrError, Model, Producer, model::normalize_domain};
use crate::onnx::s;
use std::collections::HashSet;

/// Checks that every value is defined once, every read value is defined, node names are unique,
/// the dataflow is acyclic, every node's domain is imported, and every graph output is defined.
pub fn verify(model: &Model) -> Result<(), IrError> {
    let g = &model.graph;
    let mut defined: HashSet<&str> = HashSet::new();
    let inits: HashSet<&str> = g.initializers.iter().map(|t| s(&t.name)).collect();
    for t in &g.initializers {
        if !defined.insert(s(&t.name)) {
            return Err(IrError::Redefined { value: s(&t.name).into() });
        }
    }
    for v in &g.inputs {
        let name = s(&v.name);
        if !defined.insert(name) && !inits.contains(name) {
            return Err(IrError::Redefined { value: name.into() });
        }
    }
    let mut names = HashSet::new();
    for id in g.node_ids() {
        let n = &g.node(id).proto;
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            if !defined.insert(o) {
                return Err(IrError::Redefined { value: o.clone() });
            }
        }
        let name = s(&n.name);
        if !name.is_empty() && !names.insert(name) {
            return Err(IrError::DuplicateNode { node: name.into() });
        }
        let domain = normalize_domain(s(&n.domain));
        if model.opset(domain).is_none() {
            return Err(IrError::MissingOpset { node: g.node(id).label().into(), domain: domain.into() });
        }
    }
    for id in g.node_ids() {
        let node = g.node(id);
        let reads = node.proto.input.iter().filter(|i| !i.is_empty()).cloned();
        for value in reads.chain(super::order::captures(&node.proto)) {
            if g.producer(&value).is_none() {
                return Err(IrError::Undefined { node: node.label().into(), value });
            }
        }
    }
    let order = g.topo_order();
    if order.len() != g.node_count() {
        let placed: HashSet<_> = order.into_iter().collect();
        let stuck = g.node_ids().find(|n| !placed.contains(n)).expect("a node is unplaced");
        return Err(IrError::Cycle { node: g.node(stuck).label().into() });
    }
    for o in &g.outputs {
        if !matches!(g.producer(s(&o.name)), Some(Producer::Node(..) | Producer::Input(_) | Producer::Initializer(_))) {
            return Err(IrError::OutputUndefined { value: s(&o.name).into() });
        }
    }
    Ok(())
}
