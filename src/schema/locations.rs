//! pyvene's `unit_locations` and `subspaces` formats, shorthands included, resolved per
//! intervention (`_broadcast_unit_locations` / `_broadcast_subspaces` in pyvene 0.1.8).

use super::SchemaError;
use super::json::{At, is_int_list};
use super::plan::Positions;
use serde_json::Value;

/// Base and source positions of one intervention; `None` on the source side means "no source
/// side given" (the `{"base": ...}` form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locs {
    /// Source-side positions, when a source side was given.
    pub source: Option<Positions>,
    /// Base-side positions.
    pub base: Positions,
}

/// Resolves top-level `unit_locations` for `n` interventions.
///
/// - absent: `None` (each intervention picks its default);
/// - `null`: the whole tensor everywhere; `"runtime"`: positions given at run time;
/// - `{"sources->base": X}` / `{"base": X}` / a bare `X`, where `X` is an int (that position
///   for every example), a 2-int list (a `(source, base)` pair, even under `"base"`), another
///   flat int list (those positions for every example), or the full form: under
///   `"sources->base"` a pair `[source, base]`, each `[intervention][batch][units]`, and under
///   `"base"` the base side alone; a `null` entry means the whole tensor for that intervention.
pub fn unit_locations(root: &At, n: usize) -> Result<Option<Vec<Locs>>, SchemaError> {
    let Some(raw) = root.v.get("unit_locations") else { return Ok(None) };
    let at = At { v: raw, path: "unit_locations".into() };
    let all = |source: Option<Positions>, base: Positions| vec![Locs { source, base }; n];
    match raw {
        Value::Null => Ok(Some(all(Some(Positions::All), Positions::All))),
        Value::String(s) if s == "runtime" => Ok(Some(all(Some(Positions::Runtime), Positions::Runtime))),
        Value::Object(map) => {
            if let Some(key) = map.keys().find(|k| k.starts_with("source_") && k.contains("->")) {
                return Err(at.err(format!(
                    "`{key}` is serial mode's form: set \"mode\": \"serial\" (pyvene's default mode is parallel)"
                )));
            }
            if map.len() != 1 {
                return Err(at.err("expected exactly one key: \"sources->base\" or \"base\""));
            }
            if let Some(x) = at.get("sources->base") {
                return sides(&x, n, true).map(Some);
            }
            if let Some(x) = at.get("base") {
                return sides(&x, n, false).map(Some);
            }
            if map.contains_key("sources->base") || map.contains_key("base") {
                return Ok(Some(all(Some(Positions::All), Positions::All)));
            }
            let key = map.keys().next().cloned().unwrap_or_default();
            Err(at.err(format!("unknown key `{key}`; expected \"sources->base\" or \"base\"")))
        }
        _ => sides(&at, n, true).map(Some),
    }
}

/// Resolves serial mode's `unit_locations` for `n` interventions, one per source group:
/// intervention `i` reads source `i` and writes into the next run, keyed
/// `"source_<i>->source_<i+1>"` (the last `"source_<n-1>->base"`), each value in the
/// `sources->base` forms for that one intervention.
pub fn serial_locations(root: &At, n: usize) -> Result<Vec<Locs>, SchemaError> {
    let raw = root.get("unit_locations").ok_or_else(|| {
        root.err("mode serial needs unit_locations keyed \"source_0->source_1\", …, \"source_<n-1>->base\"")
    })?;
    let Some(map) = raw.v.as_object() else {
        return Err(raw.err("in serial mode, give an object keyed \"source_0->source_1\", …, \"source_<n-1>->base\""));
    };
    let keys: Vec<String> = (0..n)
        .map(|i| if i + 1 < n { format!("source_{i}->source_{}", i + 1) } else { format!("source_{i}->base") })
        .collect();
    if let Some(extra) = map.keys().find(|k| !keys.contains(k)) {
        return Err(
            raw.err(format!("unexpected key `{extra}`; serial mode with {n} interventions takes {}", keys.join(", ")))
        );
    }
    let mut out = Vec::with_capacity(n);
    for key in &keys {
        let x = raw.get(key).ok_or_else(|| {
            raw.err(format!("missing key `{key}`: serial mode with {n} interventions takes {}", keys.join(", ")))
        })?;
        let full = x.v.as_array().is_some_and(|a| a.len() == 2 && a.iter().all(Value::is_array));
        if !full {
            return Err(x.err(
                "serial mode takes the full form [[source rows], [base rows]] (pyvene broadcasts no shorthand there)",
            ));
        }
        let locs = sides(&x, 1, true)?.remove(0);
        if locs.base == Positions::Runtime || locs.source == Some(Positions::Runtime) {
            return Err(x.err("serial mode takes positions fixed in the schema"));
        }
        out.push(locs);
    }
    Ok(out)
}

