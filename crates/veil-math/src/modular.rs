//! Word-size modular arithmetic.
//!
//! A [`Modulus`] `q < 2^62` carries `floor(2^128 / q)` for Barrett reduction of any 128-bit
//! value below `2^126`, and offers Shoup multiplication by a constant `w` with the precomputed
//! `w' = floor(w * 2^64 / q)`. All operations are branch-free on their operands (conditional
//! subtraction is done with masks), so they may process secret residues.

use crate::MathError;

/// An odd modulus `3 <= q < 2^62` with its Barrett constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Modulus {
    q: u64,
    /// floor(2^128 / q): (low word, high word).
    ratio: (u64, u64),
}

/// Subtracts `q` from `x` when `x >= q`, without branching (requires `x < 2q`).
#[inline(always)]
pub fn reduce_once(x: u64, q: u64) -> u64 {
    let y = x.wrapping_sub(q);
    // If x < q, y wrapped and its top bit is set (q < 2^62 keeps x - q >= -2^62).
    let mask = 0u64.wrapping_sub(y >> 63);
    y.wrapping_add(q & mask)
}

impl Modulus {
    /// Wraps `q` after checking that it is odd and in `[3, 2^62)`.
    pub fn new(q: u64) -> Result<Self, MathError> {
        if !(3..1 << 62).contains(&q) || q % 2 == 0 {
            return Err(MathError::UnsupportedModulus { modulus: q });
        }
        let r = u128::MAX / q as u128; // floor((2^128 - 1)/q) == floor(2^128/q) for odd q
        Ok(Self { q, ratio: (r as u64, (r >> 64) as u64) })
    }

    /// The modulus value.
    #[inline(always)]
    pub fn value(&self) -> u64 {
        self.q
    }

    /// Bit length of q.
    pub fn bits(&self) -> u32 {
        64 - self.q.leading_zeros()
    }

    /// `x mod q` for any `x < 2^126` (Barrett).
    #[inline(always)]
    pub fn reduce_u128(&self, x: u128) -> u64 {
        let (x_lo, x_hi) = (x as u64, (x >> 64) as u64);
        let (r_lo, r_hi) = self.ratio;
        // Estimate floor(x * ratio / 2^128), off by at most 2 below the true quotient.
        let carry = ((x_lo as u128 * r_lo as u128) >> 64) as u64;
        let t = x_lo as u128 * r_hi as u128 + carry as u128;
        let t2 = x_hi as u128 * r_lo as u128 + (t as u64) as u128;
        let quot = (x_hi as u128 * r_hi as u128 + (t >> 64) + (t2 >> 64)) as u64;
        let r = x_lo.wrapping_sub(quot.wrapping_mul(self.q));
        reduce_once(reduce_once(r, 2 * self.q), self.q)
    }

    /// `x mod q` for a full 64-bit `x` (one high multiplication by `floor(2^64/q)`).
    #[inline(always)]
    pub fn reduce(&self, x: u64) -> u64 {
        // ratio.1 = floor(2^128/q) >> 64 = floor(2^64/q); the estimate is short by at most 2.
        let quot = ((x as u128 * self.ratio.1 as u128) >> 64) as u64;
        let r = x.wrapping_sub(quot.wrapping_mul(self.q));
        reduce_once(reduce_once(r, 2 * self.q), self.q)
    }

    /// `a + b mod q` for reduced `a, b`.
    #[inline(always)]
    pub fn add(&self, a: u64, b: u64) -> u64 {
        reduce_once(a + b, self.q)
    }

    /// `a - b mod q` for reduced `a, b`.
    #[inline(always)]
    pub fn sub(&self, a: u64, b: u64) -> u64 {
        reduce_once(a + self.q - b, self.q)
    }

    /// `-a mod q` for reduced `a`.
    #[inline(always)]
    pub fn neg(&self, a: u64) -> u64 {
        reduce_once(self.q - a, self.q)
    }

    /// `a * b mod q` for reduced `a, b` (Barrett).
    #[inline(always)]
    pub fn mul(&self, a: u64, b: u64) -> u64 {
        self.reduce_u128(a as u128 * b as u128)
    }

    /// The Shoup companion `floor(w * 2^64 / q)` of a reduced constant `w`.
    #[inline]
    pub fn shoup(&self, w: u64) -> u64 {
        (((w as u128) << 64) / self.q as u128) as u64
    }

    /// `a * w mod q` with `w_shoup = self.shoup(w)`; `a` may be any value below `2^64`.
    #[inline(always)]
    pub fn mul_shoup(&self, a: u64, w: u64, w_shoup: u64) -> u64 {
        let quot = ((a as u128 * w_shoup as u128) >> 64) as u64;
        let r = a.wrapping_mul(w).wrapping_sub(quot.wrapping_mul(self.q));
        reduce_once(r, self.q)
    }

