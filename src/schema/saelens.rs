//! A SAELens-style sparse autoencoder directory (`cfg.json` + `sae_weights.safetensors` with
//! `W_enc` (d_in × d_sae), `W_dec` (d_sae × d_in), `b_enc`, `b_dec` and, for JumpReLU,
//! `threshold`) as the weights of one representation: a representation's `"sae": "<dir>"`.

use super::SchemaError;
use super::json::At;
use super::plan::Kind;
use crate::fsio::{MAX_INPUT_BYTES, read_input};
use std::path::{Path, PathBuf};

/// The two files of the SAE directory `dir`.
pub fn files(dir: &Path) -> [PathBuf; 2] {
    [dir.join("cfg.json"), dir.join("sae_weights.safetensors")]
}

/// One named tensor: shape and values.
pub type Named = (String, Vec<usize>, Vec<f32>);

/// The SAE at `dir` as `kind`'s state_dict tensors (unprefixed names): JumpReLU takes them as
/// they are; AutoencoderIntervention (ReLU, which subtracts `b_dec` before encoding) takes a
/// `standard` SAE with `apply_b_dec_to_input`, its weights transposed to torch Linear form.
pub fn load(at: &At, dir: &Path, kind: Kind) -> Result<Vec<Named>, SchemaError> {
    let [cfg_path, st_path] = files(dir);
    let cfg_bytes = read_input(&cfg_path, 1 << 20).map_err(|e| at.err(e.to_string()))?;
    let cfg: serde_json::Value =
        serde_json::from_slice(&cfg_bytes).map_err(|e| at.err(format!("{} is not JSON: {e}", cfg_path.display())))?;
    let arch = cfg.get("architecture").and_then(|a| a.as_str()).unwrap_or("standard");
    let b_dec_in = cfg.get("apply_b_dec_to_input").and_then(|a| a.as_bool()).unwrap_or(arch == "standard");
    let want = match kind {
        Kind::JumpReluAutoencoder => ("jumprelu", false),
        Kind::Autoencoder => ("standard", true),
        other => {
            return Err(at.err(format!("an SAE directory gives the weights of an autoencoder, not {}", other.class())));
        }
    };
    if (arch, b_dec_in) != want {
        return Err(at.err(format!(
            "{} holds a `{arch}` SAE with apply_b_dec_to_input={b_dec_in}; {} computes a `{}` SAE with apply_b_dec_to_input={}",
            cfg_path.display(),
            kind.class(),
            want.0,
            want.1
        )));
    }
    let bytes = read_input(&st_path, MAX_INPUT_BYTES).map_err(|e| at.err(e.to_string()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| at.err(format!("`{}` is not a safetensors file: {e}", st_path.display())))?;
    let get = |name: &str| -> Result<(Vec<usize>, Vec<f32>), SchemaError> {
        let v = st.tensor(name).map_err(|_| at.err(format!("{} has no tensor `{name}`", st_path.display())))?;
        let vals = super::weights::decode(v.dtype(), v.data())
            .map_err(|m| at.err(format!("tensor `{name}` in {}: {m}", st_path.display())))?;
        Ok((v.shape().to_vec(), vals))
    };
    let mut out = Vec::new();
    let mut names = vec!["W_enc", "W_dec", "b_enc", "b_dec"];
    if kind == Kind::JumpReluAutoencoder {
        names.push("threshold");
    }
    for name in names {
        let (shape, v) = get(name)?;
        out.push((name.to_string(), shape, v));
    }
    check_dims(at, &cfg, &out)?;
    if kind == Kind::Autoencoder {
        let rename = ["autoencoder.encoder.0.weight", "autoencoder.decoder.0.weight"];
        for (t, name) in out.iter_mut().zip(rename) {
            *t = transpose(name, &t.1, &t.2);
        }
        out[2].0 = "autoencoder.encoder.0.bias".into();
        out[3].0 = "autoencoder.decoder.0.bias".into();
    }
    Ok(out)
}

/// `d_in` and `d_sae` of cfg.json against `W_enc`'s shape.
fn check_dims(at: &At, cfg: &serde_json::Value, t: &[Named]) -> Result<(), SchemaError> {
    let shape = &t[0].1;
    for (key, axis) in [("d_in", 0), ("d_sae", 1)] {
        if let Some(d) = cfg.get(key).and_then(|d| d.as_u64())
            && shape.get(axis).is_some_and(|&s| s as u64 != d)
        {
            return Err(at.err(format!("cfg.json says {key} = {d} but W_enc has shape {shape:?}")));
        }
    }
    Ok(())
}

fn transpose(name: &str, shape: &[usize], v: &[f32]) -> Named {
    let (r, c) = (shape.first().copied().unwrap_or(0), shape.get(1).copied().unwrap_or(1));
    let t = (0..c).flat_map(|j| (0..r).map(move |i| v[i * c + j])).collect();
    (name.to_string(), vec![c, r], t)
}
