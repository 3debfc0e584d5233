//! Where a trained intervention sees its input: pyvene's `do_intervention` flattens the
//! gathered units of every kind that is neither Localist nor `keep_last_dim`, `(b, k, d) →
//! (b, k·d)` at positions (the whole tensor: `(b, s, d) → (b, s·d)`) and `(b, h, s, d) →
//! (b, s, h·d)` at heads, calls the intervention ([`super::what`]) and views the result back.
//! The weights' side must be that flattened width, which is the component's width times
//! `max_number_of_units` when pyvene built the intervention.

use super::InterventionError;
use super::builder::{Builder, attr_ints};
use super::what::{self, Io};
use crate::schema::{Dims, Kind, Positions, Rep, Trained};

/// The selection `s` and the source `src` (shaped alike) at one representation.
pub struct Gathered<'a> {
    /// Base units: `[b, k, d]`, or `[b, kh, kp, d]` at head units.
    pub s: &'a str,
    /// Source units, shaped like `s`.
    pub src: &'a str,
    /// Whether `s` is split into heads.
    pub heads: bool,
    /// One unit's width, when known.
    pub width: Option<usize>,
    /// The site's sequence length, when fixed.
    pub seq: Option<usize>,
}

/// The intervened units, shaped like `g.s`.
pub fn lower(b: &mut Builder, rep: &Rep, g: &Gathered, elem: i32) -> Result<String, InterventionError> {
    let t = rep.trained.as_ref().expect("trained kinds carry weights");
    let n = t.input_width();
    check_width(rep, t, g)?;
    if !crate::ir::is_float(elem) {
        return Err(InterventionError::new(
            rep.field("component"),
            format!("{} needs a float site, not {}", rep.kind.class(), crate::ir::dtype_name(elem)),
        ));
    }
    let dims = match &rep.dims {
        Dims::Prefix(None) => Dims::Prefix(Some(n)),
        d => d.clone(),
    };
    let take = match (rep.kind, &dims) {
        (Kind::LowRankRotatedSpace, Dims::Shared(_)) | (Kind::RotatedSpace | Kind::PcaRotatedSpace, _) => {
            what::select(&dims, t.inner_width())
        }
        (Kind::JumpReluAutoencoder, _) => what::select(&dims, t.inner_width()),
        _ => Ok(None),
    }
    .map_err(|m| InterventionError::new(format!("subspaces[{}]", rep.index), m))?;
    let flat = rep.kind.flattens();
    let (base, source) = if flat {
        (flatten(b, g.s, g.heads, n), flatten(b, g.src, g.heads, n))
    } else {
        (g.s.to_string(), g.src.to_string())
    };
    let io = Io { base: &base, source: &source, elem, take: &take };
    let out = what::apply(b, t, &io).map_err(|m| InterventionError::new(rep.field("component"), m))?;
    Ok(if flat { unflatten(b, &out, g.s, g.heads) } else { out })
}

/// The weights' side against the width the site gives: `k × d` when flattened and the unit
/// count is known, `d` otherwise.
fn check_width(rep: &Rep, t: &Trained, g: &Gathered) -> Result<(), InterventionError> {
    let n = t.input_width();
    let Some(d) = g.width else { return Ok(()) };
    let units = match (g.heads, &rep.positions) {
        (true, _) => rep.heads.as_ref().and_then(|h| fixed_count(&h.base)),
        (false, Positions::All) => g.seq,
        (false, p) => fixed_count(p),
    };
    let err = |want: String| {
        InterventionError::new(
            rep.field("component"),
            format!(
                "{}'s `{}` takes vectors of {n} but `{}` gives {want}",
                rep.kind.class(),
                t.width_param(),
                rep.component
            ),
        )
    };
    if !rep.kind.flattens() {
        return if d == n { Ok(()) } else { Err(err(format!("{d} (one unit)"))) };
    }
    let what = if g.heads { "heads" } else { "units" };
    match units {
        Some(k) if k * d != n => Err(err(format!("{k} {what} × {d} = {}", k * d))),
        None if !n.is_multiple_of(d) => Err(err(format!("a multiple of {d}"))),
        _ => Ok(()),
    }
}

fn fixed_count(p: &Positions) -> Option<usize> {
    if let Positions::Fixed(rows) = p { Some(rows[0].len()) } else { None }
}

fn flatten(b: &mut Builder, x: &str, heads: bool, n: usize) -> String {
    if heads {
        let t = b.op("Transpose", &[x], vec![attr_ints("perm", &[0, 2, 1, 3])]);
        let shape = b.ints(&[3], &[0, 0, n as i64]);
        b.op("Reshape", &[&t, &shape], vec![])
    } else {
        let shape = b.ints(&[2], &[0, n as i64]);
        b.op("Reshape", &[x, &shape], vec![])
    }
}

fn unflatten(b: &mut Builder, y: &str, like: &str, heads: bool) -> String {
    if heads {
        let t = b.op("Transpose", &[like], vec![attr_ints("perm", &[0, 2, 1, 3])]);
        let shape = b.op("Shape", &[&t], vec![]);
        let r = b.op("Reshape", &[y, &shape], vec![]);
        b.op("Transpose", &[&r], vec![attr_ints("perm", &[0, 2, 1, 3])])
    } else {
        let shape = b.op("Shape", &[like], vec![]);
        b.op("Reshape", &[y, &shape], vec![])
    }
}
