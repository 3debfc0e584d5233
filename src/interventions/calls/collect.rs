//! A Collect at unit `t`.

use super::{rows, stack};
use crate::interventions::InterventionError;
use crate::interventions::builder::Builder;
use crate::interventions::lower::{self, Geometry, Target};
use crate::interventions::select::Selection;
use crate::ir::{Dim, Patch};
use crate::onnx::pb::tensor_proto::DataType;
use crate::schema::Positions;

/// A Collect at unit `t`: the calls stacked, the steps gathered like positions (`[b, units,
/// d]`; run-time steps: `max_number_of_units` of them), then pyvene's Collect view of them
/// ([`lower::collect`]), as output `collected.<i>`.
pub(super) fn collect(t: &Target, geo: &Geometry) -> Result<Patch, InterventionError> {
    let (rep, i) = (t.rep, t.number);
    let calls = &t.site.calls;
    let doc = format!("pvc: {} ({}) at {} [{}]", rep.kind.class(), rep.at, rep.component, t.site.via);
    let mut b = Builder::new(&format!("pvc/rep{i}"), &doc);
    let elem = t.site.ty.elem.unwrap_or(DataType::Float as i32);
    let stacked = stack(&mut b, geo, calls);
    let input = format!("unit_locations.{i}.base");
    let (steps, units) = match &rep.positions {
        Positions::Runtime => (Positions::Runtime, rep.max_units),
        p => {
            let rows = rows(p, calls.len());
            let n = rows[0].len();
            (Positions::Fixed(rows), n)
        }
    };
    let sel = Selection::build(&mut b, &steps, &input, None);
    let s = sel.gather(&mut b, &stacked);
    let shape = t.site.ty.shape.as_deref().unwrap_or(&[]);
    let batch = shape.first().cloned().unwrap_or(Dim::Named("batch".into()));
    let width = geo.width.map_or(Dim::Named(format!("collected_{i}_width")), |d| Dim::Fixed(d as i64));
    let mut view = t.site.clone();
    view.ty.shape = Some(vec![batch, Dim::Fixed(units as i64), width]);
    let (out, dims) = lower::collect(&mut b, &s, (rep, i), geo.width, Some(units), &view)?;
    let name = lower::collected_name(i);
    b.node("Identity", &[&out], &[&name], vec![]);
    let mut patch = Patch::new(lower::rule(rep.kind), calls.last().map(String::as_str));
    if steps == Positions::Runtime {
        patch.inputs.push(lower::locations_input(&input, Dim::Fixed(units as i64)));
    }
    patch.outputs.push(lower::typed(&name, elem, dims));
    Ok(lower::finish(patch, b, None))
}
