//! Calls of a module that runs more than once in one forward pass (pyvene's GRU calls each
//! cell once per time step), told apart in the unrolled graph.
//!
//! Both torch exporters give every call of a module the same scope, so the calls are found
//! structurally: a call is a maximal run of the module's nodes in topological order, broken by
//! any node whose recorded scope lies outside the module (a node with no scope at all, such as
//! the dynamo exporter's bare `Split`s, neither joins nor breaks a run). The legacy exporter also
//! numbers repeated scopes (`/cells.0_1/Add_5` and `/cells.0/x2h_1/Gemm` are call 1): those
//! numbers are folded into the module's path ([`fold_legacy_numbers`]) and must agree with the
//! runs. A split is trusted only when it is consistent: every call has an input and an output,
//! typed like the first call's, and each call of a child module lies inside the same call of its
//! parent. Otherwise the module's calls are [`Calls::Unclear`], with the reason.

use super::modules::Boundary;
use crate::ir::{NodeId, ValueType};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How often a module ran, as far as the graph tells.
#[derive(Debug, Clone, Default)]
pub enum Calls {
    /// One call (or a container that never ran).
    #[default]
    Once,
    /// Two or more calls, in call order.
    Repeated(Vec<Call>),
    /// Its nodes come in several runs that do not split into consistent calls: why.
    Unclear(String),
}

impl Calls {
    /// The calls, when the module ran more than once and they could be told apart.
    pub fn repeated(&self) -> Option<&[Call]> {
        match self {
            Calls::Repeated(c) => Some(c),
            _ => None,
        }
    }
}

/// One call of a repeatedly called module.
#[derive(Debug, Clone)]
pub struct Call {
    /// Its nodes.
    pub nodes: BTreeSet<NodeId>,
    /// What the pre-hook sees on this call.
    pub input: Option<Boundary>,
    /// What the forward hook sees on this call.
    pub output: Option<Boundary>,
}

/// The legacy exporter's call number of a node's innermost module: `(path, call)`.
pub type Numbers = HashMap<NodeId, (String, usize)>;

/// A node's module paths, outermost first, each with its class name where recorded.
pub type Scopes = Vec<(String, Option<String>)>;

/// Folds the legacy exporter's call numbers into module paths: an atom `<stem>_<k>` whose
/// path with `<stem>` is also a recorded module is call `k` of that module (`cells.0_1` →
/// `cells.0`, `cells.0.x2h_1` → `cells.0.x2h`). GPT-2's `ln_1` stays: no `ln` module exists.
/// Returns each node's innermost module with its call number (0 when unnumbered).
pub fn fold_legacy_numbers(nodes: &mut [(NodeId, Scopes)]) -> Numbers {
    let known: BTreeSet<String> = nodes.iter().flat_map(|(_, p)| p.iter().map(|(p, _)| p.clone())).collect();
    let mut numbers = Numbers::new();
    for (id, paths) in nodes.iter_mut() {
        let mut innermost = None;
        for (path, _) in paths.iter_mut() {
            let mut folded: Vec<String> = Vec::new();
            let mut call = 0;
            for atom in path.split('.') {
                call = 0;
                let numbered = atom.rsplit_once('_').and_then(|(stem, k)| {
                    let digits = !k.is_empty() && !k.starts_with('0') && k.bytes().all(|c| c.is_ascii_digit());
                    if stem.is_empty() || !digits {
                        return None;
                    }
                    k.parse::<usize>().ok().map(|k| (stem, k))
                });
                if let Some((stem, k)) = numbered {
                    let candidate = folded.iter().map(String::as_str).chain([stem]).collect::<Vec<_>>().join(".");
                    if known.contains(&candidate) {
                        folded.push(stem.to_string());
                        call = k;
                        continue;
                    }
                }
                folded.push(atom.to_string());
            }
            *path = folded.join(".");
            innermost = Some((path.clone(), call));
        }
        if let Some(m) = innermost {
            numbers.insert(*id, m);
        }
    }
    numbers
}

/// The graph facts the split reads.
pub struct Order<'a> {
    /// Nodes in topological order.
    pub order: &'a [NodeId],
    /// Whether each node carries a scope (the root's included).
    pub scoped: &'a HashMap<NodeId, bool>,
    /// The legacy exporter's call numbers ([`fold_legacy_numbers`]).
    pub numbers: &'a Numbers,
    /// Value types, to compare the calls' boundaries.
    pub types: &'a HashMap<String, ValueType>,
}

