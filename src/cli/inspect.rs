//! `pvc inspect MODEL`: the module tree, like PyTorch's `print(model)`.

use anyhow::Context;
use pvc::ir::Model;
use pvc::locate::Locator;
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
    let model = Model::load(&args.model)?;
    pvc::ir::verify(&model).with_context(|| format!("{}: invalid graph", args.model.display()))?;
    let mut loc = Locator::new(&model);
    if let Some(t) = &args.model_type {
        loc.set_model_type(t).context("--model-type")?;
    }
    if args.components {
        let report = pvc::report::components(&loc);
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report).context("serializing the report")?);
        } else {
            print!("{}", pvc::report::render_components(&report));
        }
        return Ok(());
    }
    let report = pvc::report::inspect(&model, &loc);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).context("serializing the report")?);
    } else {
        print!("{}", pvc::report::render_tree(&report));
    }
    Ok(())
}
