//! Hybrid key switching (Han-Ki; Kim-Polyakov-Zucca), step by step.
//!
//! Given `d ∈ R_{Q_l}` and a [`SwitchingKey`] from `s'` to `s`:
//! 1. [`mod_up`]: split `d` into centred digits `[d]_{Q_j} ∈ (-Q_j/2, Q_j/2]` and extend each to
//!    `Q_l ∪ P` by fast base conversion (the result is `[d]_{Q_j} + u·Q_j`, `0 <= u < α`,
//!    harmless because `Q_j·g_j ≡ 0`). Centring matters: an offset of `Q_j/2` in every
//!    coefficient would multiply the noise by up to `N/π` in some slots.
//! 2. [`inner_product`]: `(Σ_j d̃_j·b_j, Σ_j d̃_j·a_j)` over `Q_l ∪ P`, accumulated in 128 bits
//!    and reduced once per coefficient.
//! 3. [`mod_down`]: divide by `P` with rounding, back to `Q_l`.
//!
//! The output `(u_0, u_1)` satisfies `u_0 + u_1·s ≈ d·s'` with error `≈ Σ_j d̃_j e_j / P`.
//! [`ModUpDigits`] can be reused for many keys (hoisting) and permuted for Galois keys.

use rayon::prelude::*;
use veil_math::{pool, Ntt, RnsPoly};

use crate::keys::SwitchingKey;
use crate::params::{Level, Parameters};
use crate::CkksError;

/// The digits of `d`, each extended to `Q_l ∪ P` (NTT form).
#[derive(Clone, Debug)]
pub struct ModUpDigits {
    pub(crate) level: Level,
    pub(crate) digits: Vec<RnsPoly<Ntt>>,
}

impl ModUpDigits {
    /// Level of the decomposed element.
    pub fn level(&self) -> Level {
        self.level
    }

    /// The extended digits, each over `Q_l ∪ P`.
    pub fn digits(&self) -> &[RnsPoly<Ntt>] {
        &self.digits
    }
}

/// Step 1: decomposition and extension of `d` (NTT form over `Q_l`) to `Q_l ∪ P`.
pub fn mod_up(params: &Parameters, d: &RnsPoly<Ntt>, level: Level) -> Result<ModUpDigits, CkksError> {
    params.check_level(level)?;
    let q_basis = params.q_basis(level);
    if d.basis() != q_basis.as_slice() {
        return Err(veil_math::MathError::BasisMismatch { left: d.basis().to_vec(), right: q_basis }.into());
    }
    let ring = params.ring();
    let n = params.n();
    let l = level.0;
    let qp = params.qp_basis(level);
    let coeff = d.clone().into_coeff(ring);
    let digits = (0..params.digits_at(level))
        .into_par_iter()
        .map(|j| {
            let range = params.digit_range(level, j);
            let conv = &params.mod_up[l][j];
            let (half_src, half_dst) = &params.mod_up_half[l][j];
            // Every limb is written below.
            let mut out = RnsPoly::<Ntt>::for_overwrite(ring, &qp)?;
            // Centre the digit: convert [d]_{Q_j} + ⌊Q_j/2⌋, then subtract ⌊Q_j/2⌋.
            if range.len() == 1 {
                // One prime per digit: the conversion is a reduction, fused with the centring.
                let src_m = conv.source()[0];
                let mut shifted = pool::take_for_overwrite(n);
                for (s, &v) in shifted.iter_mut().zip(coeff.limb(range.start)) {
                    *s = src_m.add(v, half_src[0]);
                }
                let mut k = 0;
                for (t, &ctx_idx) in qp.iter().enumerate() {
                    let dst = out.limb_mut(t);
                    if range.contains(&t) {
                        dst.copy_from_slice(d.limb(t));
                        continue;
                    }
                    let m = conv.target()[k];
                    let h = half_dst[k];
                    for (o, &v) in dst.iter_mut().zip(&shifted) {
                        *o = m.sub(m.reduce(v), h);
                    }
                    ring.table(ctx_idx).forward(dst);
                    k += 1;
                }
                pool::give(shifted);
                return Ok(out);
            }
            let mut src = pool::take_for_overwrite(range.len() * n);
            src.copy_from_slice(&coeff.data()[range.start * n..range.end * n]);
            for ((limb, m), &h) in src.chunks_exact_mut(n).zip(conv.source()).zip(half_src) {
                for v in limb.iter_mut() {
                    *v = m.add(*v, h);
                }
            }
            let mut ext = pool::take_for_overwrite(conv.target().len() * n);
            let mut scratch = pool::take_for_overwrite((range.len() + 1) * n);
            conv.convert(n, &src, &mut ext, &mut scratch);
            pool::give(scratch);
            pool::give(src);
            let mut k = 0;
            for (t, &ctx_idx) in qp.iter().enumerate() {
                let dst = out.limb_mut(t);
                if range.contains(&t) {
                    dst.copy_from_slice(d.limb(t));
                } else {
                    let m = conv.target()[k];
                    let h = half_dst[k];
                    for (o, &v) in dst.iter_mut().zip(&ext[k * n..(k + 1) * n]) {
                        *o = m.sub(v, h);
                    }
                    ring.table(ctx_idx).forward(dst);
                    k += 1;
                }
            }
            pool::give(ext);
            Ok(out)
        })
        .collect::<Result<Vec<_>, CkksError>>()?;
    Ok(ModUpDigits { level, digits })
}

