//! The module map: PyTorch module paths recovered from an exported graph, each with the tensors
//! its forward hook and pre-hook would see.
//!
//! Rule (checked against torch hooks on GPT-2, Llama and MLP exports): a module's output is the
//! tensor produced inside its scope and consumed outside it (or a graph output); its input is a
//! tensor produced outside and consumed inside. Where several qualify, the output is the float
//! tensor produced last and the input the float tensor (or graph input) read earliest, and the
//! choice is noted.
//!
//! A module called more than once (a recurrent cell, once per time step) is split into its
//! calls ([`super::calls`]); its own input and output are then its first call's, what a hook
//! sees first.

use super::calls::{self, Calls};
use super::scopes::{self, Exporter};
use crate::ir::{Graph, NodeId, Producer, ValueType};
use crate::onnx::s;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A tensor at a module boundary.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Boundary {
    /// The chosen tensor.
    pub value: String,
    /// How many tensors crossed the boundary; above 1 the choice was made by the rule above.
    pub candidates: usize,
}

/// One module found in the graph.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Module {
    /// Qualified path, as `named_modules` spells it (`transformer.h.1.mlp`).
    pub path: String,
    /// Class name, where the exporter recorded it.
    pub class: Option<String>,
    /// Nodes in the module's scope (none for containers that never ran).
    #[serde(skip)]
    pub nodes: BTreeSet<NodeId>,
    /// Topological position of its first node (of its descendants' for containers).
    #[serde(skip)]
    pub first: usize,
    /// `(op_type, first output)` of its nodes, in topological order.
    #[serde(skip)]
    pub op_outputs: Vec<(String, String)>,
    /// What its pre-hook sees.
    pub input: Option<Boundary>,
    /// What its forward hook sees.
    pub output: Option<Boundary>,
    /// Every float tensor crossing its output boundary, in production order (the elements of
    /// a tuple output).
    #[serde(skip)]
    pub outputs: Vec<String>,
    /// Its calls, when it ran more than once.
    #[serde(skip)]
    pub calls: Calls,
}

/// Every module of a graph by path, plus the exporter convention it was read with.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModuleMap {
    /// The exporter convention the graph follows.
    pub exporter: Exporter,
    /// Modules by path, sorted.
    pub modules: BTreeMap<String, Module>,
}

impl ModuleMap {
    /// Recovers the module map of `graph`; `types` says which values are floats.
    pub fn build(graph: &Graph, types: &HashMap<String, ValueType>) -> ModuleMap {
        let pos = graph.positions();
        let mut members: BTreeMap<String, BTreeSet<NodeId>> = BTreeMap::new();
        let mut classes: BTreeMap<String, String> = BTreeMap::new();
        let mut exporter = Exporter::Unknown;
        let mut scoped = HashMap::new();
        let mut all = Vec::new();
        for id in graph.node_ids() {
            let (ex, paths) = scopes::node_scopes(&graph.node(id).proto);
            if ex != Exporter::Unknown {
                exporter = ex;
            }
            scoped.insert(id, ex != Exporter::Unknown);
            all.push((id, paths));
        }
        let numbers =
            if exporter == Exporter::Legacy { calls::fold_legacy_numbers(&mut all) } else { calls::Numbers::new() };
        for (id, paths) in all {
            for (p, c) in paths {
                if let Some(c) = c {
                    classes.entry(p.clone()).or_insert(c);
                }
                members.entry(p).or_default().insert(id);
            }
        }
        let consumers = consumer_index(graph);
        let outputs: BTreeSet<&str> = graph.outputs.iter().map(|o| s(&o.name)).collect();
        let cx = Cx { graph, types, pos: &pos, consumers: &consumers, outputs: &outputs };
        let order = graph.topo_order();
        let facts = calls::Order { order: &order, scoped: &scoped, numbers: &numbers, types };
        let mut split = calls::split(&members, &facts, |nodes| cx.boundaries(nodes));
        let mut modules = BTreeMap::new();
        for (path, nodes) in &members {
            let calls = split.remove(path).unwrap_or_default();
            let ((input, output), outputs) = match calls.repeated().and_then(|c| c.first()) {
                Some(first) => ((first.input.clone(), first.output.clone()), cx.outputs_in_order(&first.nodes)),
                None => (cx.boundaries(nodes), cx.outputs_in_order(nodes)),
            };
            let module = Module {
                path: path.clone(),
                class: classes.get(path).cloned(),
                nodes: nodes.clone(),
                op_outputs: cx.op_outputs(nodes),
                first: nodes.iter().map(|n| pos[n]).min().unwrap_or(usize::MAX),
                output,
                input,
                outputs,
                calls,
            };
            modules.insert(path.clone(), module);
        }
        add_containers(&mut modules);
        let firsts: Vec<(String, usize)> = modules.values().map(|m| (m.path.clone(), m.first)).collect();
        for (path, first) in firsts {
            let atoms: Vec<&str> = path.split('.').collect();
            for k in 1..atoms.len() {
                if let Some(m) = modules.get_mut(&atoms[..k].join(".")) {
                    m.first = m.first.min(first);
                }
            }
        }
        ModuleMap { exporter, modules }
    }

