//! torch's orthogonal parametrization (`torch.nn.utils.parametrizations.orthogonal`) made
//! concrete: a state_dict stores `parametrizations.weight.original` (X) and, with
//! trivialization, `parametrizations.weight.0.base` (B); the weight a module uses is
//! `B @ map(X)` for one of torch's three maps, computed here in f64.

/// A row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Mat {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// `rows × cols` values, row-major.
    pub v: Vec<f64>,
}

impl Mat {
    /// A matrix from row-major values; `v.len()` must be `rows × cols`.
    pub fn new(rows: usize, cols: usize, v: Vec<f64>) -> Mat {
        debug_assert_eq!(v.len(), rows * cols);
        Mat { rows, cols, v }
    }

    fn eye(n: usize) -> Mat {
        let mut m = Mat::new(n, n, vec![0.0; n * n]);
        for i in 0..n {
            m.v[i * n + i] = 1.0;
        }
        m
    }

    /// Element (i, j).
    pub fn at(&self, i: usize, j: usize) -> f64 {
        self.v[i * self.cols + j]
    }

    /// The transpose.
    pub fn t(&self) -> Mat {
        let mut v = Vec::with_capacity(self.v.len());
        for j in 0..self.cols {
            v.extend((0..self.rows).map(|i| self.at(i, j)));
        }
        Mat::new(self.cols, self.rows, v)
    }

    /// `self @ o`.
    pub fn mul(&self, o: &Mat) -> Mat {
        assert_eq!(self.cols, o.rows, "matrix product shapes");
        let mut v = vec![0.0; self.rows * o.cols];
        for i in 0..self.rows {
            for k in 0..self.cols {
                let a = self.at(i, k);
                if a == 0.0 {
                    continue;
                }
                let row = &o.v[k * o.cols..(k + 1) * o.cols];
                for (out, b) in v[i * o.cols..(i + 1) * o.cols].iter_mut().zip(row) {
                    *out += a * b;
                }
            }
        }
        Mat::new(self.rows, o.cols, v)
    }

    /// Columns `0..k`.
    pub fn first_cols(&self, k: usize) -> Mat {
        let v = (0..self.rows).flat_map(|i| (0..k).map(move |j| (i, j))).map(|(i, j)| self.at(i, j)).collect();
        Mat::new(self.rows, k, v)
    }

    fn lin(&self, a: f64, o: &Mat, b: f64) -> Mat {
        Mat::new(self.rows, self.cols, self.v.iter().zip(&o.v).map(|(x, y)| a * x + b * y).collect())
    }
}

/// One of torch's orthogonal maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrthMap {
    /// `matrix_exp(A)`, torch's default for square matrices.
    MatrixExp,
    /// `(I − A/2)⁻¹ (I + A/2)`.
    Cayley,
    /// A product of Householder reflections, torch's default for non-square matrices.
    Householder,
}

impl OrthMap {
    /// torch's default map for a `rows × cols` weight.
    pub fn default_for(rows: usize, cols: usize) -> OrthMap {
        if rows == cols { OrthMap::MatrixExp } else { OrthMap::Householder }
    }

    /// Parses `matrix_exp`, `cayley` or `householder`.
    pub fn parse(s: &str) -> Option<OrthMap> {
        match s {
            "matrix_exp" => Some(OrthMap::MatrixExp),
            "cayley" => Some(OrthMap::Cayley),
            "householder" => Some(OrthMap::Householder),
            _ => None,
        }
    }
}

/// The weight `base @ map(original)` torch computes for a parametrized `rows × cols` weight
/// (`original` has the weight's shape; `base`, when trivialized, is square on the long side).
pub fn materialize(original: &Mat, base: Option<&Mat>, map: OrthMap) -> Mat {
    let transposed = original.rows < original.cols;
    let x = if transposed { original.t() } else { original.clone() };
    let (n, k) = (x.rows, x.cols);
    let mut q = match map {
        OrthMap::MatrixExp | OrthMap::Cayley => {
            let mut a = Mat::new(n, n, vec![0.0; n * n]);
            for i in 0..n {
                for j in 0..k.min(i + 1) {
                    a.v[i * n + j] += x.at(i, j);
                    a.v[j * n + i] -= x.at(i, j);
                }
            }
            let q = if map == OrthMap::MatrixExp { expm(&a) } else { cayley(&a) };
            if n != k { q.first_cols(k) } else { q }
        }
        OrthMap::Householder => householder(&x),
    };
    if let Some(b) = base {
        q = b.mul(&q);
    }
    if transposed { q.t() } else { q }
}

