//! Load then save of a GPT-2-small-sized model (124M parameters, weights external), made by
//! `python3 benches/make_gpt2_small.py`: into the same directory (no data moves) and into
//! another directory with hard links. `benches/compare_io.py` compares with Python's onnx.

use criterion::{Criterion, criterion_group, criterion_main};
use pvc::ir::Model;
use pvc::onnx::{DataPolicy, SaveOptions};
use std::path::Path;
use std::time::Duration;

fn bench_io(c: &mut Criterion) {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-models/gpt2_small/model.onnx");
    if !model.exists() {
        eprintln!("skipping: run `python3 benches/make_gpt2_small.py` first");
        return;
    }
    let other = model.parent().unwrap().join("io-bench");
    std::fs::create_dir_all(&other).unwrap();
    let mut g = c.benchmark_group("io");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    g.bench_function("load_save_same_dir", |b| {
        b.iter(|| {
            Model::load(&model).unwrap().save(&model.with_file_name("io_same.onnx"), &SaveOptions::default()).unwrap()
        })
    });
    g.bench_function("load_save_other_dir_link", |b| {
        b.iter(|| {
            let _ = std::fs::remove_file(other.join("model.onnx.data"));
            Model::load(&model)
                .unwrap()
                .save(&other.join("model.onnx"), &SaveOptions { data: DataPolicy::Link })
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_io);
criterion_main!(benches);
