//! pyvene's head units: `h` (heads, `[batch][heads]` locations) and `h.pos` (heads × positions,
//! `[[heads per example], [positions per example]]` per intervention).
//!
//! Head locations are parsed here and kept apart from positions, so that a representation's
//! `positions` always address the sequence axis and its [`HeadSel`] the head axis.

use super::SchemaError;
use super::json::At;
use super::locations::{self, Locs};
use super::plan::{Positions, Source};
use serde_json::Value;

/// The unit an intervention addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Unit {
    /// Sequence positions (`pos`).
    Pos,
    /// Attention heads, every position (`h`).
    Heads,
    /// Heads × positions (`h.pos`).
    HeadsPos,
    /// Time steps of a recurrent model (`t`): the calls of a module that runs once per step;
    /// its locations select calls as `pos` selects positions (the README's Time steps).
    Steps,
}

impl Unit {
    /// pyvene's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Pos => "pos",
            Unit::Heads => "h",
            Unit::HeadsPos => "h.pos",
            Unit::Steps => "t",
        }
    }

    /// Whether the unit selects heads.
    pub fn has_heads(self) -> bool {
        matches!(self, Unit::Heads | Unit::HeadsPos)
    }
}

/// Which heads an intervention at a head unit touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadSel {
    /// Base-side heads.
    pub base: Positions,
    /// Source-side heads (read when the source is a run).
    pub source: Positions,
}

/// The unit a representation names (`pos` when absent).
pub(super) fn unit_of(u: Option<&At>) -> Result<Unit, SchemaError> {
    let Some(u) = u else { return Ok(Unit::Pos) };
    match u.str()? {
        "pos" => Ok(Unit::Pos),
        "h" => Ok(Unit::Heads),
        "h.pos" => Ok(Unit::HeadsPos),
        "t" => Ok(Unit::Steps),
        other => Err(u.err(format!("unknown unit `{other}`; pyvene's units are pos, h, h.pos, t"))),
    }
}

/// Position locations (absent: none given) and head locations, per intervention.
type Split = (Option<Vec<Locs>>, Vec<Option<Locs>>);

/// Top-level `unit_locations` split into sequence positions and heads, per intervention.
///
/// For `h` the locations pyvene takes (every form of [`locations::unit_locations`]) are
/// heads; for `h.pos` each intervention's entry is a pair `[[heads per example], [positions
/// per example]]`, in the full form only (pyvene's shorthands do not build pairs).
pub(super) fn split_locations(root: &At, units: &[Unit]) -> Result<Split, SchemaError> {
    let n = units.len();
    let raw = root.get("unit_locations");
    let plain = raw.as_ref().is_none_or(|r| matches!(r.v, Value::String(_)));
    if !units.contains(&Unit::HeadsPos) || plain {
        let Some(locs) = locations::unit_locations(root, n)? else { return Ok((None, vec![None; n])) };
        let mut heads = vec![None; n];
        let mut pos = Vec::with_capacity(n);
        for (i, l) in locs.into_iter().enumerate() {
            match units[i] {
                Unit::Pos | Unit::Steps => pos.push(l),
                Unit::Heads => {
                    pos.push(Locs { source: l.source.as_ref().map(|_| Positions::All), base: Positions::All });
                    heads[i] = Some(l);
                }
                Unit::HeadsPos => {
                    heads[i] = Some(l.clone());
                    pos.push(l);
                }
            }
        }
        return Ok((Some(pos), heads));
    }
    let raw = raw.expect("checked above");
    let (x, with_source) = match raw.v {
        Value::Object(_) => match (raw.get("sources->base"), raw.get("base")) {
            (Some(x), _) => (x, true),
            (None, Some(x)) => (x, false),
            _ => return Err(raw.err("with unit h.pos, give {\"sources->base\": [source, base]} or {\"base\": base}")),
        },
        _ => (raw.clone(), true),
    };
    if !x.v.is_array() {
        return Err(x.err(
            "unit h.pos takes [[heads per example], [positions per example]] per intervention (pyvene's shorthands build no such pair)",
        ));
    }
    let sides: Vec<Vec<(Positions, Positions)>> = if with_source {
        let items = x.items()?;
        if items.len() != 2 {
            return Err(x.err("the full form is a pair [source locations, base locations]"));
        }
        vec![entries(&items[0], units)?, entries(&items[1], units)?]
    } else {
        vec![entries(&x, units)?]
    };
    let mut pos = Vec::with_capacity(n);
    let mut heads = Vec::with_capacity(n);
    for i in 0..n {
        let (bh, bp) = sides.last().expect("one side at least")[i].clone();
        let src = with_source.then(|| sides[0][i].clone());
        pos.push(Locs { source: src.as_ref().map(|s| s.1.clone()), base: bp });
        heads.push(units[i].has_heads().then(|| Locs { source: src.map(|s| s.0), base: bh }));
    }
    Ok((Some(pos), heads))
}

/// One side's entries: `(heads, positions)` per intervention.
fn entries(x: &At, units: &[Unit]) -> Result<Vec<(Positions, Positions)>, SchemaError> {
    let items = x.items()?;
    if items.len() != units.len() {
        return Err(x.err(format!("has {} entries but the schema has {} representations", items.len(), units.len())));
    }
    items
        .iter()
        .zip(units)
        .map(|(e, unit)| match unit {
            _ if e.v.is_null() => Ok((Positions::All, Positions::All)),
            Unit::Pos | Unit::Steps => Ok((Positions::All, locations::batch_rows(e)?)),
            Unit::Heads => Ok((locations::batch_rows(e)?, Positions::All)),
            Unit::HeadsPos => {
                let pair = e.items()?;
                if pair.len() != 2 {
                    return Err(e.err("unit h.pos takes a pair [[heads per example], [positions per example]]"));
                }
                let (h, p) = (locations::batch_rows(&pair[0])?, locations::batch_rows(&pair[1])?);
                if let (Positions::Fixed(a), Positions::Fixed(b)) = (&h, &p)
                    && a.len() != b.len()
                    && a.len() != 1
                    && b.len() != 1
                {
                    return Err(e.err(format!("{} examples of heads but {} of positions", a.len(), b.len())));
                }
                Ok((h, p))
            }
        })
        .collect()
}

/// The head selection of a representation at `unit`, once its positions and source are known;
/// `heads` are the head locations given (absent: like the positions' default, so an
/// interchange with no locations takes its heads as run-time inputs too).
pub(super) fn selection(
    unit: Unit,
    heads: Option<Locs>,
    positions: &mut Positions,
    source: &mut Source,
) -> Option<HeadSel> {
    if !unit.has_heads() {
        return None;
    }
    let default = if *positions == Positions::Runtime { Positions::Runtime } else { Positions::All };
    let sel = match heads {
        Some(l) => HeadSel { source: l.source.unwrap_or(Positions::All), base: l.base },
        None => HeadSel { base: default.clone(), source: default },
    };
    if unit == Unit::Heads {
        *positions = Positions::All;
        if let Source::Run { positions, .. } = source {
            *positions = Positions::All;
        }
    }
    Some(sel)
}
