//! Resolving every representation's site before any pass runs, and rejecting conflicts.

use super::RewriteError;
use crate::locate::{Hook, Locator, Site};
use crate::schema::{Dims, Kind, Plan, Positions, Rep, Source};

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
        check_positions(rep, &site, limit.as_ref())?;
        out.push(Resolved { site, source_site });
    }
    check_conflicts(&plan.reps, &out)?;
    Ok(out)
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
                format!("unit_locations ({side} side of {})", rep.at),
                format!("position {bad} is out of range: {why}"),
            )
            .into());
        }
    }
    Ok(())
}

fn skip_input(loc: &Locator, site: &Site, at: &str) -> Result<Site, RewriteError> {
    let module = site.module.clone().ok_or_else(|| RewriteError::Locate {
        at: at.to_string(),
        cause: crate::locate::LocateError::NoTensor {
            module: site.value.clone(),
            side: "module (Skip needs a module component)".into(),
        },
    })?;
    let spelled = format!("{}.input", crate::locate::pyvene_spelling(&module));
    loc.resolve(&spelled, 0).map_err(|cause| RewriteError::Locate { at: at.to_string(), cause })
}

/// Two writing interventions on one tensor conflict when their units and dims can overlap:
/// the result would depend on an order the schema does not make explicit.
fn check_conflicts(reps: &[Rep], sites: &[Resolved]) -> Result<(), RewriteError> {
    for (a, ra) in reps.iter().enumerate() {
        for (b, rb) in reps.iter().enumerate().skip(a + 1) {
            if ra.kind == Kind::Collect || rb.kind == Kind::Collect || sites[a].site.value != sites[b].site.value {
                continue;
            }
            if positions_overlap(&ra.positions, &rb.positions)
                && dims_overlap(&ra.dims, &rb.dims)
                && crate::schema::heads_overlap(ra, rb)
            {
                return Err(RewriteError::Conflict {
                    first: ra.at.clone(),
                    second: rb.at.clone(),
                    site: sites[a].site.value.clone(),
                    what: "the same units and dims".into(),
                });
            }
        }
    }
    Ok(())
}

fn positions_overlap(a: &Positions, b: &Positions) -> bool {
    match (a, b) {
        (Positions::Fixed(x), Positions::Fixed(y)) => {
            let rows = x.len().max(y.len());
            (0..rows).any(|r| {
                let xr = &x[r.min(x.len() - 1)];
                let yr = &y[r.min(y.len() - 1)];
                xr.iter().any(|p| yr.contains(p))
            })
        }
        _ => true,
    }
}

fn dims_overlap(a: &Dims, b: &Dims) -> bool {
    let cols = |d: &Dims| -> Option<Vec<usize>> {
        match d {
            Dims::Shared(c) => Some(c.clone()),
            Dims::Prefix(Some(n)) => Some((0..*n).collect()),
            _ => None,
        }
    };
    match (cols(a), cols(b)) {
        (Some(x), Some(y)) => x.iter().any(|c| y.contains(c)),
        _ => true,
    }
}
