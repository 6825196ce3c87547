//! CKKS encoding: the canonical embedding restricted to `N/2` slots.
//!
//! A plaintext polynomial `m(X) ∈ Z[X]/(X^N + 1)` holds the vector `z ∈ C^{N/2}` with
//! `m(ζ^{5^j}) ≈ Δ·z_j`, `ζ = exp(iπ/N)`. Ordering slots by the powers of 5 (the rotation
//! group of `Z_{2N}^*` modulo ±1) makes the automorphism `X -> X^{5^r}` a left rotation of the
//! slots by `r`, and `X -> X^{-1}` their complex conjugation. The map and its inverse are
//! computed by the "special FFT" of size `N/2` (Cheon-Kim-Kim-Song), `O(N log N)`; the
//! coefficients of the real and imaginary parts go to `m_i` and `m_{i+N/2}`.

use std::sync::Arc;

use veil_math::{Ntt, RnsPoly};

use crate::params::{Level, Parameters, Scale};
use crate::CkksError;

/// A complex number (just what the encoder needs).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Complex64 {
    pub re: f64,
    pub im: f64,
}

impl Complex64 {
    /// `re + i·im`.
    pub const fn new(re: f64, im: f64) -> Self {
        Self { re, im }
    }

    /// `|z|`.
    pub fn abs(self) -> f64 {
        self.re.hypot(self.im)
    }

    /// Complex conjugate.
    pub fn conj(self) -> Self {
        Self::new(self.re, -self.im)
    }

    fn mul(self, o: Self) -> Self {
        Self::new(self.re * o.re - self.im * o.im, self.re * o.im + self.im * o.re)
    }
    fn add(self, o: Self) -> Self {
        Self::new(self.re + o.re, self.im + o.im)
    }
    fn sub(self, o: Self) -> Self {
        Self::new(self.re - o.re, self.im - o.im)
    }
}

/// Rotation-group and root-of-unity tables of the special FFT.
#[derive(Debug)]
pub(crate) struct SlotTables {
    m: usize,
    rot_group: Vec<usize>,
    roots: Vec<Complex64>,
}

impl SlotTables {
    pub(crate) fn new(n: usize) -> Self {
        let m = 2 * n;
        let mut rot_group = Vec::with_capacity(n / 2);
        let mut g = 1usize;
        for _ in 0..n / 2 {
            rot_group.push(g);
            g = g * 5 % m;
        }
        let roots = (0..=m)
            .map(|k| {
                let a = 2.0 * std::f64::consts::PI * k as f64 / m as f64;
                Complex64::new(a.cos(), a.sin())
            })
            .collect();
        Self { m, rot_group, roots }
    }

    fn bit_reverse(v: &mut [Complex64]) {
        let n = v.len();
        let mut j = 0;
        for i in 1..n {
            let mut bit = n >> 1;
            while j & bit != 0 {
                j ^= bit;
                bit >>= 1;
            }
            j ^= bit;
            if i < j {
                v.swap(i, j);
            }
        }
    }

    /// Evaluation: coefficients-side vector -> slot values.
    fn forward(&self, v: &mut [Complex64]) {
        let size = v.len();
        Self::bit_reverse(v);
        let mut len = 2;
        while len <= size {
            let (lenh, lenq) = (len >> 1, len << 2);
            let gap = self.m / lenq;
            for i in (0..size).step_by(len) {
                for j in 0..lenh {
                    let idx = (self.rot_group[j] % lenq) * gap;
                    let u = v[i + j];
                    let t = v[i + j + lenh].mul(self.roots[idx]);
                    v[i + j] = u.add(t);
                    v[i + j + lenh] = u.sub(t);
                }
            }
            len <<= 1;
        }
    }

