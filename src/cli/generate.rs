//! `pvc generate MODEL`: token-by-token generation with a (patched) decoder.

use anyhow::{Context, bail};
use pvc::generate::{Request, Sampling};
use pvc::runtime::{BackendChoice, OrtOptions};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The decoder (ONNX; a KV cache in Optimum's convention is used when present).
    model: PathBuf,
    /// Prompt token ids as JSON, e.g. `[5, 7, 9]`.
    #[arg(long, value_name = "JSON", conflicts_with = "prompt", required_unless_present = "prompt")]
    input_ids: Option<String>,
    /// Prompt text (needs --tokenizer); the new text is streamed as it is generated.
    #[arg(long, requires = "tokenizer")]
    prompt: Option<String>,
    /// A Hugging Face tokenizer.json; with it, the output is text and EOS is the tokenizer's.
    #[arg(long, value_name = "FILE")]
    tokenizer: Option<PathBuf>,
    /// Tokens to generate at most.
    #[arg(long, value_name = "N")]
    max_new_tokens: usize,
    /// A safetensors file with the model's other inputs (e.g. `source.0.input_ids`), fed to every call.
    #[arg(long)]
    inputs: Option<PathBuf>,
    /// A source prompt's token ids as JSON, fed as `source.<g>.input_ids`: the first occurrence is
    /// source group 0, the next group 1 (for interchanges from a source run).
    #[arg(long, value_name = "JSON", conflicts_with = "source_prompt")]
    source_ids: Vec<String>,
    /// A source prompt as text (needs --tokenizer), fed as `source.<g>.input_ids` like --source-ids.
    #[arg(long, value_name = "TEXT", requires = "tokenizer")]
    source_prompt: Vec<String>,
    /// Stop after this token id.
    #[arg(long, value_name = "ID")]
    eos_token_id: Option<i64>,
    /// Sample with this temperature (greedy when no sampling option is given).
    #[arg(long)]
    temperature: Option<f32>,
    /// Sample among the k most likely tokens.
    #[arg(long)]
    top_k: Option<usize>,
    /// Sample from the smallest set of tokens whose probability reaches p.
    #[arg(long)]
    top_p: Option<f32>,
    /// Seed of the sampler [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Engine.
    #[arg(long, value_enum, default_value_t = BackendArg::Tract)]
    backend: BackendArg,
    /// ONNX Runtime intra-op threads (with --backend ort).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    /// ONNX Runtime library (with --backend ort).
    #[arg(long, value_name = "PATH")]
    ort_lib: Option<PathBuf>,
    /// Write `sequences` (int64 [1, n]), `logits` (float32 [1, steps, vocab]) and each Collect tap
    /// (concatenated over calls) to this safetensors file.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BackendArg {
    Tract,
    Ort,
}

