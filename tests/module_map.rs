//! The module map against the truth: tensors torch forward hooks saw, recorded by
//! `models/generate.py`.

use crate::util;
use pvc::ir::Model;
use pvc::locate::{Locator, pyvene_spelling};
use pvc::runtime::{Backend, TractBackend};

/// Hooks whose value is known not to be in the graph: a rotary embedding's pre-hook sees the
/// hidden states, which it reads only for their dtype. (Its output, a `(cos, sin)` tuple, is
/// checked: the family's tuple rule hooks `cos`, as pyvene does.)
const KNOWN_EXCEPTIONS: &[&str] = &["model.rotary_emb.input", "gpt_neox.rotary_emb.input"];

fn check_fixture(name: &str) {
    let refs = util::tensors(&util::model(&format!("{name}.ref.safetensors")));
    let mut model = Model::load(&util::model(&format!("{name}.onnx"))).unwrap();
    let loc = Locator::new(&model);
    let mut taps = Vec::new();
    let mut unresolved = Vec::new();
    for (key, _) in &refs {
        let Some(rest) = key.strip_prefix("module.") else { continue };
        let (path, side) = rest.rsplit_once('.').unwrap();
        if KNOWN_EXCEPTIONS.contains(&rest) {
            continue;
        }
        let spelled = format!("{}.{side}", pyvene_spelling(path));
        match loc.resolve(&spelled, 0) {
            Ok(site) => taps.push((site.value, format!("tap.{}", taps.len()), key.clone())),
            Err(e) => unresolved.push(format!("{spelled}: {e}")),
        }
    }
    let exposed: Vec<(String, String)> = taps.iter().map(|(v, n, _)| (v.clone(), n.clone())).collect();
    pvc::rewrite::expose(&mut model, &exposed, &loc.types);
    pvc::ir::verify(&model).unwrap();
    let dir = util::tempdir();
    let out = dir.path().join("tapped.onnx");
    model.save(&out, &Default::default()).unwrap();
    let mut backend = TractBackend::load(&out).unwrap();
    let outputs = backend.run(&util::ref_inputs(&refs)).unwrap();
    let mut wrong = Vec::new();
    for (value, tap, key) in &taps {
        let got = util::get(&outputs, tap).unwrap();
        let want = util::get(&refs, key).unwrap();
        let got = &heads_merged(got, want);
        match got.max_abs_diff(want) {
            Some(d) if d <= 1e-4 => {}
            Some(d) => wrong.push(format!("{key} → `{value}`: max diff {d:e}")),
            None => wrong.push(format!("{key} → `{value}`: shape {:?} != {:?}", got.shape, want.shape)),
        }
    }
    let checked = taps.len() - wrong.len();
    assert!(
        unresolved.is_empty() && wrong.is_empty(),
        "{name}: {checked} hooks matched; unresolved: {unresolved:#?}\nwrong: {wrong:#?}"
    );
}

/// The dynamo exporter fuses GPT-2's head merge away, so `attn.c_proj`'s input exists only
/// as [b, s, heads, head_dim]; compare it with the hook's [b, s, hidden] by merging the heads.
fn heads_merged(got: &pvc::runtime::Tensor, want: &pvc::runtime::Tensor) -> pvc::runtime::Tensor {
    let mut t = got.clone();
    if got.shape.len() == 4 && want.shape.len() == 3 && got.shape[..2] == want.shape[..2] {
        t.shape = want.shape.clone();
    }
    t
}

#[test]
fn gpt2_legacy_matches_torch_hooks() {
    check_fixture("gpt2_legacy");
}

#[test]
fn gpt2_dynamo_matches_torch_hooks() {
    check_fixture("gpt2_dynamo");
}

#[test]
fn llama_legacy_matches_torch_hooks() {
    check_fixture("llama_legacy");
}

#[test]
fn llama_dynamo_matches_torch_hooks() {
    check_fixture("llama_dynamo");
}

#[test]
fn mlp_legacy_matches_torch_hooks() {
    check_fixture("mlp_legacy");
}

#[test]
fn mlp_dynamo_matches_torch_hooks() {
    check_fixture("mlp_dynamo");
}

/// Every family fixture of `models/families.py`, both exporters (for pyvene's GRU, whose cells
/// run once per time step, each module's own input and output are its first call's; every call
/// is checked by [`gru_modules_split_into_the_calls_torch_hooks_saw`]).
#[test]
fn family_fixtures_match_torch_hooks() {
    let mut failed = Vec::new();
    for fam in [
        "mistral", "qwen2", "qwen3", "gemma", "gemma2", "olmo", "olmo2", "phi3", "gpt_neo", "gpt_neox", "pv_mlp",
        "pv_gru",
    ] {
        for flavour in ["legacy", "dynamo"] {
            let name = format!("{fam}_{flavour}");
            if let Err(e) = std::panic::catch_unwind(|| check_fixture(&name)) {
                failed.push(e.downcast_ref::<String>().cloned().unwrap_or_else(|| name.clone()));
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// pyvene's GRU calls `cells[l]` and its children once per time step: each module of both GRU
/// fixtures splits into 6 calls, and call k's input and output are the tensors torch hooks saw on
/// the module's k-th call (`models/gru_calls.py`).
#[test]
fn gru_modules_split_into_the_calls_torch_hooks_saw() {
    let refs = util::tensors(&util::model("pv_gru_calls.ref.safetensors"));
    for name in ["pv_gru_legacy", "pv_gru_dynamo"] {
        let mut model = Model::load(&util::model(&format!("{name}.onnx"))).unwrap();
        let loc = Locator::new(&model);
        let mut taps = Vec::new();
        for (key, _) in &refs {
            let Some(rest) = key.strip_prefix("module.") else { continue };
            let (rest, k) = rest.rsplit_once('.').unwrap();
            let (path, side) = rest.rsplit_once('.').unwrap();
            let m = loc.modules.get(path).unwrap_or_else(|| panic!("{name}: no module {path}"));
            let calls = m.calls.repeated().unwrap_or_else(|| panic!("{name}: {path} is not split: {:?}", m.calls));
            assert_eq!(calls.len(), 6, "{name}: {path}");
            let call = &calls[k.parse::<usize>().unwrap()];
            let b = if side == "input" { &call.input } else { &call.output };
            taps.push((b.as_ref().unwrap().value.clone(), format!("tap.{}", taps.len()), key.clone()));
        }
        assert_eq!(taps.len(), 144, "{name}: 12 modules × 6 calls × 2 hooks");
        let exposed: Vec<(String, String)> = taps.iter().map(|(v, n, _)| (v.clone(), n.clone())).collect();
        pvc::rewrite::expose(&mut model, &exposed, &loc.types);
        let dir = util::tempdir();
        let out = dir.path().join("tapped.onnx");
        model.save(&out, &Default::default()).unwrap();
        let outputs = TractBackend::load(&out).unwrap().run(&util::ref_inputs(&refs)).unwrap();
        for (value, tap, key) in &taps {
            let d = util::get(&outputs, tap).unwrap().max_abs_diff(util::get(&refs, key).unwrap());
            assert!(d.is_some_and(|d| d <= 1e-5), "{name}: {key} → `{value}`: {d:?}");
        }
    }
}
