//! The weights of pyvene's trained interventions, read from a representation's state_dict
//! (`intkey_*.bin` of a save directory, or `<i>.<param>` tensors of the `"weights"` file)
//! and reduced to what the module computes with: the orthogonal parametrization made
//! concrete ([`super::orthogonal`]), sigmoid masks evaluated, buffers checked against the
//! matrices they go with.

use super::SchemaError;
use super::json::At;
use super::orthogonal::{Mat, OrthMap, materialize};
use super::plan::Kind;
use super::weights::Weights;

/// A trained intervention's parameters. Matrices multiply row vectors from the right
/// (`x @ M`), as pyvene's layers do.
#[derive(Debug, Clone, PartialEq)]
pub enum Trained {
    /// `R` (n × n) of RotatedSpace.
    Rotated {
        /// The rotation.
        r: Mat,
    },
    /// `W` (n × r) of LowRankRotatedSpace.
    LowRank {
        /// Orthonormal columns.
        w: Mat,
    },
    /// A rotation and a per-coordinate mix `m` (BoundlessRotatedSpace, SigmoidMaskRotatedSpace):
    /// `((1 − m)·xR + m·sR) Rᵀ`.
    MaskedRotation {
        /// The rotation.
        r: Mat,
        /// The mask, evaluated.
        m: Vec<f64>,
    },
    /// SigmoidMask: `(1 − m)·x + m·s`.
    Mask {
        /// `sigmoid(mask / temperature)`.
        m: Vec<f64>,
    },
    /// PCARotatedSpace: `((x − μ)/σ) Cᵀ`, interchange, `· C · σ + μ`.
    Pca {
        /// `pca_components` (k × n).
        c: Mat,
        /// `pca_mean` (n).
        mean: Vec<f64>,
        /// `pca_std` (n).
        std: Vec<f64>,
    },
    /// AutoencoderIntervention: `z = relu((x − b_dec) W_encᵀ + b_enc)`, latents `idx` from the
    /// source, `z W_decᵀ + b_dec` (torch Linear weights, `[out, in]`).
    Autoencoder {
        /// Encoder weight (latent × n).
        enc_w: Mat,
        /// Encoder bias (latent).
        enc_b: Vec<f64>,
        /// Decoder weight (n × latent).
        dec_w: Mat,
        /// Decoder bias (n).
        dec_b: Vec<f64>,
        /// The latents taken from the source (pyvene's `interchange_dim`, used as an index).
        idx: Vec<usize>,
    },
    /// JumpReLUAutoencoder: `z = (pre > θ)·relu(pre)`, `pre = x W_enc + b_enc`, `z W_dec + b_dec`.
    JumpRelu {
        /// `W_enc` (n × r).
        w_enc: Mat,
        /// `W_dec` (r × n).
        w_dec: Mat,
        /// `threshold` (r).
        threshold: Vec<f64>,
        /// `b_enc` (r).
        b_enc: Vec<f64>,
        /// `b_dec` (n).
        b_dec: Vec<f64>,
    },
    /// pyreft's family, `h + (f(h) − g(h)) P`: `f(h) = act(hWᵀ + b)` (or the constant `b`),
    /// `g(h) = hR` (or `hW₂ᵀ + b₂`, or nothing), `P = Rᵀ` (or `W₂`). `project` is `R` (n × r) or
    /// `W₂ᵀ` (n × r); `source` is (`W` (r × n), `b` (r)) with `W` absent for a constant `b`.
    Reft {
        /// `R`, or `W₂ᵀ` for the NoReFT pair.
        project: Mat,
        /// The learned source: `W` (r × n, torch Linear) when it reads `h`, and `b`.
        source: (Option<Mat>, Vec<f64>),
        /// What is subtracted from the learned source in the low-rank space: `hR`
        /// (`Some(None)`), `hW₂ᵀ + b₂` (`Some(Some(b₂))`), or nothing (`None`).
        minus: Option<Option<Vec<f64>>>,
    },
}

impl Trained {
    /// The width of the vector the intervention takes (after pyvene's flattening).
    pub fn input_width(&self) -> usize {
        match self {
            Trained::Rotated { r } | Trained::MaskedRotation { r, .. } => r.rows,
            Trained::LowRank { w } => w.rows,
            Trained::Mask { m } => m.len(),
            Trained::Pca { c, .. } => c.cols,
            Trained::Autoencoder { enc_w, .. } => enc_w.cols,
            Trained::JumpRelu { w_enc, .. } => w_enc.rows,
            Trained::Reft { project, .. } => project.rows,
        }
    }

