//! Unit `t`: the time steps of a recurrent model.
//!
//! pyvene's GRU calls each cell once per time step, and a hook on a cell fires on every call.
//! pvc reads unit `t` as pyvene documents it, "t = time step": `unit_locations` list, per
//! example, the steps (calls) an intervention acts on, in every form unit `pos` takes, and the
//! intervention acts at those calls only; `null` means every call. An interchange pairs the
//! i-th base step with the i-th source step. (pyvene 0.1.8's own unit `t` ignores the steps of
//! a constant-source intervention and zeroes the unselected steps of an interchange; the README
//! says where pvc differs.) Steps are fixed in the schema; their bound, the number of calls, is
//! the graph's and is checked where the site is located.

use super::SchemaError;
use super::json::At;
use super::plan::{Kind, Positions, Rep, Source};

/// Refuses what unit `t` does not support: steps given at run time, and interventions that
/// are not a per-step function of one step's tensor (the trained kinds, pyvene's fixed
/// four-position Noise). `locations` is the top-level `unit_locations`, when given.
pub(super) fn check(rep: &Rep, locations: Option<&At>) -> Result<(), SchemaError> {
    if rep.kind.is_trained() || rep.kind == Kind::Noise {
        return Err(SchemaError::new(
            rep.field("intervention_type"),
            format!(
                "{} at unit t is not supported: pvc intervenes at unit t with Zero, Vanilla, Addition, Subtraction, Collect, Skip and constant sources",
                rep.kind.class()
            ),
        ));
    }
    let runtime =
        rep.positions == Positions::Runtime || matches!(&rep.source, Source::Run { positions: Positions::Runtime, .. });
    if runtime {
        let at = locations.map_or_else(|| rep.field("unit"), |l| l.path.clone());
        return Err(SchemaError::new(
            at,
            "unit t takes its steps fixed in the schema (\"unit_locations\"; null for every step): run-time steps are not supported",
        ));
    }
    Ok(())
}
