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
    /// A module the family says returns a tuple: every element, by name (its hook sees
    /// `output`, the element pyvene's hook takes).
    pub tuple: Option<Vec<(String, TensorInfo)>>,
    /// How many times it runs, when more than once (a recurrent cell, once per time step; the
    /// input and output above are its first call's, and unit `t` addresses each call).
    pub calls: Option<usize>,
}

/// Where one abstract component lands, as `pvc inspect --components` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentInfo {
    /// The pyvene component name.
    pub component: String,
    /// How it resolved at layer 0 (module, hook, tensor, cut, heads), or why it did not.
    pub at_layer_0: String,
    /// The tensor at layer 0, when it resolved.
    pub tensor: Option<TensorInfo>,
}

/// The component map of a model: which family (detected, named or inferred, and why) and
/// where every component lands.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentsReport {
    /// The family, if any.
    pub family: Option<String>,
    /// How it was chosen.
    pub detection: String,
    /// Every component of its map.
    pub components: Vec<ComponentInfo>,
}

/// Where each component of the model's family lands (at layer 0).
pub fn components(loc: &Locator) -> ComponentsReport {
    let mut out = Vec::new();
    if let Some(f) = &loc.family {
        let names = f.components.keys().chain(f.refused.keys());
        for name in names {
            let (at, tensor) = match loc.resolve(name, 0) {
                Ok(site) => {
                    let prefix = format!("{name} (layer 0, family {}) → ", f.family);
                    let mut via = site.via.strip_prefix(&prefix).unwrap_or(&site.via).to_string();
                    let width = site.split.as_ref().map(|c| c.width()).or_else(|| match site.ty.shape.as_deref() {
                        Some([_, _, crate::ir::Dim::Fixed(h), crate::ir::Dim::Fixed(d)]) if site.merge_heads => {
                            Some((h * d) as usize)
                        }
                        Some([.., crate::ir::Dim::Fixed(w)]) => Some(*w as usize),
                        _ => None,
                    });
                    if let Some(h) = &site.heads {
                        match h.head_dim {
                            Some(d) => {
                                let n =
                                    width.filter(|w| d > 0 && w % d == 0).map_or("?".into(), |w| (w / d).to_string());
                                via.push_str(&format!(", {n} {} of {d} (from {})", h.noun(), h.from))
                            }
                            None => via.push_str(&format!(", {} of unknown size ({})", h.noun(), h.from)),
                        }
                    }
                    (via, Some(info(loc, &site.value)))
                }
                Err(e) => (format!("not located: {e}"), None),
            };
            out.push(ComponentInfo { component: name.clone(), at_layer_0: at, tensor });
        }
    }
    ComponentsReport {
        family: loc.family.as_ref().map(|f| f.family.clone()),
        detection: loc.detection.clone(),
        components: out,
    }
}

/// Renders the components report, one component a line.
pub fn render_components(r: &ComponentsReport) -> String {
    let mut out = String::new();
    put(&mut out, &format!("family: {} ({})", r.family.as_deref().unwrap_or("none"), r.detection));
    for c in &r.components {
        let t = c.tensor.as_ref().map_or(String::new(), |t| format!(" = {}", tensor_text(t)));
        put(&mut out, &format!("  {}: {}{t}", c.component, c.at_layer_0));
    }
    out
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
            output: loc
                .tuple_element(m)
                .map(|(v, _)| info(loc, &v))
                .or_else(|| m.output.as_ref().map(|b| info(loc, &b.value))),
            output_candidates: m.output.as_ref().map_or(0, |b| b.candidates),
            tuple: loc
                .tuple_rule(&m.path)
                .map(|r| r.elements.iter().cloned().zip(m.outputs.iter().map(|v| info(loc, v))).collect()),
            calls: m.calls.repeated().map(<[_]>::len),
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
        if let Some(elems) = &m.tuple {
            let list: Vec<String> = elems.iter().map(|(n, t)| format!("{n}: {}", tensor_text(t))).collect();
            let _ = write!(line, "  (a tuple: {}; hooks see the first)", list.join(", "));
        } else if m.output_candidates > 1 {
            let _ = write!(line, "  (hidden state of {} boundary tensors)", m.output_candidates);
        }
        if let Some(n) = m.calls {
            let _ = write!(line, "  (runs {n} times: its first call shown; unit t addresses each)");
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
