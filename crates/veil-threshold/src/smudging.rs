//! Smudging (noise-flooding) noise for released decryption and key-switching shares.
//!
//! A released share `d_i = c_1·s_i + e_i` must not reveal anything about `s_i` beyond the
//! decrypted value. The ideal-world simulator of an honest party's share outputs
//! `m_out − c_0 − Σ_{j≠i} c_1·s_j + e'_i`, which differs from the real share by the
//! ciphertext's own error `e_ct` (a function of the secret key). With `e_i, e'_i` drawn from a
//! Gaussian of standard deviation `σ`, real and simulated shares differ by a shift of a
//! Gaussian by `e_ct`, `‖e_ct‖_∞ ≤ B`, in `N` coefficients, once per decryption query. The
//! crate-level documentation turns that into the numbers below; this module computes them.
//!
//! * Statistical distance (Pinsker over the Kullback–Leibler divergence, additive over
//!   coordinates and queries): `SD ≤ B·sqrt(Q·N) / (2σ)`.
//! * Rényi divergence of order `a` between the shifted and unshifted Gaussians:
//!   `R_a ≤ exp(a·Q·N·B² / (2σ²))`; by the probability-preservation property, an attack
//!   (e.g. key recovery) that succeeds with probability `ε` against the simulated shares
//!   succeeds with at most `(R_a·ε)^{1−1/a}` against the real ones.
//!
//! Sampling: `round(σ·z)` with `z` standard normal from the Box–Muller transform on 53-bit
//! uniforms from ChaCha20 (`|z| < 8.6`). The rounded Gaussian satisfies the same bounds as the
//! continuous one (rounding commutes with integer shifts, and divergences do not grow under a
//! deterministic map). The floating-point operations (`ln`, `sqrt`, `sin_cos`) have no
//! data-dependent branches in the code here; their latency is not guaranteed constant by the
//! platform's libm.

use veil_ckks::Parameters;
use veil_math::sampler::Prng;
use zeroize::Zeroizing;

use crate::ThresholdError;

/// OpenFHE's default for threshold CKKS (`FIXED_NOISE_MULTIPARTY`): flooding noise of standard
/// deviation `2^20` per decryption share.
pub const OPENFHE_FIXED_LOG2_SIGMA: f64 = 20.0;

/// The ciphertext-error bound `B` the default is derived for: `log2 B = 12`. A ciphertext after
/// one multiplication, relinearisation and rescaling of values in `[-1, 1]` under a 2- to
/// 5-party key at `N = 2^14` measures `‖e_ct‖_∞ ≈ 2^{7.8}` to `2^{8.5}` (`veil bench
/// threshold`, case `ciphertext_error_log2`); the bound keeps a factor 2^3.5 of margin.
pub const DEFAULT_LOG2_CIPHERTEXT_ERROR: f64 = 12.0;

/// Largest accepted `log2 σ` (keeps the noise far below every scale in use).
pub const MAX_LOG2_SIGMA: f64 = 50.0;

/// The smudging noise of released shares: a rounded Gaussian of standard deviation `σ`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Smudging {
    log2_sigma: f64,
}

impl Smudging {
    /// Smudging with `σ = 2^log2_sigma`, `0 ≤ log2_sigma ≤ 50`.
    pub fn with_log2_sigma(log2_sigma: f64) -> Result<Self, ThresholdError> {
        if !(0.0..=MAX_LOG2_SIGMA).contains(&log2_sigma) {
            return Err(ThresholdError::InvalidSmudging { log2_sigma, max: MAX_LOG2_SIGMA });
        }
        Ok(Self { log2_sigma })
    }

    /// veil's default: `σ = max(2^20, 2·B·sqrt(N))` with `B = 2^12`
    /// ([`DEFAULT_LOG2_CIPHERTEXT_ERROR`]). At `N = 2^14` both terms are `2^20`: the same flooding
    /// as OpenFHE's default, with the Rényi guarantee of [`Smudging::key_recovery_bits`]
    /// (about 118 of 128 bits after one decryption, 92 after 16); larger rings get
    /// proportionally more noise (`2^20.5` at `N = 2^15`).
    pub fn default_for(params: &Parameters) -> Self {
        let derived = 1.0 + DEFAULT_LOG2_CIPHERTEXT_ERROR + 0.5 * (params.n() as f64).log2();
        Self { log2_sigma: derived.max(OPENFHE_FIXED_LOG2_SIGMA) }
    }

    /// `log2 σ`.
    pub fn log2_sigma(&self) -> f64 {
        self.log2_sigma
    }

    /// `σ`.
    pub fn sigma(&self) -> f64 {
        self.log2_sigma.exp2()
    }

