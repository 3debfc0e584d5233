//! [`FixBatch`]: explicit per-example locations fix the batch size of the model's inputs.

use crate::ir::{Dim, Model, ValueType};
use crate::onnx::s;
use crate::rewrite::{Cx, Pass, RewriteError};
use crate::schema::{Dims, Positions, Source};

/// When `unit_locations` list positions per example (`[intervention][batch][units]` with more
/// than one example), or `subspaces` list columns per example, the patched model only means
/// something for that many examples: the base
/// and source inputs get that fixed batch size instead of a symbol, so every runtime refuses
/// another batch instead of silently not intervening on the extra examples. Shorthands (one row
/// for every example) leave the batch free.
pub struct FixBatch;

impl Pass for FixBatch {
    fn name(&self) -> &'static str {
        "FixBatch"
    }

    fn run(&self, cx: &Cx, model: &mut Model) -> Result<(), RewriteError> {
        if let Some((sym, seq)) = fixed_seq(cx) {
            fix_inputs(model, &sym, seq);
        }
        let Some((batch, by)) = fixed_batch(cx)? else { return Ok(()) };
        let inits: std::collections::BTreeSet<String> =
            model.graph.initializers.iter().map(|t| s(&t.name).to_string()).collect();
        let pristine: Vec<String> = cx.pristine.graph.inputs.iter().map(|v| s(&v.name).to_string()).collect();
        let first = cx.numbering.groups;
        let ours = |name: &str| {
            pristine.iter().any(|p| p == name)
                || (first..first + cx.plan.groups).any(|g| name.starts_with(&format!("source.{g}.")))
        };
        let mut symbols = std::collections::BTreeSet::new();
        for v in model.graph.inputs.iter_mut() {
            let name = s(&v.name).to_string();
            if inits.contains(&name) || !ours(&name) {
                continue;
            }
            let mut ty = ValueType::from_value_info(v);
            let Some(d0) = ty.shape.as_mut().and_then(|d| d.first_mut()) else { continue };
            match d0 {
                Dim::Fixed(n) if *n == batch => {}
                Dim::Fixed(n) => {
                    return Err(RewriteError::Model(format!(
                        "input `{name}` has batch {n}, but {by} lists {batch} examples"
                    )));
                }
                Dim::Named(sym) => {
                    symbols.insert(std::mem::take(sym));
                    *d0 = Dim::Fixed(batch);
                    *v = ty.to_value_info(&name);
                }
            }
        }
        fix_symbols(&mut model.graph, &symbols, batch);
        Ok(())
    }
}

/// A trained intervention that pyvene flattens, on the whole tensor, sees `(b, s·d)`: its
/// weights fix the sequence length `s` (pyvene fails on any other), so the symbol of the site's
/// sequence axis becomes that number.
fn fixed_seq(cx: &Cx) -> Option<(String, i64)> {
    cx.plan.reps.iter().zip(&cx.sites).find_map(|(rep, r)| {
        let whole = rep.positions == Positions::All && rep.heads.as_ref().is_none_or(|h| h.base == Positions::All);
        let t = rep.trained.as_ref().filter(|_| rep.kind.flattens() && whole)?;
        let [_, Dim::Named(sym), .., Dim::Fixed(w)] = r.site.ty.shape.as_deref()? else { return None };
        let n = t.input_width() as i64;
        (*w > 0 && n % *w == 0).then(|| (sym.clone(), n / *w))
    })
}

/// Every input dim and declared type named `sym` becomes `size`.
fn fix_inputs(model: &mut Model, sym: &str, size: i64) {
    for v in model.graph.inputs.iter_mut() {
        let mut ty = ValueType::from_value_info(v);
        let Some(dims) = ty.shape.as_mut() else { continue };
        if !dims.iter().any(|d| matches!(d, Dim::Named(n) if n == sym)) {
            continue;
        }
        for d in dims.iter_mut() {
            if matches!(d, Dim::Named(n) if n == sym) {
                *d = Dim::Fixed(size);
            }
        }
        let name = s(&v.name).to_string();
        *v = ty.to_value_info(&name);
    }
    fix_symbols(&mut model.graph, &std::iter::once(sym.to_string()).collect(), size);
}

/// Declared types elsewhere in the graph that name a fixed symbol take its size too: a symbol
/// means one size across the graph, and tract refuses a graph that says otherwise.
fn fix_symbols(g: &mut crate::ir::Graph, symbols: &std::collections::BTreeSet<String>, batch: i64) {
    for v in g.outputs.iter_mut().chain(g.value_info.iter_mut()) {
        let mut ty = ValueType::from_value_info(v);
        let Some(dims) = ty.shape.as_mut() else { continue };
        let mut changed = false;
        for d in dims.iter_mut() {
            if matches!(d, Dim::Named(n) if symbols.contains(n)) {
                *d = Dim::Fixed(batch);
                changed = true;
            }
        }
        if changed {
            let name = s(&v.name).to_string();
            *v = ty.to_value_info(&name);
        }
    }
}

/// The batch size explicit per-example locations fix, and the JSON path that fixes it; an error
/// when two representations list different numbers of examples.
fn fixed_batch(cx: &Cx) -> Result<Option<(i64, String)>, RewriteError> {
    let mut found: Option<(i64, String)> = None;
    for rep in &cx.plan.reps {
        let mut lists: Vec<(usize, String)> = Vec::new();
        let mut sides = vec![("base", &rep.positions)];
        if let Source::Run { positions, .. } = &rep.source {
            sides.push(("source", positions));
        }
        for (side, p) in sides {
            if let Positions::Fixed(rows) = p {
                lists.push((rows.len(), rep.locations_field(Some(side), None)));
            }
        }
        if let Dims::PerExample(rows) = &rep.dims {
            lists.push((rows.len(), format!("subspaces[{}]", rep.index)));
        }
        for (n, by) in lists.into_iter().filter(|(n, _)| *n >= 2) {
            let n = n as i64;
            match &found {
                Some((m, first)) if *m != n => {
                    return Err(crate::interventions::InterventionError::new(
                        by,
                        format!("lists {n} examples, but {first} lists {m}: every example needs its locations"),
                    )
                    .into());
                }
                Some(_) => {}
                None => found = Some((n, by)),
            }
        }
    }
    Ok(found)
}
