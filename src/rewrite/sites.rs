//! Resolving every representation's site before any pass runs, and rejecting conflicts.

use super::RewriteError;
use crate::locate::{Hook, Locator, Site};
use crate::schema::{Dims, Kind, Plan, Positions, Rep, Source};
use std::collections::BTreeMap;

/// A representation's located sites.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The base site.
    pub site: Site,
    /// Where the source run is read: the site itself, or the module's input for Skip.
    pub source_site: Option<Site>,
}

/// Resolves the sites of every representation of `plan`; errors name the JSON path.
pub fn resolve(loc: &Locator, graph: &crate::ir::Graph, plan: &Plan) -> Result<Vec<Resolved>, RewriteError> {
    let limit = loc.max_positions(graph);
    let mut out = Vec::with_capacity(plan.reps.len());
    for rep in &plan.reps {
        let at = rep.field("component");
        let mut site =
            loc.resolve(&rep.component, rep.layer).map_err(|cause| RewriteError::Locate { at: at.clone(), cause })?;
        crate::interventions::check_heads(rep, &mut site, plan.head_dim)?;
        let source_site = match (&rep.source, rep.kind) {
            (Source::Run { .. }, Kind::Skip) => Some(skip_input(loc, &site, &at)?),
            (Source::Run { .. }, _) => Some(site.clone()),
            _ => None,
        };
        if rep.kind == Kind::Skip && site.hook != Hook::Output {
            return Err(RewriteError::Locate {
                at,
                cause: crate::locate::LocateError::NoTensor {
                    module: rep.component.clone(),
                    side: "output (Skip replaces a module's output)".into(),
                },
            });
        }
        crate::interventions::check_calls(rep, &site, source_site.as_ref())?;
        check_numeric(rep, &site)?;
        if rep.unit != crate::schema::Unit::Steps {
            check_positions(rep, &site, limit.as_ref())?;
        }
        out.push(Resolved { site, source_site });
    }
    if !plan.serial {
        check_conflicts(&plan.reps, &out)?;
    }
    Ok(out)
}

/// Every kind but Collect writes numbers: a bool or string site (a causal mask, say) is refused,
/// as neither tract (no `Equal`) nor ONNX Runtime (no `Where`) computes on bool tensors the way
/// the lowering does.
fn check_numeric(rep: &Rep, site: &Site) -> Result<(), RewriteError> {
    match site.ty.elem {
        Some(e) if rep.kind != Kind::Collect && !crate::ir::is_numeric(e) => {
            Err(crate::interventions::InterventionError::new(
                rep.field("component"),
                format!(
                    "`{}` holds {} values; {} writes only numeric sites (CollectIntervention taps any)",
                    site.value,
                    crate::ir::dtype_name(e),
                    rep.kind.class()
                ),
            )
            .into())
        }
        _ => Ok(()),
    }
}

/// Static positions must exist: below a fixed sequence length, and below the number of rows of
/// the model's position table when it has one.
fn check_positions(rep: &Rep, site: &Site, limit: Option<&(usize, String)>) -> Result<(), RewriteError> {
    let seq = match site.ty.shape.as_ref().and_then(|s| s.get(1)) {
        Some(crate::ir::Dim::Fixed(n)) => Some((*n as usize, format!("`{}` has {n} positions", site.value))),
        _ => None,
    };
    let bound = seq.or_else(|| limit.map(|(n, m)| (*n, format!("the model has {n} positions ({m})"))));
    let Some((max, why)) = bound else { return Ok(()) };
    let mut sides = vec![("base", &rep.positions)];
    if let Source::Run { positions, .. } = &rep.source {
        sides.push(("source", positions));
    }
    for (side, p) in sides {
        if let Positions::Fixed(rows) = p
            && let Some(bad) = rows.iter().flatten().find(|&&v| v as usize >= max)
        {
            return Err(crate::interventions::InterventionError::new(
                rep.locations_field(Some(side), None),
                format!("position {bad} is out of range: {why}"),
            )
            .into());
        }
    }
    Ok(())
}

fn skip_input(loc: &Locator, site: &Site, at: &str) -> Result<Site, RewriteError> {
    let module = site.module.clone().ok_or_else(|| {
        RewriteError::from(crate::interventions::InterventionError::new(
            at.to_string(),
            format!(
                "`{}` is a tensor, not a module's output: SkipIntervention replaces a module's output by its input, so it needs a module component",
                site.value
            ),
        ))
    })?;
    let spelled = format!("{}.input", crate::locate::pyvene_spelling(&module));
    let input = loc.resolve(&spelled, 0).map_err(|cause| RewriteError::Locate { at: at.to_string(), cause })?;
    if !same_type(&input.ty, &site.ty) {
        return Err(crate::interventions::InterventionError::new(
            at,
            format!(
                "SkipIntervention replaces `{}`'s output with its input, and they differ: the input `{}` is {}, \
                 the output `{}` is {}",
                crate::locate::pyvene_spelling(&module),
                input.value,
                describe(&input.ty),
                site.value,
                describe(&site.ty)
            ),
        )
        .into());
    }
    Ok(input)
}