    /// The state_dict tensor whose shape sets [`Trained::input_width`], for error messages.
    pub fn width_param(&self) -> &'static str {
        match self {
            Trained::Rotated { .. } | Trained::MaskedRotation { .. } | Trained::LowRank { .. } => "rotate_layer",
            Trained::Mask { .. } => "mask",
            Trained::Pca { .. } => "pca_components",
            Trained::Autoencoder { .. } => "autoencoder.encoder.0.weight",
            Trained::JumpRelu { .. } => "W_enc",
            Trained::Reft { .. } => "rotate_layer",
        }
    }

    /// The width of the space its subspaces and `interchange_dim` address (rotated or latent).
    pub fn inner_width(&self) -> usize {
        match self {
            Trained::Rotated { r } | Trained::MaskedRotation { r, .. } => r.cols,
            Trained::LowRank { w } => w.cols,
            Trained::Mask { m } => m.len(),
            Trained::Pca { c, .. } => c.rows,
            Trained::Autoencoder { enc_w, .. } => enc_w.rows,
            Trained::JumpRelu { w_enc, .. } => w_enc.cols,
            Trained::Reft { project, .. } => project.cols,
        }
    }
}

/// Reads representation `i`'s weights for `kind` (a trained kind); `map` overrides torch's
/// default orthogonal map; `latents` is `interchange_dim` as the config lists it (an index or
/// a list of indices, for AutoencoderIntervention).
pub fn read(
    kind: Kind,
    w: &Weights,
    (i, at): (usize, &At),
    map: Option<OrthMap>,
    latents: Option<&At>,
) -> Result<Trained, SchemaError> {
    let p = Params { w, i, at, kind };
    Ok(match kind {
        Kind::RotatedSpace => Trained::Rotated { r: p.rotation(map)? },
        Kind::LowRankRotatedSpace => Trained::LowRank { w: p.rotation(map)? },
        Kind::BoundlessRotatedSpace => {
            let r = p.rotation(map)?;
            let n = r.rows;
            let b = p.scalar("intervention_boundaries")?.clamp(1e-3, 1.0);
            let t = p.scalar("temperature")?;
            let pop = match w.tensor(i, "intervention_population") {
                Some(_) => p.vector("intervention_population", n)?,
                None => (0..n).map(|j| j as f64).collect(),
            };
            let y = f64::from(b as f32 * n as f32);
            let m = pop.iter().map(|&x| sigmoid(x / t) * sigmoid((y - x) / t)).collect();
            Trained::MaskedRotation { r, m }
        }
        Kind::SigmoidMaskRotatedSpace => {
            let r = p.rotation(map)?;
            let t = p.scalar("temperature")?;
            let m = p.vector("masks", r.cols)?.iter().map(|x| sigmoid(x / t)).collect();
            Trained::MaskedRotation { r, m }
        }
        Kind::SigmoidMask => {
            let (shape, _) = p.need("mask")?;
            let t = p.scalar("temperature")?;
            let m = p.vector("mask", shape.first().copied().unwrap_or(0))?.iter().map(|x| sigmoid(x / t)).collect();
            Trained::Mask { m }
        }
        Kind::PcaRotatedSpace => {
            let c = p.matrix("pca_components", None)?;
            Trained::Pca { mean: p.vector("pca_mean", c.cols)?, std: p.vector("pca_std", c.cols)?, c }
        }
        Kind::Autoencoder => {
            let enc_w = p.matrix("autoencoder.encoder.0.weight", None)?;
            let (latent, n) = (enc_w.rows, enc_w.cols);
            let idx = p.latents(latents, latent)?;
            Trained::Autoencoder {
                enc_b: p.vector("autoencoder.encoder.0.bias", latent)?,
                dec_w: p.matrix("autoencoder.decoder.0.weight", Some((n, latent)))?,
                dec_b: p.vector("autoencoder.decoder.0.bias", n)?,
                enc_w,
                idx,
            }
        }
        Kind::JumpReluAutoencoder => {
            let w_enc = p.matrix("W_enc", None)?;
            let (n, r) = (w_enc.rows, w_enc.cols);
            Trained::JumpRelu {
                w_dec: p.matrix("W_dec", Some((r, n)))?,
                threshold: p.vector("threshold", r)?,
                b_enc: p.vector("b_enc", r)?,
                b_dec: p.vector("b_dec", n)?,
                w_enc,
            }
        }
        Kind::Loreft | Kind::Direft | Kind::Consreft | Kind::Lobireft => {
            let project = p.rotation(map)?;
            let (n, r) = (project.rows, project.cols);
            let source = p.learned_source(n, r)?;
            let minus = matches!(kind, Kind::Loreft | Kind::Consreft).then_some(None);
            Trained::Reft { project, source, minus }
        }
        Kind::Noreft | Kind::Nodireft => {
            let w2 = p.matrix("proj_layer.weight", None)?;
            let (r, n) = (w2.rows, w2.cols);
            let source = p.learned_source(n, r)?;
            let minus = match (kind, w.tensor(i, "proj_layer.bias")) {
                (Kind::Nodireft, _) => None,
                (_, Some(_)) => Some(Some(p.vector("proj_layer.bias", r)?)),
                (_, None) => Some(None),
            };
            Trained::Reft { project: w2.t(), source, minus }
        }
        _ => unreachable!("only trained kinds have weights"),
    })
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// One representation's parameters, with errors that say where each was looked for.
struct Params<'a> {
    w: &'a Weights,
    i: usize,
    at: &'a At<'a>,
    kind: Kind,
}

