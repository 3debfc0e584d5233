//! pyreft's representation fine-tuning interventions (LoReFT and its siblings): source-less,
//! each `h + (f(h) − g(h)) P` in a low-rank space (see [`crate::schema::Trained::Reft`]).
//! pvc lowers pyreft's default activation (`linear`, the identity) and drops dropout, as at
//! inference.

use super::Io;
use crate::interventions::builder::Builder;
use crate::schema::Mat;

/// `h + (hWᵀ + b − g(h)) P`, where `project` is the n × r matrix R (so `P = Rᵀ`).
pub fn reft(
    b: &mut Builder,
    project: &Mat,
    (w, bias): &(Option<Mat>, Vec<f64>),
    minus: &Option<Option<Vec<f64>>>,
    io: &Io,
) -> Result<String, String> {
    let h = io.base;
    let learned = match w {
        Some(w) => {
            let lin = io.matmul(b, h, &w.t())?;
            io.add(b, &lin, bias)?
        }
        None => io.constant(b, &[bias.len()], bias)?,
    };
    let delta = match minus {
        None => learned,
        Some(b2) => {
            let hr = io.matmul(b, h, project)?;
            let hr = match b2 {
                Some(b2) => io.add(b, &hr, b2)?,
                None => hr,
            };
            b.op("Sub", &[&learned, &hr], vec![])
        }
    };
    let back = io.matmul(b, &delta, &project.t())?;
    Ok(b.op("Add", &[h, &back], vec![]))
}
