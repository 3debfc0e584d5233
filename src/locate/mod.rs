//! Locating components: PyTorch module paths and pyvene component names to tensors.
//!
//! Reads the graph, never mutates it. [`ModuleMap`] recovers the module tree from the
//! exporter's scopes; [`Locator`] resolves pyvene's spellings and abstract components (through
//! the per-family maps in `rewrites/`) to a [`Site`].

mod calls;
mod cut;
mod detect;
mod error;
mod family;
mod heads;
mod infer;
mod modules;
mod resolve;
mod scopes;

pub use calls::{Call, Calls};
pub use cut::{Cut, HeadShape};
pub use error::LocateError;
pub use family::{
    Family, FamilyError, Hook, Layout, Split, builtin as builtin_families, by_model_type, resolve_model_type,
};
pub use heads::{HeadCount, Heads};
pub use modules::{Boundary, Module, ModuleMap};
pub use resolve::{Locator, Site, canonical, nearest, pyvene_spelling};
pub use scopes::Exporter;
