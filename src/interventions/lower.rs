//! Lowering one representation at its site into a [`Patch`].

use super::builder::{Builder, attr_int};
use super::heads::{self, Side, Units};
use super::steps::{Mask, StepGate};
use super::what::basic;
use super::{InterventionError, noise, trained};
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
    /// The step gate, when the schema selects calls or positions of a generation.
    pub gate: Option<StepGate<'a>>,
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
    scalar_units(t, &geo)?;
    let input = if rep.kind == Kind::Collect { t.site.value.clone() } else { format!("pvc/rep{i}/pre") };
    let x = geo.enter(&mut b, &input);
    let gate = t.gate.and_then(|g| Mask::build(&mut b, g, &input));
    let scale = gate.as_ref().and_then(|g| g.index_scale(&mut b));
    let sel = Units::build(&mut b, (rep, i), t.site, geo.width, Side::Base, scale.as_deref());
    let width = sel.width(geo.width);
    let s = sel.gather(&mut b, &x);
    let units = match rep.kind {
        Kind::Collect if !sel.has_heads() => collect_units(rep, t.site, width)?,
        _ => count_units(&rep.positions),
    };
    let mut patch = Patch::new(rule(rep.kind), Some(&t.site.value));
    if rep.positions == Positions::Runtime {
        let k = units.map_or(Dim::Named(format!("units_{i}")), |k| Dim::Fixed(k as i64));
        patch.inputs.push(locations_input(&format!("unit_locations.{i}.base"), k));
    }
    patch.inputs.extend(heads::inputs(rep, i, Side::Base));
    if rep.kind == Kind::Collect {
        let mut out = if sel.has_heads() {
            heads::collect(&mut b, &s, (rep, i), &sel, t.site)
        } else {
            collect(&mut b, &s, (rep, i), width, units, t.site)?
        };
        if let Some(g) = &gate {
            out.0 = g.collect(&mut b, &out.0);
            if let Some(d) = out.1.get_mut(1) {
                *d = Dim::Named(format!("collected_{i}_units"));
            }
        }
        b.node("Identity", &[&out.0], &[&collected_name(i)], vec![]);
        patch.outputs.push(typed(&collected_name(i), elem, out.1));
        return Ok(finish(patch, b, None));
    }
    let mask = if rep.kind.is_trained() {
        None
    } else {
        dims_mask(&mut b, &rep.dims, width)
            .map_err(|m| InterventionError::new(format!("subspaces[{}]", rep.index), m))?
    };
    let m = mask.as_deref();
    let what = |e: String| err("component", e);
    let new = match rep.kind {
        Kind::Zero => basic::zero(&mut b, &s, m, elem).map_err(what)?,
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
            basic::noise(&mut b, &s, d, &vals, elem).map_err(what)?
        }
        k if k.is_trained() => {
            let src =
                if k.takes_source() { source(&mut b, t, &geo, (&sel, width), elem, &mut patch)? } else { s.clone() };
            let seq = match t.site.ty.shape.as_deref() {
                Some([_, Dim::Fixed(s), ..]) => usize::try_from(*s).ok(),
                _ => None,
            };
            let g = trained::Gathered { s: &s, src: &src, heads: sel.has_heads(), width, seq };
            trained::lower(&mut b, rep, &g, elem)?
        }
        k => {
            let src = source(&mut b, t, &geo, (&sel, width), elem, &mut patch)?;
            match k {
                Kind::Vanilla | Kind::Skip => basic::interchange(&mut b, &s, &src, m),
                _ => basic::shift(&mut b, &s, &src, m, elem, k == Kind::Subtraction).map_err(what)?,
            }
        }
    };
    let y = sel.scatter(&mut b, &x, &new, geo.rank);
    let mut out = geo.exit(&mut b, &input, &y);
    if let Some(g) = &gate {
        let rank = t.site.ty.shape.as_ref().map_or(3, Vec::len);
        out = g.select(&mut b, &out, &input, rank);
    }
    let by = format!("pvc/rep{i}/out");
    b.node("Identity", &[&out], &[&by], vec![]);
    let shunt = Shunt { value: t.site.value.clone(), pre: input, by };
    Ok(finish(patch, b, Some(shunt)))
}

