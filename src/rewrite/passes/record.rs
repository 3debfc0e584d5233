//! [`RecordSchema`]: the applied schema, kept in the model's metadata.

use crate::ir::Model;
use crate::rewrite::{Cx, Pass, RewriteError};

/// Appends the schema (canonical JSON, sorted keys) to the JSON list of applied schemas under
/// [`crate::PVC_SCHEMA_KEY`], so the patched model says everything that was done to it.
pub struct RecordSchema;

impl Pass for RecordSchema {
    fn name(&self) -> &'static str {
        "RecordSchema"
    }

    fn run(&self, cx: &Cx, model: &mut Model) -> Result<(), RewriteError> {
        let record = crate::rewrite::names::record_schemas(model.metadata(crate::PVC_SCHEMA_KEY), &cx.plan.json);
        model.set_metadata(crate::PVC_SCHEMA_KEY, record);
        Ok(())
    }
}
