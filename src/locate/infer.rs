//! A component map for a conventional decoder no family file covers, inferred from the module
//! tree: the repeated layer list, its attention and MLP children, their projection names. Head
//! counts come from the graph later, as for any family (the attention's per-head reshapes).

use super::family::{ComponentRule, Family, Hook, TupleRule};
use super::heads::HeadCount;
use super::resolve::Locator;
use std::collections::BTreeMap;

const ATTENTION: &[&str] = &["self_attn", "attn", "attention", "self_attention"];
const MLP: &[&str] = &["mlp", "feed_forward", "ffn"];
const ACTIVATION: &[&str] = &["act_fn", "act", "activation_fn", "activation"];
const QUERY: &[&str] = &["q_proj", "query"];
const KEY: &[&str] = &["k_proj", "key"];
const VALUE: &[&str] = &["v_proj", "value"];
const OUT: &[&str] = &["o_proj", "out_proj", "dense", "c_proj"];

/// The inferred family, its root, and what was inferred (for `pvc inspect --components`); or
/// why inference is unsure.
pub fn infer(loc: &Locator) -> Result<(Family, String, String), String> {
    let advice = "write rewrites/<family>/components.json for this model (README: Adding a family) and pass it with --model-type FILE";
    let layers = layer_lists(loc);
    let (list, count) = match layers.as_slice() {
        [] => {
            return Err(format!(
                "no repeated layer list (`<path>.0`, `<path>.1`, …) to infer a component map from; {advice}"
            ));
        }
        [one] => one.clone(),
        many => {
            let best = many.iter().map(|(_, n)| *n).max().unwrap_or(0);
            let top: Vec<&(String, usize)> = many.iter().filter(|(_, n)| *n == best).collect();
            if top.len() > 1 {
                let names: Vec<&str> = top.iter().map(|(p, _)| p.as_str()).collect();
                return Err(format!(
                    "inference is unsure: several layer lists ({}) repeat {best} times; {advice}",
                    names.join(", ")
                ));
            }
            top[0].clone()
        }
    };
    let (root, rel) = match list.rsplit_once('.') {
        Some((r, l)) => (format!("{r}."), l.to_string()),
        None => (String::new(), list.clone()),
    };
    let layer0 = format!("{list}.0");
    let child = |parent: &str, names: &[&str]| -> Option<String> {
        names
            .iter()
            .find(|n| loc.modules.get(&format!("{parent}.{n}")).is_some_and(|m| !m.nodes.is_empty()))
            .map(|n| n.to_string())
    };
    let attn = child(&layer0, ATTENTION).ok_or_else(|| {
        format!("inference is unsure: `{layer0}` has no attention child ({}); {advice}", ATTENTION.join(", "))
    })?;
    let mlp = child(&layer0, MLP)
        .ok_or_else(|| format!("inference is unsure: `{layer0}` has no MLP child ({}); {advice}", MLP.join(", ")))?;
    let l = format!("{rel}[{{layer}}]");
    let rule = |module: String, hook: Hook, heads: Option<HeadCount>, merge: bool| ComponentRule {
        module,
        hook,
        split: None,
        merge_heads: merge,
        heads,
    };
    let mut c = BTreeMap::new();
    let mut found =
        vec![format!("layers `{root}{rel}[0..{count}]`"), format!("attention `{attn}`"), format!("MLP `{mlp}`")];
    c.insert("block_input".into(), rule(l.clone(), Hook::Input, None, false));
    c.insert("block_output".into(), rule(l.clone(), Hook::Output, None, false));
    c.insert("mlp_input".into(), rule(format!("{l}.{mlp}"), Hook::Input, None, false));
    c.insert("mlp_output".into(), rule(format!("{l}.{mlp}"), Hook::Output, None, false));
    c.insert("attention_input".into(), rule(format!("{l}.{attn}"), Hook::Input, None, false));
    c.insert("attention_output".into(), rule(format!("{l}.{attn}"), Hook::Output, None, false));
    let mut missing = Vec::new();
    if let Some(act) = child(&format!("{layer0}.{mlp}"), ACTIVATION) {
        c.insert("mlp_activation".into(), rule(format!("{l}.{mlp}.{act}"), Hook::Output, None, false));
        found.push(format!("activation `{mlp}.{act}`"));
    } else {
        missing.push(format!("mlp_activation (no {} child of `{mlp}`)", ACTIVATION.join("/")));
    }
    let a = format!("{layer0}.{attn}");
    let projections = [
        ("query_output", QUERY, HeadCount::Query),
        ("key_output", KEY, HeadCount::Kv),
        ("value_output", VALUE, HeadCount::Kv),
    ];
    for (name, names, count) in projections {
        if let Some(p) = child(&a, names) {
            c.insert(name.into(), rule(format!("{l}.{attn}.{p}"), Hook::Output, None, false));
            c.insert(format!("head_{name}"), rule(format!("{l}.{attn}.{p}"), Hook::Output, Some(count), false));
            found.push(format!("{} `{attn}.{p}`", name.trim_end_matches("_output")));
        } else {
            missing.push(format!("{name} and head_{name} (no {} child of `{attn}`)", names.join("/")));
        }
    }
    if let Some(o) = child(&a, OUT) {
        let m = format!("{l}.{attn}.{o}");
        c.insert("attention_value_output".into(), rule(m.clone(), Hook::Input, None, true));
        c.insert("head_attention_value_output".into(), rule(m, Hook::Input, Some(HeadCount::Query), true));
        found.push(format!("output projection `{attn}.{o}` (its input: attention_value_output)"));
    } else {
        missing.push(format!("attention_value_output (no {} child of `{attn}`)", OUT.join("/")));
    }
    let mut tuples = vec![];
    if let Some(rot) = loc.modules.modules.keys().find(|p| p.ends_with("rotary_emb"))
        && loc.modules.get(rot).is_some_and(|m| m.outputs.len() == 2)
    {
        tuples.push(TupleRule {
            suffix: "rotary_emb".into(),
            element: 0,
            elements: vec!["cos".into(), "sin".into()],
            why: "a rotary embedding returns (cos, sin); pyvene's output hook takes output[0]".into(),
        });
        found.push(format!("`{rot}` returns (cos, sin)"));
    }
    let fam = Family {
        family: "inferred".into(),
        about: "inferred from the module tree".into(),
        model_types: vec![],
        roots: vec![root.clone()],
        anchor: format!("{rel}.0"),
        signature: vec![],
        classes: vec![],
        dims: BTreeMap::new(),
        head_reshape_parts: None,
        tuples,
        refused: BTreeMap::new(),
        components: c,
        position_table: None,
        nodeless: vec![],
        attention: Some(format!("{l}.{attn}")),
    };
    let mut notes = found.join(", ");
    if !missing.is_empty() {
        notes.push_str(&format!("; not inferred: {}", missing.join(", ")));
    }
    Ok((fam, root, notes))
}

/// Paths `p` with children `p.0`, `p.1`, … (at least 2), each with nodes, and how many.
fn layer_lists(loc: &Locator) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for path in loc.modules.modules.keys() {
        let mut n = 0;
        while loc.modules.get(&format!("{path}.{n}")).is_some_and(|m| {
            loc.modules
                .modules
                .range(format!("{}.", m.path)..)
                .next()
                .is_some_and(|(k, _)| k.starts_with(&format!("{}.", m.path)))
        }) {
            n += 1;
        }
        if n >= 2 {
            out.push((path.clone(), n));
        }
    }
    out
}
