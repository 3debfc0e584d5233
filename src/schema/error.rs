/// A schema problem, located by the JSON path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema {at}: {message}")]
pub struct SchemaError {
    /// JSON path of the field, e.g. `representations[1].component`.
    pub at: String,
    /// What is wrong with it.
    pub message: String,
}

impl SchemaError {
    /// An error at `at`.
    pub fn new(at: impl Into<String>, message: impl Into<String>) -> SchemaError {
        SchemaError { at: at.into(), message: message.into() }
    }
}