impl Params<'_> {
    fn err(&self, m: String) -> SchemaError {
        self.at.err(m)
    }

    /// Where a missing tensor was looked for.
    fn missing(&self, name: &str) -> SchemaError {
        let (i, class) = (self.i, self.kind.class());
        let place = match self.w.bin(i) {
            Some((file, false)) => format!("{} is missing from the save directory", file.display()),
            Some((file, true)) => format!("{} has no `{name}`", file.display()),
            None => format!("the schema's \"weights\" file has no tensor `{i}.{name}`"),
        };
        self.err(format!("{class} needs its trained tensor `{name}`: {place}"))
    }

    fn need(&self, name: &str) -> Result<(&[usize], &[f32]), SchemaError> {
        let (shape, v, _) = self.w.tensor(self.i, name).ok_or_else(|| self.missing(name))?;
        if let Some(j) = v.iter().position(|x| !x.is_finite()) {
            return Err(self.err(format!("tensor `{}.{name}` holds {} at index {j}", self.i, v[j])));
        }
        Ok((shape, v))
    }

    fn scalar(&self, name: &str) -> Result<f64, SchemaError> {
        let (shape, v) = self.need(name)?;
        match v {
            [x] => Ok(f64::from(*x)),
            _ => Err(self.err(format!("tensor `{}.{name}` has shape {shape:?}; it is a single number", self.i))),
        }
    }

    fn vector(&self, name: &str, n: usize) -> Result<Vec<f64>, SchemaError> {
        let (shape, v) = self.need(name)?;
        if shape != [n] {
            return Err(self.err(format!("tensor `{}.{name}` has shape {shape:?}; expected [{n}]", self.i)));
        }
        Ok(v.iter().map(|x| f64::from(*x)).collect())
    }

    fn matrix(&self, name: &str, want: Option<(usize, usize)>) -> Result<Mat, SchemaError> {
        let (shape, v) = self.need(name)?;
        let &[r, c] = shape else {
            return Err(self.err(format!("tensor `{}.{name}` has shape {shape:?}; expected a matrix", self.i)));
        };
        if let Some((wr, wc)) = want
            && (r, c) != (wr, wc)
        {
            return Err(self.err(format!("tensor `{}.{name}` has shape [{r}, {c}]; expected [{wr}, {wc}]", self.i)));
        }
        Ok(Mat::new(r, c, v.iter().map(|x| f64::from(*x)).collect()))
    }

    /// pyreft's learned source: a Linear (`learned_source.weight`/`.bias`, or LoReFT's own
    /// `weight`/`bias`) or a constant vector (`learned_source`).
    fn learned_source(&self, n: usize, r: usize) -> Result<(Option<Mat>, Vec<f64>), SchemaError> {
        if matches!(self.kind, Kind::Consreft | Kind::Lobireft) {
            return Ok((None, self.vector("learned_source", r)?));
        }
        let prefix = if self.kind == Kind::Loreft { "" } else { "learned_source." };
        let w = self.matrix(&format!("{prefix}weight"), Some((r, n)))?;
        Ok((Some(w), self.vector(&format!("{prefix}bias"), r)?))
    }

    /// `rotate_layer`'s weight: the parametrization's `original` (and `0.base`) made concrete,
    /// or a plain `rotate_layer.weight`.
    fn rotation(&self, map: Option<OrthMap>) -> Result<Mat, SchemaError> {
        const ORIGINAL: &str = "rotate_layer.parametrizations.weight.original";
        const BASE: &str = "rotate_layer.parametrizations.weight.0.base";
        if self.w.tensor(self.i, ORIGINAL).is_none() {
            for plain in ["rotate_layer.weight", "rotate_layer"] {
                if self.w.tensor(self.i, plain).is_some() {
                    return self.matrix(plain, None);
                }
            }
        }
        let x = self.matrix(ORIGINAL, None)?;
        let long = x.rows.max(x.cols);
        let base = match self.w.tensor(self.i, BASE) {
            Some(_) => Some(self.matrix(BASE, Some((long, long)))?),
            None => None,
        };
        Ok(materialize(&x, base.as_ref(), map.unwrap_or(OrthMap::default_for(x.rows, x.cols))))
    }

    /// AutoencoderIntervention's latent indices: the state_dict's `interchange_dim` buffer, else
    /// the config's; a single number is one index, as pyvene indexes with it.
    fn latents(&self, config: Option<&At>, latent: usize) -> Result<Vec<usize>, SchemaError> {
        let idx: Vec<f64> = match (self.w.tensor(self.i, "interchange_dim"), config) {
            (Some((_, v, _)), _) => v.iter().map(|x| f64::from(*x)).collect(),
            (None, Some(c)) if c.v.is_array() => c.ints()?.into_iter().map(|x| x as f64).collect(),
            (None, Some(c)) => vec![c.int()? as f64],
            (None, None) => return Err(self.missing("interchange_dim")),
        };
        idx.iter()
            .map(|&x| {
                if x < 0.0 || x as usize >= latent || x.fract() != 0.0 {
                    Err(self.err(format!("interchange_dim index {x} is out of range for {latent} latents")))
                } else {
                    Ok(x as usize)
                }
            })
            .collect()
    }
}
