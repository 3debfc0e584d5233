//! What a trained intervention computes: a function of the base and source vectors (already
//! gathered at their units and, where pyvene does, flattened), knowing nothing of where they
//! came from. One file per family; each builds standard ONNX ops (MatMul, Relu, Where, …)
//! whose constants take the site's element type.

mod autoencoder;
mod mask;
mod reft;
mod rotated;

use super::builder::Builder;
use crate::schema::{Dims, Trained};

/// The two inputs and how to build constants for them.
pub struct Io<'a> {
    /// The base vectors, `[..., n]`.
    pub base: &'a str,
    /// The source vectors, shaped like `base`.
    pub source: &'a str,
    /// Element type of both (and of every constant).
    pub elem: i32,
    /// The coordinates (rotated, PCA or latent) taken from the source, resolved by [`select`].
    pub take: &'a Option<Vec<bool>>,
}

impl Io<'_> {
    /// A constant of `Io::elem` type.
    fn constant(&self, b: &mut Builder, dims: &[usize], v: &[f64]) -> Result<String, String> {
        let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
        b.constant(self.elem, &dims, v)
    }

    /// `x @ m` for a constant matrix `m` (`rows × cols`, row-major values).
    fn matmul(&self, b: &mut Builder, x: &str, m: &crate::schema::Mat) -> Result<String, String> {
        let c = self.constant(b, &[m.rows, m.cols], &m.v)?;
        Ok(b.op("MatMul", &[x, &c], vec![]))
    }

    /// `x + v` for a constant vector `v`.
    fn add(&self, b: &mut Builder, x: &str, v: &[f64]) -> Result<String, String> {
        let c = self.constant(b, &[v.len()], v)?;
        Ok(b.op("Add", &[x, &c], vec![]))
    }

    /// `base` with the [`Io::take`] coordinates replaced by `source`'s (all of them when `None`).
    fn swap(&self, b: &mut Builder, base: &str, source: &str) -> String {
        match self.take {
            None => source.to_string(),
            Some(keep) => {
                let m = b.bools(&[keep.len() as i64], keep);
                b.op("Where", &[&m, source, base], vec![])
            }
        }
    }
}

/// Which of the `inner` coordinates pyvene's `_do_intervention_by_swap` takes from the source
/// for `dims` (`None`: all), or an error naming a column out of range.
pub fn select(dims: &Dims, inner: usize) -> Result<Option<Vec<bool>>, String> {
    let cols: Vec<usize> = match dims {
        Dims::Prefix(None) => return Ok(None),
        Dims::Prefix(Some(n)) if *n >= inner => return Ok(None),
        Dims::Prefix(Some(n)) => (0..*n).collect(),
        Dims::Shared(c) => c.clone(),
        Dims::PerExample(rows) => rows[0].clone(),
    };
    if let Some(c) = cols.iter().find(|&&c| c >= inner) {
        return Err(format!("subspace column {c} is out of range: the intervention's space is {inner} wide"));
    }
    Ok(Some((0..inner).map(|j| cols.contains(&j)).collect()))
}

/// The intervened vectors `[..., n]` for `t`.
pub fn apply(b: &mut Builder, t: &Trained, io: &Io) -> Result<String, String> {
    match t {
        Trained::Rotated { r } => rotated::rotated(b, r, io),
        Trained::MaskedRotation { r, m } => rotated::masked(b, r, m, io),
        Trained::LowRank { w } => rotated::low_rank(b, w, io),
        Trained::Pca { c, mean, std } => rotated::pca(b, c, (mean, std), io),
        Trained::Mask { m } => mask::mask(b, m, io),
        Trained::Autoencoder { enc_w, enc_b, dec_w, dec_b, idx } => {
            autoencoder::relu(b, (enc_w, enc_b), (dec_w, dec_b), idx, io)
        }
        Trained::JumpRelu { w_enc, w_dec, threshold, b_enc, b_dec } => {
            autoencoder::jump_relu(b, (w_enc, b_enc, threshold), (w_dec, b_dec), io)
        }
        Trained::Reft { project, source, minus } => reft::reft(b, project, source, minus, io),
    }
}
