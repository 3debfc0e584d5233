//! Lowering one representation at its site into a [`Patch`].

use super::builder::{Builder, attr_int, attr_tensor};
use super::heads::{self, Side, Units};
use super::{InterventionError, noise};
use crate::ir::{Dim, ValueType};
use crate::ir::{Patch, Shunt};
use crate::locate::Site;
use crate::onnx::pb::{self, tensor_proto::DataType};
use crate::schema::{Dims, Kind, Positions, Rep, Source};

/// What one representation needs from the graph: its site and, for a source run, the value
/// the source slice computes there.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The representation.
    pub rep: &'a Rep,
    /// Its base site.
    pub site: &'a Site,
    /// The source slice's value for this site (for Skip: the module's input), when the source
    /// is a run.
    pub source_value: Option<String>,
    /// The number in the names this representation adds (`pvc/rep<n>/...`, `collected.<n>`):
    /// its index, shifted past the numbers an earlier rewrite of the model used.
    pub number: usize,
}

/// The name of the collected output of representation `i`.
pub fn collected_name(i: usize) -> String {
    format!("collected.{i}")
}

/// Builds the patch for `t`: nodes that read the site's original value, apply the
/// intervention at the selected units and dims, and replace the site by the result (Collect
/// only adds an output).
pub fn lower(t: &Target) -> Result<Patch, InterventionError> {
    let rep = t.rep;
    let i = t.number;
    let err = |field: &str, m: String| InterventionError::new(rep.field(field), m);
    let doc = format!("pvc: {} ({}) at {} [{}]", rep.kind.class(), rep.at, rep.component, t.site.via);
    let mut b = Builder::new(&format!("pvc/rep{i}"), &doc);
    let elem = t.site.ty.elem.unwrap_or(DataType::Float as i32);
    let geo = Geometry::of(t.site).map_err(|m| err("component", m))?;
    let input = if rep.kind == Kind::Collect { t.site.value.clone() } else { format!("pvc/rep{i}/pre") };
    let x = geo.enter(&mut b, &input);
    let sel = Units::build(&mut b, (rep, i), t.site, geo.width, Side::Base);
    let width = sel.width(geo.width);
    let s = sel.gather(&mut b, &x);
    let units = count_units(&rep.positions);
    let mut patch = Patch::new(rule(rep.kind), Some(&t.site.value));
    if rep.positions == Positions::Runtime {
        patch.inputs.push(locations_input(&format!("unit_locations.{i}.base"), i));
    }
    patch.inputs.extend(heads::inputs(rep, i, Side::Base));
    if rep.kind == Kind::Collect {
        let out = if sel.has_heads() {
            heads::collect(&mut b, &s, rep, &sel, t.site)
        } else {
            collect(&mut b, &s, (rep, i), width, units, t.site)?
        };
        b.node("Identity", &[&out.0], &[&collected_name(i)], vec![]);
        patch.outputs.push(typed(&collected_name(i), elem, out.1));
        return Ok(finish(patch, b, None));
    }
    let mask = dims_mask(&mut b, &rep.dims, width)
        .map_err(|m| InterventionError::new(format!("subspaces[{}]", rep.index), m))?;
    let new = match rep.kind {
        Kind::Zero => match &mask {
            Some(m) => {
                let zero = scalar(&mut b, elem, 0.0).map_err(|m| err("component", m))?;
                b.op("Where", &[m, &zero, &s], vec![])
            }
            None => {
                let shape = b.op("Shape", &[&s], vec![]);
                b.op("ConstantOfShape", &[&shape], vec![attr_tensor("value", zero_tensor(elem))])
            }
        },
        Kind::Noise => {
            if units != Some(4) {
                return Err(err(
                    "unit_locations",
                    "NoiseIntervention (pyvene's fixed (1,4,d) noise) needs exactly 4 positions".into(),
                ));
            }
            let d = width.ok_or_else(|| err("component", "the site's width is unknown".into()))?;
            if !crate::ir::is_float(elem) {
                return Err(err(
                    "component",
                    format!(
                        "{} adds float noise, but `{}` is {}",
                        rep.kind.class(),
                        t.site.value,
                        crate::ir::dtype_name(elem)
                    ),
                ));
            }
            let mut vals = noise::pyvene_noise(d);
            if let Some(keep) = dims_keep(&rep.dims, d) {
                for (j, v) in vals.iter_mut().enumerate() {
                    if !keep[j % d] {
                        *v = 0.0;
                    }
                }
            }
            let c = b.constant(elem, &[1, 4, d as i64], &vals).map_err(|m| err("component", m))?;
            b.op("Add", &[&s, &c], vec![])
        }
        _ => {
            let src = source(&mut b, t, &geo, (&sel, width), elem, &mut patch)?;
            match (rep.kind, &mask) {
                (Kind::Vanilla | Kind::Skip, Some(m)) => b.op("Where", &[m, &src, &s], vec![]),
                (Kind::Vanilla | Kind::Skip, None) => {
                    let shape = b.op("Shape", &[&s], vec![]);
                    b.op("Expand", &[&src, &shape], vec![])
                }
                (k, m) => {
                    let delta = match m {
                        Some(m) => {
                            let zero = scalar(&mut b, elem, 0.0).map_err(|m| err("component", m))?;
                            b.op("Where", &[m, &src, &zero], vec![])
                        }
                        None => src,
                    };
                    b.op(if k == Kind::Subtraction { "Sub" } else { "Add" }, &[&s, &delta], vec![])
                }
            }
        }
    };
    let y = sel.scatter(&mut b, &x, &new, geo.rank);
    let out = geo.exit(&mut b, &input, &y);
    let by = format!("pvc/rep{i}/out");
    b.node("Identity", &[&out], &[&by], vec![]);
    let shunt = Shunt { value: t.site.value.clone(), pre: input, by };
    Ok(finish(patch, b, Some(shunt)))
}

