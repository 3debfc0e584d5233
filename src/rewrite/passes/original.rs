//! [`CloneOriginal`]: the un-intervened outputs, computed in the same graph.

use crate::ir::{Model, Producer, ValueType};
use crate::onnx::{pb, s};
use crate::rewrite::{Cx, Pass, Patch, RewriteError};
use crate::schema::Kind;
use std::collections::BTreeSet;

/// Adds `original.<output>` for every graph output. Nodes downstream of a written site are
/// cloned into a frozen branch (values `pvc/original/...`) that keeps reading pre-intervention
/// values; everything upstream of the first intervention is shared.
pub struct CloneOriginal;

impl Pass for CloneOriginal {
    fn name(&self) -> &'static str {
        "CloneOriginal"
    }

    fn run(&self, cx: &Cx, model: &mut Model) -> Result<(), RewriteError> {
        if !cx.original {
            return Ok(());
        }
        let g = &model.graph;
        let mut nodes = BTreeSet::new();
        for (rep, r) in cx.plan.reps.iter().zip(&cx.sites) {
            if rep.kind != Kind::Collect {
                nodes.extend(g.descendants(&r.site.value));
            }
        }
        let outputs: Vec<String> = g.outputs.iter().map(|o| s(&o.name).to_string()).collect();
        let rename = |v: &str| {
            if outputs.iter().any(|o| o == v) { format!("original.{v}") } else { format!("pvc/original/{v}") }
        };
        let keep = |v: &str| v.to_string();
        let mut patch = Patch::new("original-branch", None);
        patch.frozen = true;
        patch.nodes = crate::rewrite::clone::clone_nodes(g, &nodes, "pvc/original/", &rename, &keep);
        for o in &g.outputs {
            let name = s(&o.name);
            let cloned = matches!(g.producer(name), Some(Producer::Node(n, _)) if nodes.contains(&n));
            if !cloned {
                patch.nodes.push(pb::NodeProto {
                    input: vec![name.to_string()],
                    output: vec![format!("original.{name}")],
                    name: Some(format!("pvc/original/{name}")),
                    op_type: Some("Identity".into()),
                    ..Default::default()
                });
            }
            patch.outputs.push(ValueType::from_value_info(o).to_value_info(&format!("original.{name}")));
        }
        patch.apply(model);
        Ok(())
    }
}