pub fn exec(args: Args) -> anyhow::Result<()> {
    let text = args.tokenizer.as_deref().map(pvc::generate::Text::load).transpose()?;
    let prompt: Vec<i64> = match (&args.input_ids, &args.prompt, &text) {
        (Some(j), _, _) => {
            serde_json::from_str(j).with_context(|| format!("--input-ids `{j}`: expected a JSON list of token ids"))?
        }
        (None, Some(p), Some(t)) => t.encode(p)?,
        _ => bail!("give --input-ids, or --prompt with --tokenizer"),
    };
    let sampling = if args.temperature.is_some() || args.top_k.is_some() || args.top_p.is_some() {
        Some(Sampling {
            temperature: args.temperature.unwrap_or(1.0),
            top_k: args.top_k.unwrap_or(0),
            top_p: args.top_p.unwrap_or(1.0),
            seed: args.seed.unwrap_or(0),
        })
    } else {
        if args.seed.is_some() {
            bail!("--seed applies to sampling only: add --temperature, --top-k or --top-p");
        }
        None
    };
    let choice = match args.backend {
        BackendArg::Tract => {
            if args.ort_lib.is_some() || args.threads.is_some() {
                bail!("--ort-lib and --threads apply to ONNX Runtime only: add --backend ort");
            }
            BackendChoice::Tract
        }
        BackendArg::Ort => BackendChoice::Ort(OrtOptions {
            lib: args.ort_lib.clone(),
            intra_threads: args.threads.map(|n| n as usize),
            ..Default::default()
        }),
    };
    let model = pvc::ir::Model::load(&args.model)?;
    if let Some(t) = &text {
        let logits = model.graph.outputs.iter().find(|o| pvc::onnx::s(&o.name) == "logits");
        if let Some(v) = logits.and_then(|o| pvc::ir::ValueType::from_value_info(o).last_dim()) {
            t.check_vocab(v as usize)?;
        }
    }
    let files = pvc::fsio::InputSet::of(
        [args.model.clone()]
            .into_iter()
            .chain(model.external.iter().map(|r| r.file.clone()))
            .chain(args.inputs.clone()),
    );
    if let Some(path) = &args.output {
        pvc::fsio::check_output(path, &files)?;
    }
    let mut extra = match &args.inputs {
        Some(p) => pvc::runtime::read_safetensors(p)?,
        None => Vec::new(),
    };
    for (g, ids) in source_prompts(&args, text.as_ref())?.into_iter().enumerate() {
        let name = format!("source.{g}.input_ids");
        if extra.iter().any(|(n, _)| *n == name) {
            bail!("`{name}` is given both in --inputs and by --source-ids/--source-prompt: give it once");
        }
        if ids.is_empty() {
            bail!("source prompt {g} is empty");
        }
        extra.push((name, pvc::runtime::Tensor::from_i64(vec![1, ids.len()], &ids)));
    }
    let mut backend =
        pvc::runtime::load_backend(&args.model, choice).with_context(|| format!("loading {}", args.model.display()))?;
    let eos = args.eos_token_id.or_else(|| text.as_ref().and_then(|t| t.eos()));
    let req = Request { prompt: prompt.clone(), max_new_tokens: args.max_new_tokens, eos, sampling, extra };
    let mut stdout = std::io::stdout();
    let mut new: Vec<i64> = Vec::new();
    let mut shown = 0;
    let mut failed = None;
    if let Some(p) = &args.prompt {
        let _ = write!(stdout, "{p}");
    }
    let out = pvc::generate::generate(backend.as_mut(), &req, |id| {
        new.push(id);
        match &text {
            None => {
                let _ = write!(stdout, "{id} ");
            }
            Some(t) => match t.decode(&new) {
                Ok(s) => {
                    let piece = s.get(shown..).unwrap_or("");
                    let sep = if shown == 0 && !piece.is_empty() { " " } else { "" };
                    let _ = write!(stdout, "{sep}{piece}");
                    shown = s.len();
                }
                Err(e) => failed = failed.take().or(Some(e)),
            },
        }
        let _ = stdout.flush();
    })?;
    println!();
    if let Some(e) = failed {
        return Err(e.into());
    }
    if let Some(path) = &args.output {
        let tensors = out.tensors()?;
        pvc::runtime::write_safetensors_with(path, &tensors, &files)?;
        println!("wrote {} tensors to {}", tensors.len(), path.display());
    }
    Ok(())
}

/// The token ids of each `--source-ids` / `--source-prompt`, in order.
fn source_prompts(args: &Args, text: Option<&pvc::generate::Text>) -> anyhow::Result<Vec<Vec<i64>>> {
    let mut out = Vec::new();
    for j in &args.source_ids {
        out.push(
            serde_json::from_str(j)
                .with_context(|| format!("--source-ids `{j}`: expected a JSON list of token ids"))?,
        );
    }
    for p in &args.source_prompt {
        let t = text.context("--source-prompt needs --tokenizer")?;
        out.push(t.encode(p)?);
    }
    Ok(out)
}
