//! pyvene's Noise buffer, bit for bit: `np.random.RandomState(1).randn(1, 4, d)` (legacy
//! MT19937 seeding and the polar Box–Muller `legacy_gauss`).

/// numpy's legacy `RandomState(seed)` generator state.
struct Mt19937 {
    state: [u32; 624],
    index: usize,
    gauss: Option<f64>,
}

impl Mt19937 {
    fn new(seed: u32) -> Mt19937 {
        let mut state = [0u32; 624];
        state[0] = seed;
        for i in 1..624 {
            state[i] = 1812433253u32.wrapping_mul(state[i - 1] ^ (state[i - 1] >> 30)).wrapping_add(i as u32);
        }
        Mt19937 { state, index: 624, gauss: None }
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            for i in 0..624 {
                let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % 624] & 0x7fff_ffff);
                let mut v = self.state[(i + 397) % 624] ^ (y >> 1);
                if y & 1 != 0 {
                    v ^= 0x9908_b0df;
                }
                self.state[i] = v;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    fn next_f64(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67108864.0 + b) / 9007199254740992.0
    }

    fn gauss(&mut self) -> f64 {
        if let Some(g) = self.gauss.take() {
            return g;
        }
        loop {
            let x1 = 2.0 * self.next_f64() - 1.0;
            let x2 = 2.0 * self.next_f64() - 1.0;
            let r2 = x1 * x1 + x2 * x2;
            if r2 < 1.0 && r2 != 0.0 {
                let f = (-2.0 * r2.ln() / r2).sqrt();
                self.gauss = Some(f * x1);
                return f * x2;
            }
        }
    }
}

/// pyvene's default noise level, as the float32 buffer holds it.
pub const NOISE_LEVEL: f32 = 0.134_629_82;

/// `RandomState(1).randn(1, 4, d) * level`, in float64, row-major (4 × d values).
pub fn pyvene_noise(d: usize) -> Vec<f64> {
    let mut rng = Mt19937::new(1);
    (0..4 * d).map(|_| rng.gauss() * f64::from(NOISE_LEVEL)).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_numpy_randomstate_1() {
        let mut rng = super::Mt19937::new(1);
        let first: Vec<f64> = (0..3).map(|_| rng.gauss()).collect();
        let want = [1.6243453636632417, -0.6117564136500754, -0.5281717522634557];
        for (a, b) in first.iter().zip(want) {
            assert!((a - b).abs() < 1e-15, "{a} vs {b}");
        }
    }
}
