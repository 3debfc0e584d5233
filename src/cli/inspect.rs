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
}

pub fn exec(args: Args) -> anyhow::Result<()> {
    let report = pvc::job::inspect(&args.model)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).context("serializing the report")?);
    } else {
        print!("{}", pvc::report::render_tree(&report));
    }
    Ok(())
}
