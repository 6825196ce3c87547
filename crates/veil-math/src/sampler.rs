//! Samplers driven by ChaCha20.
//!
//! * [`Prng`]: ChaCha20 seeded from the operating system ([`Prng::from_os`]) or from a 32-byte
//!   [`Seed`] (to expand public uniform polynomials that travel as their seed).
//! * [`uniform_poly`]: uniform residues modulo each limb's modulus (rejection sampling on
//!   public randomness; its timing depends only on discarded random words).
//! * [`ternary`]: uniform over {-1, 0, 1}; [`gaussian`]: discrete Gaussian of parameter
//!   σ = 3.2 bounded at 6σ, by a cumulative-table scan that visits every entry (no branch or
//!   memory index depends on the sampled value).

use rand_chacha::ChaCha20Rng;
use rand_core::{OsRng, RngCore, SeedableRng};
use zeroize::{Zeroize, Zeroizing};

use crate::{MathError, RingContext, RnsPoly};

/// Standard deviation of the error distribution.
pub const SIGMA: f64 = 3.2;
/// Tail bound of the error distribution, `|e| <= GAUSSIAN_BOUND` (⌊6σ⌋).
pub const GAUSSIAN_BOUND: i64 = 19;

/// A 32-byte seed of the ChaCha20 stream.
#[derive(Clone, Copy, PartialEq, Eq, Zeroize)]
pub struct Seed(pub [u8; 32]);

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed(..)")
    }
}

impl Seed {
    /// A fresh seed from the operating system's CSPRNG.
    pub fn random() -> Self {
        let mut s = [0u8; 32];
        OsRng.fill_bytes(&mut s);
        Self(s)
    }
}

/// ChaCha20 stream.
#[derive(Debug)]
pub struct Prng(ChaCha20Rng);

impl Prng {
    /// Seeded from the operating system's CSPRNG.
    pub fn from_os() -> Self {
        Self::from_seed(&Seed::random())
    }

    /// Deterministic stream of `seed`.
    pub fn from_seed(seed: &Seed) -> Self {
        Self(ChaCha20Rng::from_seed(seed.0))
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A fresh seed drawn from this stream.
    pub fn seed(&mut self) -> Seed {
        let mut s = [0u8; 32];
        self.0.fill_bytes(&mut s);
        Seed(s)
    }
}

/// Uniform residues over `basis` (the result is uniform in either representation).
pub fn uniform_poly<R>(ctx: &RingContext, basis: &[usize], rng: &mut Prng) -> Result<RnsPoly<R>, MathError> {
    let mut p = RnsPoly::<R>::zero(ctx, basis)?;
    let n = ctx.n();
    for (k, &i) in basis.iter().enumerate() {
        let q = ctx.modulus(i).value();
        let mask = u64::MAX >> q.leading_zeros();
        for a in p.data_mut()[k * n..(k + 1) * n].iter_mut() {
            *a = loop {
                let r = rng.next_u64() & mask;
                if r < q {
                    break r;
                }
            };
        }
    }
    Ok(p)
}

/// `n` coefficients uniform over {-1, 0, 1}.
pub fn ternary(n: usize, rng: &mut Prng) -> Zeroizing<Vec<i64>> {
    let mut out = Zeroizing::new(vec![0i64; n]);
    // Accept [0, 2^64 - 2]: 2^64 - 1 values, a multiple of 3, so r mod 3 is uniform.
    let limit = u64::MAX - 1;
    for c in out.iter_mut() {
        let r = loop {
            let r = rng.next_u64();
            if r <= limit {
                break r;
            }
        };
        *c = (r % 3) as i64 - 1;
    }
    out
}

fn gaussian_cdt() -> Vec<u64> {
    // Cumulative distribution of the discrete Gaussian on [-B, B], scaled to 2^63
    // (f64 precision, about 2^-53 relative error per entry).
    let b = GAUSSIAN_BOUND;
    let w: Vec<f64> = (-b..=b).map(|x| (-(x * x) as f64 / (2.0 * SIGMA * SIGMA)).exp()).collect();
    let total: f64 = w.iter().sum();
    let mut acc = 0.0;
    w[..w.len() - 1]
        .iter()
        .map(|v| {
            acc += v / total;
            (acc * 9_223_372_036_854_775_808.0) as u64
        })
        .collect()
}

/// `n` coefficients from the discrete Gaussian of parameter σ = 3.2 on `[-19, 19]`.
pub fn gaussian(n: usize, rng: &mut Prng) -> Zeroizing<Vec<i64>> {
    let cdt = gaussian_cdt();
    let mut out = Zeroizing::new(vec![0i64; n]);
    for c in out.iter_mut() {
        let u = rng.next_u64() >> 1;
        // Count table entries <= u without branching: (t - u - 1) >> 63 is 1 iff t <= u.
        let mut idx = 0i64;
        for &t in &cdt {
            idx += (t.wrapping_sub(u).wrapping_sub(1) >> 63) as i64;
        }
        *c = idx - GAUSSIAN_BOUND;
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn distributions_have_the_expected_moments() {
        let mut rng = Prng::from_seed(&Seed([7; 32]));
        let n = 1 << 16;
        let t = ternary(n, &mut rng);
        let mean: f64 = t.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
        let var: f64 = t.iter().map(|&x| (x * x) as f64).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.02 && (var - 2.0 / 3.0).abs() < 0.02, "{mean} {var}");
        let g = gaussian(n, &mut rng);
        let mean: f64 = g.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
        let var: f64 = g.iter().map(|&x| (x * x) as f64).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.1 && (var.sqrt() - SIGMA).abs() < 0.1, "{mean} {var}");
        assert!(g.iter().all(|x| x.abs() <= GAUSSIAN_BOUND));
    }

    #[test]
    fn seeded_uniform_is_reproducible_and_reduced() {
        let qs = crate::prime::ntt_primes(40, 16, 2, &[]).unwrap();
        let ctx = RingContext::new(16, &qs).unwrap();
        let s = Seed([3; 32]);
        let a: RnsPoly<crate::Ntt> = uniform_poly(&ctx, &[0, 1], &mut Prng::from_seed(&s)).unwrap();
        let b: RnsPoly<crate::Ntt> = uniform_poly(&ctx, &[0, 1], &mut Prng::from_seed(&s)).unwrap();
        assert_eq!(a, b);
        assert!(a.limb(0).iter().all(|&x| x < qs[0]) && a.limb(1).iter().all(|&x| x < qs[1]));
    }
}