fn rule(kind: Kind) -> &'static str {
    match kind {
        Kind::Zero => "zero-ablate",
        Kind::Vanilla => "interchange",
        Kind::Addition => "add-vector",
        Kind::Subtraction => "subtract-vector",
        Kind::Collect => "collect",
        Kind::Noise => "add-noise",
        Kind::Skip => "skip-module",
    }
}

fn finish(mut patch: Patch, b: Builder, shunt: Option<Shunt>) -> Patch {
    patch.nodes = b.nodes;
    patch.initializers = b.initializers;
    patch.shunts.extend(shunt);
    patch
}

fn count_units(p: &Positions) -> Option<usize> {
    match p {
        Positions::Fixed(rows) => Some(rows[0].len()),
        _ => None,
    }
}

/// The source values at the selected units, shaped like the selection (or `[d]` for a
/// constant, which broadcasts).
fn source(
    b: &mut Builder,
    t: &Target,
    geo: &Geometry,
    (sel, width): (&Units, Option<usize>),
    elem: i32,
    patch: &mut Patch,
) -> Result<String, InterventionError> {
    let rep = t.rep;
    let i = t.number;
    let units = count_units(&rep.positions);
    match &rep.source {
        Source::Constant(v) => {
            let at = rep.field("source_representation");
            if let Some(d) = width
                && v.len() != d
            {
                return Err(InterventionError::new(
                    at,
                    format!("has {} values but `{}` is {d} wide", v.len(), rep.component),
                ));
            }
            if !crate::ir::is_float(elem) {
                return Err(InterventionError::new(
                    at,
                    format!(
                        "a float vector cannot be {} `{}`, which is {}",
                        if rep.kind == Kind::Vanilla { "written into" } else { "added to" },
                        t.site.value,
                        crate::ir::dtype_name(elem)
                    ),
                ));
            }
            let vals: Vec<f64> = v.iter().map(|x| f64::from(*x)).collect();
            b.constant(elem, &[v.len() as i64], &vals).map_err(|m| InterventionError::new(at, m))
        }
        Source::Runtime => {
            let name = format!("source_representations.{i}");
            patch.inputs.push(sel.runtime_type(rep, t.site, elem, geo.width).to_value_info(&name));
            Ok(name)
        }
        Source::Run { positions, .. } => {
            let sv = t.source_value.as_deref().expect("source runs are resolved before lowering");
            let src_units = count_units(positions);
            let both_fixed = units.is_some() && src_units.is_some();
            if (both_fixed && units != src_units) || (positions == &Positions::All) != (rep.positions == Positions::All)
            {
                return Err(InterventionError::new(
                    format!("unit_locations (representation {})", rep.index),
                    "source and base must select the same number of units".to_string(),
                ));
            }
            if *positions == Positions::Runtime {
                patch.inputs.push(locations_input(&format!("unit_locations.{i}.source"), i));
            }
            patch.inputs.extend(heads::inputs(rep, i, Side::Source));
            let x = geo.enter(b, sv);
            let sel = Units::build(b, (rep, i), t.site, geo.width, Side::Source);
            Ok(sel.gather(b, &x))
        }
        Source::None => unreachable!("kinds that take a source have one"),
    }
}

