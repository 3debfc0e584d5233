use crate::interventions::InterventionError;
use crate::ir::IrError;
use crate::locate::LocateError;
use crate::schema::SchemaError;

/// Why a rewrite failed. Nothing is written when it does.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    /// The schema is invalid.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// A component could not be located.
    #[error("schema {at}: {cause}")]
    Locate {
        /// JSON path of the component.
        at: String,
        /// Why.
        cause: LocateError,
    },
    /// An intervention cannot be built at its site.
    #[error(transparent)]
    Intervention(#[from] InterventionError),
    /// Two interventions write the same units of one site.
    #[error("schema {first} and {second} conflict: both write {what} of `{site}`")]
    Conflict {
        /// The first representation.
        first: String,
        /// The second representation.
        second: String,
        /// The shared tensor.
        site: String,
        /// What overlaps.
        what: String,
    },
    /// The model cannot take these rewrites.
    #[error("model: {0}")]
    Model(String),
    /// The rewrite failed on a model that tract could not analyse: the model's defect is the
    /// likely cause, so it is named first.
    #[error("model: tract could not analyse this model ({why}), which is the likely cause of: {cause}")]
    Unanalysable {
        /// tract's reason, on one line.
        why: String,
        /// The failure it probably caused.
        cause: Box<RewriteError>,
    },
    /// A pass broke a graph invariant (a pvc bug).
    #[error("after pass {pass}: {cause}")]
    Verify {
        /// The pass.
        pass: &'static str,
        /// The broken invariant.
        cause: IrError,
    },
}
