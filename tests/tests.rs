//! pvc's integration tests: one binary, one module per area.

mod util;

mod module_map;
mod parity;
mod rewrite_cli;
mod dtypes;
mod ort_backend;
mod c_host;
mod io_roundtrip;
mod bad_models;
