//! The cost of many small interventions (issue 7, H1): `pvc rewrite` of the tiny GPT-2
//! (`models/gpt2_legacy.onnx`) with 5,000 Zero interventions on distinct (layer, component,
//! position, subspace), in memory: parse + locate + lower + apply + encode, without the file
//! write. Before patches were applied incrementally this took minutes (2,000 took 10.7 s).

use criterion::{Criterion, criterion_group, criterion_main};
use pvc::ir::Model;
use pvc::rewrite::{Options, rewrite};
use pvc::schema::Plan;
use std::path::Path;
use std::time::Duration;

/// `n` Zero interventions on distinct (layer, component, position, subspace) of the tiny GPT-2.
fn many_zeros(n: usize) -> String {
    const SITES: [(u32, &str); 6] = [
        (0, "block_output"),
        (0, "mlp_output"),
        (0, "attention_output"),
        (1, "block_output"),
        (1, "mlp_output"),
        (1, "attention_output"),
    ];
    let (mut reps, mut base, mut subs) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let (layer, comp) = SITES[i % SITES.len()];
        let j = i / SITES.len();
        reps.push(format!(r#"{{"layer":{layer},"component":"{comp}","intervention_type":"zero"}}"#));
        base.push(format!("[[{}]]", j % 32));
        subs.push(format!("[[{}]]", j / 32));
    }
    format!(
        r#"{{"model_type":"gpt2","representations":[{}],"unit_locations":{{"base":[{}]}},"subspaces":[{}]}}"#,
        reps.join(","),
        base.join(","),
        subs.join(",")
    )
}

fn bench_many(c: &mut Criterion) {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/gpt2_legacy.onnx");
    let original = Model::load(&model).unwrap();
    let mut g = c.benchmark_group("many_interventions");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    for n in [1000, 5000] {
        let schema = many_zeros(n);
        g.bench_function(format!("zero{n}"), |b| {
            b.iter(|| {
                let plan = Plan::from_json(&schema, Path::new(".")).unwrap();
                let mut m = original.clone();
                rewrite(&mut m, &plan, &Options::default()).unwrap();
                m.to_proto()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_many);
criterion_main!(benches);
