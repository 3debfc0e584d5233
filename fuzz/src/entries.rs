//! The code under fuzz: one function per target, taking the raw input.
//!
//! Shared by the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`) and by the regression test
//! `tests/fuzz_regressions.rs`, which includes this file by path, so a saved finding replays
//! through exactly the code that found it. Each function returns normally when pvc accepts the
//! input or refuses it with an error, and panics when pvc breaks a contract: a panic inside pvc,
//! a model that fails `ir::verify` after a successful rewrite, or a written model tract refuses.

use pvc::ir::Model;
use pvc::onnx::{ModelFile, decode_model, encode_model};
use pvc::runtime::{Backend, DType, IoSpec, NamedTensors, TractBackend};
use pvc::schema::Plan;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The repository root (this file is compiled both from `fuzz/` and from the root crate).
pub fn repo() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    if here.join("models").is_dir() { here.to_path_buf() } else { here.parent().expect("fuzz/ has a parent").into() }
}

/// Target `model_load`: bytes as a model file (anchored at `models/gpt2_external/model.onnx`,
/// so external-data references resolve against a real data file) → `ir::Model` → `ir::verify`.
/// A model that verifies and stores its nodes in topological order must come back byte for
/// byte; one stored out of order (which ONNX forbids) comes back sorted, and that sorted model
/// must then be stable through decode → `ir::Model` → encode.
pub fn model_load(data: &[u8]) {
    let path = repo().join("models/gpt2_external/model.onnx");
    let Ok(file) = ModelFile::from_bytes(data, &path) else { return };
    let decoded = encode_model(&file.proto);
    let stored_sorted = file.proto.graph.as_ref().is_none_or(stored_in_order);
    let model = Model::from_file(file);
    if pvc::ir::verify(&model).is_err() {
        return;
    }
    let proto = model.to_proto();
    let bytes = encode_model(&proto);
    if stored_sorted {
        assert!(bytes == decoded, "ir::Model does not give back the proto it was built from");
    } else {
        assert!(proto.graph.as_ref().is_none_or(stored_in_order), "an unsorted graph is written unsorted");
        let again = ModelFile::from_bytes(&bytes, &path).expect("an encoded, verified model decodes");
        let relifted = encode_model(&Model::from_file(again).to_proto());
        assert!(relifted == bytes, "a sorted model is not stable through ir::Model");
    }
    let again = decode_model(&bytes, &path).expect("an encoded, verified model decodes");
    assert!(encode_model(&again) == bytes, "encode → decode → encode is not stable");
}

/// Whether every node of `g` reads only graph inputs, initializers and outputs of nodes stored
/// before it (ONNX's rule; values captured by subgraphs are not followed).
fn stored_in_order(g: &pvc::onnx::pb::GraphProto) -> bool {
    let name = |n: &Option<String>| n.clone().unwrap_or_default();
    let mut defined: std::collections::HashSet<String> =
        g.input.iter().map(|v| name(&v.name)).chain(g.initializer.iter().map(|t| name(&t.name))).collect();
    defined.extend(g.sparse_initializer.iter().filter_map(|t| t.values.as_ref()).map(|t| name(&t.name)));
    for n in &g.node {
        if n.input.iter().any(|x| !x.is_empty() && !defined.contains(x)) {
            return false;
        }
        defined.extend(n.output.iter().cloned());
    }
    true
}

/// Target `schema_parse`: bytes as schema text, parsed with the directory
/// `models/cases/gpt2_addition_pos/pyvene_save` (so `"sorted_keys"` finds its `.bin` and
/// `"weights": "../weights.safetensors"` a real file).
pub fn schema_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let dir = repo().join("models/cases/gpt2_addition_pos/pyvene_save");
    let _ = Plan::from_json(text, &dir);
}

/// Target `torch_bin`: bytes as a pyvene `intkey_*.bin` (`torch.save` zip + pickle).
pub fn torch_bin(data: &[u8]) {
    let _ = pvc::schema::read_state_dict(data);
}

