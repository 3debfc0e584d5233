//! Checking inputs against what the model says of them, before either engine runs, so that
//! tract and ONNX Runtime give the same answer to the same bad input: one error naming the
//! input, the index, the value and the limit.
//!
//! The rules come from the model file alone:
//! - **declared shapes**: the rank and fixed dims of every input, and one size per symbolic dim
//!   (`batch`, `seq`, `units_0`) across all inputs that declare it;
//! - **run-time positions** (`unit_locations.<i>.base` / `.source`, recorded by `pvc rewrite`
//!   under [`crate::PVC_LOCATIONS_KEY`]): each value is a position in `[0, length)` of the
//!   sequence it indexes, and the input's batch is that sequence's batch;
//! - **lookup tables**: an integer input that a `Gather` reads rows of an initializer with must
//!   hold row numbers in `[-rows, rows)` (ONNX's range); an input whose length along an axis
//!   becomes `Range(0, length)` indices into a table (a position table) must not be longer than
//!   the table.

use super::{RuntimeError, Tensor};
use crate::onnx::pb::{self, type_proto::Value as TypeValue};
use crate::onnx::{ModelFile, escape, s};
use std::collections::{HashMap, HashSet};

/// One declared dim of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decl {
    Fixed(u64),
    Sym(String),
    Any,
}

/// A length: fixed, or the size of a graph input's axis.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Length {
    Fixed(u64),
    Axis(String, usize),
}

/// The bounds of one run-time positions input.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Positions {
    input: String,
    length: Option<Length>,
    batch: Option<(String, usize)>,
    /// What the values index: `positions`, or `heads` (recorded as `"units"`).
    units: String,
}

/// An initializer `table` that a Gather reads with indices taken from `input`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Table {
    input: String,
    table: String,
    rows: u64,
    /// `None`: the input's values are the indices; `Some(axis)`: the indices are
    /// `0..input.shape[axis]`.
    length_of: Option<usize>,
}

/// What the model requires of its inputs.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    shapes: Vec<(String, Vec<Decl>)>,
    positions: Vec<Positions>,
    tables: Vec<Table>,
}

impl Rules {
    /// The rules of `file` for the graph inputs named `feeds`.
    pub(super) fn of(file: &ModelFile, feeds: &[String]) -> Rules {
        let Some(g) = file.proto.graph.as_ref() else { return Rules::default() };
        let shapes = g
            .input
            .iter()
            .filter(|v| feeds.iter().any(|f| f == s(&v.name)))
            .filter_map(|v| Some((s(&v.name).to_string(), declared(v)?)))
            .collect();
        let positions = file
            .proto
            .metadata_props
            .iter()
            .find(|p| s(&p.key) == crate::PVC_LOCATIONS_KEY)
            .and_then(|p| serde_json::from_str::<serde_json::Value>(s(&p.value)).ok())
            .map(|v| recorded_positions(&v))
            .unwrap_or_default();
        Rules { shapes, positions, tables: tables(g, feeds) }
    }

    /// Checks `inputs` (already matched to the model's inputs by name and type).
    pub fn check(&self, inputs: &[(&str, &Tensor)]) -> Result<(), RuntimeError> {
        let get = |n: &str| inputs.iter().find(|(name, _)| *name == n).map(|(_, t)| *t);
        self.check_shapes(&get)?;
        for p in &self.positions {
            if let Some(t) = get(&p.input) {
                check_positions(p, t, &get)?;
            }
        }
        for t in &self.tables {
            if let Some(x) = get(&t.input) {
                check_table(t, x)?;
            }
        }
        Ok(())
    }

