//! RNS ring elements of `R_Q = Z_Q[X]/(X^N + 1)` with the representation in the type.
//!
//! A [`RingContext`] owns the moduli of a scheme (for CKKS: `q_0 … q_L` then the special primes
//! `p_0 … p_{K-1}`) and their NTT tables. An [`RnsPoly<R>`] holds residues over a *basis*: a
//! list of indices into the context's moduli, limb-major (`limb k` = residues modulo
//! `moduli[basis[k]]`). `R` is [`Coeff`] (coefficients) or [`Ntt`] (evaluations at the odd
//! powers of a `2N`-th root of unity); only `RnsPoly<Ntt>` multiplies, and conversions are
//! explicit ([`RnsPoly::into_ntt`], [`RnsPoly::into_coeff`]). Operations on elements over
//! different bases return [`MathError::BasisMismatch`].

use std::marker::PhantomData;
use std::sync::Arc;

use rayon::prelude::*;
use zeroize::Zeroize;

use crate::{pool, MathError, Modulus, NttTable};

/// Coefficient representation marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coeff;
/// Evaluation (NTT) representation marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ntt;

/// The moduli and NTT tables of one ring dimension.
#[derive(Debug)]
pub struct RingContext {
    n: usize,
    moduli: Vec<Modulus>,
    tables: Vec<NttTable>,
}

impl RingContext {
    /// Builds the context for degree `n` over NTT-friendly primes `moduli` (distinct).
    pub fn new(n: usize, moduli: &[u64]) -> Result<Arc<Self>, MathError> {
        for (i, q) in moduli.iter().enumerate() {
            if moduli[..i].contains(q) {
                return Err(MathError::DuplicateModulus { modulus: *q });
            }
        }
        let tables: Vec<NttTable> = moduli.iter().map(|&q| NttTable::new(n, q)).collect::<Result<_, _>>()?;
        if let Some(first) = tables.first() {
            for t in &tables[1..] {
                if (0..n).any(|j| t.exponent(j) != first.exponent(j)) {
                    return Err(MathError::LayoutMismatch { modulus: t.modulus().value() });
                }
            }
        }
        let moduli = tables.iter().map(|t| *t.modulus()).collect();
        Ok(Arc::new(Self { n, moduli, tables }))
    }

    /// Ring degree N.
    pub fn n(&self) -> usize {
        self.n
    }

    /// All moduli of the context.
    pub fn moduli(&self) -> &[Modulus] {
        &self.moduli
    }

    /// Modulus number `i`.
    pub fn modulus(&self, i: usize) -> &Modulus {
        &self.moduli[i]
    }

    /// NTT table of modulus number `i`.
    pub fn table(&self, i: usize) -> &NttTable {
        &self.tables[i]
    }

    /// `NTT(a(X^k))[j] = NTT(a)[π[j]]`: the permutation applying the automorphism `X -> X^k`
    /// (odd `k`) to evaluation vectors; identical for every modulus of the context.
    pub fn automorphism_permutation(&self, k: usize) -> Vec<u32> {
        match self.tables.first() {
            Some(t) => t.automorphism_permutation(k % (2 * self.n)),
            None => (0..self.n as u32).collect(),
        }
    }

    fn check_basis(&self, basis: &[usize]) -> Result<(), MathError> {
        for (k, &i) in basis.iter().enumerate() {
            if i >= self.moduli.len() {
                return Err(MathError::ModulusIndex { index: i, count: self.moduli.len() });
            }
            if basis[..k].contains(&i) {
                return Err(MathError::DuplicateModulus { modulus: self.moduli[i].value() });
            }
        }
        Ok(())
    }
}

/// An element of `R_Q` in RNS form over a basis of context moduli, representation `R`.
///
/// Large residue buffers come from and go back to [`crate::pool`].
#[derive(PartialEq, Eq)]
pub struct RnsPoly<R> {
    n: usize,
    basis: Vec<usize>,
    data: Vec<u64>,
    _repr: PhantomData<R>,
}

impl<R> std::fmt::Debug for RnsPoly<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Residues are not printed: they may be secret.
        f.debug_struct("RnsPoly").field("n", &self.n).field("basis", &self.basis).finish_non_exhaustive()
    }
}

impl<R> Clone for RnsPoly<R> {
    fn clone(&self) -> Self {
        let mut data = pool::take_for_overwrite(self.data.len());
        data.copy_from_slice(&self.data);
        Self { n: self.n, basis: self.basis.clone(), data, _repr: PhantomData }
    }
}