fn backend(name: &str) -> &'static Mutex<TractBackend> {
    static MLP: OnceLock<Mutex<TractBackend>> = OnceLock::new();
    static GPT2: OnceLock<Mutex<TractBackend>> = OnceLock::new();
    let cell = if name == "mlp" { &MLP } else { &GPT2 };
    cell.get_or_init(|| {
        let path = repo().join(format!("models/{name}_legacy.onnx"));
        Mutex::new(TractBackend::load(&path).expect("the fixture loads in tract"))
    })
}

/// Feeds `inputs` to the fixture whose inputs they name exactly (`x` → mlp, `input_ids` →
/// gpt2), as `pvc run` would after reading them; anything else is only checked by name.
fn run_on_fixture(inputs: &NamedTensors) {
    for name in ["mlp", "gpt2"] {
        let mut b = backend(name).lock().unwrap_or_else(|e| e.into_inner());
        if pvc::runtime::order_inputs(b.inputs(), inputs).is_ok() {
            let _ = b.run(inputs);
            return;
        }
    }
}

/// Target `run_safetensors`: bytes as `pvc run --inputs in.safetensors`, then run on the
/// fixture whose inputs they match.
pub fn run_safetensors(data: &[u8]) {
    let Ok(tensors) = pvc::runtime::safetensors_from_bytes(data, Path::new("fuzz.safetensors")) else { return };
    run_on_fixture(&tensors);
}

/// The fixed input spec `run_json_input` parses against: the two fixtures' inputs, then one
/// name per other element type (parsed only, never run).
pub fn json_input_spec() -> Vec<IoSpec> {
    [
        ("x", DType::F32),
        ("input_ids", DType::I64),
        ("f16", DType::F16),
        ("bf16", DType::BF16),
        ("f64", DType::F64),
        ("i32", DType::I32),
        ("u8", DType::U8),
        ("bool", DType::Bool),
    ]
    .into_iter()
    .map(|(n, d)| IoSpec { name: n.into(), dtype: Some(d), dims: vec![] })
    .collect()
}

/// Target `run_json_input`: each line of the input is one `--input NAME=JSON`, parsed as
/// `pvc run` does against [`json_input_spec`]; inputs that name exactly a fixture's inputs run.
pub fn run_json_input(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let spec = json_input_spec();
    let mut inputs: NamedTensors = Vec::new();
    for item in text.lines() {
        let Some((name, json)) = item.split_once('=') else { return };
        let Some(s) = spec.iter().find(|s| s.name == name) else { return };
        let Ok(t) = pvc::runtime::tensor_from_json(name, json, s.dtype.unwrap_or(DType::F32)) else { return };
        inputs.retain(|(n, _)| n != name);
        inputs.push((name.to_string(), t));
    }
    if inputs.iter().all(|(n, _)| n == "x" || n == "input_ids") {
        run_on_fixture(&inputs);
    }
}

/// The fixtures `rewrite_e2e` rewrites, loaded once.
pub fn fixture(name: &str) -> &'static Model {
    static MODELS: OnceLock<Vec<(&'static str, Model)>> = OnceLock::new();
    let models = MODELS.get_or_init(|| {
        REWRITE_MODELS
            .iter()
            .map(|n| (*n, Model::load(&repo().join(format!("models/{n}.onnx"))).expect("the fixture loads")))
            .collect()
    });
    &models.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no fixture {name}")).1
}

/// The fixture's locator, built once (what `pvc::rewrite::rewrite` builds on every call).
fn locator(name: &str) -> &'static pvc::locate::Locator {
    static LOCATORS: OnceLock<Vec<(&'static str, pvc::locate::Locator)>> = OnceLock::new();
    let all =
        LOCATORS.get_or_init(|| REWRITE_MODELS.iter().map(|n| (*n, pvc::locate::Locator::new(fixture(n)))).collect());
    &all.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no fixture {name}")).1
}