/// Collect's output: pyvene flattens the `[b, k, d]` selection, keeps `[..., :idim]` (or the
/// subspace columns), and reshapes to `[b, k, -1]`. `idim` defaults to `d × max_units` for
/// abstract components and to everything for module paths (pyvene's `embed_dim=None`).
/// Returns the value and its shape: `[batch, units_<index>, d]` at run-time positions, the
/// site's `[batch, seq, d]` on the whole tensor.
fn collect(
    b: &mut Builder,
    s: &str,
    (rep, index): (&Rep, usize),
    width: Option<usize>,
    units: Option<usize>,
    site: &Site,
) -> Result<(String, Vec<Dim>), InterventionError> {
    let (batch, seq) = lead_dims(site);
    let (Some(k), Some(d)) = (units, width) else {
        let k = match rep.positions {
            Positions::Runtime => Dim::Named(format!("units_{index}")),
            _ => seq,
        };
        return Ok((s.to_string(), vec![batch, k, width.map_or(Dim::Named("?".into()), |d| Dim::Fixed(d as i64))]));
    };
    let total = k.saturating_mul(d);
    let keep: Option<Vec<i64>> = match &rep.dims {
        Dims::Prefix(None) if !site.abstract_component => None,
        Dims::Prefix(n) => {
            let n = n.unwrap_or(d.saturating_mul(rep.max_units));
            if n < total && n > MAX_CONSTANT {
                let field = if rep.dims == Dims::Prefix(None) { "max_number_of_units" } else { "interchange_dim" };
                return Err(InterventionError::new(
                    rep.field(field),
                    format!("keeps {n} columns; pvc builds index constants of at most {MAX_CONSTANT} values"),
                ));
            }
            (n < total).then(|| (0..n as i64).collect())
        }
        Dims::Shared(cols) => Some(cols.iter().map(|&c| c as i64).collect()),
        Dims::PerExample(rows) => Some(rows[0].iter().map(|&c| c as i64).collect()),
    };
    let Some(cols) = keep else {
        return Ok((s.to_string(), vec![batch, Dim::Fixed(k as i64), Dim::Fixed(d as i64)]));
    };
    if cols.len() % k != 0 {
        let (at, what) = match &rep.dims {
            Dims::Prefix(Some(_)) => (rep.field("interchange_dim"), "interchange_dim"),
            Dims::Prefix(None) => (rep.field("max_number_of_units"), "interchange_dim (max_number_of_units × width)"),
            _ => (format!("subspaces[{}]", rep.index), "the subspace selection"),
        };
        return Err(InterventionError::new(
            at,
            format!(
                "{what} keeps {} of the {k}×{d} collected columns, which do not divide into {k} units \
                 (pyvene would reshape them to [batch, {k}, -1] and fail)",
                cols.len()
            ),
        ));
    }
    let flat_shape = b.ints(&[2], &[0, -1]);
    let flat = b.op("Reshape", &[s, &flat_shape], vec![]);
    let idx = b.ints(&[cols.len() as i64], &cols);
    let picked = b.op("Gather", &[&flat, &idx], vec![attr_int("axis", 1)]);
    let back = b.ints(&[3], &[0, k as i64, -1]);
    let out = b.op("Reshape", &[&picked, &back], vec![]);
    let w = cols.len() / k;
    Ok((out, vec![batch, Dim::Fixed(k as i64), Dim::Fixed(w as i64)]))
}

