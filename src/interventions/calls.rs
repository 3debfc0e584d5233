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
/// slice's tensors at each call, when the source is a run. With run-time steps every call gets
/// a patch that finds, per example, the first unit whose step is that call (none: the example
/// is left alone).
pub fn lower_steps(t: &Target, source_calls: &[String]) -> Result<Vec<Patch>, InterventionError> {
    let rep = t.rep;
    let err = |m: String| InterventionError::new(rep.field("component"), m);
    let geo = Geometry::of(t.site).map_err(err)?;
    let calls = &t.site.calls;
    if rep.kind == Kind::Collect {
        return Ok(vec![collect(t, &geo)?]);
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
            patch.inputs.push(lower::locations_input(&format!("unit_locations.{i}.base"), units.clone()));
            if let Sources::Runtime(name) = &source {
                patch.inputs.push(lower::locations_input(name, units));
            }
        }
        patches.push(patch);
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

/// Which unit each example has at one call.
enum At {
    /// From the schema: per example, the unit (none: the example is left alone).
    Fixed(Vec<Option<usize>>),
    /// From the run-time steps input of this name, `[b, units]`.
    Runtime(String),
}

/// The source steps of an interchange.
enum Sources {
    /// No source run.
    None,
    /// From the schema, per example.
    Fixed(Vec<Vec<i64>>),
    /// From the run-time input of this name, `[b, units]`.
    Runtime(String),
}

/// One call, with its units as graph values: for run-time steps, `unit` (`[b, 1]`, the first
/// unit whose step is the call) and `hit` (`[b, 1, 1]`, whether one is).
struct Step<'a> {
    k: usize,
    at: At,
    source: &'a Sources,
}

/// The run-time units of one call.
struct Found {
    unit: String,
    hit: String,
}

