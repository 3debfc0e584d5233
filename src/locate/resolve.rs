//! [`Locator`]: component names to tensors ([`Site`]s).

use super::LocateError;
use super::cut::Cut;
use super::family::{self, Family, FamilyError, Hook};
use super::modules::ModuleMap;
use crate::ir::{Model, ValueType};
use crate::onnx::s;
use std::collections::HashMap;

/// A located intervention site: one tensor of the graph.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Site {
    /// The tensor.
    pub value: String,
    /// The module whose hook sees it, when it came from a module path.
    pub module: Option<String>,
    /// Which hook.
    pub hook: Hook,
    /// Element type and shape, as far as known.
    #[serde(skip)]
    pub ty: ValueType,
    /// Only these columns of the last axis belong to the component (a fused projection).
    pub split: Option<Cut>,
    /// Heads may need merging back into one axis before intervening.
    pub merge_heads: bool,
    /// How the name was resolved, for reports.
    pub via: String,
    /// Resolved through a family's component map (pyvene then knows the component's width,
    /// `embed_dim`; for module paths and raw tensors it is unknown, meaning all dims).
    pub abstract_component: bool,
    /// The component is addressed by heads: their count and size.
    pub heads: Option<super::heads::Heads>,
    /// The module runs more than once (a recurrent cell, once per time step): the tensor its
    /// hook sees on each call, in call order (`value` is the first). Empty for a module that
    /// runs once, a raw tensor, or calls that could not be told apart.
    pub calls: Vec<String>,
    /// Why the calls of the module could not be told apart, when its nodes come in several runs.
    pub calls_unclear: Option<String>,
}

/// Resolves components against one model.
#[derive(Debug, Clone)]
pub struct Locator {
    /// The module map.
    pub modules: ModuleMap,
    /// Types of values.
    pub types: HashMap<String, ValueType>,
    /// The model family, for abstract components.
    pub family: Option<Family>,
    /// Why tract could not analyse the model, when it could not (the types are then partial).
    pub analysis: Option<String>,
    /// How the family was chosen: detected (and which others matched), named, or inferred.
    pub detection: String,
    root: String,
    values: Vec<String>,
}

impl Locator {
    /// Builds the module map of `model` and infers its value types.
    pub fn new(model: &Model) -> Locator {
        let (types, analysis) = crate::ir::analyse_types(model);
        let modules = ModuleMap::build(&model.graph, &types);
        let mut values: Vec<String> = model.graph.inputs.iter().map(|v| s(&v.name).to_string()).collect();
        for id in model.graph.node_ids() {
            values.extend(model.graph.node(id).proto.output.iter().filter(|o| !o.is_empty()).cloned());
        }
        let mut loc =
            Locator { modules, types, family: None, root: String::new(), values, analysis, detection: String::new() };
        let found = super::detect::detect(&loc);
        loc.detection = found.note;
        if let Some((f, root)) = found.family {
            loc.family = Some(f);
            loc.root = root;
        } else {
            match super::infer::infer(&loc) {
                Ok((f, root, notes)) => {
                    loc.detection = format!("no family file matches; inferred from the module tree: {notes}");
                    loc.family = Some(f);
                    loc.root = root;
                }
                Err(why) => loc.detection = format!("{}; {why}", loc.detection),
            }
        }
        loc
    }

    /// Uses the family a model type names: a built-in name or model type (`gpt2`,
    /// `LlamaForCausalLM`, pyvene's class string) or a path to a `components.json` file.
    /// `infer` infers the map from the module tree even where a family file matches.
    pub fn set_model_type(&mut self, model_type: &str) -> Result<(), FamilyError> {
        if model_type == "infer" {
            let (f, root, notes) = super::infer::infer(self).map_err(|why| FamilyError::Uninferable { why })?;
            self.detection = format!("inferred from the module tree, as --model-type infer asks: {notes}");
            self.family = Some(f);
            self.root = root;
            return Ok(());
        }
        let f = family::resolve_model_type(model_type)?;
        self.root = self.root_of(&f).unwrap_or_default();
        self.detection = format!("{} named by the model type `{model_type}`", f.family);
        self.family = Some(f);
        Ok(())
    }

