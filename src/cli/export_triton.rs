//! `pvc export-triton MODEL -o REPO`: a Triton Inference Server model repository entry.

use pvc::serve::{Instances, TritonConfig};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ONNX model (patched or not; left untouched).
    model: PathBuf,
    /// The model repository: an existing directory; `<name>/config.pbtxt` and
    /// `<name>/1/model.onnx` (with the model's data files) are written into it.
    #[arg(short, long, value_name = "REPO")]
    output: PathBuf,
    /// The model's name in the repository [default: the model file's stem].
    #[arg(long)]
    name: Option<String>,
    /// Triton's max_batch_size: every input and output must then have the batch as its first
    /// dimension; 0 serves the model unbatched, with full shapes.
    #[arg(long, value_name = "B", default_value_t = 8)]
    max_batch_size: u32,
    /// Model instances (the instance group's count).
    #[arg(long, value_name = "K", default_value_t = 1)]
    instances: u32,
    /// Let Triton merge concurrent requests into one batch.
    #[arg(long)]
    dynamic_batching: bool,
    /// With --dynamic-batching: how long Triton waits to fill a batch, in microseconds.
    #[arg(long, value_name = "US", default_value_t = 100, requires = "dynamic_batching")]
    queue_delay_us: u64,
    /// Run the instances on GPUs (KIND_GPU) instead of CPUs (KIND_CPU).
    #[arg(long)]
    gpu: bool,
}

pub fn exec(args: Args) -> anyhow::Result<()> {
    let model = pvc::ir::Model::load(&args.model)?;
    let name = match &args.name {
        Some(n) => n.clone(),
        None => args.model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    let instances = Instances { count: args.instances, gpu: args.gpu };
    let delay = args.dynamic_batching.then_some(args.queue_delay_us);
    let config = TritonConfig::of(&model, &name, args.max_batch_size, instances, delay)?;
    for path in pvc::serve::export(&model, &config, &args.output)? {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
