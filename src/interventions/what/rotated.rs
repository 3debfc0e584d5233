//! The rotation family: DAS (`RotatedSpaceIntervention`), its boundless and sigmoid-mask
//! variants, low-rank DAS and the PCA basis.

use super::Io;
use crate::interventions::builder::Builder;
use crate::schema::Mat;

/// `(swap(xR, sR)) Rᵀ`.
pub fn rotated(b: &mut Builder, r: &Mat, io: &Io) -> Result<String, String> {
    let xr = io.matmul(b, io.base, r)?;
    let sr = io.matmul(b, io.source, r)?;
    let mixed = io.swap(b, &xr, &sr);
    io.matmul(b, &mixed, &r.t())
}

/// `((1 − m)·xR + m·sR) Rᵀ`; pyvene ignores subspaces here.
pub fn masked(b: &mut Builder, r: &Mat, m: &[f64], io: &Io) -> Result<String, String> {
    let xr = io.matmul(b, io.base, r)?;
    let sr = io.matmul(b, io.source, r)?;
    let keep: Vec<f64> = m.iter().map(|v| 1.0 - v).collect();
    let keep = io.constant(b, &[keep.len()], &keep)?;
    let take = io.constant(b, &[m.len()], m)?;
    let a = b.op("Mul", &[&keep, &xr], vec![]);
    let s = b.op("Mul", &[&take, &sr], vec![]);
    let mixed = b.op("Add", &[&a, &s], vec![]);
    io.matmul(b, &mixed, &r.t())
}

/// `x + (sW − xW) Wᵀ` over the selected columns of W (all of them without subspaces).
pub fn low_rank(b: &mut Builder, w: &Mat, io: &Io) -> Result<String, String> {
    let cols: Vec<usize> = match io.take {
        None => (0..w.cols).collect(),
        Some(keep) => (0..w.cols).filter(|&j| keep[j]).collect(),
    };
    let v = (0..w.rows).flat_map(|i| cols.iter().map(move |&j| (i, j))).map(|(i, j)| w.at(i, j)).collect();
    let ws = Mat::new(w.rows, cols.len(), v);
    let sr = io.matmul(b, io.source, &ws)?;
    let xr = io.matmul(b, io.base, &ws)?;
    let diff = b.op("Sub", &[&sr, &xr], vec![]);
    let back = io.matmul(b, &diff, &ws.t())?;
    Ok(b.op("Add", &[io.base, &back], vec![]))
}

/// `(swap(((x − μ)/σ) Cᵀ, ((s − μ)/σ) Cᵀ) C)·σ + μ`.
pub fn pca(b: &mut Builder, c: &Mat, (mean, std): (&[f64], &[f64]), io: &Io) -> Result<String, String> {
    let mu = io.constant(b, &[mean.len()], mean)?;
    let sigma = io.constant(b, &[std.len()], std)?;
    let project = |b: &mut Builder, x: &str| -> Result<String, String> {
        let centred = b.op("Sub", &[x, &mu], vec![]);
        let norm = b.op("Div", &[&centred, &sigma], vec![]);
        io.matmul(b, &norm, &c.t())
    };
    let xr = project(b, io.base)?;
    let sr = project(b, io.source)?;
    let mixed = io.swap(b, &xr, &sr);
    let back = io.matmul(b, &mixed, c)?;
    let scaled = b.op("Mul", &[&back, &sigma], vec![]);
    Ok(b.op("Add", &[&scaled, &mu], vec![]))
}
