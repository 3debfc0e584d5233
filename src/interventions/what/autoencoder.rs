//! Autoencoders: pyvene's `AutoencoderIntervention` (ReLU) and the Gemma-Scope-style
//! `JumpReLUAutoencoderIntervention`; both interchange latents and decode.

use super::Io;
use crate::interventions::builder::Builder;
use crate::schema::Mat;

/// `z = relu((x − b_dec) W_encᵀ + b_enc)`; latents `idx` from the source; `z W_decᵀ + b_dec`.
pub fn relu(
    b: &mut Builder,
    (enc_w, enc_b): (&Mat, &[f64]),
    (dec_w, dec_b): (&Mat, &[f64]),
    idx: &[usize],
    io: &Io,
) -> Result<String, String> {
    let bias = io.constant(b, &[dec_b.len()], dec_b)?;
    let enc_t = enc_w.t();
    let encode = |b: &mut Builder, x: &str| -> Result<String, String> {
        let centred = b.op("Sub", &[x, &bias], vec![]);
        let pre = io.matmul(b, &centred, &enc_t)?;
        let pre = io.add(b, &pre, enc_b)?;
        Ok(b.op("Relu", &[&pre], vec![]))
    };
    let zb = encode(b, io.base)?;
    let zs = encode(b, io.source)?;
    let keep: Vec<bool> = (0..enc_w.rows).map(|j| idx.contains(&j)).collect();
    let m = b.bools(&[keep.len() as i64], &keep);
    let z = b.op("Where", &[&m, &zs, &zb], vec![]);
    let out = io.matmul(b, &z, &dec_w.t())?;
    io.add(b, &out, dec_b)
}

/// `z = (pre > θ)·relu(pre)`, `pre = x W_enc + b_enc`; interchange; `z W_dec + b_dec`.
pub fn jump_relu(
    b: &mut Builder,
    (w_enc, b_enc, threshold): (&Mat, &[f64], &[f64]),
    (w_dec, b_dec): (&Mat, &[f64]),
    io: &Io,
) -> Result<String, String> {
    let theta = io.constant(b, &[threshold.len()], threshold)?;
    let zero = io.constant(b, &[], &[0.0])?;
    let encode = |b: &mut Builder, x: &str| -> Result<String, String> {
        let pre = io.matmul(b, x, w_enc)?;
        let pre = io.add(b, &pre, b_enc)?;
        let on = b.op("Greater", &[&pre, &theta], vec![]);
        let r = b.op("Relu", &[&pre], vec![]);
        Ok(b.op("Where", &[&on, &r, &zero], vec![]))
    };
    let zb = encode(b, io.base)?;
    let zs = encode(b, io.source)?;
    let z = io.swap(b, &zb, &zs);
    let out = io.matmul(b, &z, w_dec)?;
    io.add(b, &out, b_dec)
}
