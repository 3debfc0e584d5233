//! Head units (`h`, `h.pos`): where an intervention acts, independently of what it does.
//!
//! pyvene splits a head component's `[b, s, heads·d]` tensor into `[b, heads, s, d]`
//! (`split_head_and_permute`), gathers heads on axis 1 and, for `h.pos`, positions on axis 2,
//! giving `[b, kh, kp, d]`; the intervention works on that, and `scatter_neurons` writes each
//! (head, position) pair back. [`Units`] does the same in ONNX for every intervention kind, so
//! the kinds themselves know nothing of heads. With no locations at all (pyvene's `None`) the
//! whole, unsplit tensor is used, as pyvene does.

use super::InterventionError;
use super::builder::{Builder, attr_ints};
use super::select::Selection;
use crate::ir::{Dim, ValueType};
use crate::locate::Site;
use crate::onnx::pb::{self, tensor_proto::DataType};
use crate::schema::{Dims, Kind, Positions, Rep, Source, Unit};

/// The units of one side of a representation: positions, or heads (× positions).
#[derive(Debug, Clone)]
pub struct Units {
    heads: Option<HeadAxis>,
    pos: Selection,
}

#[derive(Debug, Clone)]
struct HeadAxis {
    count: usize,
    dim: usize,
    sel: Selection,
}

/// Which side of a representation units are built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The base run.
    Base,
    /// The source run.
    Source,
}

impl Side {
    fn word(self) -> &'static str {
        if self == Side::Base { "base" } else { "source" }
    }
}

impl Units {
    /// The units `rep` (numbered `i` in generated names) selects on `side` of `site` (whose
    /// head size [`check`] has settled); run-time locations read inputs
    /// `unit_locations.<i>.<side>` (positions) and `unit_locations.<i>.<side>.heads`.
    /// `scale` is the step gate's index scale ([`super::steps::Mask::index_scale`]) for positions.
    pub fn build(
        b: &mut Builder,
        (rep, i): (&Rep, usize),
        site: &Site,
        width: Option<usize>,
        side: Side,
        scale: Option<&str>,
    ) -> Units {
        let positions = match (side, &rep.source) {
            (Side::Source, Source::Run { positions, .. }) => positions,
            _ => &rep.positions,
        };
        let pos = Selection::build(b, positions, &format!("unit_locations.{i}.{}", side.word()), scale);
        let heads = rep.heads.as_ref().and_then(|h| {
            let sel = if side == Side::Base { &h.base } else { &h.source };
            if *sel == Positions::All && *positions == Positions::All {
                return None;
            }
            let dim = site.heads.as_ref()?.head_dim?;
            let count = width? / dim;
            let sel = Selection::build(b, sel, &format!("unit_locations.{i}.{}.heads", side.word()), None);
            Some(HeadAxis { count, dim, sel })
        });
        Units { heads, pos }
    }

    /// The width of one unit's vector: the head size at head units, else `width`.
    pub fn width(&self, width: Option<usize>) -> Option<usize> {
        self.heads.as_ref().map_or(width, |h| Some(h.dim))
    }

    /// Whether heads are split out.
    pub fn has_heads(&self) -> bool {
        self.heads.is_some()
    }

    /// The selected units of `x` (`[b, s, W]`): `[b, k, W]`, or `[b, kh, kp, d]` (`kp` = `s` for
    /// `h`).
    pub fn gather(&self, b: &mut Builder, x: &str) -> String {
        let Some(h) = &self.heads else { return self.pos.gather(b, x) };
        let xh = split(b, x, h);
        let g = h.sel.gather(b, &xh);
        if matches!(self.pos, Selection::Whole) {
            return g;
        }
        let gt = transpose(b, &g);
        let r = self.pos.gather(b, &gt);
        transpose(b, &r)
    }

    /// `x` (`[b, s, W]`) with the selected units replaced by `new`; `rank` is `x`'s rank.
    pub fn scatter(&self, b: &mut Builder, x: &str, new: &str, rank: usize) -> String {
        let Some(h) = &self.heads else { return self.pos.scatter(b, x, new, rank) };
        let xh = split(b, x, h);
        let g2 = if matches!(self.pos, Selection::Whole) {
            new.to_string()
        } else {
            let g = h.sel.gather(b, &xh);
            let gt = transpose(b, &g);
            let nt = transpose(b, new);
            let s = self.pos.scatter(b, &gt, &nt, 4);
            transpose(b, &s)
        };
        let xh2 = h.sel.scatter(b, &xh, &g2, 4);
        let t = transpose(b, &xh2);
        let shape = b.ints(&[3], &[0, 0, (h.count * h.dim) as i64]);
        b.op("Reshape", &[&t, &shape], vec![])
    }