impl<R> Drop for RnsPoly<R> {
    fn drop(&mut self) {
        pool::give(std::mem::take(&mut self.data));
    }
}

impl<R> Zeroize for RnsPoly<R> {
    fn zeroize(&mut self) {
        self.data.zeroize();
    }
}

impl<R> RnsPoly<R> {
    /// The zero element over `basis`.
    pub fn zero(ctx: &RingContext, basis: &[usize]) -> Result<Self, MathError> {
        ctx.check_basis(basis)?;
        Ok(Self { n: ctx.n, basis: basis.to_vec(), data: pool::take_zeroed(basis.len() * ctx.n), _repr: PhantomData })
    }

    /// An element over `basis` whose residues are unspecified (stale, possibly unreduced): for
    /// a caller that overwrites every limb before any other use.
    pub fn for_overwrite(ctx: &RingContext, basis: &[usize]) -> Result<Self, MathError> {
        ctx.check_basis(basis)?;
        Ok(Self { n: ctx.n, basis: basis.to_vec(), data: pool::take_for_overwrite(basis.len() * ctx.n), _repr: PhantomData })
    }

    /// Wraps limb-major residues after checking the length and that every residue is reduced.
    pub fn from_residues(ctx: &RingContext, basis: &[usize], data: Vec<u64>) -> Result<Self, MathError> {
        ctx.check_basis(basis)?;
        let expected = basis.len() * ctx.n;
        if data.len() != expected {
            return Err(MathError::Length { expected, actual: data.len() });
        }
        for (k, &i) in basis.iter().enumerate() {
            let q = ctx.moduli[i].value();
            if let Some(&v) = data[k * ctx.n..(k + 1) * ctx.n].iter().find(|&&v| v >= q) {
                return Err(MathError::Unreduced { value: v, modulus: q });
            }
        }
        Ok(Self { n: ctx.n, basis: basis.to_vec(), data, _repr: PhantomData })
    }

    /// Ring degree.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Indices (into the context moduli) of the limbs.
    pub fn basis(&self) -> &[usize] {
        &self.basis
    }

    /// Number of limbs.
    pub fn num_limbs(&self) -> usize {
        self.basis.len()
    }

    /// Limb-major residues.
    pub fn data(&self) -> &[u64] {
        &self.data
    }

    /// Mutable limb-major residues (the caller keeps them reduced).
    pub fn data_mut(&mut self) -> &mut [u64] {
        &mut self.data
    }

    /// Residues of limb `k`.
    pub fn limb(&self, k: usize) -> &[u64] {
        &self.data[k * self.n..(k + 1) * self.n]
    }

    /// Mutable residues of limb `k`.
    pub fn limb_mut(&mut self, k: usize) -> &mut [u64] {
        &mut self.data[k * self.n..(k + 1) * self.n]
    }

    fn same_basis(&self, other: &Self) -> Result<(), MathError> {
        if self.basis != other.basis {
            return Err(MathError::BasisMismatch { left: self.basis.clone(), right: other.basis.clone() });
        }
        Ok(())
    }

    /// `self += other`.
    pub fn add_assign(&mut self, ctx: &RingContext, other: &Self) -> Result<(), MathError> {
        self.same_basis(other)?;
        let n = self.n;
        for (k, &i) in self.basis.iter().enumerate() {
            let m = ctx.moduli[i];
            for (a, &b) in self.data[k * n..(k + 1) * n].iter_mut().zip(&other.data[k * n..(k + 1) * n]) {
                *a = m.add(*a, b);
            }
        }
        Ok(())
    }

    /// `self -= other`.
    pub fn sub_assign(&mut self, ctx: &RingContext, other: &Self) -> Result<(), MathError> {
        self.same_basis(other)?;
        let n = self.n;
        for (k, &i) in self.basis.iter().enumerate() {
            let m = ctx.moduli[i];
            for (a, &b) in self.data[k * n..(k + 1) * n].iter_mut().zip(&other.data[k * n..(k + 1) * n]) {
                *a = m.sub(*a, b);
            }
        }
        Ok(())
    }

    /// `self = -self`.
    pub fn neg_assign(&mut self, ctx: &RingContext) {
        let n = self.n;
        for (k, &i) in self.basis.iter().enumerate() {
            let m = ctx.moduli[i];
            for a in self.data[k * n..(k + 1) * n].iter_mut() {
                *a = m.neg(*a);
            }
        }
    }