/// The models a rewrite case may name.
pub const REWRITE_MODELS: [&str; 3] = ["gpt2_legacy", "mlp_legacy", "pv_gru_legacy"];

/// Target `rewrite_e2e` (its fuzz target builds the case from a grammar; regressions store the
/// case itself): a JSON case `{"model": "gpt2_legacy", "original": bool, "schema": {...}}`.
/// The schema is parsed (relative to `models/cases/gpt2_addition_pos`) and rewritten into the
/// fixture; when pvc accepts it, the result must pass `ir::verify`, encode, and load in tract.
pub fn rewrite_case(data: &[u8]) {
    stats(|s| s.calls += 1);
    let Ok(case) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let Some(name) = case["model"].as_str().filter(|n| REWRITE_MODELS.contains(n)) else { return };
    let original = case["original"].as_bool().unwrap_or(false);
    let text = case["schema"].to_string();
    let dir = repo().join("models/cases/gpt2_addition_pos");
    let Ok(plan) = Plan::from_json(&text, &dir) else { return };
    let mut model = fixture(name).clone();
    let opts = pvc::rewrite::Options { original, verify: false, ..Default::default() };
    if pvc::rewrite::rewrite_with(&mut model, &plan, &opts, locator(name).clone()).is_err() {
        return;
    }
    stats(|s| s.accepted += 1);
    if let Err(e) = pvc::ir::verify(&model) {
        panic!("the rewritten model fails ir::verify: {e}");
    }
    let bytes = encode_model(&model.to_proto());
    if let Err(e) = tract_verdict(&bytes) {
        panic!("tract refuses the patched model: {e}");
    }
}

/// Whether tract loads the model `bytes` encode (`TractBackend::load`, as `pvc run` does), and
/// its error when it does not. Loading is deterministic, so each distinct model is loaded once
/// per process: the verdict is kept under two independent 64-bit hashes of the bytes and their
/// length, and an input that rewrites to a model already seen costs no tract load.
fn tract_verdict(bytes: &[u8]) -> Result<(), String> {
    use std::collections::HashMap;
    use std::hash::{Hash, Hasher};
    type Verdicts = HashMap<(usize, u64, u64), Result<(), String>>;
    static SEEN: OnceLock<Mutex<Verdicts>> = OnceLock::new();
    let hash = |salt: u64| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        salt.hash(&mut h);
        bytes.hash(&mut h);
        h.finish()
    };
    let key = (bytes.len(), hash(0x9e37_79b9), hash(0x85eb_ca6b));
    let seen = SEEN.get_or_init(Default::default);
    if let Some(v) = seen.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return v.clone();
    }
    let out = std::env::temp_dir().join(format!("pvc-fuzz-rewrite-{}.onnx", std::process::id()));
    std::fs::write(&out, bytes).expect("writing the patched model to the temp dir");
    let verdict = TractBackend::load(&out).map(drop).map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&out);
    stats(|s| s.loads += 1);
    seen.lock().unwrap_or_else(|e| e.into_inner()).insert(key, verdict.clone());
    verdict
}

/// Counts kept by `rewrite_case` in this process.
#[derive(Default)]
struct Stats {
    calls: u64,
    accepted: u64,
    loads: u64,
}

/// Updates the counts; with `PVC_FUZZ_STATS` set, prints them every 1000 calls (calls, schemas
/// pvc accepted, distinct patched models loaded in tract).
fn stats(f: impl FnOnce(&mut Stats)) {
    static STATS: Mutex<Stats> = Mutex::new(Stats { calls: 0, accepted: 0, loads: 0 });
    let mut s = STATS.lock().unwrap_or_else(|e| e.into_inner());
    let before = s.calls;
    f(&mut s);
    if s.calls != before && s.calls.is_multiple_of(1000) && std::env::var_os("PVC_FUZZ_STATS").is_some() {
        eprintln!("pvc-fuzz: {} calls, {} accepted, {} tract loads", s.calls, s.accepted, s.loads);
    }
}