    /// The type of the run-time source `name` (`source_representations.<i>`) for these units.
    pub fn runtime_type(&self, rep: &Rep, site: &Site, elem: i32, width: Option<usize>, name: &str) -> ValueType {
        let shape = site.ty.shape.as_deref().unwrap_or(&[]);
        let dim = |i: usize, default: &str| shape.get(i).cloned().unwrap_or(Dim::Named(default.into()));
        let count = |p: &Positions, default: Dim| match p {
            Positions::Fixed(rows) => Dim::Fixed(rows[0].len() as i64),
            _ => default,
        };
        let w = super::lower::runtime_width(site, self.width(width), name);
        let k = count(&rep.positions, dim(1, "seq"));
        let dims = match (&self.heads, &rep.heads) {
            (Some(h), Some(sel)) => vec![dim(0, "batch"), count(&sel.base, Dim::Fixed(h.count as i64)), k, w],
            _ => vec![dim(0, "batch"), k, w],
        };
        ValueType { elem: Some(elem), shape: Some(dims) }
    }
}

fn split(b: &mut Builder, x: &str, h: &HeadAxis) -> String {
    let shape = b.ints(&[4], &[0, 0, h.count as i64, h.dim as i64]);
    let r = b.op("Reshape", &[x, &shape], vec![]);
    b.op("Transpose", &[&r], vec![attr_ints("perm", &[0, 2, 1, 3])])
}

/// Swaps axes 1 and 2 of a rank-4 tensor.
fn transpose(b: &mut Builder, x: &str) -> String {
    b.op("Transpose", &[x], vec![attr_ints("perm", &[0, 2, 1, 3])])
}

/// pyvene's Collect at head units: the `[b, kh, kp, d]` selection is flattened to
/// `[b, kp, kh·d]`, cut to `[..., :idim]` (or the subspace columns), and viewed back as
/// `[b, kh, kp, -1]`; `idim` is `d × max_number_of_units`. Returns the value and its shape.
/// With run-time heads the head count is `max_number_of_units` (see [`collect_heads`]).
pub fn collect(b: &mut Builder, s: &str, (rep, i): (&Rep, usize), units: &Units, site: &Site) -> (String, Vec<Dim>) {
    let h = units.heads.as_ref().expect("collect at head units splits heads");
    let shape = site.ty.shape.as_deref().unwrap_or(&[]);
    let batch = shape.first().cloned().unwrap_or(Dim::Named("batch".into()));
    let count = |p: &Positions, all: Dim, runtime: Dim| match p {
        Positions::Fixed(rows) => Dim::Fixed(rows[0].len() as i64),
        Positions::Runtime => runtime,
        Positions::All => all,
    };
    let sel = rep.heads.as_ref().expect("head units have heads");
    let kh = count(&sel.base, Dim::Fixed(h.count as i64), Dim::Fixed(rep.max_units as i64));
    let seq = shape.get(1).cloned().unwrap_or(Dim::Named("seq".into()));
    let kp = count(&rep.positions, seq, Dim::Named(format!("units_{i}")));
    let d = h.dim;
    let full = vec![batch.clone(), kh.clone(), kp.clone(), Dim::Fixed(d as i64)];
    let Dim::Fixed(nh) = kh else { return (s.to_string(), full) };
    let nh = nh as usize;
    let cols: Option<Vec<i64>> = match &rep.dims {
        Dims::Prefix(n) => {
            let n = n.unwrap_or(d * rep.max_units);
            (n < nh * d).then(|| (0..n as i64).collect())
        }
        Dims::Shared(c) => Some(c.iter().map(|&c| c as i64).collect()),
        Dims::PerExample(rows) => Some(rows[0].iter().map(|&c| c as i64).collect()),
    };
    let Some(cols) = cols else { return (s.to_string(), full) };
    let t = transpose(b, s);
    let flat_shape = b.ints(&[3], &[0, 0, -1]);
    let flat = b.op("Reshape", &[&t, &flat_shape], vec![]);
    let idx = b.ints(&[cols.len() as i64], &cols);
    let picked = b.op("Gather", &[&flat, &idx], vec![super::builder::attr_int("axis", 2)]);
    let back = b.ints(&[4], &[0, 0, nh as i64, -1]);
    let r = b.op("Reshape", &[&picked, &back], vec![]);
    let out = transpose(b, &r);
    (out, vec![batch, kh, kp, Dim::Fixed((cols.len() / nh) as i64)])
}

