//! What a schema's step selection ([`Steps`]) needs from the model: a KV cache whose past
//! length tells the prompt pass from decode steps, and positions each call can hold.

use super::RewriteError;
use crate::interventions::InterventionError;
use crate::schema::{Calls, Plan, Positions, Source, Steps};

/// The past-key input the step gate reads (`past_key_values.<n>.key`, Optimum's convention, or
/// any rank-4 input named `past…`), or `None` when the plan selects no steps; errors when it
/// does and the model has no KV cache, when a decode step cannot hold a position, and for
/// whole-tensor interchanges from a source run (a call's length is not the source's).
pub fn past_input(graph: &crate::ir::Graph, plan: &Plan) -> Result<Option<String>, RewriteError> {
    let Some(steps) = &plan.steps else { return Ok(None) };
    let field = if plan.json.get("intervene_on_prompt").is_some() { "intervene_on_prompt" } else { "steps" };
    let rank4 = |v: &crate::onnx::pb::ValueInfoProto| {
        crate::ir::ValueType::from_value_info(v).shape.is_some_and(|s| s.len() == 4)
    };
    let names: Vec<String> =
        graph.inputs.iter().filter(|v| rank4(v)).map(|v| crate::onnx::s(&v.name).to_string()).collect();
    let past = names
        .iter()
        .find(|n| n.starts_with("past_key_values.") && n.ends_with(".key"))
        .or_else(|| names.iter().find(|n| n.starts_with("past")))
        .cloned()
        .ok_or_else(|| {
            InterventionError::new(
                field,
                "generation steps need a decoder with a KV cache (a `past_key_values.<n>.key` input \
                 [batch, kv_heads, past, head_dim]), and this model has none",
            )
        })?;
    for rep in &plan.reps {
        if let Source::Run { positions: Positions::All, .. } = rep.source {
            return Err(InterventionError::new(
                rep.locations_field(None, None),
                "a whole-tensor interchange from a source run cannot follow a generation: the source prompt's \
                 length is fixed and each call's is not; give source and base positions \
                 (`\"sources->base\": [[[source positions]], [[base positions]]]`)",
            )
            .into());
        }
        if *steps == Steps::Calls(Calls::Decode)
            && let Positions::Fixed(rows) = &rep.positions
            && let Some(bad) = rows.iter().flatten().find(|&&p| p != 0)
        {
            return Err(InterventionError::new(
                rep.locations_field(None, None),
                format!(
                    "position {bad} does not exist on a decode step: with intervene_on_prompt false each decode \
                     call feeds one token, so positions count 0 only (pyvene 0.1.8 fails here with IndexError)"
                ),
            )
            .into());
        }
    }
    Ok(Some(past))
}
