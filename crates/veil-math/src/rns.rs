//! Residue number system: bases, exact CRT reconstruction and fast base conversion.
//!
//! For a basis `Q = q_0 ⋯ q_{k-1}` an integer `x mod Q` is held as its residues `x_i = x mod q_i`.
//! CRT: `x = Σ_i [x_i · Q̂_i^{-1}]_{q_i} · Q̂_i mod Q` with `Q̂_i = Q / q_i`.
//! Fast base conversion to another basis `B` computes `Σ_i [x_i · Q̂_i^{-1}]_{q_i} · Q̂_i mod b_j`,
//! which equals `x + u·Q` for some `0 <= u < k` (Halevi-Polyakov-Shoup, Bajard et al.); the
//! schemes above account for the small multiple `u·Q`. [`BaseConverter::convert_exact`] removes
//! it: with `y_i = [x_i · Q̂_i^{-1}]_{q_i}`, `u = ⌊Σ_i y_i / q_i⌋` (Halevi–Polyakov–Shoup), computed
//! in `f64`, so the result is `x` itself except when `Σ_i y_i / q_i` lies within about
//! `k·2^{-52}` of an integer, where it may still be `x ± Q` (the fast conversion's error).

use crate::bigint::{self, BigUint};
use crate::{MathError, Modulus};

/// A basis of pairwise distinct word-size prime moduli, with CRT constants.
#[derive(Clone, Debug)]
pub struct RnsBasis {
    moduli: Vec<Modulus>,
    product: BigUint,
    half_product: BigUint,
    q_hat: Vec<BigUint>,
    q_hat_inv: Vec<u64>,
    q_hat_inv_shoup: Vec<u64>,
}

impl RnsBasis {
    /// Builds the basis; moduli must be distinct primes (distinctness is checked; coprimality
    /// of distinct primes is then implied).
    pub fn new(moduli: &[Modulus]) -> Result<Self, MathError> {
        for (i, a) in moduli.iter().enumerate() {
            if moduli[..i].iter().any(|b| b.value() == a.value()) {
                return Err(MathError::DuplicateModulus { modulus: a.value() });
            }
        }
        let values: Vec<u64> = moduli.iter().map(Modulus::value).collect();
        let product = BigUint::product(&values);
        let mut half_product = product.clone();
        half_product.shr1();
        let mut q_hat = Vec::with_capacity(moduli.len());
        let mut q_hat_inv = Vec::with_capacity(moduli.len());
        let mut q_hat_inv_shoup = Vec::with_capacity(moduli.len());
        for (i, m) in moduli.iter().enumerate() {
            let others: Vec<u64> = values.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, v)| *v).collect();
            let hat = BigUint::product(&others);
            let inv = m.inv(hat.rem_u64(m.value()))?;
            q_hat.push(hat);
            q_hat_inv.push(inv);
            q_hat_inv_shoup.push(m.shoup(inv));
        }
        Ok(Self { moduli: moduli.to_vec(), product, half_product, q_hat, q_hat_inv, q_hat_inv_shoup })
    }

    /// The moduli.
    pub fn moduli(&self) -> &[Modulus] {
        &self.moduli
    }

    /// Number of moduli.
    pub fn len(&self) -> usize {
        self.moduli.len()
    }

    /// Whether the basis is empty.
    pub fn is_empty(&self) -> bool {
        self.moduli.is_empty()
    }

    /// The product `Q` of the moduli.
    pub fn product(&self) -> &BigUint {
        &self.product
    }

    /// Exact CRT reconstruction of `x ∈ [0, Q)` from its residues.
    pub fn reconstruct(&self, residues: &[u64]) -> BigUint {
        let mut acc = Vec::with_capacity(self.product.limbs().len() + 2);
        self.reconstruct_into(residues, &mut acc);
        BigUint::from_limbs(acc)
    }

    fn reconstruct_into(&self, residues: &[u64], acc: &mut Vec<u64>) {
        acc.clear();
        acc.resize(self.product.limbs().len() + 2, 0);
        for (i, m) in self.moduli.iter().enumerate() {
            let y = m.mul_shoup(residues[i], self.q_hat_inv[i], self.q_hat_inv_shoup[i]);
            // acc += Q̂_i · y, in place (acc has room for the carry).
            let mut carry = 0u128;
            for (k, &h) in self.q_hat[i].limbs().iter().enumerate() {
                let t = acc[k] as u128 + h as u128 * y as u128 + carry;
                acc[k] = t as u64;
                carry = t >> 64;
            }
            let mut k = self.q_hat[i].limbs().len();
            while carry != 0 && k < acc.len() {
                let t = acc[k] as u128 + carry;
                acc[k] = t as u64;
                carry = t >> 64;
                k += 1;
            }
        }
        while bigint::cmp_limbs(acc, self.product.limbs()) != std::cmp::Ordering::Less {
            bigint::sub_into(acc, self.product.limbs());
        }
    }

    /// The centred value `x ∈ (-Q/2, Q/2]` of the residues, rounded to `f64`.
    pub fn reconstruct_centered_f64(&self, residues: &[u64], scratch: &mut Vec<u64>) -> f64 {
        if self.moduli.len() == 1 {
            return self.moduli[0].center(residues[0]) as f64;
        }
        self.reconstruct_into(residues, scratch);
        if bigint::cmp_limbs(scratch, self.half_product.limbs()) == std::cmp::Ordering::Greater {
            // Q - x, in place: x - Q wraps to the two's complement of Q - x; negate it.
            bigint::sub_into(scratch, self.product.limbs());
            let mut borrow = 1u64;
            for l in scratch.iter_mut() {
                let (v, b) = (!*l).overflowing_add(borrow);
                *l = v;
                borrow = b as u64;
            }
            -bigint::to_f64(scratch)
        } else {
            bigint::to_f64(scratch)
        }
    }
}

