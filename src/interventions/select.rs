//! Selecting units (sequence positions) of an activation and writing them back.

use super::builder::{Builder, attr_int, attr_ints};
use crate::schema::Positions;

/// How the units of one side are addressed in the graph.
#[derive(Debug, Clone)]
pub enum Selection {
    /// The whole tensor.
    Whole,
    /// The same positions for every example: an int64 `[k]` constant.
    Shared {
        /// Positions constant, shape `[k]`.
        positions: String,
        /// The same as `[k, 1]`, for ScatterND.
        indices: String,
    },
    /// Per-example positions as `[batch, k, 2]` (example, position) indices.
    Indexed(String),
}

impl Selection {
    /// Builds the addressing for `positions`; `runtime_input` names the `[batch, units]` input
    /// used for [`Positions::Runtime`]; `scale` (an int64 scalar, 0 or 1) multiplies every index,
    /// so a call the step gate leaves alone never indexes past its end.
    pub fn build(b: &mut Builder, positions: &Positions, runtime_input: &str, scale: Option<&str>) -> Selection {
        let sel = Selection::unscaled(b, positions, runtime_input);
        let Some(k) = scale else { return sel };
        let mut mul = |v: &str| b.op("Mul", &[v, k], vec![]);
        match sel {
            Selection::Whole => Selection::Whole,
            Selection::Shared { positions, indices } => {
                Selection::Shared { positions: mul(&positions), indices: mul(&indices) }
            }
            Selection::Indexed(idx) => Selection::Indexed(mul(&idx)),
        }
    }

    fn unscaled(b: &mut Builder, positions: &Positions, runtime_input: &str) -> Selection {
        match positions {
            Positions::All => Selection::Whole,
            Positions::Fixed(rows) if rows.len() == 1 || rows.iter().all(|r| *r == rows[0]) => {
                let row = &rows[0];
                let k = row.len() as i64;
                Selection::Shared { positions: b.ints(&[k], row), indices: b.ints(&[k, 1], row) }
            }
            Positions::Fixed(rows) => {
                let (batch, k) = (rows.len() as i64, rows[0].len() as i64);
                let flat: Vec<i64> =
                    rows.iter().enumerate().flat_map(|(e, r)| r.iter().flat_map(move |&p| [e as i64, p])).collect();
                Selection::Indexed(b.ints(&[batch, k, 2], &flat))
            }
            Positions::Runtime => Selection::Indexed(runtime_indices(b, runtime_input)),
        }
    }

    /// The selected units: `[batch, k, ...]` (or the tensor itself for [`Selection::Whole`]).
    pub fn gather(&self, b: &mut Builder, x: &str) -> String {
        match self {
            Selection::Whole => x.to_string(),
            Selection::Shared { positions, .. } => b.op("Gather", &[x, positions], vec![attr_int("axis", 1)]),
            Selection::Indexed(idx) => b.op("GatherND", &[x, idx], vec![]),
        }
    }

    /// `x` with the selected units replaced by `new`; `rank` is `x`'s rank.
    pub fn scatter(&self, b: &mut Builder, x: &str, new: &str, rank: usize) -> String {
        match self {
            Selection::Whole => new.to_string(),
            Selection::Shared { indices, .. } => {
                let mut perm: Vec<i64> = (0..rank as i64).collect();
                perm.swap(0, 1);
                let xt = b.op("Transpose", &[x], vec![attr_ints("perm", &perm)]);
                let nt = b.op("Transpose", &[new], vec![attr_ints("perm", &perm)]);
                let s = b.op("ScatterND", &[&xt, indices, &nt], vec![]);
                b.op("Transpose", &[&s], vec![attr_ints("perm", &perm)])
            }
            Selection::Indexed(idx) => b.op("ScatterND", &[x, idx, new], vec![]),
        }
    }
}

/// `[batch, k, 2]` indices pairing each example number with the positions in `input`.
fn runtime_indices(b: &mut Builder, input: &str) -> String {
    let shape = b.op("Shape", &[input], vec![]);
    let zero = b.ints(&[], &[0]);
    let one = b.ints(&[], &[1]);
    let batch = b.op("Gather", &[&shape, &zero], vec![attr_int("axis", 0)]);
    let rows = b.op("Range", &[&zero, &batch, &one], vec![]);
    let ax1 = b.ints(&[1], &[1]);
    let col = b.op("Unsqueeze", &[&rows, &ax1], vec![]);
    let grid = b.op("Expand", &[&col, &shape], vec![]);
    let ax2 = b.ints(&[1], &[2]);
    let e = b.op("Unsqueeze", &[&grid, &ax2], vec![]);
    let p = b.op("Unsqueeze", &[input, &ax2], vec![]);
    b.op("Concat", &[&e, &p], vec![attr_int("axis", 2)])
}
