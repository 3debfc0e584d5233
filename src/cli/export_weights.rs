//! `pvc export-weights SCHEMA -o weights.safetensors`: a schema's weights in their plain form.

use pvc::fsio::{InputSet, check_output};
use pvc::runtime::Tensor;
use pvc::schema::Plan;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The schema: a pyvene save directory (config.json and its `intkey_*.bin`) or a JSON file.
    schema: PathBuf,
    /// Where to write the safetensors file: tensors `<i>.<param>`, orthogonal parametrizations
    /// replaced by the weight they stand for (`<i>.rotate_layer.weight`).
    #[arg(short, long)]
    output: PathBuf,
}

pub fn exec(args: Args) -> anyhow::Result<()> {
    let plan = Plan::from_path(&args.schema)?;
    let inputs = InputSet::of(plan.input_files(&args.schema));
    check_output(&args.output, &inputs)?;
    let tensors: Vec<(String, Tensor)> =
        plan.tensors.iter().map(|(name, shape, v)| (name.clone(), Tensor::from_f32(shape.clone(), v))).collect();
    pvc::runtime::write_safetensors_with(&args.output, &tensors, &inputs)?;
    eprintln!("wrote {} tensors to {}", tensors.len(), args.output.display());
    Ok(())
}