/// Checks a representation's units against its site and settles the head size: head units
/// need a head component and a head component needs head units; the head size comes from
/// the schema's `head_dim` or the graph, and must divide the component's width; head indices
/// must be below the head count (the key/value head count for K/V under GQA).
pub fn check(rep: &Rep, site: &mut Site, head_dim: Option<usize>) -> Result<(), InterventionError> {
    let unit_at = rep.field("unit");
    let width = component_width(site);
    let value = site.value.clone();
    let Some(heads) = site.heads.as_mut() else {
        if rep.unit.has_heads() {
            return Err(InterventionError::new(
                unit_at,
                format!(
                    "unit `{}` needs a head component (head_attention_value_output, head_query_output, head_key_output, head_value_output); `{}` is not split into heads",
                    rep.unit.name(),
                    rep.component
                ),
            ));
        }
        return Ok(());
    };
    if rep.unit == Unit::Steps {
        return Err(InterventionError::new(
            unit_at,
            format!(
                "unit `t` selects the time steps of a recurrent cell and cannot be mixed with heads; `{}` is addressed by heads: use unit \"h\" or \"h.pos\"",
                rep.component
            ),
        ));
    }
    if rep.unit == Unit::Pos {
        return Err(InterventionError::new(
            unit_at,
            format!("`{}` is addressed by heads: use unit \"h\" or \"h.pos\"", rep.component),
        ));
    }
    let width = width
        .ok_or_else(|| InterventionError::new(rep.field("component"), format!("the width of `{value}` is unknown")))?;
    if let Some(s) = head_dim
        && (s == 0 || width % s != 0)
    {
        return Err(InterventionError::new(
            "head_dim",
            format!("head_dim {s} does not divide the width {width} of `{}`", rep.component),
        ));
    }
    let (d, at) = match (head_dim, heads.head_dim) {
        (Some(s), Some(g)) if s != g => {
            return Err(InterventionError::new(
                "head_dim",
                format!("is {s} but the model's heads are {g} wide (from {})", heads.from),
            ));
        }
        (Some(s), _) => (s, "head_dim".to_string()),
        (None, Some(g)) => (g, rep.field("component")),
        (None, None) => {
            return Err(InterventionError::new(
                rep.field("component"),
                format!(
                    "cannot tell the head size of `{}` from the graph ({}); give the top-level \"head_dim\"",
                    rep.component, heads.from
                ),
            ));
        }
    };
    if d == 0 || width % d != 0 {
        return Err(InterventionError::new(
            at,
            format!("head_dim {d} does not divide the width {width} of `{}`", rep.component),
        ));
    }
    heads.head_dim = Some(d);
    let count = width / d;
    let noun = heads.noun();
    site.via.push_str(&format!(", {count} {noun} of {d}"));
    if rep.kind == Kind::Noise {
        return Err(InterventionError::new(
            rep.field("intervention_type"),
            "NoiseIntervention (pyvene's fixed (1,4,d) noise) is not supported at head units",
        ));
    }
    if matches!(rep.dims, Dims::PerExample(_)) {
        return Err(InterventionError::new(
            format!("subspaces[{}]", rep.index),
            "per-example subspaces are not supported at head units; give one list for every example",
        ));
    }
    let sel = rep.heads.as_ref().expect("head units have heads");
    check_collect(rep, &sel.base, d)?;
    let mut sides = vec![("base", &sel.base)];
    if let Source::Run { .. } = &rep.source {
        sides.push(("source", &sel.source));
        let n = |p: &Positions| if let Positions::Fixed(r) = p { Some(r[0].len()) } else { None };
        if let (Some(a), Some(b)) = (n(&sel.base), n(&sel.source))
            && a != b
        {
            return Err(InterventionError::new(
                format!("unit_locations (representation {})", rep.index),
                "source and base must select the same number of heads",
            ));
        }
    }
    for (side, p) in sides {
        if let Positions::Fixed(rows) = p
            && let Some(bad) = rows.iter().flatten().find(|&&v| v as usize >= count)
        {
            return Err(InterventionError::new(
                rep.locations_field(Some(side), None),
                format!("head {bad} is out of range: `{}` has {count} {noun}", rep.component),
            ));
        }
    }
    Ok(())
}