    /// Where the family's base model sits: one of its usual roots, or else the shortest prefix
    /// under which its anchor module exists (a model wrapped in another module).
    pub(super) fn root_of(&self, f: &Family) -> Option<String> {
        if let Some(r) = f.roots.iter().find(|r| self.modules.get(&format!("{r}{}", f.anchor)).is_some()) {
            return Some(r.clone());
        }
        let suffix = format!(".{}", f.anchor);
        self.modules
            .modules
            .keys()
            .filter_map(|p| p.strip_suffix(&suffix))
            .filter(|prefix| f.roots.iter().any(|r| r.is_empty() || prefix.ends_with(r.trim_end_matches('.'))))
            .min_by_key(|p| p.len())
            .map(|p| format!("{p}."))
    }

    /// Resolves `component` at `layer`: a module path ending in `.input`/`.output`
    /// (`transformer.h[1].mlp.output`), a raw tensor name, or an abstract pyvene component.
    pub fn resolve(&self, component: &str, layer: i64) -> Result<Site, LocateError> {
        if self.values.iter().any(|v| v == component) {
            return Ok(self.site(component, None, Hook::Output, format!("tensor `{component}`")));
        }
        if let Some((path, hook)) = split_hook(component) {
            return self.resolve_module(&canonical(path), hook, component);
        }
        let Some(fam) = &self.family else {
            if is_abstract(component) {
                let known: Vec<String> = family::builtin().into_iter().map(|f| f.family).collect();
                return Err(LocateError::NoFamily {
                    component: component.into(),
                    families: known.join(", "),
                    why: self.detection.clone(),
                });
            }
            return Err(self.unknown(component));
        };
        if let Some(why) = fam.refused.get(component) {
            return Err(LocateError::Refused {
                component: component.into(),
                family: fam.family.clone(),
                why: why.clone(),
            });
        }
        let Some(rule) = fam.components.get(component) else {
            let names: Vec<&String> = fam.components.keys().collect();
            return Err(LocateError::NotInFamily {
                component: component.into(),
                family: fam.family.clone(),
                suggestions: nearest(component, names.iter().map(|s| s.as_str()), 3),
            });
        };
        let spelled = format!("{}{}", self.root, rule.module.replace("{layer}", &layer.to_string()));
        let hook_word = if rule.hook == Hook::Input { "input" } else { "output" };
        let mut site = self.resolve_module(&canonical(&spelled), rule.hook, &format!("{spelled}.{hook_word}"))?;
        site.merge_heads = rule.merge_heads;
        if let Some(sp) = &rule.split {
            let cut = self.cut(fam, layer, component, sp, &site)?;
            let ranges: Vec<String> = cut.ranges.iter().map(|(lo, hi)| format!("{lo}..{hi}")).collect();
            site.via.push_str(&format!(", columns {} of {}", ranges.join(", "), cut.full));
            site.split = Some(cut);
        }
        site.abstract_component = true;
        if let Some(count) = rule.heads {
            site.heads = Some(self.heads(fam, layer, count, &site));
        }
        site.via = format!("{component} (layer {layer}, family {}) → {}", fam.family, site.via);
        Ok(site)
    }

    /// The columns of `site` a fused-projection component takes.
    fn cut(
        &self,
        fam: &Family,
        layer: i64,
        component: &str,
        sp: &super::Split,
        site: &Site,
    ) -> Result<Cut, LocateError> {
        let err = |why: String| LocateError::Cut { component: component.into(), value: site.value.clone(), why };
        let full = match site.ty.shape.as_deref() {
            Some([.., crate::ir::Dim::Fixed(w)]) => *w as usize,
            _ => return Err(err("its width is unknown".into())),
        };
        super::cut::cut(sp, full, self.head_shape(fam, layer)).map_err(err)
    }

    /// The family's root prefix (`transformer.`), empty when there is none.
    pub(super) fn root(&self) -> &str {
        &self.root
    }

