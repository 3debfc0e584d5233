//! `pvc rewrite MODEL SCHEMA -o OUT`: compile a schema into the model.

use pvc::job::{JsonArg, RewriteJob, SchemaSource};
use pvc::onnx::DataPolicy;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ONNX model to patch (left untouched).
    model: PathBuf,
    /// The schema: a JSON file or a pyvene save directory.
    schema: PathBuf,
    /// Where to write the patched model: a regular file (or a new one) in an existing directory;
    /// never an input of the run.
    #[arg(short, long)]
    output: PathBuf,
    /// Also output `original.<name>`: the un-intervened outputs, computed in the same graph.
    #[arg(long)]
    original: bool,
    /// How external data follows the model into another directory (writing next to the input
    /// moves no data at all).
    #[arg(long, value_enum, default_value_t = ExternalData::Copy)]
    external_data: ExternalData,
    /// pyvene's call-time `unit_locations` (JSON), replacing the schema's.
    #[arg(long, value_name = "JSON")]
    unit_locations: Option<String>,
    /// pyvene's call-time `subspaces` (JSON), replacing the schema's.
    #[arg(long, value_name = "JSON")]
    subspaces: Option<String>,
    /// Check the graph after every pass.
    #[arg(long)]
    verify: bool,
    /// Load the patched model in tract and in ONNX Runtime (when its library is found, see
    /// `pvc run --ort-lib`) before it replaces anything, and fail, writing nothing, if either
    /// refuses it.
    #[arg(long)]
    check: bool,
    /// The ONNX Runtime library for `--check`.
    #[arg(long, value_name = "PATH")]
    ort_lib: Option<PathBuf>,
    /// Print what would be done, write nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ExternalData {
    /// Copy the data files next to the output.
    Copy,
    /// Hard-link the data files next to the output (instant; onnx.checker rejects hard links).
    Link,
    /// Write every tensor of 1 KiB or more, embedded or external, into `<output>.data`
    /// (4 KiB-aligned), so that the output loads without reading its weights.
    Split,
}

pub fn exec(args: Args) -> anyhow::Result<()> {
    let mut job = RewriteJob::new(args.model, SchemaSource::Path(args.schema), args.output);
    job.original = args.original;
    job.external_data = match args.external_data {
        ExternalData::Link => DataPolicy::Link,
        ExternalData::Copy => DataPolicy::Copy,
        ExternalData::Split => DataPolicy::Split,
    };
    job.unit_locations = args.unit_locations.map(JsonArg::Text);
    job.subspaces = args.subspaces.map(JsonArg::Text);
    job.verify = args.verify;
    job.check = args.check;
    job.ort_lib = args.ort_lib;
    job.dry_run = args.dry_run;
    pvc::job::rewrite(&job, &mut |line| eprintln!("{line}"))?;
    Ok(())
}
