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

mod collect;
mod step;

use super::InterventionError;
use super::builder::{Builder, attr_int};
use super::lower::{Geometry, Target};
use crate::ir::{Dim, Patch};
use crate::locate::Site;
use crate::schema::{Kind, Positions, Rep, Source, Unit};
use step::Step;

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
                rep.locations_field(Some(side), None),
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
/// slice's tensors at each call, when the source is a run. With run-time steps every call gets
/// a patch that finds, per example, the first unit whose step is that call (none: the example
/// is left alone).
pub fn lower_steps(t: &Target, source_calls: &[String]) -> Result<Vec<Patch>, InterventionError> {
    let rep = t.rep;
    let err = |m: String| InterventionError::new(rep.field("component"), m);
    let geo = Geometry::of(t.site).map_err(err)?;
    let calls = &t.site.calls;
    if rep.kind == Kind::Collect {
        return Ok(vec![collect::collect(t, &geo)?]);
    }
    let i = t.number;
    let runtime = rep.positions == Positions::Runtime;
    let source = match &rep.source {
        Source::Run { positions: Positions::Runtime, .. } if runtime => {
            Sources::Runtime(format!("unit_locations.{i}.source"))
        }
        Source::Run { positions, .. } if !runtime && *positions != Positions::Runtime => {
            let s = rows(positions, calls.len());
            if s[0].len() != rows(&rep.positions, calls.len())[0].len() {
                return Err(InterventionError::new(
                    format!("unit_locations (representation {})", rep.index),
                    "source and base must select the same number of steps".to_string(),
                ));
            }
            Sources::Fixed(s)
        }
        Source::Run { .. } => {
            return Err(InterventionError::new(
                format!("unit_locations (representation {})", rep.index),
                "at unit t the source and base steps are both fixed or both given at run time".to_string(),
            ));
        }
        _ => Sources::None,
    };
    let mut patches = Vec::new();
    for k in 0..calls.len() {
        let at = if runtime {
            At::Runtime(format!("unit_locations.{i}.base"))
        } else {
            let base = rows(&rep.positions, calls.len());
            let examples = base.len().max(match &source {
                Sources::Fixed(s) => s.len(),
                _ => 1,
            });
            let units: Vec<Option<usize>> =
                (0..examples).map(|e| base[e.min(base.len() - 1)].iter().position(|&s| s as usize == k)).collect();
            if units.iter().all(Option::is_none) {
                continue;
            }
            At::Fixed(units)
        };
        let step = Step { k, at, source: &source };
        let mut patch = step.lower(t, &geo, source_calls, patches.is_empty())?;
        if runtime && patches.is_empty() {
            let units = Dim::Named(format!("units_{i}"));
            patch.inputs.push(super::lower::locations_input(&format!("unit_locations.{i}.base"), units.clone()));
            if let Sources::Runtime(name) = &source {
                patch.inputs.push(super::lower::locations_input(name, units));
            }
        }
        patches.push(patch);
    }
    Ok(patches)
}

/// Steps per example (one row shared by every example, or one per example); every call for
/// [`Positions::All`].
pub(super) fn rows(p: &Positions, calls: usize) -> Vec<Vec<i64>> {
    match p {
        Positions::Fixed(rows) => rows.clone(),
        _ => vec![(0..calls as i64).collect()],
    }
}

/// Which unit each example has at one call.
pub(super) enum At {
    /// From the schema: per example, the unit (none: the example is left alone).
    Fixed(Vec<Option<usize>>),
    /// From the run-time steps input of this name, `[b, units]`.
    Runtime(String),
}

/// The source steps of an interchange.
pub(super) enum Sources {
    /// No source run.
    None,
    /// From the schema, per example.
    Fixed(Vec<Vec<i64>>),
    /// From the run-time input of this name, `[b, units]`.
    Runtime(String),
}

/// `x` (one call's tensor) as the intervention's view, with one unit: `[b, 1, d]`.
pub(super) fn unit_view(b: &mut Builder, geo: &Geometry, x: &str) -> String {
    let v = geo.enter(b, x);
    let axis = b.ints(&[1], &[1]);
    b.op("Unsqueeze", &[&v, &axis], vec![])
}

/// Every call's view stacked on axis 1: `[b, calls, d]`.
pub(super) fn stack(b: &mut Builder, geo: &Geometry, calls: &[String]) -> String {
    let views: Vec<String> = calls.iter().map(|c| unit_view(b, geo, c)).collect();
    let refs: Vec<&str> = views.iter().map(String::as_str).collect();
    b.op("Concat", &refs, vec![attr_int("axis", 1)])
}
