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
    /// Also write `genai_config.json` next to the output, for ONNX Runtime GenAI (model type
    /// `decoder`; needs a KV cache in Optimum's convention).
    #[arg(long)]
    genai_config: bool,
    /// End-of-sequence id for the GenAI config (required with --genai-config).
    #[arg(long, value_name = "ID", requires = "genai_config", required_if_eq("genai_config", "true"))]
    eos_token_id: Option<i64>,
    /// Longest sequence for the GenAI config.
    #[arg(long, value_name = "N", requires = "genai_config", default_value_t = 2048)]
    context_length: usize,
    /// Print what would be done, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// The model family for abstract components: a name (`mistral`), an HF class
    /// (`MistralForCausalLM`), pyvene's class string, or a `components.json` file; overrides the
    /// schema's `model_type` and detection.
    #[arg(long, value_name = "TYPE|FILE")]
    model_type: Option<String>,
    /// Sync the written files and the output directory to disk before exiting, so that the
    /// output survives a power loss (slower: waits for the disk). Without it the output still
    /// appears whole or not at all, by rename.
    #[arg(long)]
    durable: bool,
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
    let genai = args.genai_config.then(|| pvc::rewrite::GenaiOptions {
        filename: args.output.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
        eos_token_id: args.eos_token_id.unwrap_or_default(),
        context_length: args.context_length,
    });
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
    job.model_type = args.model_type;
    job.durable = args.durable;
    job.genai = genai;
    pvc::job::rewrite(&job, &mut |line| eprintln!("{line}"))?;
    Ok(())
}