    /// Interpolation: slot values -> coefficients-side vector (includes the 1/size factor).
    fn inverse(&self, v: &mut [Complex64]) {
        let size = v.len();
        let mut len = size;
        while len >= 2 {
            let (lenh, lenq) = (len >> 1, len << 2);
            let gap = self.m / lenq;
            for i in (0..size).step_by(len) {
                for j in 0..lenh {
                    let idx = (lenq - self.rot_group[j] % lenq) * gap;
                    let u = v[i + j].add(v[i + j + lenh]);
                    let t = v[i + j].sub(v[i + j + lenh]).mul(self.roots[idx]);
                    v[i + j] = u;
                    v[i + j + lenh] = t;
                }
            }
            len >>= 1;
        }
        Self::bit_reverse(v);
        let inv = 1.0 / size as f64;
        for x in v.iter_mut() {
            *x = Complex64::new(x.re * inv, x.im * inv);
        }
    }
}

/// An encoded message: `m(X)` in NTT form over `Q_l`, with its level and scale.
#[derive(Clone, Debug, PartialEq)]
pub struct Plaintext {
    pub(crate) poly: RnsPoly<Ntt>,
    pub(crate) level: Level,
    pub(crate) scale: Scale,
}

impl Plaintext {
    /// Wraps a polynomial (NTT form over `Q_level`).
    pub fn from_parts(params: &Parameters, poly: RnsPoly<Ntt>, level: Level, scale: Scale) -> Result<Self, CkksError> {
        params.check_level(level)?;
        if poly.basis() != params.q_basis(level).as_slice() {
            return Err(veil_math::MathError::BasisMismatch { left: poly.basis().to_vec(), right: params.q_basis(level) }.into());
        }
        Ok(Self { poly, level, scale })
    }

    /// The polynomial.
    pub fn poly(&self) -> &RnsPoly<Ntt> {
        &self.poly
    }

    /// Level.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Scale.
    pub fn scale(&self) -> Scale {
        self.scale
    }
}

/// Encoder and decoder for one parameter set.
#[derive(Debug, Clone)]
pub struct Encoder {
    params: Arc<Parameters>,
}

impl Encoder {
    /// The encoder of `params`.
    pub fn new(params: &Arc<Parameters>) -> Self {
        Self { params: params.clone() }
    }

    /// Integer coefficients `round(Δ · m)` of the vector (zero-padded to `N/2` slots).
    pub fn encode_coefficients(&self, values: &[Complex64], scale: Scale) -> Result<Vec<i64>, CkksError> {
        let slots = self.params.slot_count();
        if values.len() > slots {
            return Err(CkksError::TooManyValues { given: values.len(), slots });
        }
        if let Some(slot) = values.iter().position(|v| !v.re.is_finite() || !v.im.is_finite()) {
            return Err(CkksError::NonFinite { slot });
        }
        if !scale.0.is_finite() || scale.0 <= 0.0 {
            return Err(CkksError::InvalidScale { log_scale: scale.log2(), reason: "must be positive and finite" });
        }
        let mut v = vec![Complex64::default(); slots];
        v[..values.len()].copy_from_slice(values);
        self.params.slots.inverse(&mut v);
        let mut coeffs = vec![0i64; 2 * slots];
        let limit = 4_611_686_018_427_387_904.0; // 2^62
        for (i, z) in v.iter().enumerate() {
            let (re, im) = ((z.re * scale.0).round(), (z.im * scale.0).round());
            let worst = re.abs().max(im.abs());
            if worst >= limit {
                return Err(CkksError::EncodingOverflow { log2_magnitude: worst.log2() });
            }
            coeffs[i] = re as i64;
            coeffs[i + slots] = im as i64;
        }
        Ok(coeffs)
    }

    /// Encodes complex values at `level` and `scale`.
    pub fn encode_complex(&self, values: &[Complex64], level: Level, scale: Scale) -> Result<Plaintext, CkksError> {
        self.params.check_level(level)?;
        let coeffs = self.encode_coefficients(values, scale)?;
        let ring = self.params.ring();
        let poly = RnsPoly::from_signed(ring, &self.params.q_basis(level), &coeffs)?.into_ntt(ring);
        Ok(Plaintext { poly, level, scale })
    }