impl Step<'_> {
    /// The unit every example has at this call, when the steps are fixed and they share one.
    fn shared(&self) -> Option<usize> {
        let At::Fixed(units) = &self.at else { return None };
        let first = units[0]?;
        units.iter().all(|u| *u == Some(first)).then_some(first)
    }

    /// Per example, the first unit of run-time steps `input` equal to this call: a one-hot of
    /// the first match (a running count of matches equal to 1), then its index and its sum
    /// (counted in float: tract folds int64 arithmetic on shapes into symbolic dims).
    fn find(&self, b: &mut Builder, input: &str) -> Found {
        let to = |t: DataType| vec![attr_int("to", t as i64)];
        let k = b.ints(&[], &[self.k as i64]);
        let eq = b.op("Equal", &[input, &k], vec![]);
        let eq = b.op("Cast", &[&eq], to(DataType::Float));
        let axis = b.ints(&[], &[1]);
        let count = b.op("CumSum", &[&eq, &axis], vec![]);
        let float =
            |b: &mut Builder, v: f64| b.constant(DataType::Float as i32, &[], &[v]).expect("0 and 1 fit float32");
        let one = float(b, 1.0);
        let first = b.op("Equal", &[&count, &one], vec![]);
        let first = b.op("Cast", &[&first], to(DataType::Float));
        let first = b.op("Mul", &[&eq, &first], vec![]);
        let shape = b.op("Shape", &[input], vec![]);
        let i1 = b.ints(&[], &[1]);
        let n = b.op("Gather", &[&shape, &i1], vec![attr_int("axis", 0)]);
        let n = b.op("Cast", &[&n], to(DataType::Float));
        let zero = float(b, 0.0);
        let range = b.op("Range", &[&zero, &n, &one], vec![]);
        let at = b.op("Mul", &[&first, &range], vec![]);
        let axes = b.ints(&[1], &[1]);
        let unit = b.op("ReduceSum", &[&at, &axes], vec![attr_int("keepdims", 1)]);
        let unit = b.op("Cast", &[&unit], to(DataType::Int64));
        let hit = b.op("ReduceSum", &[&first, &axes], vec![attr_int("keepdims", 1)]);
        let ax2 = b.ints(&[1], &[2]);
        let hit = b.op("Unsqueeze", &[&hit, &ax2], vec![]);
        let hit = b.op("Cast", &[&hit], to(DataType::Bool));
        Found { unit, hit }
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
        let found = match &self.at {
            At::Runtime(name) => Some(self.find(&mut b, name)),
            At::Fixed(_) => None,
        };
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
                    let units = match &rep.positions {
                        Positions::Fixed(rows) => Dim::Fixed(rows[0].len() as i64),
                        Positions::Runtime => Dim::Named(format!("units_{i}")),
                        Positions::All => Dim::Fixed(t.site.calls.len() as i64),
                    };
                    let ty = ValueType { elem: Some(elem), shape: Some(vec![batch, units, w]) };
                    patch.inputs.push(ty.to_value_info(&name));
                }
                Some(match &found {
                    Some(f) => pick_runtime(&mut b, &name, &f.unit, geo),
                    None => self.pick(&mut b, &name, |_, u| u as i64),
                })
            }
            Source::Run { .. } => Some(self.source_run(&mut b, geo, source_calls, found.as_ref())),
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
        let rows = match (&self.at, &found) {
            (_, Some(f)) => Some(f.hit.clone()),
            (At::Fixed(units), None) if units.iter().any(Option::is_none) => {
                let keep: Vec<bool> = units.iter().map(Option::is_some).collect();
                Some(b.bools(&[keep.len() as i64, 1, 1], &keep))
            }
            _ => None,
        };
        if let Some(rows) = rows {
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
        let At::Fixed(units) = &self.at else { unreachable!("fixed steps only") };
        let n = units.len();
        let flat: Vec<i64> =
            units.iter().enumerate().flat_map(|(e, u)| [e as i64, u.map_or(0, |u| index(e, u))]).collect();
        let idx = b.ints(&[n as i64, 1, 2], &flat);
        b.op("GatherND", &[table, &idx], vec![])
    }

    /// The source run's tensor at each example's source step for its unit, `[b, 1, d]`: that
    /// call's tensor when every example reads one call, else a pick from all calls stacked.
    fn source_run(&self, b: &mut Builder, geo: &Geometry, calls: &[String], found: Option<&Found>) -> String {
        match (self.source, found) {
            (Sources::Runtime(input), Some(f)) => {
                let step = b.op("GatherElements", &[input, &f.unit], vec![attr_int("axis", 1)]);
                let stacked = stack(b, geo, calls);
                pick_runtime(b, &stacked, &step, geo)
            }
            (Sources::Fixed(rows), None) => {
                let At::Fixed(units) = &self.at else { unreachable!("fixed steps on both sides") };
                let step = |e: usize, u: usize| rows[e.min(rows.len() - 1)][u];
                let steps: Vec<Option<i64>> = units.iter().enumerate().map(|(e, u)| u.map(|u| step(e, u))).collect();
                if let Some(Some(j)) = steps.first()
                    && steps.iter().all(|s| *s == Some(*j))
                {
                    return unit_view(b, geo, &calls[*j as usize]);
                }
                let stacked = stack(b, geo, calls);
                self.pick(b, &stacked, step)
            }
            _ => unreachable!("lower_steps pairs fixed with fixed and run-time with run-time steps"),
        }
    }
}

/// Per example, row `index[e]` of `table` (`[b, n, d]`; `index` `[b, 1]`): `[b, 1, d]`.
fn pick_runtime(b: &mut Builder, table: &str, index: &str, geo: &Geometry) -> String {
    let axis = b.ints(&[1], &[2]);
    let idx = b.op("Unsqueeze", &[index, &axis], vec![]);
    let d = geo.width.unwrap_or(1) as i64;
    let wide = b.ints(&[3], &[1, 1, d]);
    let idx = b.op("Expand", &[&idx, &wide], vec![]);
    b.op("GatherElements", &[table, &idx], vec![attr_int("axis", 1)])
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
/// d]`; run-time steps: `max_number_of_units` of them), then pyvene's Collect view of them
/// ([`lower::collect`]), as output `collected.<i>`.
fn collect(t: &Target, geo: &Geometry) -> Result<Patch, InterventionError> {
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
