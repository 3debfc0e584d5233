//! Replays every saved fuzz finding, `fuzz/regressions/<target>/<file>`, through the entry point
//! of the fuzz target that found it (`fuzz/src/entries.rs`, included here by path): pvc may
//! refuse the input, but must not panic, fail `ir::verify` after a rewrite, or write a model
//! tract refuses. A finding is saved together with its fix, so every saved input must pass.

#[path = "../fuzz/src/entries.rs"]
mod entries;

use std::path::PathBuf;

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
    assert!(all.len() >= 20, "only {} regression inputs under fuzz/regressions", all.len());
    let failed = replay(&all);
    assert!(failed.is_empty(), "fuzz regressions panic again: {failed:?}");
}
