//! `inspect`: the module tree recovered from a model, as data.

use super::JobError;
use crate::ir::Model;
use crate::locate::Locator;
use crate::report::InspectReport;
use std::path::Path;

/// Loads the model at `path`, checks its graph, and reports its module tree (what
/// `pvc inspect --json` prints, and [`crate::report::render_tree`] renders).
pub fn inspect(path: &Path) -> Result<InspectReport, JobError> {
    let model = Model::load(path)?;
    crate::ir::verify(&model).map_err(|source| JobError::InvalidGraph { path: path.to_path_buf(), source })?;
    let loc = Locator::new(&model);
    Ok(crate::report::inspect(&model, &loc))
}
