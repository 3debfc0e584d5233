//! The rewrite machinery: patches, passes, and the pipeline that lowers a [`Plan`] into a model.

mod clone;
mod error;
mod genai;
mod generate;
mod names;
mod pass;
mod passes;
mod sites;
mod taps;

pub use crate::ir::{Patch, Shunt};
pub use error::RewriteError;
pub use genai::{GenaiOptions, genai_config};
pub use names::Numbering;
pub use pass::{Pass, run_pipeline};
pub use sites::Resolved;
pub use taps::{expose, tap_patch};

use crate::ir::Model;
use crate::locate::Locator;
use crate::schema::Plan;

/// Options of a rewrite.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Add `original.<output>` outputs computed without interventions.
    pub original: bool,
    /// Verify the graph after every pass (the result is always verified).
    pub verify: bool,
    /// The family to use (`--model-type`: a name, an HF class string or a `components.json`
    /// path), over the schema's `model_type` and detection.
    pub model_type: Option<String>,
}

/// What the passes share: the plan, its resolved sites, and the pristine model.
pub struct Cx<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// Sites per representation.
    pub sites: Vec<Resolved>,
    /// The model before any pass.
    pub pristine: Model,
    /// Whether to add original outputs.
    pub original: bool,
    /// Nodes of the pristine graph that depend on a graph input (what source slices clone).
    pub dependent: std::collections::BTreeSet<crate::ir::NodeId>,
    /// Values a representation writes that source slices would otherwise share with the base
    /// (outputs of input-independent nodes, initializers): each slice reads its own frozen copy.
    pub pinned: std::collections::BTreeSet<String>,
    /// Where this rewrite's representation and group numbers start in generated names.
    pub numbering: Numbering,
    /// The past-key input the step gate reads, when the plan selects generation steps.
    pub past: Option<String>,
}

/// Lowers `plan` into `model`. An empty plan leaves the model untouched, byte for byte. The
/// result is always verified; a model pvc already patched can be patched again (the new names
/// are numbered after the old ones).
pub fn rewrite(model: &mut Model, plan: &Plan, opts: &Options) -> Result<Vec<Resolved>, RewriteError> {
    if !has_work(model, plan)? {
        return Ok(vec![]);
    }
    let loc = Locator::new(model);
    rewrite_located(model, plan, opts, loc)
}

/// [`rewrite`] with the model's [`Locator`] already built ([`Locator::new`] of this very model,
/// untouched since), so that several plans compiled against one model analyse it once.
pub fn rewrite_with(
    model: &mut Model,
    plan: &Plan,
    opts: &Options,
    loc: Locator,
) -> Result<Vec<Resolved>, RewriteError> {
    if !has_work(model, plan)? {
        return Ok(vec![]);
    }
    rewrite_located(model, plan, opts, loc)
}

/// Verifies the model; `false` for an empty plan (the model stays untouched), and an error when
/// the model imports an opset older than the operators pvc emits.
fn has_work(model: &Model, plan: &Plan) -> Result<bool, RewriteError> {
    crate::ir::verify(model).map_err(|e| RewriteError::Model(e.to_string()))?;
    if plan.is_empty() {
        return Ok(false);
    }
    match model.opset("") {
        Some(v) if v >= 13 => Ok(true),
        other => Err(RewriteError::Model(format!(
            "pvc emits opset-13 operators but the model imports opset {}",
            other.map_or("none".to_string(), |v| v.to_string())
        ))),
    }
}

fn rewrite_located(
    model: &mut Model,
    plan: &Plan,
    opts: &Options,
    mut loc: Locator,
) -> Result<Vec<Resolved>, RewriteError> {
    if let Some(t) = opts.model_type.as_ref().or(plan.model_type.as_ref())
        && let Err(e) = loc.set_model_type(t)
    {
        let at = if opts.model_type.is_some() { "--model-type" } else { "model_type" };
        return Err(crate::schema::SchemaError::new(at, e.to_string()).into());
    }
    let blame = |e: RewriteError| match &loc.analysis {
        Some(why) => RewriteError::Unanalysable { why: why.clone(), cause: Box::new(e) },
        None => e,
    };
    let sites = sites::resolve(&loc, &model.graph, plan).map_err(blame)?;
    let past = generate::past_input(&model.graph, plan)?;
    let dependent = clone::input_dependent(&model.graph);
    let pinned = passes::pinned(&model.graph, plan, &sites, &dependent);
    let numbering = Numbering::of(&model.graph);
    if opts.original
        && let Some(o) =
            model.graph.outputs.iter().map(|o| crate::onnx::s(&o.name)).find(|o| o.starts_with("original."))
    {
        return Err(RewriteError::Model(format!(
            "the model already has un-intervened outputs (`{o}`) from an earlier rewrite; rewrite it without --original"
        )));
    }
    let cx = Cx {
        plan,
        sites: sites.clone(),
        pristine: model.clone(),
        original: opts.original,
        dependent,
        pinned,
        numbering,
        past,
    };
    let passes: [&dyn Pass; 5] = [
        &passes::AddSourceSlices,
        &passes::CloneOriginal,
        &passes::LowerInterventions,
        &passes::FixBatch,
        &passes::RecordSchema,
    ];
    run_pipeline(&passes, &cx, model, opts.verify).map_err(blame)?;
    if !opts.verify {
        crate::ir::verify(model).map_err(|cause| RewriteError::Verify { pass: "the whole rewrite", cause })?;
    }
    Ok(sites)
}
