//! pvc's integration tests: one binary, one module per area.

mod util;

mod bad_models;
mod c_host;
mod dtypes;
mod io_roundtrip;
mod module_map;
mod ort_backend;
mod parity;
mod rewrite_cli;
