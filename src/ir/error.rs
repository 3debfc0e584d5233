/// A broken graph invariant, naming the node or value at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IrError {
    /// The dataflow has a cycle through this node.
    #[error("the graph has a cycle through node `{node}`")]
    Cycle {
        /// A node on the cycle.
        node: String,
    },
    /// A node reads a value nothing defines.
    #[error("node `{node}` reads `{value}`, which nothing defines")]
    Undefined {
        /// The reading node.
        node: String,
        /// The missing value.
        value: String,
    },
    /// A value is defined more than once.
    #[error("value `{value}` is defined more than once")]
    Redefined {
        /// The value.
        value: String,
    },
    /// Two nodes share a name.
    #[error("two nodes are named `{node}`")]
    DuplicateNode {
        /// The name.
        node: String,
    },
    /// A node's domain has no opset import.
    #[error("node `{node}` uses domain `{domain}`, which the model does not import")]
    MissingOpset {
        /// The node.
        node: String,
        /// Its domain.
        domain: String,
    },
    /// A graph output names a value nothing defines.
    #[error("graph output `{value}` is not defined")]
    OutputUndefined {
        /// The output.
        value: String,
    },
}