/// Which of `d` columns the dims selection touches, or `None` for all of them.
fn dims_keep(dims: &Dims, d: usize) -> Option<Vec<bool>> {
    match dims {
        Dims::Prefix(Some(n)) if *n < d => Some((0..d).map(|j| j < *n).collect()),
        Dims::Shared(cols) => Some((0..d).map(|j| cols.contains(&j)).collect()),
        _ => None,
    }
}

/// A boolean mask over the last axis (`[d]`, or `[batch, 1, d]` per example), or `None` when
/// every dim is touched.
fn dims_mask(b: &mut Builder, dims: &Dims, width: Option<usize>) -> Result<Option<String>, String> {
    if matches!(dims, Dims::Prefix(None)) {
        return Ok(None);
    }
    let d = width.ok_or("the site's last dimension is unknown, so subspaces cannot be applied")?;
    let check = |cols: &[usize]| match cols.iter().find(|&&c| c >= d) {
        Some(c) => Err(format!("subspace column {c} is out of range: the component is {d} wide")),
        None => Ok(()),
    };
    match dims {
        Dims::PerExample(rows) => {
            if rows.len().checked_mul(d).is_none_or(|n| n > MAX_CONSTANT) {
                return Err(format!(
                    "{} per-example rows × {d} columns is more than the {MAX_CONSTANT} mask values pvc builds",
                    rows.len()
                ));
            }
            let mut vals = Vec::new();
            for r in rows {
                check(r)?;
                vals.extend((0..d).map(|j| r.contains(&j)));
            }
            return Ok(Some(b.bools(&[rows.len() as i64, 1, d as i64], &vals)));
        }
        Dims::Shared(cols) => check(cols)?,
        Dims::Prefix(_) => {}
    }
    Ok(dims_keep(dims, d).map(|keep| b.bools(&[d as i64], &keep)))
}

fn scalar(b: &mut Builder, elem: i32, v: f64) -> Result<String, String> {
    b.constant(elem, &[], &[v])
}

fn zero_tensor(elem: i32) -> pb::TensorProto {
    let size = crate::onnx::dtype_size(elem).unwrap_or(4) as usize;
    pb::TensorProto { dims: vec![1], data_type: Some(elem), raw_data: Some(vec![0; size].into()), ..Default::default() }
}

fn typed(name: &str, elem: i32, shape: Vec<Dim>) -> pb::ValueInfoProto {
    ValueType { elem: Some(elem), shape: Some(shape) }.to_value_info(name)
}

/// The site's batch and sequence dimensions, as the model names them.
fn lead_dims(site: &Site) -> (Dim, Dim) {
    let shape = site.ty.shape.as_deref().unwrap_or(&[]);
    let dim = |i: usize, default: &str| shape.get(i).cloned().unwrap_or(Dim::Named(default.into()));
    (dim(0, "batch"), dim(1, "seq"))
}

/// An int64 `[batch, units_<i>]` positions input; each representation gets its own units symbol,
/// so runtimes do not tie the unit counts of different interventions together.
fn locations_input(name: &str, index: usize) -> pb::ValueInfoProto {
    let ty = ValueType {
        elem: Some(DataType::Int64 as i32),
        shape: Some(vec![Dim::Named("batch".into()), Dim::Named(format!("units_{index}"))]),
    };
    ty.to_value_info(name)
}

