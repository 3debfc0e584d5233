//! One selected call of a unit-`t` representation: its patch, with the call's units fixed by
//! the schema or found in the run-time steps.

use super::{At, Sources, stack, unit_view};
use crate::interventions::InterventionError;
use crate::interventions::builder::{Builder, attr_int};
use crate::interventions::lower::{self, Geometry, Target};
use crate::interventions::what::basic;
use crate::ir::{Dim, Patch, Shunt, ValueType};
use crate::onnx::pb::tensor_proto::DataType;
use crate::schema::{Kind, Positions, Source};

/// One call, with its units as graph values: for run-time steps, `unit` (`[b, 1]`, the first
/// unit whose step is the call) and `hit` (`[b, 1, 1]`, whether one is).
pub(super) struct Step<'a> {
    pub(super) k: usize,
    pub(super) at: At,
    pub(super) source: &'a Sources,
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

    pub(super) fn lower(
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
                    let w = lower::runtime_width(t.site, geo.width, &name);
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
