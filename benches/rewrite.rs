//! Rewrite and inference benchmarks on a GPT-2-small-sized model (124M parameters, weights
//! external), made by `python3 benches/make_gpt2_small.py`:
//! - `rewrite/add12`: load + rewrite (an Addition at all 12 `block_output`s) + save, the whole
//!   `pvc rewrite` job, without reading the weights;
//! - `tract/…` and `ort/…` (`unpatched`, `add12`, `collect4`): one forward pass (batch 1, 64
//!   tokens) under tract and under ONNX Runtime on CPU (2 threads, ORT_ENABLE_ALL); ort runs
//!   when its library is found (`ORT_DYLIB_PATH` or a Python `onnxruntime`).

use criterion::{Criterion, criterion_group, criterion_main};
use pvc::ir::Model;
use pvc::rewrite::{Options, rewrite};
use pvc::runtime::{Backend, OrtBackend, OrtOptions, Tensor, TractBackend};
use pvc::schema::Plan;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn model_path() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-models/gpt2_small/model.onnx");
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} is missing; run `python3 benches/make_gpt2_small.py` first", p.display());
        None
    }
}

/// An Addition of one 768-d vector at every layer's block_output, on the whole tensor.
pub fn add12_schema() -> String {
    let v: Vec<String> = (0..768).map(|i| format!("{:.4}", ((i * 37 % 101) as f32 - 50.0) / 500.0)).collect();
    let reps: Vec<String> = (0..12)
        .map(|l| format!(r#"{{"layer": {l}, "component": "block_output", "intervention_type": "addition", "source_representation": [{}]}}"#, v.join(",")))
        .collect();
    format!(r#"{{"model_type": "gpt2", "representations": [{}], "unit_locations": null}}"#, reps.join(","))
}

fn collect4_schema() -> String {
    let reps: Vec<String> = [2, 5, 8, 11]
        .iter()
        .map(|l| format!(r#"{{"layer": {l}, "component": "block_output", "intervention_type": "collect"}}"#))
        .collect();
    format!(r#"{{"model_type": "gpt2", "representations": [{}], "unit_locations": null}}"#, reps.join(","))
}

fn patched(model: &Path, schema: &str, out: &Path) {
    let plan = Plan::from_json(schema, Path::new(".")).unwrap();
    let mut m = Model::load(model).unwrap();
    rewrite(&mut m, &plan, &Options::default()).unwrap();
    m.save(out, &Default::default()).unwrap();
}

fn bench_rewrite(c: &mut Criterion) {
    let Some(model) = model_path() else { return };
    let schema = add12_schema();
    let out = model.with_file_name("bench_add12.onnx");
    let mut g = c.benchmark_group("rewrite");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("add12", |b| b.iter(|| patched(&model, &schema, &out)));
    g.finish();
}

/// The three variants' paths: unpatched, 12 Additions, 4 Collect taps.
fn variants(model: &Path) -> [(&'static str, PathBuf); 3] {
    let add12 = model.with_file_name("bench_add12.onnx");
    let collect4 = model.with_file_name("bench_collect4.onnx");
    patched(model, &add12_schema(), &add12);
    patched(model, &collect4_schema(), &collect4);
    [("unpatched", model.to_path_buf()), ("add12", add12), ("collect4", collect4)]
}

fn inputs() -> Vec<(String, Tensor)> {
    let ids: Vec<i64> = (0..64).map(|i| (i * 131 + 7) % 50257).collect();
    vec![("input_ids".to_string(), Tensor::from_i64(vec![1, 64], &ids))]
}

fn bench_engine(c: &mut Criterion, group: &str, load: &dyn Fn(&Path) -> Box<dyn Backend>) {
    let Some(model) = model_path() else { return };
    let inputs = inputs();
    let mut g = c.benchmark_group(group);
    g.sample_size(30).measurement_time(Duration::from_secs(30));
    for (name, path) in variants(&model) {
        let mut backend = load(&path);
        backend.run(&inputs).unwrap();
        g.bench_function(name, |b| b.iter(|| backend.run(&inputs).unwrap()));
    }
    g.finish();
}

fn bench_tract(c: &mut Criterion) {
    bench_engine(c, "tract", &|p| Box::new(TractBackend::load(p).unwrap()));
}

fn bench_ort(c: &mut Criterion) {
    let Ok(lib) = OrtBackend::find_library(None) else {
        eprintln!("skipping ort: no ONNX Runtime library (set ORT_DYLIB_PATH)");
        return;
    };
    let opts = OrtOptions { lib: Some(lib), intra_threads: Some(2), ..Default::default() };
    bench_engine(c, "ort", &|p| Box::new(OrtBackend::load(p, &opts).unwrap()));
}

criterion_group!(benches, bench_rewrite, bench_tract, bench_ort);
criterion_main!(benches);
