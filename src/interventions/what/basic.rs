//! pyvene's untrained interventions on the gathered units `s`, on the columns a boolean `mask`
//! marks (every column when `None`): Zero, interchange (Vanilla, Skip), Addition and
//! Subtraction, and Noise's fixed vector.

use crate::interventions::builder::Builder;

/// Zero on the masked columns. Unmasked, the zeros are shaped by `s` itself (tract folds a
/// ConstantOfShape feeding a MatMul to the wrong rank).
pub fn zero(b: &mut Builder, s: &str, mask: Option<&str>, elem: i32) -> Result<String, String> {
    let zero = b.constant(elem, &[], &[0.0])?;
    Ok(match mask {
        Some(m) => b.op("Where", &[m, &zero, s], vec![]),
        None => {
            let always = b.op("Equal", &[s, s], vec![]);
            b.op("Where", &[&always, &zero, &zero], vec![])
        }
    })
}

/// The source on the masked columns, `s` elsewhere (the source broadcast to `s` when unmasked).
/// Unmasked, `s` is read by value (`Where(Equal(s, s), src, src)`), as for Zero: tract
/// mis-shapes a value read only through `Shape` ahead of a MatMul.
pub fn interchange(b: &mut Builder, s: &str, src: &str, mask: Option<&str>) -> String {
    match mask {
        Some(m) => b.op("Where", &[m, src, s], vec![]),
        None => {
            let always = b.op("Equal", &[s, s], vec![]);
            b.op("Where", &[&always, src, src], vec![])
        }
    }
}

/// `s ± src` on the masked columns.
pub fn shift(
    b: &mut Builder,
    s: &str,
    src: &str,
    mask: Option<&str>,
    elem: i32,
    subtract: bool,
) -> Result<String, String> {
    let delta = match mask {
        Some(m) => {
            let zero = b.constant(elem, &[], &[0.0])?;
            b.op("Where", &[m, src, &zero], vec![])
        }
        None => src.to_string(),
    };
    Ok(b.op(if subtract { "Sub" } else { "Add" }, &[s, &delta], vec![]))
}

/// `s + noise`, pyvene's `(1, 4, d)` noise (already scaled and masked).
pub fn noise(b: &mut Builder, s: &str, d: usize, vals: &[f64], elem: i32) -> Result<String, String> {
    let c = b.constant(elem, &[1, 4, d as i64], vals)?;
    Ok(b.op("Add", &[s, &c], vec![]))
}
