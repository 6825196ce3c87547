//! The Evaluator: homomorphic operations on ciphertexts, without any secret.
//!
//! Every binary operation checks levels and scales and returns a typed error on mismatch
//! ([`CkksError::LevelMismatch`], [`CkksError::ScaleMismatch`]); nothing is silently
//! rescaled or dropped. Rescaling and level drops are explicit.

use std::sync::Arc;

use rayon::prelude::*;
use veil_math::{Ntt, RnsPoly};

use crate::ciphertext::Ciphertext;
use crate::encoding::Plaintext;
use crate::keys::{GaloisKey, GaloisKeys, RelinearizationKey};
use crate::keyswitch::{inner_product, key_switch, mod_down, mod_up, ModUpDigits};
use crate::params::{Level, Parameters, Scale};
use crate::CkksError;

/// Homomorphic operations for one parameter set.
#[derive(Debug, Clone)]
pub struct Evaluator {
    params: Arc<Parameters>,
}

fn check_same(a: &Ciphertext, level: Level, scale: Scale) -> Result<(), CkksError> {
    if a.level != level {
        return Err(CkksError::LevelMismatch { left: a.level.0, right: level.0 });
    }
    if !a.scale.matches(scale) {
        return Err(CkksError::ScaleMismatch { left: a.scale.log2(), right: scale.log2() });
    }
    Ok(())
}

impl Evaluator {
    /// The evaluator of `params`.
    pub fn new(params: &Arc<Parameters>) -> Self {
        Self { params: params.clone() }
    }

    /// The parameters.
    pub fn params(&self) -> &Arc<Parameters> {
        &self.params
    }

