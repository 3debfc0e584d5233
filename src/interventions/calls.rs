//! Unit `t`: where an intervention acts on a module that runs once per time step.
//!
//! Each call of the module has its own tensor (`[b, d]`, [`Site::calls`]). The intervention is
//! built once per selected call on that tensor viewed as one unit, `[b, 1, d]`, and replaces
//! it, so the next step reads the intervened state, as a hook on the cell gives. At call `k`,
//! example `e`'s unit is the index `u` of `k` in its steps; an example whose steps do not hold
//! `k` keeps the call's tensor as it was. An interchange reads the source run's call at the
//! example's `u`-th source step; a run-time source (`source_representations.<i>`,
//! `[b, units, d]`) its unit `u`. A Collect stacks the calls into `[b, calls, d]` and gathers the
//! steps as positions. The kinds themselves (`what/`) know nothing of steps.

use super::InterventionError;
use super::builder::{Builder, attr_int};
use super::lower::{self, Geometry, Target};
use super::select::Selection;
use super::what::basic;
use crate::ir::{Dim, Patch, Shunt, ValueType};
use crate::locate::Site;
use crate::onnx::pb::tensor_proto::DataType;
use crate::schema::{Kind, Positions, Rep, Source, Unit};

/// Checks a representation's unit against the calls of its site (and of its source site, for
/// Skip): unit `t` needs a module that runs more than once, with calls told apart, and steps
/// below the number of calls; any other unit on such a module would mean every call at once,
/// which pyvene's hooks do not give either, so it is refused.
pub fn check(rep: &Rep, site: &Site, source_site: Option<&Site>) -> Result<(), InterventionError> {
    let module = site.module.as_deref().map_or_else(|| format!("`{}`", site.value), |m| format!("`{}`", pyvene(m)));
    if rep.unit != Unit::Steps {
        if site.calls.is_empty() {
            return Ok(());
        }
        return Err(InterventionError::new(
            rep.field("unit"),
            format!(
                "{module} runs {} times in this graph (once per time step, as pyvene's GRU calls its cells), so `{}` has one tensor per call: address the calls with unit \"t\"",
                site.calls.len(),
                rep.component
            ),
        ));
    }
    if let Some(why) = &site.calls_unclear {
        return Err(InterventionError::new(
            rep.field("component"),
            format!("pvc cannot tell the calls of {module} apart ({why}), so unit t cannot address them"),
        ));
    }
    let n = site.calls.len();
    if n == 0 {
        return Err(InterventionError::new(
            rep.field("unit"),
            format!(
                "unit `t` selects the calls (time steps) of a module that runs once per step, such as pyvene's GRU cells; `{}` ({module}) runs once in this graph",
                rep.component
            ),
        ));
    }
    if let Some(s) = source_site
        && s.calls.len() != n
    {
        return Err(InterventionError::new(
            rep.field("component"),
            format!("{module} runs {n} times but its source tensor has {} calls", s.calls.len()),
        ));
    }
    let mut sides = vec![("base", &rep.positions)];
    if let Source::Run { positions, .. } = &rep.source {
        sides.push(("source", positions));
    }
    for (side, p) in sides {
        if let Positions::Fixed(rows) = p
            && let Some(bad) = rows.iter().flatten().find(|&&v| v < 0 || v as usize >= n)
        {
            return Err(InterventionError::new(
                format!("unit_locations ({side} side of {})", rep.at),
                format!("step {bad} is out of range: {module} runs {n} times in this graph ({n} unrolled time steps)"),
            ));
        }
    }
    Ok(())
}

/// The tensors of the calls a unit-`t` representation selects on the base (every call for
/// none given), in call order.
pub fn step_tensors(rep: &Rep, site: &Site) -> Vec<String> {
    let mut steps: Vec<usize> =
        rows(&rep.positions, site.calls.len()).into_iter().flatten().map(|s| s as usize).collect();
    steps.sort_unstable();
    steps.dedup();
    steps.into_iter().filter_map(|k| site.calls.get(k).cloned()).collect()
}

fn pyvene(path: &str) -> String {
    crate::locate::pyvene_spelling(path)
}

