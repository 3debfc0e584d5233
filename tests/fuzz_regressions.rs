//! Replays every saved fuzz finding, `fuzz/regressions/<target>/<file>`, through the entry point
//! of the fuzz target that found it (`fuzz/src/entries.rs`, included here by path): pvc may
//! refuse the input, but must not panic, fail `ir::verify` after a rewrite, or write a model
//! tract refuses. Findings not fixed yet are listed in [`KNOWN`], in one place.

#[path = "../fuzz/src/entries.rs"]
mod entries;

use std::path::PathBuf;

/// Findings not fixed yet, as `("<target>/<file>", "finding: <what>; fixed by <area>")`. The
/// replay test skips them; `fuzz_known_findings` (ignored) replays only them. After a fix is
/// merged, delete its line: the replay test then guards it.
const KNOWN: &[(&str, &str)] = &[
    (
        "model_load/ir-roundtrip-37122b09",
        "finding: a model that passes ir::verify does not convert back to the proto it was decoded from; fixed by ir (lossless round trip)",
    ),
    (
        "rewrite_e2e/zero-whole-max-units-tract-refuses",
        "finding: whole-tensor Zero at net[2].input with max_number_of_units 110 and --original writes a model tract refuses (EinSum rank); fixed by interventions (interchange_dim clamp on a graph-input site)",
    ),
];

fn entry(target: &str) -> fn(&[u8]) {
    match target {
        "model_load" => entries::model_load,
        "schema_parse" => entries::schema_parse,
        "torch_bin" => entries::torch_bin,
        "run_safetensors" => entries::run_safetensors,
        "run_json_input" => entries::run_json_input,
        "rewrite_e2e" => entries::rewrite_case,
        other => panic!("fuzz/regressions/{other}: no such fuzz target"),
    }
}

/// Every saved finding as (`<target>/<file>`, path), sorted.
fn findings() -> Vec<(String, PathBuf)> {
    let root = entries::repo().join("fuzz/regressions");
    let mut out = Vec::new();
    for dir in std::fs::read_dir(&root).expect("fuzz/regressions exists") {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let target = dir.file_name().unwrap().to_string_lossy().into_owned();
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            out.push((format!("{target}/{name}"), file));
        }
    }
    out.sort();
    out
}

/// Replays `(id, path)` pairs, each under `catch_unwind`; returns the ids that panicked.
fn replay(items: &[(String, PathBuf)]) -> Vec<String> {
    let mut failed = Vec::new();
    for (id, path) in items {
        let data = std::fs::read(path).unwrap();
        let run = entry(id.split('/').next().unwrap());
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            failed.push(id.clone());
        }
    }
    failed
}

#[test]
fn fuzz_regressions_replay_without_panic() {
    let all = findings();
    for (id, _) in KNOWN {
        assert!(all.iter().any(|(f, _)| f == id), "KNOWN lists {id}, which is not under fuzz/regressions");
    }
    let fixed: Vec<_> = all.into_iter().filter(|(id, _)| !KNOWN.iter().any(|(k, _)| k == id)).collect();
    assert!(fixed.len() >= 20, "only {} regression inputs under fuzz/regressions", fixed.len());
    let failed = replay(&fixed);
    assert!(failed.is_empty(), "fuzz regressions panic again: {failed:?}");
}

#[test]
#[ignore = "replays the findings listed in KNOWN, which are not fixed yet"]
fn fuzz_known_findings() {
    let known: Vec<_> = findings().into_iter().filter(|(id, _)| KNOWN.iter().any(|(k, _)| k == id)).collect();
    let failed = replay(&known);
    let fixed: Vec<_> = known.iter().map(|(id, _)| id).filter(|id| !failed.contains(id)).collect();
    assert!(failed.is_empty(), "still failing: {failed:?}; fixed (delete from KNOWN): {fixed:?}");
}