/// `exp(a)` by scaling and squaring with a Taylor series (the scaled norm is at most 1/2,
/// so 18 terms leave an error far below f64's precision).
fn expm(a: &Mat) -> Mat {
    let n = a.rows;
    let norm = (0..n).map(|j| (0..n).map(|i| a.at(i, j).abs()).sum::<f64>()).fold(0.0, f64::max);
    let s = if norm > 0.5 { (norm / 0.5).log2().ceil() as i32 } else { 0 };
    let scale = 0.5f64.powi(s);
    let a = Mat::new(n, n, a.v.iter().map(|x| x * scale).collect());
    let mut sum = Mat::eye(n);
    let mut term = Mat::eye(n);
    for i in 1..=18 {
        term = term.mul(&a);
        let f = 1.0 / i as f64;
        term.v.iter_mut().for_each(|x| *x *= f);
        sum = sum.lin(1.0, &term, 1.0);
    }
    for _ in 0..s {
        sum = sum.mul(&sum);
    }
    sum
}

/// `(I − a/2)⁻¹ (I + a/2)`, by Gaussian elimination with partial pivoting.
fn cayley(a: &Mat) -> Mat {
    let n = a.rows;
    let id = Mat::eye(n);
    let mut l = id.lin(1.0, a, -0.5);
    let mut r = id.lin(1.0, a, 0.5);
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| l.at(i, c).abs().total_cmp(&l.at(j, c).abs())).unwrap_or(c);
        for j in 0..n {
            l.v.swap(c * n + j, p * n + j);
            r.v.swap(c * n + j, p * n + j);
        }
        let d = l.at(c, c);
        for i in 0..n {
            if i == c {
                continue;
            }
            let f = l.at(i, c) / d;
            if f == 0.0 {
                continue;
            }
            for j in 0..n {
                l.v[i * n + j] -= f * l.v[c * n + j];
                r.v[i * n + j] -= f * r.v[c * n + j];
            }
        }
    }
    for i in 0..n {
        let d = l.at(i, i);
        r.v[i * n..(i + 1) * n].iter_mut().for_each(|x| *x /= d);
    }
    r
}

/// torch's Householder map of a tall `n × k` matrix: reflectors from the strictly lower part,
/// `tau = 2 / (1 + ‖column‖²)`, `linalg.householder_product`, then each column times the
/// diagonal entry truncated to an integer (torch's `.int()`).
fn householder(x: &Mat) -> Mat {
    let (n, k) = (x.rows, x.cols);
    let mut q = Mat::eye(n).first_cols(k);
    for i in (0..k).rev() {
        let mut v = vec![0.0; n];
        v[i] = 1.0;
        for (j, vj) in v.iter_mut().enumerate().skip(i + 1) {
            *vj = x.at(j, i);
        }
        let tau = 2.0 / (1.0 + v[i + 1..].iter().map(|a| a * a).sum::<f64>());
        for c in 0..k {
            let dot: f64 = (i..n).map(|r| v[r] * q.at(r, c)).sum();
            for (r, vr) in v.iter().enumerate().skip(i) {
                q.v[r * k + c] -= tau * vr * dot;
            }
        }
    }
    for c in 0..k {
        let sign = x.at(c, c).trunc();
        for r in 0..n {
            q.v[r * k + c] *= sign;
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orthogonality_error(q: &Mat) -> f64 {
        let g = q.t().mul(q);
        let id = Mat::eye(g.rows);
        g.v.iter().zip(&id.v).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
    }

    fn seeded(rows: usize, cols: usize, seed: u64) -> Mat {
        let mut s = seed;
        let v = (0..rows * cols)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.8
            })
            .collect();
        Mat::new(rows, cols, v)
    }

    #[test]
    fn every_map_gives_orthonormal_columns() {
        for map in [OrthMap::MatrixExp, OrthMap::Cayley, OrthMap::Householder] {
            for (r, c) in [(8, 8), (12, 5), (5, 12)] {
                let mut x = seeded(r, c, 7);
                if map == OrthMap::Householder {
                    for i in 0..r.min(c) {
                        x.v[i * c + i] = -1.0;
                    }
                }
                let q = materialize(&x, None, map);
                let q = if r < c { q.t() } else { q };
                assert!(orthogonality_error(&q) < 1e-12, "{map:?} {r}x{c}");
            }
        }
    }

    #[test]
    fn zero_parameters_give_the_identity_and_the_base() {
        let base = materialize(&seeded(6, 6, 3), None, OrthMap::MatrixExp);
        let q = materialize(&Mat::new(6, 6, vec![0.0; 36]), Some(&base), OrthMap::Cayley);
        assert!(q.v.iter().zip(&base.v).all(|(a, b)| (a - b).abs() < 1e-15));
    }
}
