//! Fixed-point encoding of reals in Z_2^64 and share truncation.

use crate::MpcError;

/// Fixed-point format: a real `v` is the ring element `round(v · 2^frac_bits) mod 2^64`
/// (two's complement), so `|v| < 2^(63 − frac_bits)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedPoint {
    frac_bits: u32,
}

impl Default for FixedPoint {
    fn default() -> Self {
        Self { frac_bits: 16 }
    }
}

impl FixedPoint {
    /// A format with `frac_bits` fractional bits (1 to 30: products carry twice as many and
    /// must stay well inside 63 bits).
    pub fn new(frac_bits: u32) -> Result<Self, MpcError> {
        if !(1..=30).contains(&frac_bits) {
            return Err(MpcError::Config(format!("fractional bits must be 1..=30, got {frac_bits}")));
        }
        Ok(Self { frac_bits })
    }

    pub fn frac_bits(self) -> u32 {
        self.frac_bits
    }

    /// `2^frac_bits` as a real.
    pub fn scale(self) -> f64 {
        (1u64 << self.frac_bits) as f64
    }

    /// Encodes one real; fails if it is not finite or out of range.
    pub fn encode(self, v: f64) -> Result<u64, MpcError> {
        let s = (v * self.scale()).round();
        if !s.is_finite() || s.abs() >= 2f64.powi(62) {
            return Err(MpcError::Encoding { value: v, frac_bits: self.frac_bits });
        }
        Ok(s as i64 as u64)
    }

    /// Encodes a slice.
    pub fn encode_all(self, v: &[f64]) -> Result<Vec<u64>, MpcError> {
        v.iter().map(|&x| self.encode(x)).collect()
    }

    /// Decodes one ring element.
    pub fn decode(self, r: u64) -> f64 {
        r as i64 as f64 / self.scale()
    }

    pub fn decode_all(self, r: &[u64]) -> Vec<f64> {
        r.iter().map(|&x| self.decode(x)).collect()
    }

    /// Local truncation of party `party`'s share by `frac_bits` (SecureML, Mohassel–Zhang
    /// 2017): party 0 computes `⌊x₀ / 2^f⌋`, party 1 computes `−⌊−x₁ / 2^f⌋`.
    ///
    /// If the shared value satisfies `|x| < 2^ℓ`, the result equals `x / 2^f` up to ±1 in the
    /// last place except with probability at most `2^(ℓ + 1 − 64)` over the sharing's
    /// randomness (then it is off by about `2^(64−f)`). With f = 16 and products of values below
    /// 2^15 (ℓ = 47), that is 2^−16 per element.
    pub fn trunc_share(self, party: usize, x: &mut [u64]) {
        let f = self.frac_bits;
        if party == 0 {
            for v in x.iter_mut() {
                *v >>= f;
            }
        } else {
            for v in x.iter_mut() {
                *v = (v.wrapping_neg() >> f).wrapping_neg();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn encode_decode() {
        let fp = FixedPoint::default();
        for v in [0.0, 1.5, -2.25, 1000.125, -0.0000152587890625] {
            assert_eq!(fp.decode(fp.encode(v).expect("enc")), v);
        }
        assert!(fp.encode(f64::NAN).is_err());
        assert!(fp.encode(1e30).is_err());
        assert!(FixedPoint::new(0).is_err());
    }

    /// Error bound: ±1 ulp, and the failure rate stays below the stated 2^(ℓ+1−64).
    #[test]
    fn local_truncation_error_bound() {
        let fp = FixedPoint::default();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
        let trials = 200_000;
        let mut failures = 0;
        let l = 52; // |x| < 2^52: failure probability ≤ 2^-11 ≈ 4.9e-4
        for _ in 0..trials {
            let x: i64 = rng.gen_range(-(1i64 << l) + 1..(1i64 << l));
            let x0: u64 = rng.gen();
            let x1 = (x as u64).wrapping_sub(x0);
            let mut s0 = [x0];
            let mut s1 = [x1];
            fp.trunc_share(0, &mut s0);
            fp.trunc_share(1, &mut s1);
            let got = s0[0].wrapping_add(s1[0]) as i64;
            let want = x >> 16;
            if (got - want).abs() > 1 {
                failures += 1;
            }
        }
        let bound = trials as f64 * 2f64.powi(l + 1 - 64);
        assert!((failures as f64) <= 2.0 * bound + 5.0, "{failures} failures, bound {bound}");
    }
}
