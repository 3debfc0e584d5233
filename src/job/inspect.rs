//! `inspect`: the module tree recovered from a model, or where its family's components land,
//! as data.

use super::JobError;
use crate::ir::Model;
use crate::locate::Locator;
use crate::report::{ComponentsReport, InspectReport};
use std::path::Path;

/// Loads the model at `path`, checks its graph, and reports its module tree (what
/// `pvc inspect --json` prints, and [`crate::report::render_tree`] renders); `model_type`
/// names the family as `--model-type` does, else it is detected.
pub fn inspect(path: &Path, model_type: Option<&str>) -> Result<InspectReport, JobError> {
    located(path, model_type, crate::report::inspect)
}

/// Like [`inspect`], but reports the family and where each of its components lands (what
/// `pvc inspect --components --json` prints).
pub fn components(path: &Path, model_type: Option<&str>) -> Result<ComponentsReport, JobError> {
    located(path, model_type, |_, loc| crate::report::components(loc))
}

fn located<T>(path: &Path, model_type: Option<&str>, f: impl FnOnce(&Model, &Locator) -> T) -> Result<T, JobError> {
    let model = Model::load(path)?;
    crate::ir::verify(&model).map_err(|source| JobError::InvalidGraph { path: path.to_path_buf(), source })?;
    let mut loc = Locator::new(&model);
    if let Some(t) = model_type {
        loc.set_model_type(t).map_err(JobError::ModelType)?;
    }
    Ok(f(&model, &loc))
}
