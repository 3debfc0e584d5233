//! `rewrite`: compile a schema into a model and write the result under the output policy.

use super::JobError;
use crate::fsio::{InputSet, check_output};
use crate::ir::Model;
use crate::onnx::{DataPolicy, SaveOptions};
use crate::rewrite::Options;
use crate::schema::{Plan, StateDicts};
use std::path::PathBuf;

/// Where a rewrite's schema comes from.
#[derive(Debug, Clone)]
pub enum SchemaSource {
    /// A JSON file, or a pyvene save directory (its `config.json` and `intkey_*.bin` files).
    Path(PathBuf),
    /// Schema text held in memory: a dict in the schema's form, or the `config.json` that
    /// `IntervenableModel.save` would write, with its state dicts.
    Text {
        /// The JSON document.
        text: String,
        /// Anchors relative paths in it (`"weights"`).
        dir: PathBuf,
        /// Where the pyvene state dicts come from.
        state_dicts: StateDicts,
    },
}

/// A call-time argument in JSON: text to parse (a command-line flag), or a value already parsed.
#[derive(Debug, Clone)]
pub enum JsonArg {
    /// JSON text; a parse error names the argument as a flag (`--unit-locations`).
    Text(String),
    /// A parsed value.
    Value(serde_json::Value),
}

/// Everything `pvc rewrite` is asked to do. Build it with [`RewriteJob::new`], then set fields.
#[derive(Debug, Clone)]
pub struct RewriteJob {
    /// The ONNX model to patch (left untouched).
    pub model: PathBuf,
    /// The schema.
    pub schema: SchemaSource,
    /// Where the patched model goes, under [`crate::fsio`]'s policy: never an input of the job.
    pub output: PathBuf,
    /// Also output `original.<name>`, the un-intervened outputs.
    pub original: bool,
    /// How external data follows the model into another directory.
    pub external_data: DataPolicy,
    /// pyvene's call-time `unit_locations`, replacing the schema's.
    pub unit_locations: Option<JsonArg>,
    /// pyvene's call-time `subspaces`, replacing the schema's.
    pub subspaces: Option<JsonArg>,
    /// Verify the graph after every pass.
    pub verify: bool,
    /// Load the staged result in tract and ONNX Runtime before it replaces anything.
    pub check: bool,
    /// The ONNX Runtime library for `check` (default: the usual search).
    pub ort_lib: Option<PathBuf>,
    /// Report what would be done and write nothing.
    pub dry_run: bool,
    /// The model family (`--model-type`), over the schema's `model_type` and detection.
    pub model_type: Option<String>,
    /// Sync the written files and the output directory before returning.
    pub durable: bool,
    /// Also write `genai_config.json` next to the output, for ONNX Runtime GenAI.
    pub genai: Option<crate::rewrite::GenaiOptions>,
}

impl RewriteJob {
    /// A job with every option off: copy external data, no call-time arguments.
    pub fn new(model: impl Into<PathBuf>, schema: SchemaSource, output: impl Into<PathBuf>) -> RewriteJob {
        RewriteJob {
            model: model.into(),
            schema,
            output: output.into(),
            original: false,
            external_data: DataPolicy::Copy,
            unit_locations: None,
            subspaces: None,
            verify: false,
            check: false,
            ort_lib: None,
            dry_run: false,
            model_type: None,
            durable: false,
            genai: None,
        }
    }
}

/// One intervention as placed in the graph.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Applied {
    /// JSON path of its representation.
    pub at: String,
    /// pyvene's class name (`ZeroIntervention`).
    pub intervention: String,
    /// How the site was found (module path, component map).
    pub via: String,
    /// The tensor it intervenes on (at unit `t`, each selected call's, joined by `, `).
    pub value: String,
}

/// What a rewrite did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RewriteReport {
    /// The interventions, in schema order.
    pub interventions: Vec<Applied>,
    /// The file written; `None` for a dry run.
    pub output: Option<PathBuf>,
}

