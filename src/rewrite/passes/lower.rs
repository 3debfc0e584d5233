//! [`LowerInterventions`]: every representation, in schema order, spliced in at its site.

use super::source_value;
use crate::interventions::{StepGate, Target, lower, lower_steps};
use crate::ir::Model;
use crate::rewrite::{Cx, Pass, RewriteError};
use crate::schema::{Source, Unit};

/// Builds each representation's patch against the current graph and applies it; sources read
/// the pristine slices that [`super::AddSourceSlices`] made. In serial mode representation `i`
/// is spliced into source slice `i + 1` instead (the base for the last; a site outside that
/// slice cannot change what the slice computes and is left out), and reads slice `i` as already
/// intervened by representation `i - 1`: a shunt keeps the site's name for the new value.
pub struct LowerInterventions;

impl Pass for LowerInterventions {
    fn name(&self) -> &'static str {
        "LowerInterventions"
    }

    fn run(&self, cx: &Cx, model: &mut Model) -> Result<(), RewriteError> {
        for (rep, r) in cx.plan.reps.iter().zip(&cx.sites) {
            let source_value = match (&rep.source, &r.source_site) {
                (Source::Run { group, .. }, Some(s)) => Some(source_value_in(cx, *group, &s.value)),
                _ => None,
            };
            let number = cx.numbering.reps + rep.index;
            let next = rep.index + 1;
            let mut site = r.site.clone();
            if cx.plan.serial && next < cx.plan.reps.len() {
                site.value = source_value_in(cx, next, &r.site.value);
                if model.graph.producer(&site.value).is_none() {
                    continue;
                }
            }
            let gate = cx.plan.steps.as_ref().zip(cx.past.as_deref()).map(|(steps, past)| StepGate { steps, past });
            let target = Target { rep, site: &site, source_value, number, gate };
            if rep.unit == Unit::Steps {
                let source_calls: Vec<String> = match (&rep.source, &r.source_site) {
                    (Source::Run { group, .. }, Some(s)) => {
                        s.calls.iter().map(|v| source_value_in(cx, *group, v)).collect()
                    }
                    _ => Vec::new(),
                };
                for patch in lower_steps(&target, &source_calls)? {
                    patch.apply(model);
                }
                continue;
            }
            lower(&target)?.apply(model);
        }
        Ok(())
    }
}

/// The name of pristine value `value` in source slice `group` of this rewrite.
fn source_value_in(cx: &Cx, group: usize, value: &str) -> String {
    source_value(&cx.pristine.graph, cx.numbering.groups + group, value, &cx.dependent, &cx.pinned)
}
