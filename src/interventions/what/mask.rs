//! `SigmoidMaskIntervention`: a learned soft mask in the original basis.

use super::Io;
use crate::interventions::builder::Builder;

/// `(1 − m)·x + m·s`; pyvene ignores subspaces and `interchange_dim` here.
pub fn mask(b: &mut Builder, m: &[f64], io: &Io) -> Result<String, String> {
    let keep: Vec<f64> = m.iter().map(|v| 1.0 - v).collect();
    let keep = io.constant(b, &[keep.len()], &keep)?;
    let take = io.constant(b, &[m.len()], m)?;
    let a = b.op("Mul", &[&keep, io.base], vec![]);
    let s = b.op("Mul", &[&take, io.source], vec![]);
    Ok(b.op("Add", &[&a, &s], vec![]))
}
