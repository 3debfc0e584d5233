//! Subcommands: each has an `Args` struct and an `exec`.

mod export_triton;
mod export_weights;
mod generate;
mod inspect;
mod rewrite;
mod run;

use clap::{Parser, Subcommand};

/// pvc: compile pyvene interventions into ONNX graphs.
#[derive(Debug, Parser)]
#[command(name = "pvc", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the module tree recovered from a model, with each module's tensors.
    Inspect(inspect::Args),
    /// Compile an intervention schema into a model.
    Rewrite(rewrite::Args),
    /// Run a model with tract (default) or ONNX Runtime.
    Run(run::Args),
    /// Write a schema's (a pyvene save directory's) weights as one safetensors file in the
    /// schema's `<i>.<param>` naming.
    ExportWeights(export_weights::Args),
    /// Generate tokens with a decoder (patched or not), using its KV cache when it has one.
    Generate(generate::Args),
    /// Write a Triton Inference Server model repository entry for a model.
    ExportTriton(export_triton::Args),
}

/// Runs the parsed command.
pub fn exec(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Inspect(a) => inspect::exec(a),
        Command::Rewrite(a) => rewrite::exec(a),
        Command::Run(a) => run::exec(a),
        Command::ExportWeights(a) => export_weights::exec(a),
        Command::Generate(a) => generate::exec(a),
        Command::ExportTriton(a) => export_triton::exec(a),
    }
}