    /// Modules in the order `print(model)` would list them: depth first, children by the
    /// position of their first node.
    pub fn tree_order(&self) -> Vec<&Module> {
        let mut v: Vec<(Vec<(usize, &str)>, &Module)> = self
            .modules
            .values()
            .map(|m| {
                let atoms: Vec<&str> = m.path.split('.').collect();
                let key = (1..=atoms.len())
                    .map(|k| {
                        let p = atoms[..k].join(".");
                        (self.modules.get(&p).map_or(usize::MAX, |x| x.first), atoms[k - 1])
                    })
                    .collect();
                (key, m)
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.into_iter().map(|(_, m)| m).collect()
    }

    /// The module at `path`.
    pub fn get(&self, path: &str) -> Option<&Module> {
        self.modules.get(path)
    }
}

/// Adds the never-called containers (`transformer.h`) between recorded modules, so the tree is
/// complete for display.
fn add_containers(modules: &mut BTreeMap<String, Module>) {
    let paths: Vec<String> = modules.keys().cloned().collect();
    for p in paths {
        let atoms: Vec<&str> = p.split('.').collect();
        for k in 1..atoms.len() {
            let prefix = atoms[..k].join(".");
            modules.entry(prefix.clone()).or_insert(Module {
                path: prefix,
                class: None,
                nodes: BTreeSet::new(),
                op_outputs: vec![],
                first: usize::MAX,
                input: None,
                output: None,
                outputs: vec![],
                calls: Calls::Once,
            });
        }
    }
}

fn consumer_index(graph: &Graph) -> HashMap<String, Vec<NodeId>> {
    let mut index: HashMap<String, Vec<NodeId>> = HashMap::new();
    for id in graph.node_ids() {
        for i in graph.node(id).proto.input.iter().filter(|i| !i.is_empty()) {
            index.entry(i.clone()).or_default().push(id);
        }
    }
    index
}

struct Cx<'a> {
    graph: &'a Graph,
    types: &'a HashMap<String, ValueType>,
    pos: &'a HashMap<NodeId, usize>,
    consumers: &'a HashMap<String, Vec<NodeId>>,
    outputs: &'a BTreeSet<&'a str>,
}

impl Cx<'_> {
    /// 0 for a float, 1 for an unknown type, 2 for any other type: floats are preferred.
    fn float_rank(&self, value: &str) -> Option<u8> {
        match self.types.get(value).and_then(|t| t.elem) {
            Some(e) if crate::ir::is_float(e) => Some(0),
            Some(_) => Some(2),
            None => Some(1),
        }
    }