/// The patches of a unit-`t` representation, in call order; `source_calls` are the source
/// slice's tensors at each call, when the source is a run.
pub fn lower_steps(t: &Target, source_calls: &[String]) -> Result<Vec<Patch>, InterventionError> {
    let rep = t.rep;
    let err = |m: String| InterventionError::new(rep.field("component"), m);
    let geo = Geometry::of(t.site).map_err(err)?;
    let calls = &t.site.calls;
    let base = rows(&rep.positions, calls.len());
    if rep.kind == Kind::Collect {
        return Ok(vec![collect(t, &geo, &base)?]);
    }
    let source = match &rep.source {
        Source::Run { positions, .. } => {
            let s = rows(positions, calls.len());
            if s[0].len() != base[0].len() {
                return Err(InterventionError::new(
                    format!("unit_locations (representation {})", rep.index),
                    "source and base must select the same number of steps".to_string(),
                ));
            }
            Some(s)
        }
        _ => None,
    };
    let examples = base.len().max(source.as_ref().map_or(1, Vec::len));
    let mut patches = Vec::new();
    for k in 0..calls.len() {
        let units: Vec<Option<usize>> =
            (0..examples).map(|e| base[e.min(base.len() - 1)].iter().position(|&s| s as usize == k)).collect();
        if units.iter().all(Option::is_none) {
            continue;
        }
        let step = Step { k, units, source: source.as_deref() };
        patches.push(step.lower(t, &geo, source_calls, patches.is_empty())?);
    }
    Ok(patches)
}

/// Steps per example (one row shared by every example, or one per example); every call for
/// [`Positions::All`].
fn rows(p: &Positions, calls: usize) -> Vec<Vec<i64>> {
    match p {
        Positions::Fixed(rows) => rows.clone(),
        _ => vec![(0..calls as i64).collect()],
    }
}

/// One selected call: which unit each example has there.
struct Step<'a> {
    k: usize,
    units: Vec<Option<usize>>,
    source: Option<&'a [Vec<i64>]>,
}

impl Step<'_> {
    /// The unit every example has at this call, when they share one.
    fn shared(&self) -> Option<usize> {
        let first = self.units[0]?;
        self.units.iter().all(|u| *u == Some(first)).then_some(first)
    }

    fn lower(
        &self,
        t: &Target,
        geo: &Geometry,
        source_calls: &[String],
        first: bool,
    ) -> Result<Patch, InterventionError> {
        let (rep, i, k) = (t.rep, t.number, self.k);
        let value = &t.site.calls[k];
        let doc = format!("pvc: {} ({}) at {} [{}], step {k}", rep.kind.class(), rep.at, rep.component, t.site.via);
        let mut b = Builder::new(&format!("pvc/rep{i}/t{k}"), &doc);
        let elem = t.site.ty.elem.unwrap_or(DataType::Float as i32);
        let input = format!("pvc/rep{i}/t{k}/pre");
        let x = unit_view(&mut b, geo, &input);
        let mut patch = Patch::new(lower::rule(rep.kind), Some(value));
        let src = match &rep.source {
            Source::None => None,
            Source::Constant(v) => Some(lower::constant(&mut b, rep, t.site, v, geo.width, elem)?),
            Source::Runtime => {
                let name = format!("source_representations.{i}");
                if first {
                    let shape = t.site.ty.shape.as_deref().unwrap_or(&[]);
                    let batch = shape.first().cloned().unwrap_or(Dim::Named("batch".into()));
                    let w = geo.width.map_or(Dim::Named("?".into()), |d| Dim::Fixed(d as i64));
                    let units = Dim::Fixed(lower::count_units(&rep.positions).unwrap_or(t.site.calls.len()) as i64);
                    let ty = ValueType { elem: Some(elem), shape: Some(vec![batch, units, w]) };
                    patch.inputs.push(ty.to_value_info(&name));
                }
                Some(self.pick(&mut b, &name, |_, u| u as i64))
            }
            Source::Run { .. } => Some(self.source_run(&mut b, geo, source_calls)),
        };
        let mask = lower::dims_mask(&mut b, &rep.dims, geo.width)
            .map_err(|m| InterventionError::new(format!("subspaces[{}]", rep.index), m))?;
        let m = mask.as_deref();
        let what = |e: String| InterventionError::new(rep.field("component"), e);
        let mut new = match (rep.kind, src) {
            (Kind::Zero, _) => basic::zero(&mut b, &x, m, elem).map_err(what)?,
            (Kind::Vanilla | Kind::Skip, Some(s)) => basic::interchange(&mut b, &x, &s, m),
            (Kind::Addition | Kind::Subtraction, Some(s)) => {
                basic::shift(&mut b, &x, &s, m, elem, rep.kind == Kind::Subtraction).map_err(what)?
            }
            (kind, _) => unreachable!("the schema refuses {} at unit t", kind.class()),
        };
        if self.units.iter().any(Option::is_none) {
            let keep: Vec<bool> = self.units.iter().map(Option::is_some).collect();
            let rows = b.bools(&[keep.len() as i64, 1, 1], &keep);
            new = b.op("Where", &[&rows, &new, &x], vec![]);
        }
        let axis = b.ints(&[1], &[1]);
        let y = b.op("Squeeze", &[&new, &axis], vec![]);
        let out = geo.exit(&mut b, &input, &y);
        let by = format!("pvc/rep{i}/t{k}/out");
        b.node("Identity", &[&out], &[&by], vec![]);
        Ok(lower::finish(patch, b, Some(Shunt { value: value.clone(), pre: input, by })))
    }

    /// Per example, row `index(e, u)` of `table` (`[b, n, d]`): `[b, 1, d]`; an example without
    /// a unit here reads row 0, which the row mask then ignores.
    fn pick(&self, b: &mut Builder, table: &str, index: impl Fn(usize, usize) -> i64) -> String {
        if let Some(u) = self.shared() {
            let at = b.ints(&[1], &[index(0, u)]);
            return b.op("Gather", &[table, &at], vec![attr_int("axis", 1)]);
        }
        let n = self.units.len();
        let flat: Vec<i64> =
            self.units.iter().enumerate().flat_map(|(e, u)| [e as i64, u.map_or(0, |u| index(e, u))]).collect();
        let idx = b.ints(&[n as i64, 1, 2], &flat);
        b.op("GatherND", &[table, &idx], vec![])
    }

    /// The source run's tensor at each example's source step for its unit, `[b, 1, d]`: that
    /// call's tensor when every example reads one call, else a pick from all calls stacked.
    fn source_run(&self, b: &mut Builder, geo: &Geometry, calls: &[String]) -> String {
        let rows = self.source.expect("a source run has source steps");
        let step = |e: usize, u: usize| rows[e.min(rows.len() - 1)][u];
        let steps: Vec<Option<i64>> = self.units.iter().enumerate().map(|(e, u)| u.map(|u| step(e, u))).collect();
        if let Some(Some(j)) = steps.first()
            && steps.iter().all(|s| *s == Some(*j))
        {
            return unit_view(b, geo, &calls[*j as usize]);
        }
        let stacked = stack(b, geo, calls);
        self.pick(b, &stacked, step)
    }
}

