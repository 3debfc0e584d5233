//! `pvc run MODEL`: execute a model and print or save its outputs.

use anyhow::{Context, bail};
use pvc::runtime::{BackendChoice, Device, NamedTensors, OptLevel, OrtOptions, Tensor};
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
    /// Write outputs to this safetensors file, named after graph outputs: a regular file (or a new
    /// one) in an existing directory; never an input of the run.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Engine: tract (built in) or ort (ONNX Runtime, loaded at run time) [default: tract, or ort with
    /// --device cuda].
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
    /// ONNX Runtime library (libonnxruntime.so); default: $ORT_DYLIB_PATH, then a Python onnxruntime package.
    #[arg(long, value_name = "PATH")]
    ort_lib: Option<PathBuf>,
    /// Device for ONNX Runtime; cuda implies --backend ort and needs a GPU build (onnxruntime-gpu).
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// ONNX Runtime graph optimization level [default: all].
    #[arg(long, value_enum)]
    opt_level: Option<OptLevelArg>,
    /// ONNX Runtime intra-op threads (default: ONNX Runtime's choice).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    /// ONNX Runtime inter-op threads; turns on parallel execution of independent operators.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    inter_threads: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BackendArg {
    Tract,
    Ort,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DeviceArg {
    Cpu,
    Cuda,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OptLevelArg {
    Disable,
    Basic,
    Extended,
    All,
}

/// The engine the flags ask for; ONNX Runtime flags without ONNX Runtime are an error, not ignored.
fn backend_choice(args: &Args) -> anyhow::Result<BackendChoice> {
    let ort = match args.backend {
        Some(BackendArg::Ort) => true,
        Some(BackendArg::Tract) => false,
        None => args.device == DeviceArg::Cuda,
    };
    if !ort {
        let ort_only = [
            (args.device == DeviceArg::Cuda, "--device cuda"),
            (args.ort_lib.is_some(), "--ort-lib"),
            (args.opt_level.is_some(), "--opt-level"),
            (args.threads.is_some(), "--threads"),
            (args.inter_threads.is_some(), "--inter-threads"),
        ];
        if let Some((_, flag)) = ort_only.iter().find(|(set, _)| *set) {
            bail!("{flag} applies to ONNX Runtime only: add --backend ort");
        }
        return Ok(BackendChoice::Tract);
    }
    Ok(BackendChoice::Ort(OrtOptions {
        lib: args.ort_lib.clone(),
        device: match args.device {
            DeviceArg::Cpu => Device::Cpu,
            DeviceArg::Cuda => Device::Cuda,
        },
        opt_level: match args.opt_level {
            Some(OptLevelArg::Disable) => OptLevel::Disable,
            Some(OptLevelArg::Basic) => OptLevel::Basic,
            Some(OptLevelArg::Extended) => OptLevel::Extended,
            Some(OptLevelArg::All) | None => OptLevel::All,
        },
        intra_threads: args.threads.map(|n| n as usize),
        inter_threads: args.inter_threads.map(|n| n as usize),
    }))
}

pub fn exec(args: Args) -> anyhow::Result<()> {
    let choice = backend_choice(&args)?;
    let model = pvc::ir::Model::load(&args.model)?;
    pvc::ir::verify(&model).with_context(|| format!("{}: invalid graph", args.model.display()))?;
    let inputs = pvc::fsio::InputSet::of(
        [args.model.clone()]
            .into_iter()
            .chain(model.external.iter().map(|r| r.file.clone()))
            .chain(args.inputs.clone()),
    );
    if let Some(path) = &args.output {
        pvc::fsio::check_output(path, &inputs)?;
    }
    let mut backend =
        pvc::runtime::load_backend(&args.model, choice).with_context(|| format!("loading {}", args.model.display()))?;
    let feeds = gather_inputs(&args, backend.inputs())?;
    let outputs = backend.run(&feeds)?;
    match &args.output {
        Some(path) => {
            pvc::runtime::write_safetensors_with(path, &outputs, &inputs)?;
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
    let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if finite.is_empty() {
        let nan = v.iter().filter(|x| x.is_nan()).count();
        return match nan {
            n if n == v.len() => format!("all {n} values are NaN"),
            0 => format!("all {} values are infinite", v.len()),
            n => format!("no finite values ({n} NaN, {} infinite)", v.len() - n),
        };
    }
    let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = finite.iter().sum::<f64>() / finite.len() as f64;
    let nan = v.iter().filter(|x| x.is_nan()).count();
    let odd = match (nan, v.len() - finite.len() - nan) {
        (0, 0) => String::new(),
        (n, 0) => format!(" (of the finite values; {n} NaN)"),
        (0, i) => format!(" (of the finite values; {i} infinite)"),
        (n, i) => format!(" (of the finite values; {n} NaN, {i} infinite)"),
    };
    let head: Vec<String> = v.iter().take(6).map(|x| format!("{x:.4}")).collect();
    format!(
        "min {min:.4} max {max:.4} mean {mean:.4}{odd}  [{}{}]",
        head.join(", "),
        if v.len() > 6 { ", …" } else { "" }
    )
}