    fn op_outputs(&self, nodes: &BTreeSet<NodeId>) -> Vec<(String, String)> {
        let mut v: Vec<(usize, String, String)> = nodes
            .iter()
            .map(|&n| {
                let p = &self.graph.node(n).proto;
                (self.pos[&n], s(&p.op_type).to_string(), p.output.first().cloned().unwrap_or_default())
            })
            .collect();
        v.sort();
        v.into_iter().map(|(_, op, out)| (op, out)).collect()
    }

    fn output_of(&self, nodes: &BTreeSet<NodeId>) -> Option<Boundary> {
        let mut found: Vec<(&str, u8, usize, usize)> = Vec::new();
        for &n in nodes {
            for (slot, out) in self.graph.node(n).proto.output.iter().enumerate() {
                let outside = self.consumers.get(out).is_some_and(|c| c.iter().any(|c| !nodes.contains(c)));
                if out.is_empty() || !(outside || self.outputs.contains(out.as_str())) {
                    continue;
                }
                if let Some(rank) = self.float_rank(out) {
                    found.push((out, rank, self.pos[&n], slot));
                }
            }
        }
        let candidates = found.len();
        let best = found.into_iter().min_by_key(|&(_, rank, p, slot)| (rank, std::cmp::Reverse(p), slot))?;
        Some(Boundary { value: best.0.to_string(), candidates })
    }

    /// A node set's input and output boundaries (the input chosen with the output's shape).
    fn boundaries(&self, nodes: &BTreeSet<NodeId>) -> (Option<Boundary>, Option<Boundary>) {
        let output = self.output_of(nodes);
        let shape = output.as_ref().and_then(|b| self.types.get(&b.value)).and_then(|t| t.shape.clone());
        (self.input_of(nodes, shape.as_deref()), output)
    }

    fn outputs_in_order(&self, nodes: &BTreeSet<NodeId>) -> Vec<String> {
        let mut found: Vec<(usize, usize, &str)> = Vec::new();
        for &n in nodes {
            for (slot, out) in self.graph.node(n).proto.output.iter().enumerate() {
                let outside = self.consumers.get(out).is_some_and(|c| c.iter().any(|c| !nodes.contains(c)));
                if !out.is_empty()
                    && (outside || self.outputs.contains(out.as_str()))
                    && self.float_rank(out) == Some(0)
                {
                    found.push((self.pos[&n], slot, out));
                }
            }
        }
        found.sort();
        found.into_iter().map(|(_, _, o)| o.to_string()).collect()
    }

    /// The input boundary: floats (and graph inputs) first, then a graph input or a tensor
    /// shaped like the module's output (the hidden state, not a mask or position table a block
    /// also reads), then the one read earliest.
    fn input_of(&self, nodes: &BTreeSet<NodeId>, out_shape: Option<&[crate::ir::Dim]>) -> Option<Boundary> {
        let mut first: BTreeMap<&str, (u8, usize)> = BTreeMap::new();
        for &n in nodes {
            for input in self.graph.node(n).proto.input.iter().filter(|i| !i.is_empty()) {
                let inside = match self.graph.producer(input) {
                    Some(Producer::Node(p, _)) => {
                        nodes.contains(&p) || s(&self.graph.node(p).proto.op_type) == "Constant"
                    }
                    Some(Producer::Input(_)) => false,
                    _ => true,
                };
                if inside {
                    continue;
                }
                let Some(mut rank) = self.float_rank(input) else { continue };
                if matches!(self.graph.producer(input), Some(Producer::Input(_))) {
                    rank = 0;
                }
                let p = self.pos[&n];
                let e = first.entry(input).or_insert((rank, p));
                e.1 = e.1.min(p);
            }
        }
        let candidates = first.len();
        let unlike = |v: &str| {
            !matches!(self.graph.producer(v), Some(Producer::Input(_)))
                && out_shape.is_some_and(|o| self.types.get(v).and_then(|t| t.shape.as_deref()) != Some(o))
        };
        let best = first.into_iter().min_by_key(|&(v, (rank, p))| (rank, candidates > 1 && unlike(v), p))?;
        Some(Boundary { value: best.0.to_string(), candidates })
    }
}