/// `x` (one call's tensor) as the intervention's view, with one unit: `[b, 1, d]`.
fn unit_view(b: &mut Builder, geo: &Geometry, x: &str) -> String {
    let v = geo.enter(b, x);
    let axis = b.ints(&[1], &[1]);
    b.op("Unsqueeze", &[&v, &axis], vec![])
}

/// Every call's view stacked on axis 1: `[b, calls, d]`.
fn stack(b: &mut Builder, geo: &Geometry, calls: &[String]) -> String {
    let views: Vec<String> = calls.iter().map(|c| unit_view(b, geo, c)).collect();
    let refs: Vec<&str> = views.iter().map(String::as_str).collect();
    b.op("Concat", &refs, vec![attr_int("axis", 1)])
}

/// A Collect at unit `t`: the calls stacked, the steps gathered like positions (`[b, units,
/// d]`), then pyvene's Collect view of them ([`lower::collect`]), as output `collected.<i>`.
fn collect(t: &Target, geo: &Geometry, steps: &[Vec<i64>]) -> Result<Patch, InterventionError> {
    let (rep, i) = (t.rep, t.number);
    let calls = &t.site.calls;
    let doc = format!("pvc: {} ({}) at {} [{}]", rep.kind.class(), rep.at, rep.component, t.site.via);
    let mut b = Builder::new(&format!("pvc/rep{i}"), &doc);
    let elem = t.site.ty.elem.unwrap_or(DataType::Float as i32);
    let stacked = stack(&mut b, geo, calls);
    let sel = Selection::build(&mut b, &Positions::Fixed(steps.to_vec()), "", None);
    let s = sel.gather(&mut b, &stacked);
    let units = steps[0].len();
    let shape = t.site.ty.shape.as_deref().unwrap_or(&[]);
    let batch = shape.first().cloned().unwrap_or(Dim::Named("batch".into()));
    let width = geo.width.map_or(Dim::Named(format!("collected_{i}_width")), |d| Dim::Fixed(d as i64));
    let mut view = t.site.clone();
    view.ty.shape = Some(vec![batch, Dim::Fixed(units as i64), width]);
    let (out, dims) = lower::collect(&mut b, &s, (rep, i), geo.width, Some(units), &view)?;
    let name = lower::collected_name(i);
    b.node("Identity", &[&out], &[&name], vec![]);
    let mut patch = Patch::new(lower::rule(rep.kind), calls.last().map(String::as_str));
    patch.outputs.push(lower::typed(&name, elem, dims));
    Ok(lower::finish(patch, b, None))
}