fn sides(x: &At, n: usize, with_source: bool) -> Result<Vec<Locs>, SchemaError> {
    if let Some(v) = x.v.as_i64() {
        check_pos(x, v)?;
        let p = Positions::Fixed(vec![vec![v]]);
        let source = with_source.then(|| p.clone());
        return Ok(vec![Locs { source, base: p }; n]);
    }
    let arr = x.v.as_array().ok_or_else(|| x.err(format!("expected an int or a list, got {}", x.v)))?;
    let pair_like = arr.len() == 2 && arr.iter().all(|e| e.is_i64() || e.is_null()) && !arr.iter().all(Value::is_null);
    if pair_like {
        let one = |e: &Value| -> Result<Positions, SchemaError> {
            match e.as_i64() {
                Some(v) => check_pos(x, v).map(|_| Positions::Fixed(vec![vec![v]])),
                None => Ok(Positions::All),
            }
        };
        let (s, b) = (one(&arr[0])?, one(&arr[1])?);
        return Ok(vec![Locs { source: Some(s), base: b }; n]);
    }
    if is_int_list(x.v) {
        let row = x.ints()?;
        if row.is_empty() {
            return Err(x.err("selects no positions: give at least one, or null for the whole tensor"));
        }
        for &v in &row {
            check_pos(x, v)?;
        }
        let p = Positions::Fixed(vec![row]);
        return Ok(vec![Locs { source: with_source.then(|| p.clone()), base: p }; n]);
    }
    if with_source {
        let items = x.items()?;
        if items.len() != 2 {
            return Err(x.err("the full form is a pair [source locations, base locations]"));
        }
        let src = per_intervention(&items[0], n)?;
        let base = per_intervention(&items[1], n)?;
        return Ok(src.into_iter().zip(base).map(|(s, b)| Locs { source: Some(s), base: b }).collect());
    }
    let base = per_intervention(x, n)?;
    Ok(base.into_iter().map(|b| Locs { source: None, base: b }).collect())
}

fn per_intervention(x: &At, n: usize) -> Result<Vec<Positions>, SchemaError> {
    let items = x.items()?;
    if items.len() != n {
        return Err(x.err(format!("has {} entries but the schema has {n} representations", items.len())));
    }
    items.iter().map(batch_rows).collect()
}

/// One intervention's `[batch][units]` rows (`null`: the whole tensor).
pub(super) fn batch_rows(x: &At) -> Result<Positions, SchemaError> {
    if x.v.is_null() {
        return Ok(Positions::All);
    }
    let rows = x.items()?;
    if rows.is_empty() {
        return Err(x.err("expected one list of positions per example"));
    }
    let mut out = Vec::new();
    for r in rows {
        let row = r.ints()?;
        if row.is_empty() {
            return Err(r.err("an example needs at least one position"));
        }
        for &v in &row {
            check_pos(&r, v)?;
        }
        out.push(row);
    }
    if out.iter().any(|r| r.len() != out[0].len()) {
        return Err(x.err("every example must select the same number of units"));
    }
    Ok(Positions::Fixed(out))
}

fn check_pos(x: &At, v: i64) -> Result<(), SchemaError> {
    if v < 0 {
        return Err(x.err(format!("position {v} is negative")));
    }
    if v > super::plan::MAX_POSITION {
        return Err(
            x.err(format!("position {v} is past the largest supported position ({})", super::plan::MAX_POSITION))
        );
    }
    Ok(())
}

/// Per-intervention subspace selections as written: `None` for no subspaces, else one list of
/// column (or partition id) lists per example (a single row means every example).
pub fn subspaces(root: &At, n: usize) -> Result<Vec<Option<Vec<Vec<usize>>>>, SchemaError> {
    let Some(x) = root.get("subspaces") else { return Ok(vec![None; n]) };
    if let Some(v) = x.v.as_i64() {
        let v = usize::try_from(v).map_err(|_| x.err("a subspace index must be non-negative"))?;
        return Ok(vec![Some(vec![vec![v]]); n]);
    }
    if is_int_list(x.v) {
        return Ok(vec![Some(vec![indices(&x)?]); n]);
    }
    let items = x.items()?;
    if items.len() != n {
        return Err(x.err(format!("has {} entries but the schema has {n} representations", items.len())));
    }
    items
        .iter()
        .map(|e| {
            if e.v.is_null() {
                return Ok(None);
            }
            if let Some(v) = e.v.as_i64() {
                return Ok(Some(vec![vec![usize::try_from(v).map_err(|_| e.err("negative index"))?]]));
            }
            if is_int_list(e.v) {
                return Ok(Some(vec![indices(e)?]));
            }
            e.items()?.iter().map(indices).collect::<Result<Vec<_>, _>>().map(Some)
        })
        .collect()
}

fn indices(x: &At) -> Result<Vec<usize>, SchemaError> {
    let ints = x.ints()?;
    if ints.is_empty() {
        return Err(x.err("selects no subspace: give at least one index, or null for every dimension"));
    }
    ints.into_iter().map(|v| usize::try_from(v).map_err(|_| x.err(format!("index {v} is negative")))).collect()
}
