//! The [`Pass`] trait and the pipeline.
//!
//! Passes run in this order, and the order matters:
//! 1. [`AddSourceSlices`](super::passes::AddSourceSlices): clones, per source group, the part of
//!    the pristine graph that computes the source activations. pyvene's parallel mode reads
//!    sources from an un-intervened run, so this comes before any intervention.
//! 2. [`CloneOriginal`](super::passes::CloneOriginal) (with `--original`): clones everything
//!    downstream of a site into a frozen branch that keeps reading pre-intervention values.
//! 3. [`LowerInterventions`](super::passes::LowerInterventions): splices each representation in
//!    schema order, which is pyvene's registration order, so interventions chain in dataflow.
//! 4. [`FixBatch`](super::passes::FixBatch): explicit per-example locations fix the inputs'
//!    batch size.
//! 5. [`RecordSchema`](super::passes::RecordSchema): appends the applied schema to the model's
//!    metadata.
//!
//! With verification on (tests, `--verify`), the graph is checked after every pass.

use super::{Cx, RewriteError};
use crate::ir::Model;

/// One step of the rewrite.
pub trait Pass {
    /// The pass's name, for reports and verification failures.
    fn name(&self) -> &'static str;
    /// Runs the pass on `model`.
    fn run(&self, cx: &Cx, model: &mut Model) -> Result<(), RewriteError>;
}

/// Runs `passes` in order, verifying after each when `verify` is set.
pub fn run_pipeline(passes: &[&dyn Pass], cx: &Cx, model: &mut Model, verify: bool) -> Result<(), RewriteError> {
    for pass in passes {
        pass.run(cx, model)?;
        if verify {
            crate::ir::verify(model).map_err(|cause| RewriteError::Verify { pass: pass.name(), cause })?;
        }
    }
    Ok(())
}
