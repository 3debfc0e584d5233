//! Unit `t`: the time steps of a recurrent model.
//!
//! pyvene's GRU calls each cell once per time step, and a hook on a cell fires on every call.
//! pvc reads unit `t` as pyvene documents it, "t = time step": `unit_locations` list, per
//! example, the steps (calls) an intervention acts on, in every form unit `pos` takes, and the
//! intervention acts at those calls only; `null` means every call, and `"runtime"` (or an
//! interchange with no locations) takes them as int64 inputs, as for `pos`. An interchange pairs
//! the i-th base step with the i-th source step. (pyvene 0.1.8's own unit `t` ignores the steps
//! of a constant-source intervention and zeroes the unselected steps of an interchange; the
//! README says where pvc differs.) The steps' bound, the number of calls, is the graph's: it is
//! checked where the site is located and, for run-time steps, by `pvc run`.

use super::SchemaError;
use super::plan::Kind;

/// Refuses the interventions unit `t` does not support: those that are not a per-step function
/// of one step's tensor (the trained kinds, pyvene's fixed four-position Noise).
/// `at` is the representation's JSON path.
pub(super) fn check(kind: Kind, at: &str) -> Result<(), SchemaError> {
    if kind.is_trained() || kind == Kind::Noise {
        let field = if at.is_empty() { "intervention_type".to_string() } else { format!("{at}.intervention_type") };
        return Err(SchemaError::new(
            field,
            format!(
                "{} at unit t is not supported: pvc intervenes at unit t with Zero, Vanilla, Addition, Subtraction, Collect, Skip and constant sources",
                kind.class()
            ),
        ));
    }
    Ok(())
}