/// pyvene views a head Collect's kept columns as `[b, kh, kp, cols / kh]`; when `kh` does not
/// divide them pyvene fails, and so does pvc, before writing anything.
fn check_collect(rep: &Rep, heads: &Positions, d: usize) -> Result<(), InterventionError> {
    let Positions::Fixed(rows) = heads else { return Ok(()) };
    let kh = rows[0].len();
    let kept = match &rep.dims {
        Dims::Prefix(n) => n.unwrap_or(d * rep.max_units).min(kh * d),
        Dims::Shared(c) => c.len(),
        Dims::PerExample(_) => return Ok(()),
    };
    if rep.kind != Kind::Collect || kept % kh == 0 {
        return Ok(());
    }
    Err(InterventionError::new(
        rep.field("max_number_of_units"),
        format!(
            "Collect keeps {kept} of the {kh} heads' {} columns, which pyvene cannot view as {kh} heads; set max_number_of_units to {kh}",
            kh * d
        ),
    ))
}

/// The component's width: the site's last axis, heads merged (`[b, s, H, d]`) and one part of
/// a fused projection.
fn component_width(site: &Site) -> Option<usize> {
    let shape = site.ty.shape.as_ref()?;
    let fixed = |d: &Dim| if let Dim::Fixed(v) = d { Some(*v as usize) } else { None };
    let full = match shape.as_slice() {
        [_, _, h, d] if site.merge_heads => fixed(h)? * fixed(d)?,
        [.., last] => fixed(last)?,
        [] => return None,
    };
    Some(site.split.as_ref().map_or(full, |c| c.width()))
}

/// The int64 `[batch, heads_<i>]` input of run-time head locations.
pub fn heads_input(name: &str, index: usize) -> pb::ValueInfoProto {
    let ty = ValueType {
        elem: Some(DataType::Int64 as i32),
        shape: Some(vec![Dim::Named("batch".into()), Dim::Named(format!("heads_{index}"))]),
    };
    ty.to_value_info(name)
}

/// The run-time head-location inputs `rep` (numbered `i` in generated names) needs on `side`.
pub fn inputs(rep: &Rep, i: usize, side: Side) -> Vec<pb::ValueInfoProto> {
    let Some(h) = &rep.heads else { return vec![] };
    let sel = if side == Side::Base { &h.base } else { &h.source };
    if *sel != Positions::Runtime {
        return vec![];
    }
    let mut input = heads_input(&format!("unit_locations.{i}.{}.heads", side.word()), i);
    if let Some(k) = collect_heads(rep) {
        input = fixed_heads_input(&format!("unit_locations.{i}.{}.heads", side.word()), k);
    }
    vec![input]
}

/// The head count a Collect at run-time heads is built for: pyvene views the kept
/// `d × max_number_of_units` columns per head, which a graph can only build for a known count,
/// so the heads input is then `[batch, max_number_of_units]`.
fn collect_heads(rep: &Rep) -> Option<usize> {
    (rep.kind == crate::schema::Kind::Collect).then_some(rep.max_units)
}

fn fixed_heads_input(name: &str, count: usize) -> pb::ValueInfoProto {
    let ty = ValueType {
        elem: Some(DataType::Int64 as i32),
        shape: Some(vec![Dim::Named("batch".into()), Dim::Fixed(count as i64)]),
    };
    ty.to_value_info(name)
}

/// The run-time head-location inputs of `rep` (numbered `i` in generated names) at `site`
/// (checked by [`check`]), each with the head count its values must stay below and the source
/// group (of this rewrite) whose batch it follows (`None`: the base).
pub fn runtime_heads(rep: &Rep, i: usize, site: &Site) -> Vec<(String, usize, Option<usize>)> {
    let (Some(sel), Some(d)) = (&rep.heads, site.heads.as_ref().and_then(|h| h.head_dim)) else { return vec![] };
    let Some(count) = component_width(site).map(|w| w / d) else { return vec![] };
    let mut out = Vec::new();
    if sel.base == Positions::Runtime {
        out.push((format!("unit_locations.{i}.base.heads"), count, None));
    }
    if let Source::Run { group, .. } = &rep.source
        && sel.source == Positions::Runtime
    {
        out.push((format!("unit_locations.{i}.source.heads"), count, Some(*group)));
    }
    out
}