/// Fast base conversion from a source basis to target moduli (see the module docs).
#[derive(Clone, Debug)]
pub struct BaseConverter {
    src: Vec<Modulus>,
    dst: Vec<Modulus>,
    hat_inv: Vec<u64>,
    hat_inv_shoup: Vec<u64>,
    /// `Q̂_i mod b_j`, row-major by target `j`.
    hat_mod_dst: Vec<u64>,
    /// Shoup companions of `hat_mod_dst`.
    hat_mod_dst_shoup: Vec<u64>,
    /// `Q mod b_j`.
    q_mod_dst: Vec<u64>,
    /// `1 / q_i` in `f64`.
    inv_src: Vec<f64>,
}

impl BaseConverter {
    /// Prepares the conversion from `src` to `dst` (the two may not share a modulus).
    pub fn new(src: &[Modulus], dst: &[Modulus]) -> Result<Self, MathError> {
        let basis = RnsBasis::new(src)?;
        let mut hat_mod_dst = Vec::with_capacity(src.len() * dst.len());
        for b in dst {
            for hat in &basis.q_hat {
                hat_mod_dst.push(hat.rem_u64(b.value()));
            }
        }
        Ok(Self {
            src: src.to_vec(),
            dst: dst.to_vec(),
            hat_inv: basis.q_hat_inv.clone(),
            hat_inv_shoup: basis.q_hat_inv_shoup.clone(),
            hat_mod_dst_shoup: dst
                .iter()
                .enumerate()
                .flat_map(|(j, b)| hat_mod_dst[j * src.len()..(j + 1) * src.len()].iter().map(move |&h| b.shoup(h)))
                .collect(),
            hat_mod_dst,
            q_mod_dst: dst.iter().map(|b| basis.product().rem_u64(b.value())).collect(),
            inv_src: src.iter().map(|m| 1.0 / m.value() as f64).collect(),
        })
    }

    /// Source moduli.
    pub fn source(&self) -> &[Modulus] {
        &self.src
    }

    /// Target moduli.
    pub fn target(&self) -> &[Modulus] {
        &self.dst
    }

    /// Converts limb-major residues `input` (`src.len()` limbs of `n` coefficients) into
    /// `output` (`dst.len()` limbs of `n`), each output equal to `x + u·Q mod b_j`, `0 <= u < k`.
    /// `scratch` is resized to `src.len() * n`.
    pub fn convert(&self, n: usize, input: &[u64], output: &mut [u64], scratch: &mut Vec<u64>) {
        self.convert_inner::<false>(n, input, output, scratch);
    }

    /// As [`BaseConverter::convert`], but each output is `x mod b_j` for `x ∈ [0, Q)` (up to the
    /// rare `f64` tie described in the module docs): the multiple `u·Q` is computed and removed.
    /// Key switching and public-key encryption use it when dividing by a special modulus `P`
    /// of several primes, where `u` would otherwise add up to `k − 1` to every coefficient.
    pub fn convert_exact(&self, n: usize, input: &[u64], output: &mut [u64], scratch: &mut Vec<u64>) {
        self.convert_inner::<true>(n, input, output, scratch);
    }

