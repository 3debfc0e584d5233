//! `pvc run MODEL`: execute a model and print or save its outputs.

use anyhow::{Context, bail};
use pvc::runtime::{Backend, NamedTensors, Tensor, TractBackend};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ONNX model.
    model: PathBuf,
    /// A safetensors file with tensors named after graph inputs.
    #[arg(long)]
    inputs: Option<PathBuf>,
    /// One input as `name=<json array>`, e.g. `input_ids=[[1,2,3]]`; repeatable.
    #[arg(long = "input", value_name = "NAME=JSON")]
    input: Vec<String>,
    /// Write outputs to this safetensors file, named after graph outputs.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

pub fn exec(args: Args) -> anyhow::Result<()> {
    let mut backend = TractBackend::load(&args.model)
        .with_context(|| format!("loading {}", args.model.display()))?;
    let inputs = gather_inputs(&args, backend.inputs())?;
    let outputs = backend.run(&inputs)?;
    match &args.output {
        Some(path) => {
            pvc::runtime::write_safetensors(path, &outputs)?;
            println!("wrote {} outputs to {}", outputs.len(), path.display());
        }
        None => print!("{}", summary(&outputs)),
    }
    Ok(())
}

fn gather_inputs(args: &Args, specs: &[pvc::runtime::IoSpec]) -> anyhow::Result<NamedTensors> {
    let mut inputs: NamedTensors = match &args.inputs {
        Some(p) => pvc::runtime::read_safetensors(p)?,
        None => Vec::new(),
    };
    for item in &args.input {
        let Some((name, json)) = item.split_once('=') else {
            bail!("--input `{item}`: expected NAME=JSON, e.g. input_ids=[[1,2,3]]");
        };
        let Some(spec) = specs.iter().find(|s| s.name == name) else {
            let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            bail!("--input `{name}`: the model has no such input (inputs: {})", known.join(", "));
        };
        let dtype = spec.dtype.unwrap_or(pvc::runtime::DType::F32);
        inputs.retain(|(n, _)| n != name);
        inputs.push((name.to_string(), pvc::runtime::tensor_from_json(name, json, dtype)?));
    }
    Ok(inputs)
}

/// A short text summary of each output; intervened/original pairs also get their difference.
fn summary(outputs: &NamedTensors) -> String {
    let mut out = String::new();
    for (name, t) in outputs {
        out.push_str(&format!("{name}: {}{:?} {}\n", t.dtype.name(), t.shape, stats(t)));
    }
    for (name, t) in outputs {
        let Some(base) = name.strip_prefix("original.") else { continue };
        let Some((_, patched)) = outputs.iter().find(|(n, _)| n == base) else { continue };
        if let Some(d) = patched.max_abs_diff(t) {
            out.push_str(&format!("{base} vs {name}: max |diff| = {d:.6e}\n"));
        }
    }
    out
}

fn stats(t: &Tensor) -> String {
    let v = t.to_f64();
    if v.is_empty() {
        return "(empty)".into();
    }
    let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let head: Vec<String> = v.iter().take(6).map(|x| format!("{x:.4}")).collect();
    format!("min {min:.4} max {max:.4} mean {mean:.4}  [{}{}]", head.join(", "), if v.len() > 6 { ", …" } else { "" })
}
