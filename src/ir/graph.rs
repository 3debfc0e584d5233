//! [`Graph`]: nodes in a petgraph DAG plus the graph's named values.

use crate::onnx::{pb, s};
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use std::collections::{BTreeSet, HashMap};

/// Index of a node in a [`Graph`]; stable while nodes are added.
pub type NodeId = NodeIndex;

/// A node: its protobuf, kept whole, and the key that orders it among its topological peers.
#[derive(Debug, Clone)]
pub struct Node {
    /// The node as stored; inputs and outputs are value names.
    pub proto: pb::NodeProto,
    /// Ordering key: original nodes are `(i, 0)`; nodes spliced in after node `i` are `(i, k>0)`.
    pub key: (u64, u64),
}

impl Node {
    /// The node's name, or its first output when it has none.
    pub fn label(&self) -> &str {
        let name = s(&self.proto.name);
        if name.is_empty() { self.proto.output.first().map_or("", |o| o.as_str()) } else { name }
    }
}

/// What defines a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Producer {
    /// Output `slot` of a node.
    Node(NodeId, usize),
    /// Graph input at this index.
    Input(usize),
    /// Initializer at this index.
    Initializer(usize),
}

/// The main graph of a model.
///
/// Invariant: `dag` has an edge `a → b` exactly when `b` reads a value `a` writes (directly, or
/// from inside one of `b`'s subgraphs). Mutators restore it before returning.
#[derive(Debug, Clone)]
pub struct Graph {
    pub(super) shell: pb::GraphProto,
    pub(super) dag: StableDiGraph<Node, ()>,
    /// Initializers, in stored order. External ones hold only their reference.
    pub initializers: Vec<pb::TensorProto>,
    /// Graph inputs, in order.
    pub inputs: Vec<pb::ValueInfoProto>,
    /// Graph outputs, in order.
    pub outputs: Vec<pb::ValueInfoProto>,
    /// Value infos, in stored order.
    pub value_info: Vec<pb::ValueInfoProto>,
    producers: HashMap<String, Producer>,
    /// Nodes that must keep reading pre-intervention values (the `--original` branch).
    pub(crate) frozen: BTreeSet<NodeId>,
}

impl Graph {
    /// Builds the graph from a `GraphProto`, keeping every other field for [`Graph::to_proto`].
    pub fn from_proto(mut g: pb::GraphProto) -> Graph {
        let nodes = std::mem::take(&mut g.node);
        let mut dag = StableDiGraph::with_capacity(nodes.len(), nodes.len() * 2);
        for (i, proto) in nodes.into_iter().enumerate() {
            dag.add_node(Node { proto, key: (i as u64, 0) });
        }
        let mut graph = Graph {
            initializers: std::mem::take(&mut g.initializer),
            inputs: std::mem::take(&mut g.input),
            outputs: std::mem::take(&mut g.output),
            value_info: std::mem::take(&mut g.value_info),
            shell: g,
            dag,
            producers: HashMap::new(),
            frozen: BTreeSet::new(),
        };
        graph.relink();
        graph
    }

    /// The `GraphProto`, with nodes in topological order (the stored order when it was one).
    pub fn to_proto(&self) -> pb::GraphProto {
        let mut g = self.shell.clone();
        g.node = self.topo_order().iter().map(|&n| self.dag[n].proto.clone()).collect();
        g.initializer = self.initializers.clone();
        g.input = self.inputs.clone();
        g.output = self.outputs.clone();
        g.value_info = self.value_info.clone();
        g
    }

    /// Consumes the graph into its `GraphProto` without cloning.
    pub fn into_proto(mut self) -> pb::GraphProto {
        let order = self.topo_order();
        let mut g = std::mem::take(&mut self.shell);
        let mut dag = std::mem::take(&mut self.dag);
        g.node = order.iter().filter_map(|&n| dag.remove_node(n)).map(|n| n.proto).collect();
        g.initializer = self.initializers;
        g.input = self.inputs;
        g.output = self.outputs;
        g.value_info = self.value_info;
        g
    }

    /// The graph's name.
    pub fn name(&self) -> &str {
        s(&self.shell.name)
    }

