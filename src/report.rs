//! Human and machine reports: the module tree of `pvc inspect`.

use crate::ir::{Model, ValueType};
use crate::locate::{Exporter, Locator};
use crate::onnx::s;
use serde::Serialize;
use std::fmt::Write;

/// A tensor with its type, as far as known.
#[derive(Debug, Clone, Serialize)]
pub struct TensorInfo {
    /// Tensor name.
    pub name: String,
    /// Element type (`float32`), or `?`.
    pub dtype: String,
    /// Shape with symbolic dims, when the rank is known.
    pub shape: Option<Vec<crate::ir::Dim>>,
}

/// One module of the tree.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleInfo {
    /// Qualified path (`transformer.h.1.mlp`).
    pub path: String,
    /// pyvene's spelling (`transformer.h[1].mlp`).
    pub pyvene: String,
    /// Class name, when the exporter recorded it.
    pub class: Option<String>,
    /// Nodes in its scope.
    pub nodes: usize,
    /// What its pre-hook sees.
    pub input: Option<TensorInfo>,
    /// What its forward hook sees.
    pub output: Option<TensorInfo>,
    /// How many tensors crossed its output boundary.
    pub output_candidates: usize,
}

/// What `pvc inspect` reports.
#[derive(Debug, Clone, Serialize)]
pub struct InspectReport {
    /// The model file.
    pub model: String,
    /// The exporter convention detected.
    pub exporter: Exporter,
    /// The model family whose component map applies, if any.
    pub family: Option<String>,
    /// Graph inputs to feed.
    pub inputs: Vec<TensorInfo>,
    /// Graph outputs.
    pub outputs: Vec<TensorInfo>,
    /// Modules in path order.
    pub modules: Vec<ModuleInfo>,
    /// The schema pvc applied, when this model was written by `pvc rewrite`.
    pub pvc_schema: Option<serde_json::Value>,
}

fn info(loc: &Locator, name: &str) -> TensorInfo {
    let ty: ValueType = loc.types.get(name).cloned().unwrap_or_default();
    TensorInfo {
        name: name.to_string(),
        dtype: ty.elem.map_or("?", crate::ir::dtype_name).to_string(),
        shape: ty.shape,
    }
}

/// Builds the inspect report of `model`.
pub fn inspect(model: &Model, loc: &Locator) -> InspectReport {
    let g = &model.graph;
    let inits: std::collections::HashSet<&str> = g.initializers.iter().map(|t| s(&t.name)).collect();
    let modules = loc
        .modules
        .tree_order()
        .into_iter()
        .map(|m| ModuleInfo {
            path: m.path.clone(),
            pyvene: crate::locate::pyvene_spelling(&m.path),
            class: m.class.clone(),
            nodes: m.nodes.len(),
            input: m.input.as_ref().map(|b| info(loc, &b.value)),
            output: m.output.as_ref().map(|b| info(loc, &b.value)),
            output_candidates: m.output.as_ref().map_or(0, |b| b.candidates),
        })
        .collect();
    InspectReport {
        model: model.path.display().to_string(),
        exporter: loc.modules.exporter,
        family: loc.family.as_ref().map(|f| f.family.clone()),
        inputs: g.inputs.iter().filter(|v| !inits.contains(s(&v.name))).map(|v| info(loc, s(&v.name))).collect(),
        outputs: g.outputs.iter().map(|v| info(loc, s(&v.name))).collect(),
        modules,
        pvc_schema: model.metadata(crate::PVC_SCHEMA_KEY).and_then(|t| serde_json::from_str(t).ok()),
    }
}

fn tensor_text(t: &TensorInfo) -> String {
    let shape = t.shape.as_ref().map_or(String::new(), |dims| {
        let d: Vec<String> = dims
            .iter()
            .map(|d| match d {
                crate::ir::Dim::Fixed(v) => v.to_string(),
                crate::ir::Dim::Named(n) => n.clone(),
            })
            .collect();
        format!("[{}]", d.join(", "))
    });
    format!("{} {}{}", t.name, t.dtype, shape)
}

/// Renders the report as PyTorch's `print(model)` does, one module a line with its tensors.
pub fn render_tree(r: &InspectReport) -> String {
    let mut out = String::new();
    put(
        &mut out,
        &format!(
            "{} ({:?} exporter{})",
            r.model,
            r.exporter,
            r.family.as_ref().map_or(String::new(), |f| format!(", family {f}"))
        ),
    );
    for t in &r.inputs {
        put(&mut out, &format!("  input  {}", tensor_text(t)));
    }
    for t in &r.outputs {
        put(&mut out, &format!("  output {}", tensor_text(t)));
    }
    put(&mut out, "Model(");
    let mut stack: Vec<&str> = Vec::new();
    for (i, m) in r.modules.iter().enumerate() {
        while let Some(top) = stack.last() {
            if m.path.starts_with(&format!("{top}.")) {
                break;
            }
            stack.pop();
            put(&mut out, &format!("{})", "  ".repeat(stack.len() + 1)));
        }
        let depth = stack.len() + 1;
        let name = m.path.rsplit('.').next().unwrap_or(&m.path);
        let class = m.class.as_deref().unwrap_or(if m.nodes == 0 { "Container" } else { "Module" });
        let has_children = r.modules.get(i + 1).is_some_and(|n| n.path.starts_with(&format!("{}.", m.path)));
        let mut line = format!("{}({name}): {class}{}", "  ".repeat(depth), if has_children { "(" } else { "" });
        if let Some(t) = &m.input {
            let _ = write!(line, "  in: {}", tensor_text(t));
        }
        if let Some(t) = &m.output {
            let _ = write!(line, "  out: {}", tensor_text(t));
        }
        if m.output_candidates > 1 {
            let _ = write!(line, "  (hidden state of {} boundary tensors)", m.output_candidates);
        }
        put(&mut out, &line);
        if has_children {
            stack.push(&m.path);
        }
    }
    while stack.pop().is_some() {
        put(&mut out, &format!("{})", "  ".repeat(stack.len() + 1)));
    }
    put(&mut out, ")");
    if let Some(schema) = &r.pvc_schema {
        put(&mut out, &format!("pvc schema applied: {schema}"));
    }
    out
}

/// Appends `line` and a newline, with control characters in it escaped, so names taken from a
/// model can neither forge lines nor send terminal escapes.
fn put(out: &mut String, line: &str) {
    out.push_str(&crate::onnx::escape(line));
    out.push('\n');
}