    fn check_shapes<'a>(&self, get: &dyn Fn(&str) -> Option<&'a Tensor>) -> Result<(), RuntimeError> {
        let mut seen: HashMap<&str, (usize, &str, usize)> = HashMap::new();
        for (name, decl) in &self.shapes {
            let Some(t) = get(name) else { continue };
            let bad = |reason: String| RuntimeError::BadInput { name: name.clone(), reason };
            if t.shape.len() != decl.len() {
                return Err(bad(format!(
                    "has shape {:?} (rank {}) but the model declares rank {} ({})",
                    t.shape,
                    t.shape.len(),
                    decl.len(),
                    show_decl(decl)
                )));
            }
            for (axis, (d, &n)) in decl.iter().zip(&t.shape).enumerate() {
                match d {
                    Decl::Fixed(want) if *want != n as u64 => {
                        return Err(bad(format!(
                            "dimension {axis} is {n} but the model declares {want} ({})",
                            show_decl(decl)
                        )));
                    }
                    Decl::Sym(sym) => match seen.get(sym.as_str()) {
                        Some(&(size, other, other_axis)) if size != n => {
                            return Err(bad(format!(
                                "dimension {axis} (`{}`) is {n} but input `{}` has {size} there (dimension {other_axis})",
                                escape(sym),
                                escape(other)
                            )));
                        }
                        Some(_) => {}
                        None => {
                            seen.insert(sym, (n, name, axis));
                        }
                    },
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

fn show_decl(decl: &[Decl]) -> String {
    let d: Vec<String> = decl
        .iter()
        .map(|d| match d {
            Decl::Fixed(n) => n.to_string(),
            Decl::Sym(sym) => escape(sym).into_owned(),
            Decl::Any => "?".into(),
        })
        .collect();
    format!("[{}]", d.join(", "))
}

fn declared(v: &pb::ValueInfoProto) -> Option<Vec<Decl>> {
    let TypeValue::TensorType(t) = v.r#type.as_ref()?.value.as_ref()? else { return None };
    let shape = t.shape.as_ref()?;
    Some(
        shape
            .dim
            .iter()
            .map(|d| match &d.value {
                Some(pb::tensor_shape_proto::dimension::Value::DimValue(n)) if *n >= 0 => Decl::Fixed(*n as u64),
                Some(pb::tensor_shape_proto::dimension::Value::DimParam(p)) if !p.is_empty() => Decl::Sym(p.clone()),
                _ => Decl::Any,
            })
            .collect(),
    )
}

fn recorded_positions(v: &serde_json::Value) -> Vec<Positions> {
    let Some(map) = v.as_object() else { return vec![] };
    let axis_of = |v: &serde_json::Value| -> Option<(String, usize)> {
        let pair = v.as_array()?;
        Some((pair.first()?.as_str()?.to_string(), usize::try_from(pair.get(1)?.as_u64()?).ok()?))
    };
    map.iter()
        .map(|(input, b)| Positions {
            input: input.clone(),
            length: b
                .get("length")
                .and_then(|l| l.as_u64().map(Length::Fixed).or_else(|| axis_of(l).map(|(n, a)| Length::Axis(n, a)))),
            batch: b.get("batch").and_then(axis_of),
            units: b.get("units").and_then(|u| u.as_str()).unwrap_or("positions").to_string(),
        })
        .collect()
}

/// `` `name`[i][j] `` for flat index `flat` of a tensor of `shape`.
pub(crate) fn element(name: &str, shape: &[usize], mut flat: usize) -> String {
    let mut idx = vec![0; shape.len()];
    for (k, &n) in shape.iter().enumerate().rev() {
        if n > 0 {
            idx[k] = flat % n;
            flat /= n;
        }
    }
    let mut out = format!("`{}`", escape(name));
    for i in idx {
        out.push_str(&format!("[{i}]"));
    }
    out
}

fn ints(t: &Tensor) -> Option<Vec<i64>> {
    let c = t.bytes.chunks_exact(t.dtype.size());
    match t.dtype {
        super::DType::I64 => Some(c.map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect()),
        super::DType::I32 => Some(c.map(|b| i64::from(i32::from_le_bytes(b.try_into().unwrap()))).collect()),
        super::DType::U8 => Some(c.map(|b| i64::from(b[0])).collect()),
        _ => None,
    }
}

fn check_positions<'a>(
    p: &Positions,
    t: &Tensor,
    get: &dyn Fn(&str) -> Option<&'a Tensor>,
) -> Result<(), RuntimeError> {
    let bad = |reason: String| RuntimeError::BadInput { name: p.input.clone(), reason };
    if let Some((carrier, axis)) = &p.batch
        && let Some(c) = get(carrier)
        && let (Some(&want), Some(&have)) = (c.shape.get(*axis), t.shape.first())
        && want != have
    {
        return Err(bad(format!(
            "batch is {have} but input `{}` has batch {want} (dimension {axis}); positions need one row per example",
            escape(carrier)
        )));
    }
    let (limit, what) = match &p.length {
        Some(Length::Fixed(n)) => (Some(*n), format!("the site has {n} {}", p.units)),
        Some(Length::Axis(carrier, axis)) => match get(carrier).and_then(|c| c.shape.get(*axis)) {
            Some(&n) => (Some(n as u64), format!("the sequence length of `{}`", escape(carrier))),
            None => (None, String::new()),
        },
        None => (None, String::new()),
    };
    let Some(values) = ints(t) else { return Ok(()) };
    for (k, &v) in values.iter().enumerate() {
        let out = v < 0 || limit.is_some_and(|n| v as u64 >= n);
        if out {
            let range = match limit {
                Some(n) => format!("{} must be in [0, {n}), {what}", p.units),
                None => format!("{} must be 0 or more", p.units),
            };
            return Err(RuntimeError::InputValue(format!(
                "{} = {v} is out of range: {range}",
                element(&p.input, &t.shape, k)
            )));
        }
    }
    Ok(())
}

fn check_table(t: &Table, x: &Tensor) -> Result<(), RuntimeError> {
    let table = escape(&t.table);
    match t.length_of {
        Some(axis) => {
            if let Some(&n) = x.shape.get(axis)
                && n as u64 > t.rows
            {
                return Err(RuntimeError::BadInput {
                    name: t.input.clone(),
                    reason: format!(
                        "dimension {axis} is {n}, longer than the table `{table}` it indexes ({} rows)",
                        t.rows
                    ),
                });
            }
        }
        None => {
            let Some(values) = ints(x) else { return Ok(()) };
            let rows = t.rows as i64;
            if let Some(k) = values.iter().position(|&v| v >= rows || v < -rows) {
                return Err(RuntimeError::InputValue(format!(
                    "{} = {} is out of range for the table `{table}` ({} rows)",
                    element(&t.input, &x.shape, k),
                    values[k],
                    t.rows
                )));
            }
        }
    }
    Ok(())
}

/// Ops that pass their first input's values through unchanged (up to shape and int type).
const PASS_THROUGH: &[&str] = &["Identity", "Cast", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Expand"];

/// Gathers on an initializer whose indices come from a graph input in `feeds`: directly, or
/// as `Range(0, Shape(input)[axis])`.
fn tables(g: &pb::GraphProto, feeds: &[String]) -> Vec<Table> {
    let inits: HashMap<&str, &pb::TensorProto> = g.initializer.iter().map(|t| (s(&t.name), t)).collect();
    let producer: Producers = g.node.iter().flat_map(|n| n.output.iter().map(move |o| (o.as_str(), n))).collect();
    let feeds: HashSet<&str> = feeds.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for n in g.node.iter().filter(|n| s(&n.op_type) == "Gather" && n.input.len() == 2) {
        let Some(table) = inits.get(n.input[0].as_str()) else { continue };
        let axis = n.attribute.iter().find(|a| s(&a.name) == "axis").and_then(|a| a.i).unwrap_or(0);
        let Some(&rows) = usize::try_from(axis).ok().and_then(|a| table.dims.get(a)) else { continue };
        let Ok(rows) = u64::try_from(rows) else { continue };
        let idx = through(&n.input[1], &producer);
        let entry = |input: &str, length_of| Table {
            input: input.to_string(),
            table: s(&table.name).to_string(),
            rows,
            length_of,
        };
        if feeds.contains(idx) {
            out.push(entry(idx, None));
        } else if let Some((input, a)) = range_over(idx, &producer, &inits)
            && feeds.contains(input)
        {
            out.push(entry(input, Some(a)));
        }
    }
    out.sort_by(|a, b| (&a.input, &a.table).cmp(&(&b.input, &b.table)));
    out.dedup();
    out
}

type Producers<'g> = HashMap<&'g str, &'g pb::NodeProto>;

/// The value `v` passes through [`PASS_THROUGH`] ops from.
fn through<'g>(mut v: &'g str, producer: &Producers<'g>) -> &'g str {
    for _ in 0..16 {
        match producer.get(v) {
            Some(n) if PASS_THROUGH.contains(&s(&n.op_type)) && !n.input.is_empty() => v = &n.input[0],
            _ => break,
        }
    }
    v
}

/// `(input, axis)` when `v` is `Range(0, Shape(input)[axis], 1)`.
fn range_over<'g>(
    v: &str,
    producer: &Producers<'g>,
    inits: &HashMap<&str, &pb::TensorProto>,
) -> Option<(&'g str, usize)> {
    let range = producer.get(v).filter(|n| s(&n.op_type) == "Range" && n.input.len() == 3)?;
    if constant_int(&range.input[0], producer, inits)? != 0 || constant_int(&range.input[2], producer, inits)? != 1 {
        return None;
    }
    let pick =
        producer.get(through(&range.input[1], producer)).filter(|n| s(&n.op_type) == "Gather" && n.input.len() == 2)?;
    let shape = producer.get(pick.input[0].as_str()).filter(|n| s(&n.op_type) == "Shape" && n.attribute.is_empty())?;
    let axis = usize::try_from(constant_int(&pick.input[1], producer, inits)?).ok()?;
    Some((shape.input.first()?.as_str(), axis))
}

/// The value of a one-element int64 constant (a Constant node or an initializer).
fn constant_int(v: &str, producer: &Producers, inits: &HashMap<&str, &pb::TensorProto>) -> Option<i64> {
    let t = match producer.get(v) {
        Some(n) if s(&n.op_type) == "Constant" => n.attribute.iter().find(|a| s(&a.name) == "value")?.t.as_ref()?,
        Some(_) => return None,
        None => inits.get(v)?,
    };
    if t.data_type != Some(pb::tensor_proto::DataType::Int64 as i32) || t.dims.iter().product::<i64>() != 1 {
        return None;
    }
    match (t.int64_data.first(), t.raw_data.as_deref()) {
        (Some(&x), _) => Some(x),
        (None, Some(raw)) if raw.len() == 8 => Some(i64::from_le_bytes(raw.try_into().ok()?)),
        _ => None,
    }
}

/// The names of `inputs`, for [`Rules::check`].
pub(super) fn named<'a>(specs: &'a [super::IoSpec], ordered: &[&'a Tensor]) -> Vec<(&'a str, &'a Tensor)> {
    specs.iter().map(|s| s.name.as_str()).zip(ordered.iter().copied()).collect()
}