    fn convert_inner<const EXACT: bool>(&self, n: usize, input: &[u64], output: &mut [u64], scratch: &mut Vec<u64>) {
        let k = self.src.len();
        // scratch: y_i = [x_i · Q̂_i^{-1}]_{q_i} (k limbs), then, when EXACT, u = ⌊Σ_i y_i / q_i⌋.
        scratch.resize((k + 1) * n, 0);
        let (ys, us) = scratch.split_at_mut(k * n);
        for i in 0..k {
            let m = &self.src[i];
            let (w, ws) = (self.hat_inv[i], self.hat_inv_shoup[i]);
            for (y, &x) in ys[i * n..(i + 1) * n].iter_mut().zip(&input[i * n..(i + 1) * n]) {
                *y = m.mul_shoup(x, w, ws);
            }
        }
        let exact = EXACT && k > 1;
        if exact {
            for (c, u) in us[..n].iter_mut().enumerate() {
                let mut f = 0.0f64;
                for (i, &inv) in self.inv_src.iter().enumerate() {
                    f += ys[i * n + c] as f64 * inv;
                }
                *u = f as u64;
            }
        }
        for (j, b) in self.dst.iter().enumerate() {
            let row = &self.hat_mod_dst[j * k..(j + 1) * k];
            let out = &mut output[j * n..(j + 1) * n];
            if k == 1 {
                // Single source modulus: x mod b_j (Q̂_0 = 1), already exact.
                for (o, &y) in out.iter_mut().zip(&ys[..n]) {
                    *o = b.reduce(y);
                }
                continue;
            }
            // −Q mod b_j: adding u·(−Q) removes the multiple u·Q (u < k, so the term is small).
            let neg_q = b.neg(self.q_mod_dst[j]);
            if k <= 3 {
                // k Shoup products below b_j plus u·(−Q mod b_j) < k·b_j: at most 2k·2^61 < 2^64.
                let row_shoup = &self.hat_mod_dst_shoup[j * k..(j + 1) * k];
                for (c, o) in out.iter_mut().enumerate() {
                    let mut acc = if exact { us[c] * neg_q } else { 0 };
                    for i in 0..k {
                        acc += b.mul_shoup(ys[i * n + c], row[i], row_shoup[i]);
                    }
                    *o = b.reduce(acc);
                }
                continue;
            }
            for (c, o) in out.iter_mut().enumerate() {
                let mut acc = if exact { us[c] as u128 * neg_q as u128 } else { 0 };
                for (i, &h) in row.iter().enumerate() {
                    acc += ys[i * n + c] as u128 * h as u128;
                    if i % 15 == 14 {
                        acc = b.reduce_u128(acc) as u128;
                    }
                }
                *o = b.reduce_u128(acc);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::prime::ntt_primes;
    use proptest::prelude::*;

    fn basis(k: usize) -> Vec<Modulus> {
        ntt_primes(50, 16, k, &[]).unwrap().into_iter().map(|q| Modulus::new(q).unwrap()).collect()
    }

    proptest! {
        #[test]
        fn crt_reconstructs_exactly(a in any::<u64>(), b in any::<u64>(), c in any::<u64>()) {
            let ms = basis(3);
            let rb = RnsBasis::new(&ms).unwrap();
            // x = a * 2^64 + b (+ c*2^128 reduced by staying below Q ~ 2^150)
            let mut x = BigUint::from_u64(c >> 45);
            x.mul_u64(1 << 32); x.mul_u64(1 << 32);
            x.add_assign(&BigUint::from_u64(a));
            x.mul_u64(1 << 32); x.mul_u64(1 << 32);
            x.add_assign(&BigUint::from_u64(b));
            let res: Vec<u64> = ms.iter().map(|m| x.rem_u64(m.value())).collect();
            prop_assert_eq!(rb.reconstruct(&res), x);
        }

        #[test]
        fn centered_and_base_conversion(v in -(1i64 << 62)..(1i64 << 62)) {
            let ms = basis(4);
            let (src, dst) = (&ms[..2], &ms[2..]);
            let rb = RnsBasis::new(src).unwrap();
            let res: Vec<u64> = src.iter().map(|m| m.from_i64(v)).collect();
            let mut scratch = Vec::new();
            prop_assert_eq!(rb.reconstruct_centered_f64(&res, &mut scratch), v as f64);
            let conv = BaseConverter::new(src, dst).unwrap();
            let mut out = vec![0u64; 2];
            conv.convert(1, &res, &mut out, &mut scratch);
            let q = rb.product().clone();
            let x = rb.reconstruct(&res);
            // out_j = x + u*Q mod b_j for some u in {0, 1}.
            let ok = (0..2u64).any(|u| {
                let mut y = x.clone();
                let mut uq = q.clone(); uq.mul_u64(u);
                y.add_assign(&uq);
                dst.iter().zip(&out).all(|(m, &o)| y.rem_u64(m.value()) == o)
            });
            prop_assert!(ok);
            conv.convert_exact(1, &res, &mut out, &mut scratch);
            prop_assert!(dst.iter().zip(&out).all(|(m, &o)| x.rem_u64(m.value()) == o));
        }
    }

    #[test]
    fn duplicate_moduli_are_refused() {
        let ms = basis(2);
        assert!(matches!(RnsBasis::new(&[ms[0], ms[1], ms[0]]), Err(MathError::DuplicateModulus { .. })));
    }
}
