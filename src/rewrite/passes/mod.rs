//! The passes, one per file, in pipeline order (see [`super::pass`]).

mod batch;
mod decoder_source;
mod lower;
mod original;
mod record;
mod sources;

pub use batch::FixBatch;
pub use lower::LowerInterventions;
pub use original::CloneOriginal;
pub use record::RecordSchema;
pub use sources::{AddSourceSlices, pinned, source_value};
