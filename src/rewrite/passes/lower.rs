//! [`LowerInterventions`]: every representation, in schema order, spliced in at its site.

use super::source_value;
use crate::interventions::{StepGate, Target, lower};
use crate::ir::Model;
use crate::rewrite::{Cx, Pass, RewriteError};
use crate::schema::Source;

/// Builds each representation's patch against the current graph and applies it; sources read
/// the pristine slices that [`super::AddSourceSlices`] made.
pub struct LowerInterventions;

impl Pass for LowerInterventions {
    fn name(&self) -> &'static str {
        "LowerInterventions"
    }

    fn run(&self, cx: &Cx, model: &mut Model) -> Result<(), RewriteError> {
        for (rep, r) in cx.plan.reps.iter().zip(&cx.sites) {
            let source_value = match (&rep.source, &r.source_site) {
                (Source::Run { group, .. }, Some(s)) => {
                    Some(source_value(&cx.pristine.graph, cx.numbering.groups + group, &s.value, &cx.dependent))
                }
                _ => None,
            };
            let number = cx.numbering.reps + rep.index;
            let gate = cx.plan.steps.as_ref().zip(cx.past.as_deref()).map(|(steps, past)| StepGate { steps, past });
            let patch = lower(&Target { rep, site: &r.site, source_value, number, gate })?;
            patch.apply(model);
        }
        Ok(())
    }
}