pub(super) fn rule(kind: Kind) -> &'static str {
    match kind {
        Kind::Zero => "zero-ablate",
        Kind::Vanilla => "interchange",
        Kind::Addition => "add-vector",
        Kind::Subtraction => "subtract-vector",
        Kind::Collect => "collect",
        Kind::Noise => "add-noise",
        Kind::Skip => "skip-module",
        Kind::RotatedSpace => "rotated-space",
        Kind::LowRankRotatedSpace => "low-rank-rotated-space",
        Kind::BoundlessRotatedSpace => "boundless-rotated-space",
        Kind::SigmoidMaskRotatedSpace => "sigmoid-mask-rotated-space",
        Kind::SigmoidMask => "sigmoid-mask",
        Kind::PcaRotatedSpace => "pca-rotated-space",
        Kind::Autoencoder => "autoencoder",
        Kind::JumpReluAutoencoder => "jump-relu-autoencoder",
        Kind::Loreft => "loreft",
        Kind::Noreft => "noreft",
        Kind::Consreft => "consreft",
        Kind::Direft => "direft",
        Kind::Lobireft => "lobireft",
        Kind::Nodireft => "nodireft",
    }
}

pub(super) fn finish(mut patch: Patch, b: Builder, shunt: Option<Shunt>) -> Patch {
    patch.nodes = b.nodes;
    patch.initializers = b.initializers;
    patch.shunts.extend(shunt);
    patch
}

/// The unit count a Collect's view is built for. pyvene views the kept flattened columns as
/// `[b, k, -1]`, which a graph can only build for a known `k`: fixed positions give it; with
/// run-time positions it is `max_number_of_units` (the positions input is then
/// `[batch, max_number_of_units]`); on the whole tensor it is the sequence length, which must be
/// fixed unless every column is kept (a module path without subspaces).
fn collect_units(rep: &Rep, site: &Site, width: Option<usize>) -> Result<Option<usize>, InterventionError> {
    let fixed = count_units(&rep.positions);
    let Some(d) = width else { return Ok(fixed) };
    let rank = site.ty.shape.as_ref().map(Vec::len);
    if fixed.is_some() || rank == Some(2) || kept_columns(rep, d, None, site)?.is_none() {
        return Ok(fixed);
    }
    match rep.positions {
        Positions::Runtime => Ok(Some(rep.max_units)),
        _ => match lead_dims(site).1 {
            Dim::Fixed(n) => Ok(Some(n as usize)),
            Dim::Named(_) => Err(InterventionError::new(
                rep.field("component"),
                format!(
                    "a whole-tensor Collect at an abstract component keeps only the first \
                     max_number_of_units × {d} values of the flattened [batch, seq × {d}] tensor (pyvene's \
                     interchange_dim), viewed as [batch, seq, -1], which needs a fixed sequence length; collect \
                     the module path instead (`{}`), or give unit_locations",
                    site.module.as_deref().map_or_else(|| site.value.clone(), |m| format!("{m}.output"))
                ),
            )),
        },
    }
}

pub(super) fn count_units(p: &Positions) -> Option<usize> {
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
        Source::Constant(v) => constant(b, rep, t.site, v, width, elem),
        Source::Runtime => {
            let name = format!("source_representations.{i}");
            patch.inputs.push(sel.runtime_type(rep, t.site, elem, geo.width, &name).to_value_info(&name));
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
                patch
                    .inputs
                    .push(locations_input(&format!("unit_locations.{i}.source"), Dim::Named(format!("units_{i}"))));
            }
            patch.inputs.extend(heads::inputs(rep, i, Side::Source));
            let x = geo.enter(b, sv);
            let sel = Units::build(b, (rep, i), t.site, geo.width, Side::Source, None);
            Ok(sel.gather(b, &x))
        }
        Source::None => unreachable!("kinds that take a source have one"),
    }
}

/// At a rank-2 site (`[batch, seq]` token ids, a recurrent cell's `[batch, d]`) positions pick
/// single numbers, as pyvene's gather does: only Zero and an interchange from a source run (no
/// subspaces, no `interchange_dim`) fit those scalar units; anything that brings a vector per unit
/// (a constant or run-time source, subspaces, Collect's `[batch, k, d]`, a trained map) is refused.
fn scalar_units(t: &Target, geo: &Geometry) -> Result<(), InterventionError> {
    let rep = t.rep;
    if rep.positions == Positions::All || t.site.ty.shape.as_ref().is_none_or(|sh| sh.len() != 2) {
        return Ok(());
    }
    let fits = match rep.kind {
        Kind::Zero => true,
        Kind::Vanilla | Kind::Skip => matches!(rep.source, Source::Run { .. }),
        _ => false,
    };
    if fits && rep.dims == Dims::Prefix(None) {
        return Ok(());
    }
    Err(InterventionError::new(
        format!("unit_locations (representation {})", rep.index),
        format!(
            "`{}` is [batch, {}], so each position is one number, which only Zero and an interchange \
             from a source run (without subspaces) fit, not {}{}; intervene on the whole tensor \
             (unit_locations null) and pick features with subspaces, or use unit t for a recurrent step",
            t.site.value,
            geo.width.map_or("n".to_string(), |w| w.to_string()),
            rep.kind.class(),
            if rep.dims == Dims::Prefix(None) { "" } else { " with subspaces" }
        ),
    ))
}