    /// `a^e mod q` (square and multiply; the exponent is public).
    pub fn pow(&self, a: u64, mut e: u64) -> u64 {
        let mut base = self.reduce(a);
        let mut acc = 1 % self.q;
        while e > 0 {
            if e & 1 == 1 {
                acc = self.mul(acc, base);
            }
            base = self.mul(base, base);
            e >>= 1;
        }
        acc
    }

    /// The inverse of `a` modulo q (extended Euclid; `a` is public).
    pub fn inv(&self, a: u64) -> Result<u64, MathError> {
        let a = self.reduce(a);
        let (mut r0, mut r1) = (self.q as i128, a as i128);
        let (mut t0, mut t1) = (0i128, 1i128);
        while r1 != 0 {
            let k = r0 / r1;
            (r0, r1) = (r1, r0 - k * r1);
            (t0, t1) = (t1, t0 - k * t1);
        }
        if r0 != 1 {
            return Err(MathError::NotInvertible { value: a, modulus: self.q });
        }
        Ok(t0.rem_euclid(self.q as i128) as u64)
    }

    /// Maps a signed value `|v| < q` to its residue, branch-free.
    #[inline(always)]
    pub fn from_small_signed(&self, v: i64) -> u64 {
        let mask = (v >> 63) as u64;
        (v as u64).wrapping_add(self.q & mask)
    }

    /// Maps any signed 64-bit value to its residue.
    #[inline(always)]
    pub fn from_i64(&self, v: i64) -> u64 {
        let r = self.reduce(v.unsigned_abs());
        let mask = (v >> 63) as u64;
        // r if v >= 0, (q - r) mod q otherwise.
        let neg = self.neg(r);
        (r & !mask) | (neg & mask)
    }

    /// The centred representative of a reduced residue, in `(-q/2, q/2]`.
    #[inline(always)]
    pub fn center(&self, a: u64) -> i64 {
        if a > self.q / 2 {
            a as i64 - self.q as i64
        } else {
            a as i64
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn moduli() -> impl Strategy<Value = u64> {
        prop_oneof![Just(3u64), Just((1u64 << 62) - 57), Just(1_152_921_504_606_584_833), (1u64..(1 << 61)).prop_map(|x| 2 * x + 1)]
    }

    proptest! {
        #[test]
        fn barrett_matches_u128_remainder(q in moduli(), x in 0u128..(1u128 << 126)) {
            let m = Modulus::new(q).unwrap();
            prop_assert_eq!(m.reduce_u128(x) as u128, x % q as u128);
            prop_assert_eq!(m.reduce(x as u64), (x as u64) % q);
            prop_assert_eq!(m.reduce(u64::MAX - (x as u64 & 0xffff)), (u64::MAX - (x as u64 & 0xffff)) % q);
        }

        #[test]
        fn ring_laws(q in moduli(), a in any::<u64>(), b in any::<u64>(), c in any::<u64>()) {
            let m = Modulus::new(q).unwrap();
            let (a, b, c) = (a % q, b % q, c % q);
            prop_assert_eq!(m.add(a, b), ((a as u128 + b as u128) % q as u128) as u64);
            prop_assert_eq!(m.sub(m.add(a, b), b), a);
            prop_assert_eq!(m.add(a, m.neg(a)), 0);
            prop_assert_eq!(m.mul(a, b), ((a as u128 * b as u128) % q as u128) as u64);
            prop_assert_eq!(m.mul(a, m.add(b, c)), m.add(m.mul(a, b), m.mul(a, c)));
            prop_assert_eq!(m.mul_shoup(a, b, m.shoup(b)), m.mul(a, b));
        }

        #[test]
        fn inverse_and_signed(q in moduli(), a in any::<u64>(), v in any::<i64>()) {
            let m = Modulus::new(q).unwrap();
            let a = a % q;
            if let Ok(ai) = m.inv(a) { prop_assert_eq!(m.mul(a, ai), 1 % q); }
            prop_assert_eq!(m.from_i64(v) as i128, (v as i128).rem_euclid(q as i128));
            let small = v % (q as i64 / 2).max(1);
            prop_assert_eq!(m.from_small_signed(small), m.from_i64(small));
            prop_assert_eq!(m.center(m.from_i64(small)), small);
        }
    }

    #[test]
    fn rejects_bad_moduli() {
        for q in [0, 1, 2, 4, 1 << 62, u64::MAX] {
            assert!(Modulus::new(q).is_err(), "{q}");
        }
    }
}
