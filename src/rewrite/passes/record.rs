//! [`RecordSchema`]: the applied schema, kept in the model's metadata.

use crate::ir::Model;
use crate::rewrite::{Cx, Pass, RewriteError};

/// Stores the schema (canonical JSON, sorted keys) under [`crate::PVC_SCHEMA_KEY`], so the
/// patched model says what was done to it.
pub struct RecordSchema;

impl Pass for RecordSchema {
    fn name(&self) -> &'static str {
        "RecordSchema"
    }

    fn run(&self, cx: &Cx, model: &mut Model) -> Result<(), RewriteError> {
        model.set_metadata(crate::PVC_SCHEMA_KEY, cx.plan.json.to_string());
        Ok(())
    }
}