    /// `n` rounded Gaussian integers of standard deviation `σ`.
    pub fn sample(&self, n: usize, rng: &mut Prng) -> Zeroizing<Vec<i64>> {
        let sigma = self.sigma();
        let mut out = Zeroizing::new(vec![0i64; n]);
        let unit = |rng: &mut Prng| ((rng.next_u64() >> 11) + 1) as f64 * (-53f64).exp2();
        for pair in out.chunks_mut(2) {
            let (u1, u2) = (unit(rng), unit(rng));
            let r = (-2.0 * u1.ln()).sqrt() * sigma;
            let (s, c) = (2.0 * std::f64::consts::PI * u2).sin_cos();
            pair[0] = (r * c).round() as i64;
            if let Some(x) = pair.get_mut(1) {
                *x = (r * s).round() as i64;
            }
        }
        out
    }

    /// `log2` of the statistical-distance bound `B·sqrt(Q·N)/(2σ)` between real and simulated
    /// shares after `queries` decryptions of ciphertexts with `‖e_ct‖_∞ ≤ 2^log2_bound`.
    pub fn statistical_distance_log2(&self, n: usize, log2_bound: f64, queries: u64) -> f64 {
        log2_bound + 0.5 * ((queries.max(1) as f64) * n as f64).log2() - 1.0 - self.log2_sigma
    }

    /// Bits of security left to a search attack (such as key recovery) of `kappa` bits once
    /// `queries` flooded shares have been released: `max_a (1 − 1/a)·(kappa − log2 R_a)`.
    pub fn key_recovery_bits(&self, n: usize, log2_bound: f64, queries: u64, kappa: f64) -> f64 {
        // log2 R_a = a·x / ln 2 with x = Q·N·B² / (2σ²).
        let x = (queries.max(1) as f64) * n as f64 * (2.0 * log2_bound).exp2() / (2.0 * (2.0 * self.log2_sigma).exp2());
        let per_a = x / std::f64::consts::LN_2;
        let mut best = 0.0f64;
        let mut a = 1.0001f64;
        while a < 1e7 {
            best = best.max((1.0 - 1.0 / a) * (kappa - a * per_a));
            a *= 1.01;
        }
        best
    }

    /// The expected largest slot error (real parts) that `shares` flooded shares add at scale
    /// `scale`: `sqrt(2·ln(N/2))·sqrt(shares)·σ·sqrt(N/2)/scale`.
    pub fn expected_max_slot_error(&self, n: usize, shares: usize, scale: f64) -> f64 {
        let slots = n as f64 / 2.0;
        (2.0 * slots.ln()).sqrt() * (shares as f64).sqrt() * self.sigma() * slots.sqrt() / scale
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use veil_ckks::ParametersLiteral;
    use veil_math::sampler::Seed;

    #[test]
    fn samples_have_the_requested_deviation() {
        let s = Smudging::with_log2_sigma(20.0).unwrap();
        let v = s.sample(1 << 15, &mut Prng::from_seed(&Seed([5; 32])));
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let sd = (v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!((sd / s.sigma() - 1.0).abs() < 0.02, "sd {sd}");
        assert!(mean.abs() < 0.05 * s.sigma());
        assert!(v.iter().all(|&x| (x.abs() as f64) < 9.0 * s.sigma()));
        assert!(Smudging::with_log2_sigma(51.0).is_err() && Smudging::with_log2_sigma(-1.0).is_err());
    }

    #[test]
    fn default_matches_openfhe_at_16384_and_its_guarantees_are_as_documented() {
        let lit = ParametersLiteral::n16384_l6_sec128();
        let n = 1usize << lit.log_n;
        let d = Smudging { log2_sigma: (1.0 + DEFAULT_LOG2_CIPHERTEXT_ERROR + 0.5 * (n as f64).log2()).max(20.0) };
        assert_eq!(d.log2_sigma(), 20.0);
        let b = DEFAULT_LOG2_CIPHERTEXT_ERROR;
        assert!((d.statistical_distance_log2(n, b, 1) - (-2.0)).abs() < 1e-9);
        let one = d.key_recovery_bits(n, b, 1, 128.0);
        let sixteen = d.key_recovery_bits(n, b, 16, 128.0);
        assert!((117.0..120.0).contains(&one), "{one}");
        assert!((90.0..94.0).contains(&sixteen), "{sixteen}");
        assert!(d.key_recovery_bits(n, b, 1 << 12, 128.0) < 1.0);
        let e = d.expected_max_slot_error(n, 2, 2f64.powi(40));
        assert!((4e-4..6e-4).contains(&e), "{e}");
    }
}