    /// The node with this id.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.dag[id]
    }

    /// All node ids, in insertion order.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.dag.node_indices()
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.dag.node_count()
    }

    /// The underlying dependency DAG.
    pub fn dag(&self) -> &StableDiGraph<Node, ()> {
        &self.dag
    }

    /// What defines `value`, if anything does.
    pub fn producer(&self, value: &str) -> Option<Producer> {
        self.producers.get(value).copied()
    }

    /// Whether `value` is defined in this graph.
    pub fn defines(&self, value: &str) -> bool {
        self.producers.contains_key(value)
    }

    /// The nodes that read `value` (directly), each with the input slot.
    pub fn consumers(&self, value: &str) -> Vec<(NodeId, usize)> {
        let mut out = Vec::new();
        for id in self.dag.node_indices() {
            for (slot, input) in self.dag[id].proto.input.iter().enumerate() {
                if input == value {
                    out.push((id, slot));
                }
            }
        }
        out
    }

    /// The initializer named `name`.
    pub fn initializer(&self, name: &str) -> Option<&pb::TensorProto> {
        match self.producer(name) {
            Some(Producer::Initializer(i)) => Some(&self.initializers[i]),
            _ => None,
        }
    }

    /// Nodes from which some value in `values` is reachable, `values`' producers included.
    pub fn ancestors(&self, values: &[&str]) -> BTreeSet<NodeId> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<NodeId> = values
            .iter()
            .filter_map(|v| match self.producer(v) {
                Some(Producer::Node(n, _)) => Some(n),
                _ => None,
            })
            .collect();
        while let Some(n) = stack.pop() {
            if seen.insert(n) {
                stack.extend(self.dag.neighbors_directed(n, petgraph::Direction::Incoming));
            }
        }
        seen
    }

    /// Nodes that depend, directly or not, on `value`.
    pub fn descendants(&self, value: &str) -> BTreeSet<NodeId> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<NodeId> = self.consumers(value).into_iter().map(|(n, _)| n).collect();
        stack.extend(self.capturing_nodes(value));
        while let Some(n) = stack.pop() {
            if seen.insert(n) {
                stack.extend(self.dag.neighbors_directed(n, petgraph::Direction::Outgoing));
            }
        }
        seen
    }

    fn capturing_nodes(&self, value: &str) -> Vec<NodeId> {
        self.dag
            .node_indices()
            .filter(|&n| super::order::captures(&self.dag[n].proto).iter().any(|c| c == value))
            .collect()
    }

    /// Adds nodes, in order, right after the nodes keyed `(anchor, _)`; call [`Graph::relink`] after.
    pub(crate) fn push_nodes(&mut self, protos: Vec<pb::NodeProto>, anchor: u64) -> Vec<NodeId> {
        let first = self.dag.node_weights().filter(|n| n.key.0 == anchor).map(|n| n.key.1).max().map_or(1, |m| m + 1);
        protos
            .into_iter()
            .zip(first..)
            .map(|(proto, minor)| self.dag.add_node(Node { proto, key: (anchor, minor) }))
            .collect()
    }

    /// Mutable access to a node's protobuf; call [`Graph::relink`] after changing inputs.
    pub(crate) fn node_mut(&mut self, id: NodeId) -> &mut pb::NodeProto {
        &mut self.dag[id].proto
    }

    /// Recomputes the producer index and the DAG's edges from the nodes' inputs.
    pub fn relink(&mut self) {
        self.producers.clear();
        for (i, t) in self.initializers.iter().enumerate() {
            self.producers.insert(s(&t.name).to_string(), Producer::Initializer(i));
        }
        for (i, v) in self.inputs.iter().enumerate() {
            self.producers.insert(s(&v.name).to_string(), Producer::Input(i));
        }
        let ids: Vec<NodeId> = self.dag.node_indices().collect();
        for &id in &ids {
            for (slot, out) in self.dag[id].proto.output.iter().enumerate() {
                if !out.is_empty() {
                    self.producers.insert(out.clone(), Producer::Node(id, slot));
                }
            }
        }
        self.dag.clear_edges();
        for &id in &ids {
            let proto = &self.dag[id].proto;
            let reads: BTreeSet<String> =
                proto.input.iter().filter(|i| !i.is_empty()).cloned().chain(super::order::captures(proto)).collect();
            let sources: BTreeSet<NodeId> = reads
                .iter()
                .filter_map(|r| match self.producers.get(r) {
                    Some(Producer::Node(p, _)) => Some(*p),
                    _ => None,
                })
                .collect();
            for p in sources {
                self.dag.add_edge(p, id, ());
            }
        }
    }
}