/// Step 2: `(Σ_j d̃_j·b_j, Σ_j d̃_j·a_j)` over `Q_l ∪ P`. With `perm`, each digit is first
/// permuted by the automorphism (for Galois keys applied to hoisted digits).
pub fn inner_product(
    params: &Parameters,
    digits: &ModUpDigits,
    key: &SwitchingKey,
    perm: Option<&[u32]>,
) -> Result<(RnsPoly<Ntt>, RnsPoly<Ntt>), CkksError> {
    let ring = params.ring();
    let n = params.n();
    let l = digits.level.0;
    let qp = params.qp_basis(digits.level);
    let top = params.max_level().0;
    let nd = digits.digits.len();
    if let Some(p) = perm {
        if p.len() != n {
            return Err(veil_math::MathError::Length { expected: n, actual: p.len() }.into());
        }
    }
    if let Some(d) = digits.digits.iter().find(|d| d.basis() != qp.as_slice()) {
        return Err(veil_math::MathError::BasisMismatch { left: d.basis().to_vec(), right: qp }.into());
    }
    if key.b.len() < nd || key.a.len() < nd {
        return Err(CkksError::InvalidDnum { dnum: key.b.len(), q_count: params.q().len() });
    }
    // Every coefficient of both is written below.
    let mut out0 = RnsPoly::<Ntt>::for_overwrite(ring, &qp)?;
    let mut out1 = RnsPoly::<Ntt>::for_overwrite(ring, &qp)?;
    out0.data_mut().par_chunks_mut(n).zip(out1.data_mut().par_chunks_mut(n)).enumerate().for_each(|(t, (o0, o1))| {
        let m = ring.modulus(qp[t]);
        let kt = if t <= l { t } else { top + 1 + (t - l - 1) };
        const BLOCK: usize = 256;
        let mut acc0 = [0u128; BLOCK];
        let mut acc1 = [0u128; BLOCK];
        for start in (0..n).step_by(BLOCK) {
            let end = (start + BLOCK).min(n);
            let len = end - start;
            acc0[..len].fill(0);
            acc1[..len].fill(0);
            for j in 0..nd {
                let x = digits.digits[j].limb(t);
                let b = &key.b[j].limb(kt)[start..end];
                let a = &key.a[j].limb(kt)[start..end];
                match perm {
                    None => {
                        let x = &x[start..end];
                        for ((((s0, s1), &xv), &bv), &av) in acc0[..len].iter_mut().zip(acc1[..len].iter_mut()).zip(x).zip(b).zip(a) {
                            *s0 += xv as u128 * bv as u128;
                            *s1 += xv as u128 * av as u128;
                        }
                    }
                    Some(p) => {
                        let p = &p[start..end];
                        for ((((s0, s1), &pi), &bv), &av) in acc0[..len].iter_mut().zip(acc1[..len].iter_mut()).zip(p).zip(b).zip(a) {
                            let xv = x[pi as usize] as u128;
                            *s0 += xv * bv as u128;
                            *s1 += xv * av as u128;
                        }
                    }
                }
                if j % 16 == 15 {
                    for v in acc0[..len].iter_mut().chain(acc1[..len].iter_mut()) {
                        *v = m.reduce_u128(*v) as u128;
                    }
                }
            }
            for (o, &v) in o0[start..end].iter_mut().zip(&acc0[..len]) {
                *o = m.reduce_u128(v);
            }
            for (o, &v) in o1[start..end].iter_mut().zip(&acc1[..len]) {
                *o = m.reduce_u128(v);
            }
        }
    });
    Ok((out0, out1))
}

