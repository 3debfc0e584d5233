//! Load then save of a GPT-2-small-sized model (124M parameters, all weights external), made by
//! `python3 benches/make_gpt2_small.py`: load alone; load + save into the same directory (no data
//! moves); load + save into another directory with hard links. `benches/compare_io.py` compares
//! with Python's onnx, process by process; `benches/RESULTS.md` has the figures.

use criterion::{Criterion, criterion_group, criterion_main};
use pvc::ir::Model;
use pvc::onnx::{DataPolicy, SaveOptions};
use std::path::Path;
use std::time::Duration;

fn bench_io(c: &mut Criterion) {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-models/gpt2_small/model.onnx");
    if !model.exists() {
        eprintln!(
            "skipping the io benchmark: {} is missing; run `python3 benches/make_gpt2_small.py`",
            model.display()
        );
        return;
    }
    let same = model.with_file_name("io_same.onnx");
    let other = model.parent().unwrap().join("io-bench");
    std::fs::create_dir_all(&other).unwrap();
    let mut g = c.benchmark_group("io");
    g.sample_size(30).measurement_time(Duration::from_secs(10));
    g.bench_function("load", |b| b.iter(|| Model::load(&model).unwrap()));
    g.bench_function("load_save_same_dir", |b| {
        b.iter(|| Model::load(&model).unwrap().save(&same, &SaveOptions::default()).unwrap())
    });
    g.bench_function("load_save_other_dir_link", |b| {
        b.iter(|| {
            Model::load(&model)
                .unwrap()
                .save(&other.join("model.onnx"), &SaveOptions { data: DataPolicy::Link, ..Default::default() })
                .unwrap()
        })
    });
    g.finish();
    let _ = std::fs::remove_file(&same);
    let _ = std::fs::remove_dir_all(&other);
}

criterion_group!(benches, bench_io);
criterion_main!(benches);
