//! The negacyclic NTT over `Z_q[X]/(X^N + 1)`, backed by `tfhe-ntt`'s `prime64::Plan`
//! (AVX2 or AVX-512 kernels where the CPU has them, Shoup butterflies for `q < 2^62`).
//!
//! The forward transform maps `a(X)` to its values `a(ψ^{e_j})` at the odd powers of a
//! primitive `2N`-th root `ψ`, in the order chosen by the kernel; [`NttTable::exponent`] names
//! `e_j` for each output position so that automorphisms `X -> X^k` can be applied directly to
//! evaluation vectors as permutations.

use std::collections::HashMap;

use tfhe_ntt::prime64::Plan;

use crate::{MathError, Modulus};

/// Transform tables for one prime modulus and degree.
pub struct NttTable {
    plan: Plan,
    modulus: Modulus,
    n: usize,
    /// `e_j` (odd, in `[1, 2N)`) for output position `j`.
    exponent: Vec<u32>,
    /// Inverse map: position of exponent `e`, indexed by `(e - 1) / 2`.
    position: Vec<u32>,
}

impl std::fmt::Debug for NttTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NttTable").field("modulus", &self.modulus.value()).field("n", &self.n).finish()
    }
}

impl NttTable {
    /// Plans the transform of size `n` (a power of two, at least 16) modulo the prime `q`.
    pub fn new(n: usize, q: u64) -> Result<Self, MathError> {
        if !n.is_power_of_two() || !(16..=(1 << 17)).contains(&n) {
            return Err(MathError::UnsupportedDegree { degree: n });
        }
        let modulus = Modulus::new(q)?;
        if !crate::prime::is_ntt_friendly(q, n) {
            return Err(MathError::NotNttFriendly { modulus: q, degree: n });
        }
        let plan = Plan::try_new(n, q).ok_or(MathError::NotNttFriendly { modulus: q, degree: n })?;
        // Evaluate X: position j holds ψ^{e_j}; take ψ = value at position 0 (so e_0 = 1).
        let mut x = vec![0u64; n];
        x[1] = 1;
        plan.fwd(&mut x);
        let psi = x[0];
        let mut log = HashMap::with_capacity(n);
        let psi2 = modulus.mul(psi, psi);
        let mut p = psi;
        for i in 0..n {
            log.insert(p, (2 * i + 1) as u32);
            p = modulus.mul(p, psi2);
        }
        let mut exponent = vec![0u32; n];
        let mut position = vec![0u32; n];
        for (j, v) in x.iter().enumerate() {
            let e = *log.get(v).ok_or(MathError::NotNttFriendly { modulus: q, degree: n })?;
            exponent[j] = e;
            position[(e as usize - 1) / 2] = j as u32;
        }
        Ok(Self { plan, modulus, n, exponent, position })
    }

    /// The modulus.
    pub fn modulus(&self) -> &Modulus {
        &self.modulus
    }

    /// Transform size.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Forward transform in place; input and output reduced modulo q.
    #[inline]
    pub fn forward(&self, a: &mut [u64]) {
        self.plan.fwd(a);
    }

    /// Inverse transform in place (including the factor `N^{-1}`); input and output reduced.
    #[inline]
    pub fn inverse(&self, a: &mut [u64]) {
        self.plan.inv(a);
        self.plan.normalize(a);
    }

    /// Exponent `e_j` of the evaluation point at output position `j`.
    pub fn exponent(&self, j: usize) -> u32 {
        self.exponent[j]
    }

    /// The permutation `π` with `NTT(a(X^k))[j] = NTT(a)[π[j]]`, for odd `k`.
    pub fn automorphism_permutation(&self, k: usize) -> Vec<u32> {
        let two_n = 2 * self.n;
        self.exponent
            .iter()
            .map(|&e| {
                let t = (e as usize * k) % two_n;
                self.position[(t - 1) / 2]
            })
            .collect()
    }
}

/// Schoolbook negacyclic product modulo q, the reference for tests.
pub fn negacyclic_schoolbook(m: &Modulus, a: &[u64], b: &[u64]) -> Vec<u64> {
    let n = a.len();
    let mut out = vec![0u64; n];
    for i in 0..n {
        for j in 0..n {
            let p = m.mul(a[i], b[j]);
            if i + j < n {
                out[i + j] = m.add(out[i + j], p);
            } else {
                out[i + j - n] = m.sub(out[i + j - n], p);
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::prime::ntt_primes;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn ntt_product_matches_schoolbook(seed in any::<u64>(), log_n in 4u32..8, bits in prop_oneof![Just(30u32), Just(40), Just(50), Just(60), Just(61)]) {
            let n = 1usize << log_n;
            let q = ntt_primes(bits, n, 1, &[]).unwrap()[0];
            let t = NttTable::new(n, q).unwrap();
            let m = *t.modulus();
            let mut s = seed | 1;
            let mut next = || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; m.reduce(s) };
            let a: Vec<u64> = (0..n).map(|_| next()).collect();
            let b: Vec<u64> = (0..n).map(|_| next()).collect();
            let want = negacyclic_schoolbook(&m, &a, &b);
            let (mut fa, mut fb) = (a.clone(), b.clone());
            t.forward(&mut fa);
            t.forward(&mut fb);
            prop_assert!(fa.iter().all(|&x| x < q));
            let mut prod: Vec<u64> = fa.iter().zip(&fb).map(|(&x, &y)| m.mul(x, y)).collect();
            t.inverse(&mut prod);
            prop_assert_eq!(prod, want);
            t.inverse(&mut fa);
            prop_assert_eq!(fa, a);
        }
    }

    #[test]
    fn known_answer_small() {
        // (1 + X) * X^{15} = X^{15} + X^{16} = X^{15} - 1 in Z_q[X]/(X^16+1).
        let n = 16;
        let q = ntt_primes(30, n, 1, &[]).unwrap()[0];
        let t = NttTable::new(n, q).unwrap();
        let mut a = vec![0u64; n];
        a[0] = 1;
        a[1] = 1;
        let mut b = vec![0u64; n];
        b[15] = 1;
        t.forward(&mut a);
        t.forward(&mut b);
        let mut p: Vec<u64> = a.iter().zip(&b).map(|(&x, &y)| t.modulus().mul(x, y)).collect();
        t.inverse(&mut p);
        let mut want = vec![0u64; n];
        want[0] = q - 1;
        want[15] = 1;
        assert_eq!(p, want);
    }

    #[test]
    fn automorphism_permutation_matches_coefficient_automorphism() {
        let n = 64;
        let q = ntt_primes(50, n, 1, &[]).unwrap()[0];
        let t = NttTable::new(n, q).unwrap();
        let m = *t.modulus();
        let a: Vec<u64> = (0..n as u64).map(|i| m.reduce(i * i * 7919 + 3)).collect();
        for k in [3usize, 5, 25, 2 * n - 1] {
            let mut direct = vec![0u64; n];
            for (i, &c) in a.iter().enumerate() {
                let j = i * k % (2 * n);
                if j < n {
                    direct[j] = c
                } else {
                    direct[j - n] = m.neg(c)
                }
            }
            t.forward(&mut direct);
            let mut fa = a.clone();
            t.forward(&mut fa);
            let perm = t.automorphism_permutation(k);
            let permuted: Vec<u64> = perm.iter().map(|&p| fa[p as usize]).collect();
            assert_eq!(permuted, direct, "k = {k}");
        }
    }
}