/// Whether two types can be the same: element types and ranks equal where known, and no known
/// dimension differing.
fn same_type(a: &crate::ir::ValueType, b: &crate::ir::ValueType) -> bool {
    use crate::ir::Dim::Fixed;
    if let (Some(x), Some(y)) = (a.elem, b.elem)
        && x != y
    {
        return false;
    }
    match (&a.shape, &b.shape) {
        (Some(x), Some(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|p| !matches!(p, (Fixed(m), Fixed(n)) if m != n))
        }
        _ => true,
    }
}

/// `float32 [batch, seq, 16]`.
fn describe(t: &crate::ir::ValueType) -> String {
    let elem = t.elem.map_or("of unknown type", crate::ir::dtype_name);
    let dims = t.shape.as_deref().map_or("?".to_string(), crate::ir::shape_text);
    format!("{elem} {dims}")
}

/// Two writing interventions on one tensor conflict when their units and dims can overlap:
/// the result would depend on an order the schema does not make explicit. A writing
/// intervention may not list a position twice in one example either (ScatterND leaves the
/// order of duplicate writes undefined). Representations are grouped by site and their
/// positions and columns sorted once, so the check is near-linear in the schema's size.
fn check_conflicts(reps: &[Rep], sites: &[Resolved]) -> Result<(), RewriteError> {
    let mut by_site: BTreeMap<&str, Vec<(usize, Footprint)>> = BTreeMap::new();
    for (i, rep) in reps.iter().enumerate() {
        if rep.kind == Kind::Collect {
            continue;
        }
        let fp = Footprint::of(rep)?;
        by_site.entry(sites[i].site.value.as_str()).or_default().push((i, fp));
    }
    for (site, group) in by_site {
        for (x, (a, fa)) in group.iter().enumerate() {
            for (b, fb) in &group[x + 1..] {
                if fa.positions_overlap(fb) && fa.dims_overlap(fb) && fa.heads_overlap(fb) {
                    return Err(RewriteError::Conflict {
                        first: reps[*a].at.clone(),
                        second: reps[*b].at.clone(),
                        site: site.to_string(),
                        what: "the same units and dims".into(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// What one writing representation touches: sorted positions per example (`None`: all),
/// sorted heads per example at head units (`None`: all) and sorted columns (`None`: all), or a
/// column prefix.
struct Footprint {
    rows: Option<Vec<Vec<i64>>>,
    heads: Option<Vec<Vec<i64>>>,
    cols: Cols,
}

enum Cols {
    All,
    Prefix(usize),
    Set(Vec<usize>),
}

impl Footprint {
    fn of(rep: &Rep) -> Result<Footprint, RewriteError> {
        let unit = if rep.unit == crate::schema::Unit::Steps { "step" } else { "position" };
        let rows = sorted_rows(rep, &rep.positions, unit)?;
        let heads = match &rep.heads {
            Some(h) => sorted_rows(rep, &h.base, "head")?,
            None => None,
        };
        let cols = match &rep.dims {
            Dims::Shared(c) => {
                let mut c = c.clone();
                c.sort_unstable();
                c.dedup();
                Cols::Set(c)
            }
            Dims::Prefix(Some(n)) => Cols::Prefix(*n),
            _ => Cols::All,
        };
        Ok(Footprint { rows, heads, cols })
    }

    fn positions_overlap(&self, other: &Footprint) -> bool {
        rows_meet(&self.rows, &other.rows)
    }

    fn heads_overlap(&self, other: &Footprint) -> bool {
        rows_meet(&self.heads, &other.heads)
    }

    fn dims_overlap(&self, other: &Footprint) -> bool {
        match (&self.cols, &other.cols) {
            (Cols::Set(x), Cols::Set(y)) => sorted_meet(x, y),
            (Cols::Set(x), Cols::Prefix(n)) | (Cols::Prefix(n), Cols::Set(x)) => x.first().is_some_and(|c| c < n),
            (Cols::Prefix(a), Cols::Prefix(b)) => *a > 0 && *b > 0,
            _ => true,
        }
    }
}

/// Each example's units sorted; a unit listed twice in one example is an error, since a write
/// would set it twice in an undefined order.
fn sorted_rows(rep: &Rep, p: &Positions, unit: &str) -> Result<Option<Vec<Vec<i64>>>, RewriteError> {
    let Positions::Fixed(rows) = p else { return Ok(None) };
    let mut sorted = Vec::with_capacity(rows.len());
    for (e, row) in rows.iter().enumerate() {
        let mut r = row.clone();
        r.sort_unstable();
        if let Some(w) = r.windows(2).find(|w| w[0] == w[1]) {
            return Err(crate::interventions::InterventionError::new(
                rep.locations_field(Some("base"), Some(e)),
                format!(
                    "{unit} {} is listed twice; {} would write it twice in an undefined order",
                    w[0],
                    rep.kind.class()
                ),
            )
            .into());
        }
        sorted.push(r);
    }
    Ok(Some(sorted))
}

/// Whether two per-example unit lists (`None`: all units) can share a unit in some example.
fn rows_meet(x: &Option<Vec<Vec<i64>>>, y: &Option<Vec<Vec<i64>>>) -> bool {
    let (Some(x), Some(y)) = (x, y) else { return true };
    (0..x.len().max(y.len())).any(|r| sorted_meet(&x[r.min(x.len() - 1)], &y[r.min(y.len() - 1)]))
}

/// Whether two sorted lists share an element.
fn sorted_meet<T: Ord>(x: &[T], y: &[T]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < x.len() && j < y.len() {
        match x[i].cmp(&y[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}
