//! pvc's integration tests: one binary, one module per area.

mod util;

mod bad_model;
mod bounded;
mod c_host;
mod dtypes;
mod embedded;
mod export_triton;
mod families;
mod fuzz_regressions;
mod genai;
mod generate;
mod generate_cli;
mod heads;
mod messages;
mod module_map;
mod onnx_io;
mod ort_backend;
mod output_policy;
mod parity;
mod python_package;
mod rewrite_cli;
mod run_inputs;
mod serving;
mod silently_wrong;
mod span_copy;
mod time_steps;
mod trained;
mod triton;