    /// The number of positions the model can address, with the module that says so: the rows of
    /// the family's learned position table (GPT-2's `wpe`), or, when the family's anchor module
    /// runs once per time step (the GRU's `cells.0`, unrolled by the exporter), its call count.
    pub fn max_positions(&self, graph: &crate::ir::Graph) -> Option<(usize, String)> {
        let family = self.family.as_ref()?;
        let anchor = format!("{}{}", self.root, family.anchor);
        if let Some(calls) = self.modules.get(&anchor).and_then(|m| m.calls.repeated()) {
            return Some((
                calls.len(),
                format!("{anchor} runs {} times: the graph is unrolled for that many steps", calls.len()),
            ));
        }
        let table = family.position_table.as_ref()?;
        let path = format!("{}{table}", self.root);
        let m = self.modules.get(&path)?;
        m.nodes.iter().find_map(|&n| {
            let p = &graph.node(n).proto;
            if s(&p.op_type) != "Gather" {
                return None;
            }
            let rows = *graph.initializer(p.input.first()?)?.dims.first()?;
            Some((usize::try_from(rows).ok()?, path.clone()))
        })
    }

    fn resolve_module(&self, path: &str, hook: Hook, spelled: &str) -> Result<Site, LocateError> {
        let side = if hook == Hook::Input { "input" } else { "output" };
        if let Some(m) = self.modules.get(path).filter(|m| !m.nodes.is_empty()) {
            let b = if hook == Hook::Input { &m.input } else { &m.output };
            let b = b.as_ref().ok_or(LocateError::NoTensor { module: path.into(), side: side.into() })?;
            if hook == Hook::Output
                && let Some((value, via)) = self.tuple_element(m)
            {
                return Ok(self.site(&value, Some(path), hook, via));
            }
            let mut via = format!("{} {side}", pyvene_spelling(path));
            if b.candidates > 1 {
                via.push_str(&format!(" (hidden state chosen among {} boundary tensors)", b.candidates));
            }
            let mut site = self.site(&b.value, Some(path), hook, via);
            match &m.calls {
                super::Calls::Once => {}
                super::Calls::Unclear(why) => site.calls_unclear = Some(why.clone()),
                super::Calls::Repeated(calls) => {
                    site.calls = calls
                        .iter()
                        .map(|c| if hook == Hook::Input { &c.input } else { &c.output })
                        .map(|b| b.as_ref().map(|b| b.value.clone()))
                        .collect::<Option<Vec<_>>>()
                        .ok_or(LocateError::NoTensor { module: path.into(), side: side.into() })?;
                    site.via.push_str(&format!(", once per call: {} calls", calls.len()));
                }
            }
            return Ok(site);
        }
        if let Some(site) = self.nodeless(path) {
            return Ok(site);
        }
        Err(self.unknown(spelled))
    }

    /// The element pyvene's hook sees of a module the family says returns a tuple: its
    /// boundary outputs in production order, then the rule's element.
    pub fn tuple_element(&self, m: &super::Module) -> Option<(String, String)> {
        let rule = self.tuple_rule(&m.path)?;
        let outs = &m.outputs;
        let value = outs.get(rule.element)?.clone();
        let names = rule.elements.iter().zip(outs).map(|(n, v)| format!("{n} = `{v}`")).collect::<Vec<_>>().join(", ");
        let via = format!(
            "{} output (a tuple: {names}; pyvene's hook takes element {})",
            pyvene_spelling(&m.path),
            rule.element
        );
        Some((value, via))
    }

    /// The family's tuple rule for the module at `path`, if any.
    pub fn tuple_rule(&self, path: &str) -> Option<&super::family::TupleRule> {
        let fam = self.family.as_ref()?;
        fam.tuples.iter().find(|r| path == r.suffix || path.ends_with(&format!(".{}", r.suffix)))
    }