    /// Multiplies limb `k` by the reduced scalar `scalars[k]` (one residue per limb).
    pub fn mul_scalar_assign(&mut self, ctx: &RingContext, scalars: &[u64]) -> Result<(), MathError> {
        if scalars.len() != self.basis.len() {
            return Err(MathError::Length { expected: self.basis.len(), actual: scalars.len() });
        }
        let n = self.n;
        for (k, &i) in self.basis.iter().enumerate() {
            let m = ctx.moduli[i];
            let w = m.reduce(scalars[k]);
            let ws = m.shoup(w);
            for a in self.data[k * n..(k + 1) * n].iter_mut() {
                *a = m.mul_shoup(*a, w, ws);
            }
        }
        Ok(())
    }

    /// The element restricted to the limbs at positions `positions` (e.g. dropping moduli).
    pub fn select_limbs(&self, positions: &[usize]) -> Result<Self, MathError> {
        let n = self.n;
        let mut basis = Vec::with_capacity(positions.len());
        for &p in positions {
            basis.push(*self.basis.get(p).ok_or(MathError::ModulusIndex { index: p, count: self.basis.len() })?);
        }
        let mut data = pool::take_for_overwrite(positions.len() * n);
        for (dst, &p) in data.chunks_exact_mut(n).zip(positions) {
            dst.copy_from_slice(self.limb(p));
        }
        Ok(Self { n, basis, data, _repr: PhantomData })
    }

    /// Drops the last `count` limbs in place.
    pub fn truncate_limbs(&mut self, keep: usize) {
        let keep = keep.min(self.basis.len());
        self.basis.truncate(keep);
        self.data.truncate(keep * self.n);
    }
}

impl RnsPoly<Coeff> {
    /// The element whose coefficients are the signed integers `coeffs` (|c| < 2^63).
    pub fn from_signed(ctx: &RingContext, basis: &[usize], coeffs: &[i64]) -> Result<Self, MathError> {
        let mut p = Self::zero(ctx, basis)?;
        if coeffs.len() != ctx.n {
            return Err(MathError::Length { expected: ctx.n, actual: coeffs.len() });
        }
        let n = ctx.n;
        // Errors and secrets are far below every modulus: then `c mod q` is `c` or `q + c`,
        // selected by the sign mask without a division. The bound is an OR over all
        // coefficients, so the choice reveals only that they are small.
        let bits = coeffs.iter().fold(0u64, |acc, &c| acc | c.unsigned_abs());
        let small = basis.iter().all(|&i| bits < ctx.moduli[i].value());
        for (k, &i) in basis.iter().enumerate() {
            let m = ctx.moduli[i];
            let q = m.value();
            let limb = &mut p.data[k * n..(k + 1) * n];
            if small {
                for (a, &c) in limb.iter_mut().zip(coeffs) {
                    *a = (c as u64).wrapping_add(q & ((c >> 63) as u64));
                }
            } else {
                for (a, &c) in limb.iter_mut().zip(coeffs) {
                    *a = m.from_i64(c);
                }
            }
        }
        Ok(p)
    }

    /// Forward NTT of every limb (limbs in parallel on the current rayon pool).
    pub fn into_ntt(mut self, ctx: &RingContext) -> RnsPoly<Ntt> {
        let n = self.n;
        self.data.par_chunks_mut(n).zip(self.basis.par_iter()).for_each(|(l, &i)| ctx.tables[i].forward(l));
        RnsPoly { n, basis: std::mem::take(&mut self.basis), data: std::mem::take(&mut self.data), _repr: PhantomData }
    }

    /// The automorphism `a(X) -> a(X^k)` for odd `k`.
    pub fn automorphism(&self, ctx: &RingContext, k: usize) -> Self {
        let n = self.n;
        let two_n = 2 * n;
        let mut out = self.clone();
        for (l, &i) in self.basis.iter().enumerate() {
            let m = ctx.moduli[i];
            let src = &self.data[l * n..(l + 1) * n];
            let dst = &mut out.data[l * n..(l + 1) * n];
            for (c, &v) in src.iter().enumerate() {
                let j = c * k % two_n;
                if j < n {
                    dst[j] = v;
                } else {
                    dst[j - n] = m.neg(v);
                }
            }
        }
        out
    }
}

impl RnsPoly<Ntt> {
    /// Inverse NTT of every limb.
    pub fn into_coeff(mut self, ctx: &RingContext) -> RnsPoly<Coeff> {
        let n = self.n;
        self.data.par_chunks_mut(n).zip(self.basis.par_iter()).for_each(|(l, &i)| ctx.tables[i].inverse(l));
        RnsPoly { n, basis: std::mem::take(&mut self.basis), data: std::mem::take(&mut self.data), _repr: PhantomData }
    }

