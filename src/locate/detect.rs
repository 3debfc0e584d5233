//! Which family a graph belongs to: the built-in family whose signature modules all exist and
//! that matches most specifically (a class name recorded by the exporter, then the most
//! signature modules).

use super::family::{self, Family};
use super::resolve::{Locator, canonical};

/// The family chosen for a graph, its root, and a sentence saying why.
#[derive(Debug, Clone)]
pub struct Detected {
    /// The family and its root prefix, if one matched.
    pub family: Option<(Family, String)>,
    /// Why: the matching families, and whether the choice matters.
    pub note: String,
}

/// How specifically `f` (rooted at `root`) matches: `None` when a signature module is missing.
fn score(loc: &Locator, f: &Family, root: &str) -> Option<(bool, usize)> {
    for sig in &f.signature {
        let path = canonical(&format!("{root}{}", sig.replace("{layer}", "0")));
        loc.modules.get(&path)?;
    }
    let class = loc
        .modules
        .modules
        .values()
        .any(|m| m.class.as_deref().is_some_and(|c| f.classes.iter().any(|p| c.starts_with(p.as_str()))));
    Some((class, f.signature.len()))
}

/// Detects the family of the graph `loc` reads.
pub fn detect(loc: &Locator) -> Detected {
    let mut found: Vec<((bool, usize), Family, String)> = Vec::new();
    for f in family::builtin() {
        let Some(root) = loc.root_of(&f) else { continue };
        if let Some(s) = score(loc, &f, &root) {
            found.push((s, f, root));
        }
    }
    let Some(best) = found.iter().map(|(s, _, _)| *s).max() else {
        return Detected { family: None, note: "no built-in family's signature modules are all present".into() };
    };
    let mut top: Vec<(Family, String)> =
        found.into_iter().filter(|(s, _, _)| *s == best).map(|(_, f, r)| (f, r)).collect();
    let (chosen, root) = top.remove(0);
    let why = if best.0 { "its class names and signature modules" } else { "its signature modules" };
    let note = if top.is_empty() {
        format!("detected {} from {why}", chosen.family)
    } else {
        let same: Vec<&str> = top
            .iter()
            .filter(|(f, r)| f.components == chosen.components && *r == root)
            .map(|(f, _)| f.family.as_str())
            .collect();
        let differ: Vec<&str> = top
            .iter()
            .filter(|(f, r)| f.components != chosen.components || *r != root)
            .map(|(f, _)| f.family.as_str())
            .collect();
        let mut n = format!("detected {} from {why}", chosen.family);
        if !same.is_empty() {
            n.push_str(&format!(
                "; {} match equally and map every component to the same modules, so the choice changes nothing",
                same.join(", ")
            ));
        }
        if !differ.is_empty() {
            n.push_str(&format!("; {} match equally but map differently: set model_type to choose", differ.join(", ")));
        }
        n
    };
    Detected { family: Some((chosen, root)), note }
}