    /// `a + b` (same level and scale; any degrees).
    pub fn add(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext, CkksError> {
        let mut out = a.clone();
        self.add_assign(&mut out, b)?;
        Ok(out)
    }

    /// `a += b`.
    pub fn add_assign(&self, a: &mut Ciphertext, b: &Ciphertext) -> Result<(), CkksError> {
        check_same(a, b.level, b.scale)?;
        let ring = self.params.ring();
        while a.parts.len() < b.parts.len() {
            a.parts.push(RnsPoly::zero(ring, &self.params.q_basis(a.level))?);
        }
        for (x, y) in a.parts.iter_mut().zip(&b.parts) {
            x.add_assign(ring, y)?;
        }
        a.invalidate_seed();
        Ok(())
    }

    /// `a - b`.
    pub fn sub(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext, CkksError> {
        let mut nb = b.clone();
        self.negate_assign(&mut nb);
        self.add(a, &nb)
    }

    /// `-a`.
    pub fn negate(&self, a: &Ciphertext) -> Ciphertext {
        let mut out = a.clone();
        self.negate_assign(&mut out);
        out
    }

    fn negate_assign(&self, a: &mut Ciphertext) {
        for p in a.parts.iter_mut() {
            p.neg_assign(self.params.ring());
        }
        a.invalidate_seed();
    }

    /// `a + pt` (same level and scale).
    pub fn add_plain(&self, a: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext, CkksError> {
        check_same(a, pt.level, pt.scale)?;
        let mut out = a.clone();
        out.parts[0].add_assign(self.params.ring(), &pt.poly)?;
        out.invalidate_seed();
        Ok(out)
    }

    /// `a - pt` (same level and scale).
    pub fn sub_plain(&self, a: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext, CkksError> {
        check_same(a, pt.level, pt.scale)?;
        let mut out = a.clone();
        out.parts[0].sub_assign(self.params.ring(), &pt.poly)?;
        out.invalidate_seed();
        Ok(out)
    }

    /// `a ⊙ pt` (same level); the scale becomes the product of the scales.
    pub fn mul_plain(&self, a: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext, CkksError> {
        if a.level != pt.level {
            return Err(CkksError::LevelMismatch { left: a.level.0, right: pt.level.0 });
        }
        let mut out = a.clone();
        for p in out.parts.iter_mut() {
            p.mul_assign(self.params.ring(), &pt.poly)?;
        }
        out.scale = Scale(a.scale.0 * pt.scale.0);
        out.invalidate_seed();
        Ok(out)
    }

    /// `a + c` for a real constant `c` in every slot (encoded at the ciphertext's scale).
    pub fn add_const(&self, a: &Ciphertext, c: f64) -> Result<Ciphertext, CkksError> {
        let v = (c * a.scale.0).round();
        if !v.is_finite() || v.abs() >= 4.6e18 {
            return Err(CkksError::EncodingOverflow { log2_magnitude: v.abs().log2() });
        }
        let v = v as i64;
        let ring = self.params.ring();
        let mut out = a.clone();
        let n = self.params.n();
        // The constant polynomial v has the value v at every evaluation point.
        for k in 0..=a.level.0 {
            let m = ring.modulus(k);
            let r = m.from_i64(v);
            for x in out.parts[0].data_mut()[k * n..(k + 1) * n].iter_mut() {
                *x = m.add(*x, r);
            }
        }
        out.invalidate_seed();
        Ok(out)
    }

    /// `a · c` for a real constant `c`, encoded as `round(c · q_l)` so that the following
    /// [`rescale`](Self::rescale) returns exactly to the input scale.
    pub fn mul_const(&self, a: &Ciphertext, c: f64) -> Result<Ciphertext, CkksError> {
        let ql = self.params.q()[a.level.0] as f64;
        self.mul_const_at_scale(a, c, Scale(ql))
    }

    /// `a · round(c · Δ_c)`; the scale is multiplied by `Δ_c`.
    pub fn mul_const_at_scale(&self, a: &Ciphertext, c: f64, const_scale: Scale) -> Result<Ciphertext, CkksError> {
        let v = (c * const_scale.0).round();
        if !v.is_finite() || v.abs() >= 4.6e18 {
            return Err(CkksError::EncodingOverflow { log2_magnitude: v.abs().log2() });
        }
        let v = v as i64;
        let ring = self.params.ring();
        let scalars: Vec<u64> = (0..=a.level.0).map(|k| ring.modulus(k).from_i64(v)).collect();
        let mut out = a.clone();
        for p in out.parts.iter_mut() {
            p.mul_scalar_assign(ring, &scalars)?;
        }
        out.scale = Scale(a.scale.0 * const_scale.0);
        out.invalidate_seed();
        Ok(out)
    }

    /// `a · b` without relinearisation: a degree-2 ciphertext at scale `Δ_a·Δ_b`.
    pub fn multiply(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext, CkksError> {
        if a.level != b.level {
            return Err(CkksError::LevelMismatch { left: a.level.0, right: b.level.0 });
        }
        for c in [a, b] {
            if c.degree() != 1 {
                return Err(CkksError::CiphertextDegree { expected: 1, actual: c.degree() });
            }
        }
        let ring = self.params.ring();
        let n = self.params.n();
        let basis = self.params.q_basis(a.level);
        let mut d0 = RnsPoly::<Ntt>::zero(ring, &basis)?;
        let mut d1 = RnsPoly::<Ntt>::zero(ring, &basis)?;
        let mut d2 = RnsPoly::<Ntt>::zero(ring, &basis)?;
        let (a0, a1, b0, b1) = (&a.parts[0], &a.parts[1], &b.parts[0], &b.parts[1]);
        d0.data_mut().par_chunks_mut(n).zip(d1.data_mut().par_chunks_mut(n)).zip(d2.data_mut().par_chunks_mut(n)).enumerate().for_each(
            |(k, ((o0, o1), o2))| {
                let m = ring.modulus(k);
                let (x0, x1, y0, y1) = (a0.limb(k), a1.limb(k), b0.limb(k), b1.limb(k));
                for c in 0..n {
                    o0[c] = m.mul(x0[c], y0[c]);
                    o1[c] = m.reduce_u128(x0[c] as u128 * y1[c] as u128 + x1[c] as u128 * y0[c] as u128);
                    o2[c] = m.mul(x1[c], y1[c]);
                }
            },
        );
        Ok(Ciphertext { parts: vec![d0, d1, d2], level: a.level, scale: Scale(a.scale.0 * b.scale.0), seed: None })
    }

    /// Switches the `s^2` component of a degree-2 ciphertext back to `s`.
    pub fn relinearize(&self, a: &Ciphertext, rlk: &RelinearizationKey) -> Result<Ciphertext, CkksError> {
        if a.degree() == 1 {
            return Ok(a.clone());
        }
        if a.degree() != 2 {
            return Err(CkksError::CiphertextDegree { expected: 2, actual: a.degree() });
        }
        let ring = self.params.ring();
        let (u0, u1) = key_switch(&self.params, &a.parts[2], a.level, &rlk.0)?;
        let mut c0 = a.parts[0].clone();
        let mut c1 = a.parts[1].clone();
        c0.add_assign(ring, &u0)?;
        c1.add_assign(ring, &u1)?;
        Ok(Ciphertext { parts: vec![c0, c1], level: a.level, scale: a.scale, seed: None })
    }

    /// `relinearize(multiply(a, b))`.
    pub fn mul_relin(&self, a: &Ciphertext, b: &Ciphertext, rlk: &RelinearizationKey) -> Result<Ciphertext, CkksError> {
        self.relinearize(&self.multiply(a, b)?, rlk)
    }

    /// Divides by the top prime `q_l` with rounding: level `l -> l-1`, scale `Δ -> Δ/q_l`.
    pub fn rescale(&self, a: &Ciphertext) -> Result<Ciphertext, CkksError> {
        let l = a.level.0;
        if l == 0 {
            return Err(CkksError::LevelTooLow { needed: 1, actual: 0 });
        }
        let ring = self.params.ring();
        let n = self.params.n();
        let ql = ring.modulus(l);
        let half = ql.value() >> 1;
        let parts = a
            .parts
            .iter()
            .map(|p| {
                let mut last = p.limb(l).to_vec();
                ring.table(l).inverse(&mut last);
                for v in last.iter_mut() {
                    *v = ql.add(*v, half);
                }
                let mut out = p.select_limbs(&(0..l).collect::<Vec<_>>())?;
                out.data_mut().par_chunks_mut(n).enumerate().for_each(|(i, o)| {
                    let m = ring.modulus(i);
                    let h = m.reduce(half);
                    let mut t: Vec<u64> = last.iter().map(|&v| m.sub(m.reduce(v), h)).collect();
                    ring.table(i).forward(&mut t);
                    let (w, ws) = self.params.rescale_inv[l][i];
                    for (x, &y) in o.iter_mut().zip(&t) {
                        *x = m.mul_shoup(m.sub(*x, y), w, ws);
                    }
                });
                Ok(out)
            })
            .collect::<Result<Vec<_>, CkksError>>()?;
        Ok(Ciphertext { parts, level: Level(l - 1), scale: Scale(a.scale.0 / ql.value() as f64), seed: None })
    }

    /// `rescale(relinearize(multiply(a, b)))`.
    pub fn mul_relin_rescale(&self, a: &Ciphertext, b: &Ciphertext, rlk: &RelinearizationKey) -> Result<Ciphertext, CkksError> {
        self.rescale(&self.mul_relin(a, b, rlk)?)
    }

    /// Drops moduli down to `level` without changing the scale.
    pub fn drop_to_level(&self, a: &Ciphertext, level: Level) -> Result<Ciphertext, CkksError> {
        if level > a.level {
            return Err(CkksError::LevelTooLow { needed: level.0, actual: a.level.0 });
        }
        let keep: Vec<usize> = (0..=level.0).collect();
        let parts = a.parts.iter().map(|p| p.select_limbs(&keep)).collect::<Result<Vec<_>, _>>()?;
        Ok(Ciphertext { parts, level, scale: a.scale, seed: None })
    }

    /// Drops a plaintext's moduli down to `level`.
    pub fn drop_plain_to_level(&self, pt: &Plaintext, level: Level) -> Result<Plaintext, CkksError> {
        if level > pt.level {
            return Err(CkksError::LevelTooLow { needed: level.0, actual: pt.level.0 });
        }
        let keep: Vec<usize> = (0..=level.0).collect();
        Ok(Plaintext { poly: pt.poly.select_limbs(&keep)?, level, scale: pt.scale })
    }

    fn galois_key<'g>(&self, keys: &'g GaloisKeys, g: usize, step: Option<i64>) -> Result<&'g GaloisKey, CkksError> {
        keys.get(g).ok_or(CkksError::MissingGaloisKey { galois_element: g, step })
    }

    /// Applies the automorphism of a Galois key and switches back to `s`, from hoisted digits.
    fn apply_galois(&self, a: &Ciphertext, digits: &ModUpDigits, key: &GaloisKey) -> Result<Ciphertext, CkksError> {
        let ring = self.params.ring();
        let (x0, x1) = inner_product(&self.params, digits, &key.key, Some(&key.perm))?;
        let mut c0 = mod_down(&self.params, &x0, a.level)?;
        let c1 = mod_down(&self.params, &x1, a.level)?;
        c0.add_assign(ring, &a.parts[0].permute(&key.perm)?)?;
        Ok(Ciphertext { parts: vec![c0, c1], level: a.level, scale: a.scale, seed: None })
    }

    /// Single automorphism: permute `c_1` first (ModUp commutes with automorphisms), so the
    /// inner product reads the digits in order instead of gathering them.
    fn apply_galois_single(&self, a: &Ciphertext, key: &GaloisKey) -> Result<Ciphertext, CkksError> {
        let ring = self.params.ring();
        let c1 = a.parts[1].permute(&key.perm)?;
        let digits = mod_up(&self.params, &c1, a.level)?;
        let (x0, x1) = inner_product(&self.params, &digits, &key.key, None)?;
        let mut c0 = mod_down(&self.params, &x0, a.level)?;
        let c1 = mod_down(&self.params, &x1, a.level)?;
        c0.add_assign(ring, &a.parts[0].permute(&key.perm)?)?;
        Ok(Ciphertext { parts: vec![c0, c1], level: a.level, scale: a.scale, seed: None })
    }

    fn require_degree_one(a: &Ciphertext) -> Result<(), CkksError> {
        if a.degree() != 1 {
            return Err(CkksError::CiphertextDegree { expected: 1, actual: a.degree() });
        }
        Ok(())
    }

    /// Rotates the slots left by `step` (negative: right).
    pub fn rotate(&self, a: &Ciphertext, step: i64, keys: &GaloisKeys) -> Result<Ciphertext, CkksError> {
        Self::require_degree_one(a)?;
        let g = self.params.galois_element(step);
        if g == 1 {
            return Ok(a.clone());
        }
        let key = self.galois_key(keys, g, Some(step))?;
        self.apply_galois_single(a, key)
    }

    /// Complex conjugation of every slot.
    pub fn conjugate(&self, a: &Ciphertext, keys: &GaloisKeys) -> Result<Ciphertext, CkksError> {
        Self::require_degree_one(a)?;
        let g = self.params.conjugation_element();
        let key = self.galois_key(keys, g, None)?;
        self.apply_galois_single(a, key)
    }

    /// Rotations by each of `steps`, sharing one decomposition of `c_1` (hoisting).
    pub fn rotate_hoisted(&self, a: &Ciphertext, steps: &[i64], keys: &GaloisKeys) -> Result<Vec<Ciphertext>, CkksError> {
        Self::require_degree_one(a)?;
        let mut resolved = Vec::with_capacity(steps.len());
        for &s in steps {
            let g = self.params.galois_element(s);
            resolved.push(if g == 1 { None } else { Some(self.galois_key(keys, g, Some(s))?) });
        }
        let digits = if resolved.iter().any(Option::is_some) { Some(mod_up(&self.params, &a.parts[1], a.level)?) } else { None };
        resolved
            .into_iter()
            .map(|k| match (k, &digits) {
                (Some(key), Some(d)) => self.apply_galois(a, d, key),
                _ => Ok(a.clone()),
            })
            .collect()
    }

    /// The hoisted decomposition of `c_1`, for callers composing their own key switches.
    pub fn decompose(&self, a: &Ciphertext) -> Result<ModUpDigits, CkksError> {
        Self::require_degree_one(a)?;
        mod_up(&self.params, &a.parts[1], a.level)
    }
}