/// The last dim of the run-time source `input`: the unit width when known, else the site's own
/// symbolic last dim, else a symbol of its own (`<input>_width`), so that the input is always
/// typed (tract refuses an input with an unnamed dim).
pub(super) fn runtime_width(site: &Site, width: Option<usize>, input: &str) -> Dim {
    match (width, site.ty.shape.as_deref().and_then(<[Dim]>::last)) {
        (Some(w), _) => Dim::Fixed(w as i64),
        (None, Some(Dim::Named(n))) if n != "?" => Dim::Named(n.clone()),
        _ => Dim::Named(format!("{}_width", input.replace('.', "_"))),
    }
}

/// A constant source vector as a `[d]` constant of the site's dtype (it broadcasts over the
/// selected units); it must be as wide as one unit and the site a float.
pub(super) fn constant(
    b: &mut Builder,
    rep: &Rep,
    site: &Site,
    v: &[f32],
    width: Option<usize>,
    elem: i32,
) -> Result<String, InterventionError> {
    let at = rep.field("source_representation");
    if let Some(d) = width
        && v.len() != d
    {
        return Err(InterventionError::new(at, format!("has {} values but `{}` is {d} wide", v.len(), rep.component)));
    }
    if !crate::ir::is_float(elem) {
        return Err(InterventionError::new(
            at,
            format!(
                "a float vector cannot be {} `{}`, which is {}",
                if rep.kind == Kind::Vanilla { "written into" } else { "added to" },
                site.value,
                crate::ir::dtype_name(elem)
            ),
        ));
    }
    let vals: Vec<f64> = v.iter().map(|x| f64::from(*x)).collect();
    b.constant(elem, &[v.len() as i64], &vals).map_err(|m| InterventionError::new(at, m))
}

/// Collect's output: pyvene flattens the `[b, k, d]` selection to `[b, k·d]`, keeps
/// `[..., :idim]` (or the subspace columns), and views it as `[b, k, -1]`. `idim` defaults to
/// `d × max_units` for abstract components and to everything for module paths (pyvene's
/// `embed_dim=None`). `units` is `k` as [`collect_units`] gives it; without one every column is
/// kept. Returns the value and its declared shape.
pub(super) fn collect(
    b: &mut Builder,
    s: &str,
    (rep, i): (&Rep, usize),
    width: Option<usize>,
    units: Option<usize>,
    site: &Site,
) -> Result<(String, Vec<Dim>), InterventionError> {
    if let Some(shape) = site.ty.shape.as_ref().filter(|sh| sh.len() == 2 && rep.positions == Positions::All) {
        return Ok((s.to_string(), shape.clone()));
    }
    let (batch, seq) = lead_dims(site);
    let unit_dim = match units {
        Some(k) => Dim::Fixed(k as i64),
        None if rep.positions == Positions::Runtime => Dim::Named(format!("units_{i}")),
        None => seq,
    };
    let Some(d) = width else {
        return Ok((s.to_string(), vec![batch, unit_dim, Dim::Named(format!("collected_{i}_width"))]));
    };
    let (Some(keep), Some(k)) = (kept_columns(rep, d, units, site)?, units) else {
        return Ok((s.to_string(), vec![batch, unit_dim, Dim::Fixed(d as i64)]));
    };
    if let Kept::Columns(cols) = &keep
        && let Some(c) = cols.iter().find(|&&c| c < 0 || c as usize >= k.saturating_mul(d))
    {
        return Err(InterventionError::new(
            format!("subspaces[{}]", rep.index),
            format!(
                "subspace column {c} is out of range: Collect keeps columns of the {k}×{d} = {} flattened values",
                k.saturating_mul(d)
            ),
        ));
    }
    let flat_shape = b.ints(&[2], &[0, -1]);
    let flat = b.op("Reshape", &[s, &flat_shape], vec![]);
    let picked = match &keep {
        Kept::Prefix(n) => slice_axis(b, &flat, 1, 0, *n),
        Kept::Columns(cols) => {
            let idx = b.ints(&[cols.len() as i64], cols);
            b.op("Gather", &[&flat, &idx], vec![attr_int("axis", 1)])
        }
    };
    let n = match &keep {
        Kept::Prefix(n) => *n,
        Kept::Columns(cols) => cols.len(),
    };
    if n % k != 0 {
        let (at, what) = match &rep.dims {
            Dims::Prefix(Some(_)) => (rep.field("interchange_dim"), "interchange_dim"),
            Dims::Prefix(None) => (rep.field("max_number_of_units"), "interchange_dim (max_number_of_units × width)"),
            _ => (format!("subspaces[{}]", rep.index), "the subspace selection"),
        };
        return Err(InterventionError::new(
            at,
            format!(
                "{what} keeps {n} of the {k}×{d} collected columns, which do not divide into {k} units \
                 (pyvene would reshape them to [batch, {k}, -1] and fail)"
            ),
        ));
    }
    let back = b.ints(&[3], &[0, k as i64, -1]);
    let out = b.op("Reshape", &[&picked, &back], vec![]);
    Ok((out, vec![batch, Dim::Fixed(k as i64), Dim::Fixed((n / k) as i64)]))
}

