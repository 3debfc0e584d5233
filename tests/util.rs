//! Shared helpers for the integration tests.

use pvc::runtime::{NamedTensors, Tensor};
use std::path::{Path, PathBuf};

/// The repository's `models/` folder.
pub fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// A fixture model's path.
pub fn model(name: &str) -> PathBuf {
    models().join(name)
}

/// Reads a safetensors file of the fixtures.
pub fn tensors(path: &Path) -> NamedTensors {
    pvc::runtime::read_safetensors(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The tensor named `name`.
pub fn get<'a>(ts: &'a NamedTensors, name: &str) -> Option<&'a Tensor> {
    ts.iter().find(|(n, _)| n == name).map(|(_, t)| t)
}

/// The fixture's recorded inputs (`input.<name>` in its `.ref.safetensors`), renamed to graph
/// input names.
pub fn ref_inputs(refs: &NamedTensors) -> NamedTensors {
    refs.iter()
        .filter_map(|(n, t)| n.strip_prefix("input.").map(|n| (n.to_string(), t.clone())))
        .collect()
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// The pvc binary built for these tests.
pub fn pvc() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_pvc"))
}
