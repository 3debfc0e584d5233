//! Rewrite and inference benchmarks on a GPT-2-small-sized model (124M parameters, weights
//! external), made by `python3 benches/make_gpt2_small.py`:
//! - `rewrite/add12`: load + rewrite (an Addition at all 12 `block_output`s) + save, the whole
//!   `pvc rewrite` job, without reading the weights;
//! - `tract/unpatched` vs `tract/add12` vs `tract/collect4`: one forward pass (batch 1, 64 tokens).

use criterion::{Criterion, criterion_group, criterion_main};
use pvc::ir::Model;
use pvc::rewrite::{Options, rewrite};
use pvc::runtime::{Backend, Tensor, TractBackend};
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
    let reps: Vec<String> =
        [2, 5, 8, 11].iter().map(|l| format!(r#"{{"layer": {l}, "component": "block_output", "intervention_type": "collect"}}"#)).collect();
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

fn bench_tract(c: &mut Criterion) {
    let Some(model) = model_path() else { return };
    let add12 = model.with_file_name("bench_add12.onnx");
    let collect4 = model.with_file_name("bench_collect4.onnx");
    patched(&model, &add12_schema(), &add12);
    patched(&model, &collect4_schema(), &collect4);
    let ids: Vec<i64> = (0..64).map(|i| (i * 131 + 7) % 50257).collect();
    let inputs = vec![("input_ids".to_string(), Tensor::from_i64(vec![1, 64], &ids))];
    let mut g = c.benchmark_group("tract");
    g.sample_size(30).measurement_time(Duration::from_secs(30));
    for (name, path) in [("unpatched", &model), ("add12", &add12), ("collect4", &collect4)] {
        let mut backend = TractBackend::load(path).unwrap();
        backend.run(&inputs).unwrap();
        g.bench_function(name, |b| b.iter(|| backend.run(&inputs).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench_rewrite, bench_tract);
criterion_main!(benches);
