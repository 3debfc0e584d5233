//! `pvc rewrite MODEL SCHEMA -o OUT`: compile a schema into the model.

use anyhow::Context;
use pvc::fsio::{InputSet, check_output};
use pvc::ir::Model;
use pvc::onnx::{DataPolicy, SaveOptions};
use pvc::rewrite::{Options, rewrite};
use pvc::schema::Plan;
use std::path::{Path, PathBuf};

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
    let mut model = Model::load(&args.model)?;
    let mut overrides = Vec::new();
    for (key, text) in [("unit_locations", &args.unit_locations), ("subspaces", &args.subspaces)] {
        if let Some(text) = text {
            let value =
                serde_json::from_str(text).with_context(|| format!("--{}: not valid JSON", key.replace('_', "-")))?;
            overrides.push((key, value));
        }
    }
    let plan = Plan::from_path_with(&args.schema, &overrides)?;
    let inputs = InputSet::of(
        [args.model.clone()]
            .into_iter()
            .chain(model.external.iter().map(|r| r.file.clone()))
            .chain(plan.input_files(&args.schema)),
    );
    let genai_path = args.genai_config.then(|| pvc::fsio::parent_dir(&args.output).join("genai_config.json"));
    if !args.dry_run {
        check_output(&args.output, &inputs)?;
        if let Some(p) = &genai_path {
            check_output(p, &inputs)?;
        }
    }
    let opts = Options { original: args.original, verify: args.verify, model_type: args.model_type.clone() };
    let sites = rewrite(&mut model, &plan, &opts)?;
    for (rep, r) in plan.reps.iter().zip(&sites) {
        let run = match plan.serial && rep.index + 1 < plan.reps.len() {
            true => format!(" in source run {}", rep.index + 1),
            false => String::new(),
        };
        let line = format!("{}: {} at {} → `{}`{run}", rep.at, rep.kind.class(), r.site.via, r.site.value);
        eprintln!("{}", pvc::onnx::escape(&line));
    }
    if plan.is_empty() {
        eprintln!("the schema has no interventions: the model is written unchanged");
    }
    let genai = match &genai_path {
        Some(_) => {
            let filename = args.output.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            let o = pvc::rewrite::GenaiOptions {
                filename,
                eos_token_id: args.eos_token_id.unwrap_or_default(),
                context_length: args.context_length,
            };
            Some(serde_json::to_string_pretty(&pvc::rewrite::genai_config(&model, &o)?)? + "\n")
        }
        None => None,
    };
    if args.dry_run {
        return Ok(());
    }
    let data = match args.external_data {
        ExternalData::Link => DataPolicy::Link,
        ExternalData::Copy => DataPolicy::Copy,
        ExternalData::Split => DataPolicy::Split,
    };
    let mut staged = SaveOptions {
        data,
        verbatim: plan.is_empty().then(|| args.model.clone()),
        source: model.source.clone(),
        durable: args.durable,
    }
    .stage(&model.to_proto(), &model.external, &args.output, &inputs)?;
    if args.check {
        let path = staged.checkable()?;
        check(&path, &args)
            .with_context(|| format!("--check refused the patched model; {} was not written", args.output.display()))?;
    }
    staged.commit()?;
    eprintln!("wrote {}", args.output.display());
    if let (Some(p), Some(text)) = (&genai_path, &genai) {
        pvc::fsio::write_atomic(p, &inputs, text.as_bytes())?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

/// Loads the staged model at `path` in every runtime pvc has: tract always, ONNX Runtime when found.
fn check(path: &Path, args: &Args) -> anyhow::Result<()> {
    use pvc::runtime::{OrtBackend, OrtOptions, TractBackend};
    TractBackend::load(path).context("tract refused the patched model")?;
    eprintln!("check: tract loads and plans the model");
    match OrtBackend::find_library(args.ort_lib.as_deref()) {
        Ok(lib) => {
            let opts = OrtOptions { lib: Some(lib.clone()), ..Default::default() };
            OrtBackend::load(path, &opts).context("ONNX Runtime refused the patched model")?;
            eprintln!("check: ONNX Runtime ({}) loads the model", lib.display());
        }
        Err(e) if args.ort_lib.is_some() => return Err(e.into()),
        Err(e) => eprintln!("check: ONNX Runtime skipped: {e}"),
    }
    Ok(())
}
