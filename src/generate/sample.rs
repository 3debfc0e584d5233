//! Choosing the next token: greedy (argmax, first maximum on ties, as torch) or seeded
//! sampling with temperature, top-k and top-p.

/// Sampling settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    /// Divides the logits (> 0).
    pub temperature: f32,
    /// Keep the k most likely tokens (0: all).
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches p (1.0: all).
    pub top_p: f32,
    /// Seed of the generator.
    pub seed: u64,
}

/// A seeded sampler (splitmix64; the same seed gives the same tokens on every backend).
#[derive(Debug, Clone)]
pub struct Sampler {
    cfg: Sampling,
    state: u64,
}

impl Sampler {
    /// A sampler, or why the settings are invalid.
    pub fn new(cfg: Sampling) -> Result<Sampler, String> {
        if !(cfg.temperature > 0.0 && cfg.temperature.is_finite()) {
            return Err(format!("--temperature must be a positive number, got {}", cfg.temperature));
        }
        if !(cfg.top_p > 0.0 && cfg.top_p <= 1.0) {
            return Err(format!("--top-p must be in (0, 1], got {}", cfg.top_p));
        }
        Ok(Sampler { state: cfg.seed, cfg })
    }

    fn next_f64(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Draws a token from `logits`.
    pub fn pick(&mut self, logits: &[f32]) -> usize {
        let mut idx: Vec<usize> = (0..logits.len()).collect();
        idx.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
        if self.cfg.top_k > 0 {
            idx.truncate(self.cfg.top_k);
        }
        let t = f64::from(self.cfg.temperature);
        let top = f64::from(logits[idx[0]]) / t;
        let mut p: Vec<f64> = idx.iter().map(|&i| (f64::from(logits[i]) / t - top).exp()).collect();
        let sum: f64 = p.iter().sum();
        p.iter_mut().for_each(|x| *x /= sum);
        let mut acc = 0.0;
        let mut keep = p.len();
        for (j, x) in p.iter().enumerate() {
            acc += x;
            if acc >= f64::from(self.cfg.top_p) {
                keep = j + 1;
                break;
            }
        }
        let mass: f64 = p[..keep].iter().sum();
        let mut u = self.next_f64() * mass;
        for j in 0..keep {
            u -= p[j];
            if u <= 0.0 {
                return idx[j];
            }
        }
        idx[keep - 1]
    }
}

/// The index of the largest logit (the first one on ties).
pub fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in logits.iter().enumerate() {
        if *v > logits[best] {
            best = i;
        }
    }
    best
}