/// Step 3: `round(x / P)` from `Q_l ∪ P` to `Q_l` (NTT form in and out).
pub fn mod_down(params: &Parameters, x: &RnsPoly<Ntt>, level: Level) -> Result<RnsPoly<Ntt>, CkksError> {
    let ring = params.ring();
    let n = params.n();
    let l = level.0;
    let qp = params.qp_basis(level);
    if x.basis() != qp.as_slice() {
        return Err(veil_math::MathError::BasisMismatch { left: x.basis().to_vec(), right: qp }.into());
    }
    // [x]_P in coefficient form, shifted by ⌊P/2⌋ so that the conversion yields the centred value.
    let mut xp = pool::take_for_overwrite(x.data().len() - (l + 1) * n);
    xp.copy_from_slice(&x.data()[(l + 1) * n..]);
    for (kk, limb) in xp.chunks_exact_mut(n).enumerate() {
        let idx = qp[l + 1 + kk];
        ring.table(idx).inverse(limb);
        let m = ring.modulus(idx);
        let h = params.half_p_mod_p[kk];
        for v in limb.iter_mut() {
            *v = m.add(*v, h);
        }
    }
    let mut conv = pool::take_for_overwrite((l + 1) * n);
    let mut scratch = pool::take_for_overwrite((params.mod_down[l].source().len() + 1) * n);
    params.mod_down[l].convert_exact(n, &xp, &mut conv, &mut scratch);
    pool::give(scratch);
    pool::give(xp);
    let mut out = x.select_limbs(&(0..=l).collect::<Vec<_>>())?;
    out.data_mut().par_chunks_mut(n).zip(conv.par_chunks_mut(n)).enumerate().for_each(|(i, (o, c))| {
        let m = ring.modulus(i);
        let h = params.half_p_mod_q[i];
        for v in c.iter_mut() {
            *v = m.sub(*v, h);
        }
        ring.table(i).forward(c);
        let (w, ws) = params.p_inv[i];
        for (a, &b) in o.iter_mut().zip(c.iter()) {
            *a = m.mul_shoup(m.sub(*a, b), w, ws);
        }
    });
    pool::give(conv);
    Ok(out)
}

/// The whole switch: `(u_0, u_1)` over `Q_l` with `u_0 + u_1·s ≈ d·s'`.
pub fn key_switch(
    params: &Parameters,
    d: &RnsPoly<Ntt>,
    level: Level,
    key: &SwitchingKey,
) -> Result<(RnsPoly<Ntt>, RnsPoly<Ntt>), CkksError> {
    let digits = mod_up(params, d, level)?;
    let (a, b) = inner_product(params, &digits, key, None)?;
    Ok((mod_down(params, &a, level)?, mod_down(params, &b, level)?))
}