    fn nodeless(&self, path: &str) -> Option<Site> {
        let fam = self.family.as_ref()?;
        for rule in &fam.nodeless {
            let Some(base) = path.strip_suffix(rule.suffix.as_str()) else { continue };
            if !(base.is_empty() || base.ends_with('.')) {
                continue;
            }
            if let Some(sib) = &rule.same_as {
                let target = canonical(&format!("{base}{sib}"));
                let Some(m) = self.modules.get(&target).filter(|m| !m.nodes.is_empty()) else { continue };
                let b = if rule.hook == Some(Hook::Input) { &m.input } else { &m.output };
                let Some(b) = b.as_ref() else { continue };
                let via = format!("{} (no nodes; {})", pyvene_spelling(path), rule.why);
                return Some(self.site(&b.value, Some(path), Hook::Output, via));
            }
            if let Some(op) = &rule.last_op_in_parent {
                let parent = path.rsplit_once('.').map(|(p, _)| p).unwrap_or("");
                let Some(value) = self.last_op_output(parent, op) else { continue };
                let via = format!("{} (no nodes; {})", pyvene_spelling(path), rule.why);
                return Some(self.site(&value, Some(path), Hook::Output, via));
            }
        }
        None
    }

    fn last_op_output(&self, parent: &str, op: &str) -> Option<String> {
        let m = self.modules.get(parent)?;
        m.op_outputs.iter().rev().find(|(o, _)| o == op).map(|(_, v)| v.clone())
    }

    fn site(&self, value: &str, module: Option<&str>, hook: Hook, via: String) -> Site {
        Site {
            value: value.to_string(),
            module: module.map(str::to_string),
            hook,
            ty: self.types.get(value).cloned().unwrap_or_default(),
            split: None,
            merge_heads: false,
            via,
            abstract_component: false,
            heads: None,
            calls: Vec::new(),
            calls_unclear: None,
        }
    }

    fn unknown(&self, component: &str) -> LocateError {
        let mut names: Vec<String> = Vec::new();
        for m in self.modules.modules.values().filter(|m| !m.nodes.is_empty()) {
            let p = pyvene_spelling(&m.path);
            names.push(format!("{p}.output"));
            names.push(format!("{p}.input"));
        }
        let pool = names.iter().map(String::as_str).chain(self.values.iter().map(String::as_str));
        LocateError::Unknown { component: component.into(), suggestions: nearest(component, pool, 3) }
    }
}

fn is_abstract(component: &str) -> bool {
    !component.contains('.') && !component.contains('/')
}

/// Splits `a.b[1].c.output` into (`a.b[1].c`, Output).
fn split_hook(component: &str) -> Option<(&str, Hook)> {
    if let Some(p) = component.strip_suffix(".output") {
        return Some((p, Hook::Output));
    }
    component.strip_suffix(".input").map(|p| (p, Hook::Input))
}

/// `transformer.h[1].mlp` → `transformer.h.1.mlp` (the `named_modules` spelling).
pub fn canonical(path: &str) -> String {
    path.replace('[', ".").replace(']', "").replace("..", ".")
}

/// `transformer.h.1.mlp` → `transformer.h[1].mlp` (pyvene's spelling).
pub fn pyvene_spelling(path: &str) -> String {
    let mut out = String::new();
    for (i, atom) in path.split('.').enumerate() {
        if atom.parse::<u64>().is_ok() && i > 0 {
            out.push_str(&format!("[{atom}]"));
        } else {
            if i > 0 {
                out.push('.');
            }
            out.push_str(atom);
        }
    }
    out
}

/// The `k` names in `pool` closest to `word` by edit distance.
pub fn nearest<'a>(word: &str, pool: impl Iterator<Item = &'a str>, k: usize) -> Vec<String> {
    if word.len() > MAX_SUGGEST_LEN {
        return Vec::new();
    }
    let mut scored: Vec<(usize, &str)> =
        pool.filter(|p| p.len() <= MAX_SUGGEST_LEN).map(|p| (edit_distance(word, p), p)).collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(k).map(|(_, p)| p.to_string()).collect()
}

/// Names longer than this (in bytes) get no suggestions: the edit distance is quadratic.
pub const MAX_SUGGEST_LEN: usize = 256;

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
