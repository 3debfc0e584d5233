//! pvc's integration tests: one binary, one module per area.

mod util;

mod bad_model;
mod c_host;
mod dtypes;
mod fuzz_regressions;
mod module_map;
mod onnx_io;
mod ort_backend;
mod parity;
mod rewrite_cli;
