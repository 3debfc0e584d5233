//! Intervention schemas: pyvene's own formats to a validated [`Plan`].
//!
//! Accepted forms: pyvene's saved `config.json` (positional representations, class-string
//! intervention types) or its directory; the dict forms of pyvene's documentation, alone or
//! under `"representations"`; plus top-level `unit_locations` and `subspaces` in pyvene's
//! `forward()` formats and a `"weights"` safetensors file. Errors name the JSON path.

mod error;
mod export;
mod heads;
mod json;
mod locations;
mod orthogonal;
mod parse;
mod plan;
mod saelens;
mod steps;
mod time;
mod torch_bin;
mod trained;
mod weights;

pub use error::SchemaError;
pub use heads::{HeadSel, Unit};
pub use orthogonal::{Mat, OrthMap, materialize};
pub use plan::{Dims, Kind, Plan, Positions, Rep, Source};
pub use plan::{MAX_COLUMNS, MAX_UNITS};
pub use steps::{Calls, Steps};
/// Fuzzing entry: the reader of a pyvene save directory's `intkey_*.bin` files.
#[doc(hidden)]
pub use torch_bin::read_state_dict;
pub use trained::Trained;
pub use weights::StateDicts;

use std::path::{Path, PathBuf};

/// The largest schema JSON file pvc reads (1 GiB).
const MAX_SCHEMA_BYTES: u64 = 1 << 30;

impl Plan {
    /// Reads a schema file, or a pyvene save directory (its `config.json`).
    pub fn from_path(path: &Path) -> Result<Plan, SchemaError> {
        Plan::from_path_with(path, &[])
    }

    /// Like [`Plan::from_path`], with top-level keys (`unit_locations`, `subspaces`) set or
    /// replaced by `overrides`, as pyvene takes them at call time.
    pub fn from_path_with(path: &Path, overrides: &[(&str, serde_json::Value)]) -> Result<Plan, SchemaError> {
        let file = if path.is_dir() { path.join("config.json") } else { path.to_path_buf() };
        let bytes =
            crate::fsio::read_input(&file, MAX_SCHEMA_BYTES).map_err(|e| SchemaError::new("(file)", e.to_string()))?;
        let text = String::from_utf8(bytes)
            .map_err(|e| SchemaError::new("(file)", format!("{} is not UTF-8 text: {e}", file.display())))?;
        let dir = file.parent().unwrap_or(Path::new("."));
        Plan::from_text_with(&text, dir, &StateDicts::Files, overrides)
    }

    /// Parses schema text held in memory, as [`Plan::from_path_with`] parses a file's: `dir`
    /// anchors relative paths such as `"weights"`, `dicts` says where pyvene state dicts come from
    /// (`StateDicts::Memory` for an `IntervenableModel` that was never saved).
    pub fn from_text_with(
        text: &str,
        dir: &Path,
        dicts: &StateDicts,
        overrides: &[(&str, serde_json::Value)],
    ) -> Result<Plan, SchemaError> {
        let mut doc: serde_json::Value =
            serde_json::from_str(text).map_err(|e| SchemaError::new("(file)", format!("not valid JSON: {e}")))?;
        if let Some(map) = doc.as_object_mut() {
            for (k, v) in overrides {
                map.insert(k.to_string(), v.clone());
            }
        }
        parse::parse(&doc, dir, dicts)
    }

    /// Every file the schema at `path` (as given to [`Plan::from_path_with`], which made this plan)
    /// reads: the JSON file, every file of a save directory, the `"weights"` file and the
    /// `intkey_*.bin` state dicts. Outputs of the run must not replace any of them.
    pub fn input_files(&self, path: &Path) -> Vec<PathBuf> {
        let file = if path.is_dir() { path.join("config.json") } else { path.to_path_buf() };
        let dir = file.parent().unwrap_or(Path::new("."));
        let mut files = vec![path.to_path_buf(), file.clone()];
        files.extend(weights::files(&json::At::root(&self.json), dir, &StateDicts::Files));
        files
    }

    /// Every file a schema held in memory (as given to [`Plan::from_text_with`] with `dir` and
    /// `dicts`) reads: its `"weights"` file, and its `intkey_*.bin` files unless the state dicts
    /// were in memory.
    pub fn input_files_in(&self, dir: &Path, dicts: &StateDicts) -> Vec<PathBuf> {
        weights::files(&json::At::root(&self.json), dir, dicts)
    }

    /// Parses schema text; `dir` anchors relative paths such as `"weights"`.
    pub fn from_json(text: &str, dir: &Path) -> Result<Plan, SchemaError> {
        Plan::from_text_with(text, dir, &StateDicts::Files, &[])
    }
}
