//! Writing a Triton model repository entry.

use super::{ServeError, TritonConfig};
use crate::fsio::{self, InputSet, OutputError};
use crate::ir::Model;
use crate::onnx::{DataPolicy, SaveOptions};
use std::path::{Path, PathBuf};

/// Writes `repo/<config.name>/1/model.onnx` (a byte copy of `model`'s file, its external data
/// files copied alongside) and then `repo/<config.name>/config.pbtxt`, both through the output
/// policy: `repo` must exist; the model's and version's directories are created when missing
/// (and removed again if the export fails); nothing replaces an input of the run (the model or
/// its data), a non-regular file, or another model's data file. The model is staged and checked
/// before anything moves, and the config is written last, so a repository poller never sees a
/// config whose model is missing. The same model and configuration give byte-identical files.
/// Returns the paths written.
pub fn export(model: &Model, config: &TritonConfig, repo: &Path) -> Result<Vec<PathBuf>, ServeError> {
    let model_dir = repo.join(&config.name);
    let version = model_dir.join("1");
    let onnx_path = version.join("model.onnx");
    let config_path = model_dir.join("config.pbtxt");
    if !std::fs::metadata(repo).is_ok_and(|m| m.is_dir()) {
        return Err(OutputError::NoDirectory { path: config_path, dir: repo.to_path_buf() }.into());
    }
    let inputs = InputSet::of(std::iter::once(model.path.clone()).chain(model.external.iter().map(|r| r.file.clone())));
    let mut made = Made(Vec::new());
    for dir in [&model_dir, &version] {
        match std::fs::symlink_metadata(dir) {
            Ok(_) if std::fs::metadata(dir).is_ok_and(|m| m.is_dir()) => {}
            Ok(_) => {
                return Err(
                    OutputError::Collides { path: dir.clone(), why: "it is there and is not a directory" }.into()
                );
            }
            Err(_) => {
                std::fs::create_dir(dir).map_err(|e| OutputError::io(dir, e))?;
                made.0.push(dir.clone());
            }
        }
    }
    let opts = SaveOptions { data: DataPolicy::Copy, verbatim: Some(model.path.clone()), ..Default::default() };
    let staged = opts.stage(&model.to_proto(), &model.external, &onnx_path, &inputs)?;
    fsio::check_output(&config_path, &inputs)?;
    staged.commit()?;
    fsio::write_atomic(&config_path, &inputs, config.to_pbtxt().as_bytes())?;
    made.0.clear();
    let mut written = vec![config_path, onnx_path];
    written.extend(model.external.iter().map(|r| version.join(&r.location)));
    written.sort();
    written.dedup();
    Ok(written)
}

/// Directories this export created; removed (when empty) unless the export finished.
struct Made(Vec<PathBuf>);

impl Drop for Made {
    fn drop(&mut self) {
        for d in self.0.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}