    /// `self *= other` (pointwise, i.e. the negacyclic product).
    pub fn mul_assign(&mut self, ctx: &RingContext, other: &Self) -> Result<(), MathError> {
        self.same_basis(other)?;
        let n = self.n;
        for (k, &i) in self.basis.iter().enumerate() {
            let m = ctx.moduli[i];
            for (a, &b) in self.data[k * n..(k + 1) * n].iter_mut().zip(&other.data[k * n..(k + 1) * n]) {
                *a = m.mul(*a, b);
            }
        }
        Ok(())
    }

    /// `self += a * b`.
    pub fn mul_add_assign(&mut self, ctx: &RingContext, a: &Self, b: &Self) -> Result<(), MathError> {
        self.same_basis(a)?;
        self.same_basis(b)?;
        let n = self.n;
        for (k, &i) in self.basis.iter().enumerate() {
            let m = ctx.moduli[i];
            let r = k * n..(k + 1) * n;
            for ((d, &x), &y) in self.data[r.clone()].iter_mut().zip(&a.data[r.clone()]).zip(&b.data[r]) {
                *d = m.reduce_u128(x as u128 * y as u128 + *d as u128);
            }
        }
        Ok(())
    }

    /// Applies the automorphism `X -> X^k` given its permutation
    /// ([`RingContext::automorphism_permutation`]).
    pub fn permute(&self, perm: &[u32]) -> Result<Self, MathError> {
        if perm.len() != self.n {
            return Err(MathError::Length { expected: self.n, actual: perm.len() });
        }
        let n = self.n;
        let mut data = pool::take_for_overwrite(self.data.len());
        for (dst, src) in data.chunks_exact_mut(n).zip(self.data.chunks_exact(n)) {
            for (d, &p) in dst.iter_mut().zip(perm) {
                *d = src[p as usize];
            }
        }
        Ok(Self { n, basis: self.basis.clone(), data, _repr: PhantomData })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ntt::negacyclic_schoolbook;
    use crate::prime::ntt_primes;

    #[test]
    fn from_signed_reduces_small_and_large_coefficients() {
        let n = 16;
        let qs = ntt_primes(45, n, 2, &[]).unwrap();
        let ctx = RingContext::new(n, &qs).unwrap();
        let small: Vec<i64> = (0..n as i64).map(|i| i * 3 - 20).collect();
        let large: Vec<i64> = (0..n as i64).map(|i| if i == 0 { i64::MIN } else { (i << 58) - (i << 40) }).collect();
        for coeffs in [small, large] {
            let p = RnsPoly::from_signed(&ctx, &[0, 1], &coeffs).unwrap();
            for k in 0..2 {
                let m = ctx.modulus(k);
                let want: Vec<u64> = coeffs.iter().map(|&c| m.from_i64(c)).collect();
                assert_eq!(p.limb(k), &want[..]);
            }
        }
    }

    #[test]
    fn rns_product_and_automorphism_agree_across_representations() {
        let n = 32;
        let qs = ntt_primes(45, n, 3, &[]).unwrap();
        let ctx = RingContext::new(n, &qs).unwrap();
        let a: Vec<i64> = (0..n as i64).map(|i| i * 37 - 500).collect();
        let b: Vec<i64> = (0..n as i64).map(|i| 3 - i * i).collect();
        let pa = RnsPoly::from_signed(&ctx, &[0, 1, 2], &a).unwrap();
        let pb = RnsPoly::from_signed(&ctx, &[0, 1, 2], &b).unwrap();
        let mut prod = pa.clone().into_ntt(&ctx);
        prod.mul_assign(&ctx, &pb.clone().into_ntt(&ctx)).unwrap();
        let prod = prod.into_coeff(&ctx);
        for k in 0..3 {
            let want = negacyclic_schoolbook(ctx.modulus(k), pa.limb(k), pb.limb(k));
            assert_eq!(prod.limb(k), &want[..]);
        }
        let perm = ctx.automorphism_permutation(5);
        let via_ntt = pa.clone().into_ntt(&ctx).permute(&perm).unwrap().into_coeff(&ctx);
        assert_eq!(via_ntt, pa.automorphism(&ctx, 5));
        let other = RnsPoly::<Coeff>::zero(&ctx, &[0, 1]).unwrap();
        let mut x = pa.clone();
        assert!(matches!(x.add_assign(&ctx, &other), Err(MathError::BasisMismatch { .. })));
        assert!(RnsPoly::<Coeff>::from_residues(&ctx, &[0], vec![qs[0]; n]).is_err());
    }
}
