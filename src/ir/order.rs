//! Topological order and subgraph captures.

use super::graph::{Graph, NodeId};
use crate::onnx::pb;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

impl Graph {
    /// Nodes in topological order; among ready nodes the smallest key goes first, so a graph
    /// stored in topological order keeps its order. Nodes on a cycle are left out.
    pub fn topo_order(&self) -> Vec<NodeId> {
        let dag = self.dag();
        let mut indegree: HashMap<NodeId, usize> = HashMap::new();
        let mut ready = BinaryHeap::new();
        for id in dag.node_indices() {
            let d = dag.neighbors_directed(id, petgraph::Direction::Incoming).count();
            indegree.insert(id, d);
            if d == 0 {
                ready.push(Reverse((dag[id].key, id)));
            }
        }
        let mut order = Vec::with_capacity(dag.node_count());
        while let Some(Reverse((_, id))) = ready.pop() {
            order.push(id);
            for next in dag.neighbors_directed(id, petgraph::Direction::Outgoing) {
                let d = indegree.get_mut(&next).expect("every node has an indegree");
                *d -= 1;
                if *d == 0 {
                    ready.push(Reverse((dag[next].key, next)));
                }
            }
        }
        order
    }

    /// Each node's position in [`Graph::topo_order`].
    pub fn positions(&self) -> HashMap<NodeId, usize> {
        self.topo_order().into_iter().enumerate().map(|(i, n)| (n, i)).collect()
    }
}

/// Values a node's subgraphs read from enclosing scopes (If/Loop/Scan bodies).
pub fn captures(node: &pb::NodeProto) -> Vec<String> {
    let mut out = BTreeSet::new();
    for a in &node.attribute {
        for g in a.g.iter().chain(a.graphs.iter()) {
            graph_captures(g, &mut out);
        }
    }
    out.into_iter().collect()
}

fn graph_captures(g: &pb::GraphProto, out: &mut BTreeSet<String>) {
    let mut defined: BTreeSet<&str> = BTreeSet::new();
    for v in &g.input {
        defined.insert(crate::onnx::s(&v.name));
    }
    for t in &g.initializer {
        defined.insert(crate::onnx::s(&t.name));
    }
    for n in &g.node {
        for i in n.input.iter().filter(|i| !i.is_empty()) {
            if !defined.contains(i.as_str()) {
                out.insert(i.clone());
            }
        }
        let mut inner = BTreeSet::new();
        for a in &n.attribute {
            for sg in a.g.iter().chain(a.graphs.iter()) {
                graph_captures(sg, &mut inner);
            }
        }
        for i in inner {
            if !defined.contains(i.as_str()) {
                out.insert(i);
            }
        }
        for o in &n.output {
            defined.insert(o.as_str());
        }
    }
    for o in &g.output {
        if !defined.contains(crate::onnx::s(&o.name)) {
            out.insert(crate::onnx::s(&o.name).to_string());
        }
    }
}