    /// Encodes real values at `level` and `scale`.
    pub fn encode(&self, values: &[f64], level: Level, scale: Scale) -> Result<Plaintext, CkksError> {
        let v: Vec<Complex64> = values.iter().map(|&x| Complex64::new(x, 0.0)).collect();
        self.encode_complex(&v, level, scale)
    }

    /// Decodes a plaintext to its `N/2` complex slot values.
    pub fn decode_complex(&self, pt: &Plaintext) -> Result<Vec<Complex64>, CkksError> {
        let ring = self.params.ring();
        if pt.poly.basis() != self.params.q_basis(pt.level).as_slice() {
            return Err(veil_math::MathError::BasisMismatch { left: pt.poly.basis().to_vec(), right: self.params.q_basis(pt.level) }.into());
        }
        let coeff = pt.poly.clone().into_coeff(ring);
        let n = self.params.n();
        let slots = n / 2;
        let basis = &self.params.crt[pt.level.0];
        let k = pt.level.0 + 1;
        let mut residues = vec![0u64; k];
        let mut scratch = Vec::new();
        let mut real = vec![0f64; n];
        for (c, out) in real.iter_mut().enumerate() {
            for (l, r) in residues.iter_mut().enumerate() {
                *r = coeff.limb(l)[c];
            }
            *out = basis.reconstruct_centered_f64(&residues, &mut scratch) / pt.scale.0;
        }
        let mut v: Vec<Complex64> = (0..slots).map(|i| Complex64::new(real[i], real[i + slots])).collect();
        self.params.slots.forward(&mut v);
        Ok(v)
    }

    /// Decodes a plaintext to the real parts of its slots.
    pub fn decode(&self, pt: &Plaintext) -> Result<Vec<f64>, CkksError> {
        Ok(self.decode_complex(pt)?.into_iter().map(|z| z.re).collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::params::ParametersLiteral;

    fn params() -> Arc<Parameters> {
        Parameters::new(ParametersLiteral::insecure_n1024_l2()).unwrap()
    }

    #[test]
    fn encoding_is_the_canonical_embedding() {
        // Known answer: evaluate the encoded polynomial at ζ^{5^j} directly.
        let p = params();
        let enc = Encoder::new(&p);
        let n = p.n();
        let values: Vec<Complex64> = (0..n / 2).map(|j| Complex64::new((j as f64 * 0.37).sin(), (j as f64 * 0.11).cos() * 0.5)).collect();
        let scale = Scale::from_log2(30.0);
        let coeffs = enc.encode_coefficients(&values, scale).unwrap();
        for (j, want) in values.iter().enumerate().step_by(37) {
            let g = p.galois_element(j as i64);
            let mut acc = Complex64::default();
            for (i, &c) in coeffs.iter().enumerate() {
                let a = std::f64::consts::PI * ((g * i) % (2 * n)) as f64 / n as f64;
                acc = acc.add(Complex64::new(a.cos() * c as f64, a.sin() * c as f64));
            }
            assert!((acc.re / scale.0 - want.re).abs() < 1e-6 && (acc.im / scale.0 - want.im).abs() < 1e-6, "slot {j}");
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        let p = params();
        let enc = Encoder::new(&p);
        let values: Vec<f64> = (0..p.slot_count()).map(|i| (i as f64 / 7.0).sin() * 3.0).collect();
        for level in 0..=2 {
            let pt = enc.encode(&values, Level(level), Scale::from_log2(40.0)).unwrap();
            let back = enc.decode(&pt).unwrap();
            let err = values.iter().zip(&back).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(err < 1e-9, "level {level}: {err}");
        }
        assert!(matches!(enc.encode(&vec![0.0; p.slot_count() + 1], Level(0), p.default_scale()), Err(CkksError::TooManyValues { .. })));
        assert!(matches!(enc.encode(&[f64::NAN], Level(0), p.default_scale()), Err(CkksError::NonFinite { slot: 0 })));
        assert!(matches!(enc.encode(&[1e13], Level(0), Scale::from_log2(40.0)), Err(CkksError::EncodingOverflow { .. })));
    }
}
