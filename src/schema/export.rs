//! The plain form of a schema's weights: every tensor the representations read, named
//! `<i>.<param>` as in a `"weights"` safetensors file, with each orthogonal parametrization
//! (`rotate_layer.parametrizations.weight.original` and `.0.base`) replaced by the weight it
//! stands for (`rotate_layer.weight`), so that the file needs no torch to mean anything.

use super::plan::{Kind, Rep, Source};
use super::saelens::Named;
use super::trained::Trained;
use super::weights::Weights;

/// The tensors of `reps` (read from `w`), in representation then name order.
pub fn tensors(w: &Weights, reps: &[Rep]) -> Vec<Named> {
    let mut out = Vec::new();
    for rep in reps {
        let i = rep.index;
        let rotation = match &rep.trained {
            Some(Trained::Rotated { r } | Trained::MaskedRotation { r, .. }) => Some(r),
            Some(Trained::LowRank { w }) => Some(w),
            Some(Trained::Reft { project, .. }) if !matches!(rep.kind, Kind::Noreft | Kind::Nodireft) => Some(project),
            _ => None,
        };
        let mut mine: Vec<Named> = w
            .of(i)
            .into_iter()
            .filter(|(name, ..)| rep.trained.is_some() || *name == "source_representation")
            .filter(|(name, ..)| rotation.is_none() || !name.starts_with("rotate_layer"))
            .map(|(name, shape, v)| (format!("{i}.{name}"), shape.to_vec(), v.to_vec()))
            .collect();
        if let Some(r) = rotation {
            let v = r.v.iter().map(|&x| x as f32).collect();
            mine.push((format!("{i}.rotate_layer.weight"), vec![r.rows, r.cols], v));
        }
        if let Source::Constant(v) = &rep.source
            && !mine.iter().any(|(n, ..)| n.ends_with(".source_representation"))
        {
            mine.push((format!("{i}.source_representation"), vec![v.len()], v.clone()));
        }
        mine.sort_by(|a, b| a.0.cmp(&b.0));
        out.extend(mine);
    }
    out
}
