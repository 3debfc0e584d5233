//! [`AddSourceSlices`]: one pristine copy of the graph's needed part per source group.

use super::decoder_source::own_feeds;
use crate::ir::{Dim, Graph, Model, NodeId, Producer, ValueType};
use crate::onnx::{pb, s};
use crate::rewrite::clone::clone_nodes;
use crate::rewrite::sites::Resolved;
use crate::rewrite::{Cx, Pass, Patch, RewriteError};
use crate::schema::{Kind, Plan, Positions, Source};
use std::collections::BTreeSet;

/// For each source group `g`, clones the input-dependent ancestors of the group's source sites
/// with values renamed `pvc/source.<g>/...` and graph inputs `source.<g>.<input>`; initializers
/// and input-independent nodes are shared, except those a representation writes ([`pinned`]):
/// the slice reads those through a frozen `Identity` of its own, which keeps reading the
/// pre-intervention value. `g` is shifted past the groups of an earlier rewrite.
/// In a KV-cache decoder being generated from, a slice reads only `source.<g>.input_ids`: it
/// computes its own empty past, mask and positions ([`own_feeds`]).
pub struct AddSourceSlices;

/// The name, in group `g`'s slice, of the pristine value `value`.
pub fn source_value(
    g: &Graph,
    group: usize,
    value: &str,
    dependent: &BTreeSet<NodeId>,
    pinned: &BTreeSet<String>,
) -> String {
    match g.producer(value) {
        Some(Producer::Input(_)) => format!("source.{group}.{value}"),
        _ if shared(g, value, dependent) && !pinned.contains(value) => value.to_string(),
        _ => format!("pvc/source.{group}/{value}"),
    }
}

/// Whether source slices share `value` with the base as it is (no slice clones its producer):
/// an output of a node that depends on no graph input, or an initializer.
fn shared(g: &Graph, value: &str, dependent: &BTreeSet<NodeId>) -> bool {
    match g.producer(value) {
        Some(Producer::Input(_)) => false,
        Some(Producer::Node(n, _)) => !dependent.contains(&n),
        _ => true,
    }
}

/// The [`shared`] values some representation of `plan` writes (every kind but Collect). Shared
/// as they are, a slice would read the intervened value (or, at the site itself, the
/// intervention's own output: a cycle); in serial mode, pinning also gives run `i + 1` a copy
/// of its own for representation `i` to write.
pub fn pinned(g: &Graph, plan: &Plan, sites: &[Resolved], dependent: &BTreeSet<NodeId>) -> BTreeSet<String> {
    plan.reps
        .iter()
        .zip(sites)
        .filter(|(r, _)| r.kind != Kind::Collect)
        .flat_map(|(_, s)| std::iter::once(&s.site.value).chain(&s.site.calls))
        .filter(|v| shared(g, v, dependent))
        .cloned()
        .collect()
}

impl Pass for AddSourceSlices {
    fn name(&self) -> &'static str {
        "AddSourceSlices"
    }

    fn run(&self, cx: &Cx, model: &mut Model) -> Result<(), RewriteError> {
        let g = &cx.pristine.graph;
        let dependent = &cx.dependent;
        let mut patches = Vec::new();
        let mut pins = Vec::new();
        for group in 0..cx.plan.groups {
            let name = cx.numbering.groups + group;
            let needed: Vec<&str> = cx
                .plan
                .reps
                .iter()
                .zip(&cx.sites)
                .filter(|(r, _)| matches!(r.source, Source::Run { group: gr, .. } if gr == group))
                .filter_map(|(_, s)| s.source_site.as_ref())
                .flat_map(|x| std::iter::once(x.value.as_str()).chain(x.calls.iter().map(String::as_str)))
                .collect();
            let whole = cx
                .plan
                .reps
                .iter()
                .any(|r| matches!(&r.source, Source::Run { group: gr, positions: Positions::All } if *gr == group));
            let nodes: BTreeSet<_> = g.ancestors(&needed).intersection(dependent).copied().collect();
            let prefix = format!("pvc/source.{name}/");
            let out = |v: &str| format!("{prefix}{v}");
            let inp = |v: &str| source_value(g, name, v, dependent, &cx.pinned);
            let mut patch = Patch::new("source-slice", None);
            patch.nodes = clone_nodes(g, &nodes, &prefix, &out, &inp);
            let mut read: BTreeSet<String> = patch.nodes.iter().flat_map(|n| n.input.iter().cloned()).collect();
            read.extend(needed.iter().map(|v| v.to_string()));
            for v in cx.pinned.iter().filter(|v| read.contains(v.as_str()) || read.contains(&out(v))) {
                pins.push(pin(v, &out(v)));
            }
            if cx.past.is_some() {
                let (own, replaced) = own_feeds(g, name, &read)?;
                read.retain(|r| !replaced.contains(r));
                if !replaced.is_empty() {
                    read.insert(format!("source.{name}.input_ids"));
                }
                patch.nodes.splice(0..0, own.nodes);
                patch.initializers.extend(own.initializers);
            }
            for v in &g.inputs {
                let input = s(&v.name);
                if read.contains(input) || read.contains(&format!("source.{name}.{input}")) {
                    patch.inputs.push(renamed_input(v, name, whole));
                }
            }
            patches.push(patch);
        }
        for p in pins.into_iter().chain(patches) {
            p.apply(model);
        }
        Ok(())
    }
}

/// A frozen `copy = Identity(value)`, ordered after `value`'s producer: later shunts of `value`
/// leave it reading the pre-intervention value.
fn pin(value: &str, copy: &str) -> Patch {
    let mut patch = Patch::new("source-pin", Some(value));
    patch.frozen = true;
    patch.nodes.push(pb::NodeProto {
        input: vec![value.to_string()],
        output: vec![copy.to_string()],
        name: Some(copy.to_string()),
        op_type: Some("Identity".into()),
        ..Default::default()
    });
    patch
}

/// Source input `source.<group>.<input>` typed like the base input. Its batch (dimension 0) is
/// always the base's, as in pyvene, where sources and base are batched together; so servers that
/// batch along the first dimension (Triton) can merge requests. Its other dim symbols are the
/// base's when the group interchanges whole tensors (the source must then have the base's shape,
/// and runtimes such as tract need to know it), and the group's own otherwise.
fn renamed_input(v: &crate::onnx::pb::ValueInfoProto, group: usize, share: bool) -> crate::onnx::pb::ValueInfoProto {
    let mut ty = ValueType::from_value_info(v);
    if let Some(dims) = ty.shape.as_mut().filter(|_| !share) {
        for d in dims.iter_mut().skip(1) {
            if let Dim::Named(p) = d
                && p != "?"
            {
                *p = format!("source_{group}_{p}");
            }
        }
    }
    ty.to_value_info(&format!("source.{group}.{}", s(&v.name)))
}