/// Splits every module into its calls; `bounds` gives the input and output boundary of a set
/// of nodes. Modules are keyed by path; a parent is checked before its children.
pub fn split<F>(members: &BTreeMap<String, BTreeSet<NodeId>>, g: &Order, bounds: F) -> BTreeMap<String, Calls>
where
    F: Fn(&BTreeSet<NodeId>) -> (Option<Boundary>, Option<Boundary>),
{
    let mut out: BTreeMap<String, Calls> = BTreeMap::new();
    for (path, nodes) in members {
        let runs = runs(nodes, g);
        let calls = if runs.len() < 2 { Calls::Once } else { check(path, runs, g, &bounds, &out) };
        out.insert(path.clone(), calls);
    }
    out
}

/// Maximal runs of `nodes` in topological order, broken by scoped nodes outside them.
fn runs(nodes: &BTreeSet<NodeId>, g: &Order) -> Vec<BTreeSet<NodeId>> {
    let mut runs: Vec<BTreeSet<NodeId>> = Vec::new();
    let mut open = false;
    for n in g.order {
        if nodes.contains(n) {
            if !open {
                runs.push(BTreeSet::new());
                open = true;
            }
            runs.last_mut().expect("a run is open").insert(*n);
        } else if g.scoped.get(n).copied().unwrap_or(false) {
            open = false;
        }
    }
    runs
}

fn check<F>(path: &str, runs: Vec<BTreeSet<NodeId>>, g: &Order, bounds: &F, parents: &BTreeMap<String, Calls>) -> Calls
where
    F: Fn(&BTreeSet<NodeId>) -> (Option<Boundary>, Option<Boundary>),
{
    let n = runs.len();
    for (k, run) in runs.iter().enumerate() {
        for id in run {
            if let Some((p, call)) = g.numbers.get(id)
                && p == path
                && *call != k
            {
                return Calls::Unclear(format!(
                    "its nodes come in {n} runs, but the exporter numbered a node of run {k} as call {call}"
                ));
            }
        }
    }
    let mut calls: Vec<Call> = Vec::with_capacity(n);
    for (k, nodes) in runs.into_iter().enumerate() {
        let (input, output) = bounds(&nodes);
        let (Some(i), Some(o)) = (&input, &output) else {
            return Calls::Unclear(format!("run {k} of its {n} runs of nodes has no input or no output tensor"));
        };
        if let Some(first) = calls.first() {
            let ty = |b: &Option<Boundary>| b.as_ref().and_then(|b| g.types.get(&b.value)).cloned();
            if ty(&first.input) != g.types.get(&i.value).cloned() || ty(&first.output) != g.types.get(&o.value).cloned()
            {
                return Calls::Unclear(format!(
                    "its {n} runs of nodes do not see tensors of one type (run {k}'s `{}` → `{}`)",
                    i.value, o.value
                ));
            }
        }
        calls.push(Call { nodes, input, output });
    }
    let mut atoms: Vec<&str> = path.split('.').collect();
    while atoms.len() > 1 {
        atoms.pop();
        let Some(parent) = parents.get(&atoms.join(".")) else { continue };
        if let Calls::Repeated(pc) = parent {
            let nested = pc.len() == n && calls.iter().zip(pc).all(|(c, p)| c.nodes.is_subset(&p.nodes));
            if !nested {
                return Calls::Unclear(format!(
                    "its {n} runs of nodes do not fall one each into the {} calls of `{}`",
                    pc.len(),
                    atoms.join(".")
                ));
            }
        }
        break;
    }
    Calls::Repeated(calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(ps: &[&str]) -> Scopes {
        ps.iter().map(|p| (p.to_string(), None)).collect()
    }

    #[test]
    fn legacy_call_numbers_fold_into_known_modules_only() {
        let id = |i| NodeId::new(i);
        let mut nodes = vec![
            (id(0), paths(&["cells.0", "cells.0.x2h"])),
            (id(1), paths(&["cells.0"])),
            (id(2), paths(&["cells.0", "cells.0.x2h_1"])),
            (id(3), paths(&["cells.0_1"])),
            (id(4), paths(&["transformer", "transformer.h.0", "transformer.h.0.ln_1"])),
        ];
        let numbers = fold_legacy_numbers(&mut nodes);
        assert_eq!(nodes[2].1[1].0, "cells.0.x2h");
        assert_eq!(nodes[3].1[0].0, "cells.0");
        assert_eq!(nodes[4].1[2].0, "transformer.h.0.ln_1");
        assert_eq!(numbers[&id(2)], ("cells.0.x2h".to_string(), 1));
        assert_eq!(numbers[&id(3)], ("cells.0".to_string(), 1));
        assert_eq!(numbers[&id(1)], ("cells.0".to_string(), 0));
    }
}
