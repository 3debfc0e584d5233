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
    /// What the node read and wrote when it was last linked (inputs and subgraph captures;
    /// outputs), so relinking it can undo exactly its old index entries.
    linked: (Vec<String>, Vec<String>),
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
/// from inside one of `b`'s subgraphs); `readers` maps each value to the nodes that read it
/// that way. Mutators restore both before returning, touching only the nodes they change.
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
    readers: HashMap<String, BTreeSet<NodeId>>,
    /// Next minor key for nodes spliced in after each major key.
    next_minor: HashMap<u64, u64>,
    /// Nodes that must keep reading pre-intervention values (the `--original` branch).
    pub(crate) frozen: BTreeSet<NodeId>,
}

impl Graph {
    /// Builds the graph from a `GraphProto`, keeping every other field for [`Graph::to_proto`].
    pub fn from_proto(mut g: pb::GraphProto) -> Graph {
        let nodes = std::mem::take(&mut g.node);
        let mut dag = StableDiGraph::with_capacity(nodes.len(), nodes.len() * 2);
        for (i, proto) in nodes.into_iter().enumerate() {
            dag.add_node(Node { proto, key: (i as u64, 0), linked: Default::default() });
        }
        let mut graph = Graph {
            initializers: std::mem::take(&mut g.initializer),
            inputs: std::mem::take(&mut g.input),
            outputs: std::mem::take(&mut g.output),
            value_info: std::mem::take(&mut g.value_info),
            shell: g,
            dag,
            producers: HashMap::new(),
            readers: HashMap::new(),
            next_minor: HashMap::new(),
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

    /// The nodes that read `value` (directly), each with the input slot, in node order.
    pub fn consumers(&self, value: &str) -> Vec<(NodeId, usize)> {
        let mut out = Vec::new();
        for &id in self.readers.get(value).into_iter().flatten() {
            for (slot, input) in self.dag[id].proto.input.iter().enumerate() {
                if input == value {
                    out.push((id, slot));
                }
            }
        }
        out
    }

    /// The nodes that read `value`, directly or from inside a subgraph.
    pub(crate) fn readers(&self, value: &str) -> impl Iterator<Item = NodeId> + '_ {
        self.readers.get(value).into_iter().flatten().copied()
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
        let mut stack: Vec<NodeId> = self.readers(value).collect();
        while let Some(n) = stack.pop() {
            if seen.insert(n) {
                stack.extend(self.dag.neighbors_directed(n, petgraph::Direction::Outgoing));
            }
        }
        seen
    }

    /// Adds nodes, in order, right after the nodes keyed `(anchor, _)`; call
    /// [`Graph::relink_nodes`] on them after.
    pub(crate) fn push_nodes(&mut self, protos: Vec<pb::NodeProto>, anchor: u64) -> Vec<NodeId> {
        let next = self.next_minor.entry(anchor).or_insert(1);
        let first = *next;
        *next += protos.len() as u64;
        protos
            .into_iter()
            .zip(first..)
            .map(|(proto, minor)| self.dag.add_node(Node { proto, key: (anchor, minor), linked: Default::default() }))
            .collect()
    }

    /// Mutable access to a node's protobuf; call [`Graph::relink_nodes`] on it after.
    pub(crate) fn node_mut(&mut self, id: NodeId) -> &mut pb::NodeProto {
        &mut self.dag[id].proto
    }

    /// Recomputes the producer index, the reader index and the DAG's edges from scratch.
    pub fn relink(&mut self) {
        self.producers.clear();
        self.readers.clear();
        for (i, t) in self.initializers.iter().enumerate() {
            self.producers.insert(s(&t.name).to_string(), Producer::Initializer(i));
        }
        for (i, v) in self.inputs.iter().enumerate() {
            self.producers.insert(s(&v.name).to_string(), Producer::Input(i));
        }
        for n in self.dag.node_weights_mut() {
            n.linked = Default::default();
        }
        self.dag.clear_edges();
        let ids: Vec<NodeId> = self.dag.node_indices().collect();
        self.relink_nodes(&ids);
    }

    /// Indexes new graph inputs and initializers (those past the indexed ones); call after
    /// pushing to [`Graph::inputs`] or [`Graph::initializers`].
    pub(crate) fn index_values(&mut self, inputs_from: usize, initializers_from: usize) {
        for (i, t) in self.initializers.iter().enumerate().skip(initializers_from) {
            self.producers.insert(s(&t.name).to_string(), Producer::Initializer(i));
        }
        for (i, v) in self.inputs.iter().enumerate().skip(inputs_from) {
            self.producers.insert(s(&v.name).to_string(), Producer::Input(i));
        }
    }

    /// Brings the indices and edges of nodes `ids` up to date after their inputs or outputs
    /// changed (or they were added), in time proportional to their reads, writes and readers.
    pub(crate) fn relink_nodes(&mut self, ids: &[NodeId]) {
        for &id in ids {
            let (reads, writes) = std::mem::take(&mut self.dag[id].linked);
            for r in reads {
                if let Some(set) = self.readers.get_mut(&r) {
                    set.remove(&id);
                }
            }
            for w in writes {
                if matches!(self.producers.get(&w), Some(Producer::Node(p, _)) if *p == id) {
                    self.producers.remove(&w);
                }
            }
        }
        for &id in ids {
            let proto = &self.dag[id].proto;
            let reads: BTreeSet<String> =
                proto.input.iter().filter(|i| !i.is_empty()).cloned().chain(super::order::captures(proto)).collect();
            let writes: Vec<String> = proto.output.clone();
            for (slot, out) in writes.iter().enumerate() {
                if !out.is_empty() {
                    self.producers.insert(out.clone(), Producer::Node(id, slot));
                }
            }
            for r in &reads {
                self.readers.entry(r.clone()).or_default().insert(id);
            }
            self.dag[id].linked = (reads.into_iter().collect(), writes);
        }
        for &id in ids {
            let old: Vec<_> = self
                .dag
                .edges_directed(id, petgraph::Direction::Incoming)
                .chain(self.dag.edges_directed(id, petgraph::Direction::Outgoing))
                .map(|e| petgraph::visit::EdgeRef::id(&e))
                .collect();
            for e in old {
                self.dag.remove_edge(e);
            }
        }
        for &id in ids {
            let node = &self.dag[id];
            let sources: BTreeSet<NodeId> = node
                .linked
                .0
                .iter()
                .filter_map(|r| match self.producers.get(r) {
                    Some(Producer::Node(p, _)) => Some(*p),
                    _ => None,
                })
                .collect();
            let sinks: BTreeSet<NodeId> = node
                .linked
                .1
                .iter()
                .filter(|w| !w.is_empty())
                .flat_map(|w| self.readers.get(w).into_iter().flatten().copied())
                .collect();
            for p in sources {
                self.dag.update_edge(p, id, ());
            }
            for r in sinks {
                self.dag.update_edge(id, r, ());
            }
        }
    }
}
