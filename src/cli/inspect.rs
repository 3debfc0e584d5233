//! `pvc inspect MODEL`: the module tree, like PyTorch's `print(model)`.

use anyhow::Context;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ONNX model.
    model: PathBuf,
    /// Print JSON instead of a tree.
    #[arg(long)]
    json: bool,
    /// Show where every component of the model's family lands (and how the family was
    /// detected or inferred) instead of the module tree.
    #[arg(long)]
    components: bool,
    /// The model family: a name, an HF class, pyvene's class string, or a `components.json`
    /// file (as `pvc rewrite --model-type`).
    #[arg(long, value_name = "TYPE|FILE")]
    model_type: Option<String>,
}

pub fn exec(args: Args) -> anyhow::Result<()> {
    let model_type = args.model_type.as_deref();
    let text = match (args.components, args.json) {
        (true, true) => json(&pvc::job::components(&args.model, model_type)?)?,
        (true, false) => pvc::report::render_components(&pvc::job::components(&args.model, model_type)?),
        (false, true) => json(&pvc::job::inspect(&args.model, model_type)?)?,
        (false, false) => pvc::report::render_tree(&pvc::job::inspect(&args.model, model_type)?),
    };
    print!("{text}");
    Ok(())
}

fn json(report: &impl serde::Serialize) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(report).context("serializing the report")? + "\n")
}
