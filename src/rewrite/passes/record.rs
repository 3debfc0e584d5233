//! [`RecordSchema`]: the applied schema, kept in the model's metadata.

use crate::ir::{Dim, Graph, Model};
use crate::onnx::s;
use crate::rewrite::{Cx, Pass, RewriteError};
use crate::schema::{Positions, Source, Unit};
use serde_json::{Value, json};

/// Appends the schema (canonical JSON, sorted keys) to the JSON list of applied schemas under
/// [`crate::PVC_SCHEMA_KEY`], so the patched model says everything that was done to it, and adds
/// the bounds of its run-time positions inputs to those under [`crate::PVC_LOCATIONS_KEY`].
pub struct RecordSchema;

impl Pass for RecordSchema {
    fn name(&self) -> &'static str {
        "RecordSchema"
    }

    fn run(&self, cx: &Cx, model: &mut Model) -> Result<(), RewriteError> {
        let record = crate::rewrite::names::record_schemas(model.metadata(crate::PVC_SCHEMA_KEY), &cx.plan.json);
        model.set_metadata(crate::PVC_SCHEMA_KEY, record);
        let mut bounds = location_bounds(cx);
        if !bounds.is_empty() {
            let earlier = model.metadata(crate::PVC_LOCATIONS_KEY).and_then(|m| serde_json::from_str(m).ok());
            if let Some(Value::Object(earlier)) = earlier {
                for (k, v) in earlier {
                    bounds.entry(k).or_insert(v);
                }
            }
            model.set_metadata(crate::PVC_LOCATIONS_KEY, Value::Object(bounds).to_string());
        }
        Ok(())
    }
}

/// For each run-time positions input: the length of the sequence axis its values index (a
/// number, or the graph input and axis that carry it) and the batch it must match.
fn location_bounds(cx: &Cx) -> serde_json::Map<String, Value> {
    let g = &cx.pristine.graph;
    let mut out = serde_json::Map::new();
    for (rep, resolved) in cx.plan.reps.iter().zip(&cx.sites) {
        let i = cx.numbering.reps + rep.index;
        let steps = |mut b: Value| {
            if rep.unit == Unit::Steps {
                b["length"] = json!(resolved.site.calls.len());
                b["units"] = json!("steps");
            }
            b
        };
        if rep.positions == Positions::Runtime {
            out.insert(format!("unit_locations.{i}.base"), steps(bound(g, &resolved.site.ty.shape, None)));
        }
        if let (Source::Run { positions: Positions::Runtime, group, .. }, Some(site)) =
            (&rep.source, &resolved.source_site)
        {
            out.insert(
                format!("unit_locations.{i}.source"),
                steps(bound(g, &site.ty.shape, Some(cx.numbering.groups + *group))),
            );
        }
        for (name, heads, group) in crate::interventions::runtime_heads(rep, i, &resolved.site) {
            let mut b = bound(g, &resolved.site.ty.shape, group.map(|gr| cx.numbering.groups + gr));
            b["length"] = json!(heads);
            b["units"] = json!("heads");
            out.insert(name, b);
        }
    }
    out
}

fn bound(g: &Graph, shape: &Option<Vec<Dim>>, group: Option<usize>) -> Value {
    let dim = |axis: usize| shape.as_ref().and_then(|sh| sh.get(axis));
    let mut b = serde_json::Map::new();
    match dim(1) {
        Some(Dim::Fixed(n)) => {
            b.insert("length".into(), json!(n));
        }
        Some(Dim::Named(sym)) => {
            if let Some(at) = carrier(g, sym, group) {
                b.insert("length".into(), at);
            }
        }
        None => {}
    }
    if let Some(Dim::Named(sym)) = dim(0)
        && let Some(at) = carrier(g, sym, group)
    {
        b.insert("batch".into(), at);
    }
    Value::Object(b)
}

/// `[input, axis]`: the first graph input that declares the symbolic dim `sym` (for a source
/// group, that input's `source.<g>.` copy).
fn carrier(g: &Graph, sym: &str, group: Option<usize>) -> Option<Value> {
    g.inputs.iter().find_map(|v| {
        let ty = crate::ir::ValueType::from_value_info(v);
        let axis = ty.shape?.iter().position(|d| matches!(d, Dim::Named(n) if n == sym))?;
        let name = match group {
            Some(gr) => format!("source.{gr}.{}", s(&v.name)),
            None => s(&v.name).to_string(),
        };
        Some(json!([name, axis]))
    })
}
