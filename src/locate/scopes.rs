//! Module scopes of nodes, as each torch exporter records them.
//!
//! - The dynamo exporter writes `pkg.torch.onnx.name_scopes` into node metadata: a Python list
//!   of qualified module paths, ending with the FX node name.
//! - The legacy exporter names nodes `/<seg>/<seg>/.../<Op>`: one segment per module whose
//!   forward ran, spelled from the module's last non-numeric atom on (`h.1` for
//!   `transformer.h.1`, `net.1` for `net.1` inside the Sequential `net`).

use crate::onnx::{pb, s};

/// Which exporter's conventions a graph follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Exporter {
    /// `torch.onnx.export(dynamo=False)`: scopes in node names.
    Legacy,
    /// `torch.onnx.export(dynamo=True)`: scopes in node metadata.
    Dynamo,
    /// No scopes: only raw tensor names can be addressed.
    Unknown,
}

/// Metadata key of the dynamo exporter's scope list.
const NAME_SCOPES: &str = "pkg.torch.onnx.name_scopes";
/// Metadata key of the dynamo exporter's class list.
const CLASS_HIERARCHY: &str = "pkg.torch.onnx.class_hierarchy";

/// The module paths a node lies in, outermost first (the root `""` excluded), each with its
/// class name where the exporter recorded one (dynamo only).
pub fn node_scopes(node: &pb::NodeProto) -> (Exporter, Vec<(String, Option<String>)>) {
    if let Some(list) = metadata(node, NAME_SCOPES) {
        let mut paths = parse_py_list(list);
        paths.pop();
        let classes = metadata(node, CLASS_HIERARCHY).map(parse_py_list).unwrap_or_default();
        let entries = paths
            .into_iter()
            .enumerate()
            .filter(|(_, p)| !p.is_empty() && !p.starts_with("_empty_nn_module_stack"))
            .map(|(i, p)| {
                let class = classes.get(i).map(|c| c.rsplit('.').next().unwrap_or(c).to_string());
                (p, class)
            })
            .collect();
        return (Exporter::Dynamo, entries);
    }
    let name = s(&node.name);
    if name.starts_with('/') {
        let segs: Vec<&str> = name.split('/').collect();
        if segs.len() > 2 {
            let paths = legacy_paths(&segs[1..segs.len() - 1]);
            return (Exporter::Legacy, paths.into_iter().map(|p| (p, None)).collect());
        }
        return (Exporter::Legacy, vec![]);
    }
    (Exporter::Unknown, vec![])
}

fn metadata<'a>(node: &'a pb::NodeProto, key: &str) -> Option<&'a str> {
    node.metadata_props.iter().find(|p| s(&p.key) == key).map(|p| s(&p.value))
}

/// Parses a Python `repr` of a list of strings: `['', 'model', 'model.layers.1']`.
fn parse_py_list(text: &str) -> Vec<String> {
    let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' || c == '"' {
            let mut item = String::new();
            while let Some(d) = chars.next() {
                match d {
                    '\\' => item.extend(chars.next()),
                    d if d == c => break,
                    d => item.push(d),
                }
            }
            out.push(item);
        }
    }
    out
}

/// Rebuilds qualified paths from legacy segments.
///
/// A segment whose non-numeric head repeats the parent's last atom and whose tail is numeric
/// (`net.1` inside `net`) names a child of that parent; any other segment is appended whole,
/// covering never-called containers such as `ModuleList`s (`h.1` inside `transformer`).
fn legacy_paths(segs: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(segs.len());
    for seg in segs {
        let parent = out.last().cloned().unwrap_or_default();
        let atoms: Vec<&str> = seg.split('.').collect();
        let tail_numeric = atoms.len() > 1 && atoms[1..].iter().all(|a| a.parse::<u64>().is_ok());
        let parent_last = parent.rsplit('.').next().unwrap_or("");
        let path = if parent.is_empty() {
            seg.to_string()
        } else if tail_numeric && atoms[0] == parent_last {
            format!("{parent}.{}", atoms[1..].join("."))
        } else {
            format!("{parent}.{seg}")
        };
        out.push(path);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_segments_cover_module_lists_and_sequential_children() {
        assert_eq!(
            legacy_paths(&["transformer", "h.1", "mlp"]),
            ["transformer", "transformer.h.1", "transformer.h.1.mlp"]
        );
        assert_eq!(legacy_paths(&["net", "net.2"]), ["net", "net.2"]);
        assert_eq!(legacy_paths(&["model", "layers.0", "self_attn"])[2], "model.layers.0.self_attn");
    }

    #[test]
    fn python_list_repr_parses() {
        assert_eq!(
            parse_py_list("['', 'model', 'model.layers.1', 'linear_13']"),
            ["", "model", "model.layers.1", "linear_13"]
        );
    }
}