/// Runs `job`. Progress lines (each intervention's site, `check` steps, `wrote OUT`) go to
/// `note` as they happen, already escaped for a terminal. On error nothing is written and a
/// previous output is untouched.
pub fn rewrite(job: &RewriteJob, note: &mut dyn FnMut(&str)) -> Result<RewriteReport, JobError> {
    let mut model = Model::load(&job.model)?;
    let mut overrides = Vec::new();
    for (key, arg) in [("unit_locations", &job.unit_locations), ("subspaces", &job.subspaces)] {
        match arg {
            Some(JsonArg::Text(text)) => {
                let value = serde_json::from_str(text)
                    .map_err(|source| JobError::CallArg { flag: format!("--{}", key.replace('_', "-")), source })?;
                overrides.push((key, value));
            }
            Some(JsonArg::Value(value)) => overrides.push((key, value.clone())),
            None => {}
        }
    }
    let (plan, schema_files) = match &job.schema {
        SchemaSource::Path(path) => {
            let plan = Plan::from_path_with(path, &overrides)?;
            let files = plan.input_files(path);
            (plan, files)
        }
        SchemaSource::Text { text, dir, state_dicts } => {
            let plan = Plan::from_text_with(text, dir, state_dicts, &overrides)?;
            let files = plan.input_files_in(dir, state_dicts);
            (plan, files)
        }
    };
    let inputs = InputSet::of(
        [job.model.clone()].into_iter().chain(model.external.iter().map(|r| r.file.clone())).chain(schema_files),
    );
    let genai_path = job.genai.as_ref().map(|_| crate::fsio::parent_dir(&job.output).join("genai_config.json"));
    if !job.dry_run {
        check_output(&job.output, &inputs)?;
        if let Some(p) = &genai_path {
            check_output(p, &inputs)?;
        }
    }
    let opts = Options { original: job.original, verify: job.verify, model_type: job.model_type.clone() };
    let sites = crate::rewrite::rewrite(&mut model, &plan, &opts)?;
    let mut interventions = Vec::with_capacity(sites.len());
    for (rep, r) in plan.reps.iter().zip(&sites) {
        let applied = Applied {
            at: rep.at.clone(),
            intervention: rep.kind.class().to_string(),
            via: r.site.via.clone(),
            value: match rep.unit {
                crate::schema::Unit::Steps => crate::interventions::step_tensors(rep, &r.site).join(", "),
                _ => r.site.value.clone(),
            },
        };
        let run = match plan.serial && rep.index + 1 < plan.reps.len() {
            true => format!(" in source run {}", rep.index + 1),
            false => String::new(),
        };
        let line = format!("{}: {} at {} → `{}`{run}", applied.at, applied.intervention, applied.via, applied.value);
        note(&crate::onnx::escape(&line));
        interventions.push(applied);
    }
    if plan.is_empty() {
        note("the schema has no interventions: the model is written unchanged");
    }
    let genai = match &job.genai {
        Some(o) => Some(format!("{:#}\n", crate::rewrite::genai_config(&model, o)?)),
        None => None,
    };
    if job.dry_run {
        return Ok(RewriteReport { interventions, output: None });
    }
    let verbatim = plan.is_empty().then(|| job.model.clone());
    let save = SaveOptions { data: job.external_data, verbatim, source: model.source.clone(), durable: job.durable };
    let mut staged = save.stage(&model.to_proto(), &model.external, &job.output, &inputs)?;
    if job.check {
        let path = staged.checkable()?;
        super::check::check(&path, job.ort_lib.as_deref(), note)
            .map_err(|source| JobError::Check { output: job.output.clone(), source })?;
    }
    staged.commit()?;
    note(&format!("wrote {}", job.output.display()));
    if let (Some(p), Some(text)) = (&genai_path, &genai) {
        crate::fsio::write_atomic(p, &inputs, text.as_bytes())?;
        note(&format!("wrote {}", p.display()));
    }
    Ok(RewriteReport { interventions, output: Some(job.output.clone()) })
}