/// The widest site pvc intervenes on (2^24 columns): constants as wide as the site are built.
pub const MAX_WIDTH: usize = 1 << 24;

/// The most elements of one constant built from the schema (2^26).
pub const MAX_CONSTANT: usize = 1 << 26;

/// The view of a site the intervention works on: heads merged back into one axis, and/or one
/// slice of a fused projection.
struct Geometry {
    rank: usize,
    width: Option<usize>,
    merge: bool,
    split: Option<(usize, usize, usize)>,
}

impl Geometry {
    /// The site's view; every declared dim must be non-negative and the width at most
    /// [`MAX_WIDTH`], since constants as wide as the site are built from it.
    fn of(site: &Site) -> Result<Geometry, String> {
        let declared = site.ty.shape.as_deref().unwrap_or(&[]);
        let mut dims = Vec::with_capacity(declared.len());
        for d in declared {
            dims.push(match d {
                Dim::Fixed(v) => Some(
                    usize::try_from(*v)
                        .map_err(|_| format!("`{}` declares dimension {v}, which is negative", site.value))?,
                ),
                _ => None,
            });
        }
        let merge = site.merge_heads && dims.len() == 4;
        let (rank, mut width) = if merge {
            let heads = dims[2].zip(dims[3]);
            (3, heads.map(|(h, d)| h.saturating_mul(d)))
        } else {
            (dims.len().max(2), dims.last().copied().flatten())
        };
        if let Some(w) = width
            && w > MAX_WIDTH
        {
            return Err(format!(
                "`{}` is {w} wide (declared shape {declared:?}); pvc supports sites up to {MAX_WIDTH} wide",
                site.value
            ));
        }
        let mut split = None;
        if let Some(sp) = site.split {
            let full = width.ok_or("the fused projection's width is unknown")?;
            let (parts, index) = (sp.parts as usize, sp.index as usize);
            if parts == 0 || index >= parts || full % parts != 0 {
                return Err(format!("`{}` ({full} wide) does not split into {parts} equal parts", site.value));
            }
            let w = full / parts;
            split = Some((index * w, (index + 1) * w, full));
            width = Some(w);
        }
        Ok(Geometry { rank, width, merge, split })
    }

    fn enter(&self, b: &mut Builder, x: &str) -> String {
        let mut v = x.to_string();
        if self.merge {
            let shape = b.ints(&[3], &[0, 0, -1]);
            v = b.op("Reshape", &[&v, &shape], vec![]);
        }
        if let Some((lo, hi, _)) = self.split {
            v = slice_last(b, &v, lo, hi);
        }
        v
    }

    fn exit(&self, b: &mut Builder, original: &str, y: &str) -> String {
        let mut v = y.to_string();
        if let Some((lo, hi, full)) = self.split {
            let base = if self.merge {
                let shape = b.ints(&[3], &[0, 0, -1]);
                b.op("Reshape", &[original, &shape], vec![])
            } else {
                original.to_string()
            };
            let mut parts = Vec::new();
            if lo > 0 {
                parts.push(slice_last(b, &base, 0, lo));
            }
            parts.push(v.clone());
            if hi < full {
                parts.push(slice_last(b, &base, hi, full));
            }
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            v = b.op("Concat", &refs, vec![attr_int("axis", -1)]);
        }
        if self.merge {
            let shape = b.op("Shape", &[original], vec![]);
            v = b.op("Reshape", &[&v, &shape], vec![]);
        }
        v
    }
}

fn slice_last(b: &mut Builder, x: &str, lo: usize, hi: usize) -> String {
    let starts = b.ints(&[1], &[lo as i64]);
    let ends = b.ints(&[1], &[hi as i64]);
    let axes = b.ints(&[1], &[-1]);
    b.op("Slice", &[x, &starts, &ends, &axes], vec![])
}