/// The flattened columns a Collect keeps.
enum Kept {
    /// The first `n`.
    Prefix(usize),
    /// These, in order.
    Columns(Vec<i64>),
}

/// The flattened columns Collect keeps, or `None` for all of them (a module path without
/// subspaces, or a prefix at least as wide as the `k × d` selection when `k` is fixed).
fn kept_columns(rep: &Rep, d: usize, units: Option<usize>, site: &Site) -> Result<Option<Kept>, InterventionError> {
    Ok(match &rep.dims {
        Dims::Prefix(None) if !site.abstract_component => None,
        Dims::Prefix(n) => {
            let n = n.unwrap_or(d.saturating_mul(rep.max_units));
            if units.is_some_and(|k| n >= k.saturating_mul(d)) {
                return Ok(None);
            }
            if n > MAX_CONSTANT {
                let field = if rep.dims == Dims::Prefix(None) { "max_number_of_units" } else { "interchange_dim" };
                return Err(InterventionError::new(
                    rep.field(field),
                    format!("keeps {n} columns; pvc builds index constants of at most {MAX_CONSTANT} values"),
                ));
            }
            Some(Kept::Prefix(n))
        }
        Dims::Shared(cols) => Some(Kept::Columns(cols.iter().map(|&c| c as i64).collect())),
        Dims::PerExample(rows) => Some(Kept::Columns(rows[0].iter().map(|&c| c as i64).collect())),
    })
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
pub(super) fn dims_mask(b: &mut Builder, dims: &Dims, width: Option<usize>) -> Result<Option<String>, String> {
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

pub(super) fn typed(name: &str, elem: i32, shape: Vec<Dim>) -> pb::ValueInfoProto {
    ValueType { elem: Some(elem), shape: Some(shape) }.to_value_info(name)
}

/// The site's batch and sequence dimensions, as the model names them.
fn lead_dims(site: &Site) -> (Dim, Dim) {
    let shape = site.ty.shape.as_deref().unwrap_or(&[]);
    let dim = |i: usize, default: &str| shape.get(i).cloned().unwrap_or(Dim::Named(default.into()));
    (dim(0, "batch"), dim(1, "seq"))
}

/// An int64 `[batch, units]` positions input. Each representation's unit count is its own
/// symbol `units_<i>` (so runtimes do not tie the unit counts of different interventions
/// together), or fixed where the graph needs it (a Collect's view).
pub(super) fn locations_input(name: &str, units: Dim) -> pb::ValueInfoProto {
    let ty = ValueType { elem: Some(DataType::Int64 as i32), shape: Some(vec![Dim::Named("batch".into()), units]) };
    ty.to_value_info(name)
}

/// The widest site pvc intervenes on (2^24 columns): constants as wide as the site are built.
pub const MAX_WIDTH: usize = 1 << 24;

/// The most elements of one constant built from the schema (2^26).
pub const MAX_CONSTANT: usize = 1 << 26;

/// The view of a site the intervention works on: heads merged back into one axis, and/or one
/// slice of a fused projection.
pub(super) struct Geometry {
    rank: usize,
    /// The width of one unit's vector, when known.
    pub(super) width: Option<usize>,
    merge: bool,
    split: Option<crate::locate::Cut>,
}

impl Geometry {
    /// The site's view; every declared dim must be non-negative and the width at most
    /// [`MAX_WIDTH`], since constants as wide as the site are built from it.
    pub(super) fn of(site: &Site) -> Result<Geometry, String> {
        let declared = site.ty.shape.as_deref().unwrap_or(&[]);
        if site.ty.shape.is_some() && declared.len() < 2 {
            return Err(format!(
                "`{}` is a rank-{} tensor ({}); interventions act on [batch, …] activations of rank 2 or more",
                site.value,
                declared.len(),
                crate::ir::shape_text(declared)
            ));
        }
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
        let split = site.split.clone();
        if let Some(cut) = &split {
            match width {
                Some(full) if full == cut.full => width = Some(cut.width()),
                Some(full) => {
                    return Err(format!(
                        "`{}` is {full} wide but its component's columns assume {}",
                        site.value, cut.full
                    ));
                }
                None => return Err("the fused projection's width is unknown".into()),
            }
        }
        Ok(Geometry { rank, width, merge, split })
    }

    /// The view of `x` the intervention works on.
    pub(super) fn enter(&self, b: &mut Builder, x: &str) -> String {
        let mut v = x.to_string();
        if self.merge {
            let shape = b.ints(&[3], &[0, 0, -1]);
            v = b.op("Reshape", &[&v, &shape], vec![]);
        }
        match self.split.as_ref().map(|c| (c, c.contiguous())) {
            Some((_, Some((lo, hi)))) => v = slice_last(b, &v, lo, hi),
            Some((c, None)) => {
                let cols: Vec<i64> = c.columns().into_iter().map(|x| x as i64).collect();
                let idx = b.ints(&[cols.len() as i64], &cols);
                v = b.op("Gather", &[&v, &idx], vec![attr_int("axis", -1)]);
            }
            None => {}
        }
        v
    }

    /// `original` with its view replaced by `y`.
    pub(super) fn exit(&self, b: &mut Builder, original: &str, y: &str) -> String {
        let mut v = y.to_string();
        if let Some(cut) = &self.split {
            let base = if self.merge {
                let shape = b.ints(&[3], &[0, 0, -1]);
                b.op("Reshape", &[original, &shape], vec![])
            } else {
                original.to_string()
            };
            v = match cut.contiguous() {
                Some((lo, hi)) => {
                    let mut parts = Vec::new();
                    if lo > 0 {
                        parts.push(slice_last(b, &base, 0, lo));
                    }
                    parts.push(v.clone());
                    if hi < cut.full {
                        parts.push(slice_last(b, &base, hi, cut.full));
                    }
                    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
                    b.op("Concat", &refs, vec![attr_int("axis", -1)])
                }
                None => {
                    let both = b.op("Concat", &[&base, &v], vec![attr_int("axis", -1)]);
                    let idx = b.ints(&[cut.full as i64], &interleave(cut));
                    b.op("Gather", &[&both, &idx], vec![attr_int("axis", -1)])
                }
            };
        }
        if self.merge {
            let shape = b.op("Shape", &[original], vec![]);
            v = b.op("Reshape", &[&v, &shape], vec![]);
        }
        v
    }
}

/// For `concat(original, part)` along the last axis: the index of every column of the whole,
/// taken from `part` where the cut owns it and from `original` elsewhere.
fn interleave(cut: &crate::locate::Cut) -> Vec<i64> {
    let mut idx: Vec<i64> = (0..cut.full as i64).collect();
    for (k, c) in cut.columns().into_iter().enumerate() {
        idx[c] = (cut.full + k) as i64;
    }
    idx
}

fn slice_last(b: &mut Builder, x: &str, lo: usize, hi: usize) -> String {
    slice_axis(b, x, -1, lo, hi)
}

fn slice_axis(b: &mut Builder, x: &str, axis: i64, lo: usize, hi: usize) -> String {
    let starts = b.ints(&[1], &[lo as i64]);
    let ends = b.ints(&[1], &[hi as i64]);
    let axes = b.ints(&[1], &[axis]);
    b.op("Slice", &[x, &starts, &ends, &axes], vec![])
}
