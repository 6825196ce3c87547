//! A minimal unsigned big integer (little-endian 64-bit limbs), enough for exact CRT
//! reconstruction and conversion to floating point. Not constant time: use it only on values
//! that are about to be released (decoded plaintexts), never on secret keys.

use std::cmp::Ordering;

/// Unsigned integer of arbitrary size, little-endian limbs, no trailing zero limbs required.
#[derive(Clone, Debug, Default)]
pub struct BigUint {
    limbs: Vec<u64>,
}

impl BigUint {
    /// The value `v`.
    pub fn from_u64(v: u64) -> Self {
        Self { limbs: vec![v] }
    }

    /// Product of the given words.
    pub fn product(values: &[u64]) -> Self {
        let mut acc = Self::from_u64(1);
        for &v in values {
            acc.mul_u64(v);
        }
        acc
    }

    /// The value of little-endian limbs.
    pub fn from_limbs(limbs: Vec<u64>) -> Self {
        Self { limbs }
    }

    /// Limbs, little-endian.
    pub fn limbs(&self) -> &[u64] {
        &self.limbs
    }

    /// `self *= v`.
    pub fn mul_u64(&mut self, v: u64) {
        let mut carry = 0u128;
        for l in self.limbs.iter_mut() {
            let t = *l as u128 * v as u128 + carry;
            *l = t as u64;
            carry = t >> 64;
        }
        if carry != 0 {
            self.limbs.push(carry as u64);
        }
    }

    /// `self += other`.
    pub fn add_assign(&mut self, other: &Self) {
        add_into(&mut self.limbs, &other.limbs);
    }

    /// `self -= other`; requires `self >= other`.
    pub fn sub_assign(&mut self, other: &Self) {
        sub_into(&mut self.limbs, &other.limbs);
    }

    /// `self >>= 1`.
    pub fn shr1(&mut self) {
        let mut carry = 0;
        for l in self.limbs.iter_mut().rev() {
            let next = *l & 1;
            *l = (*l >> 1) | (carry << 63);
            carry = next;
        }
    }

    /// `self mod m` for a word modulus.
    pub fn rem_u64(&self, m: u64) -> u64 {
        let mut r = 0u128;
        for &l in self.limbs.iter().rev() {
            r = ((r << 64) | l as u128) % m as u128;
        }
        r as u64
    }

    /// Base-2 logarithm (as a float).
    pub fn log2(&self) -> f64 {
        to_f64(&self.limbs).log2()
    }

    /// Nearest `f64`.
    pub fn to_f64(&self) -> f64 {
        to_f64(&self.limbs)
    }
}

impl PartialEq for BigUint {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for BigUint {}

impl PartialOrd for BigUint {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BigUint {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_limbs(&self.limbs, &other.limbs)
    }
}

/// Compares two little-endian limb slices of possibly different lengths.
pub fn cmp_limbs(a: &[u64], b: &[u64]) -> Ordering {
    let n = a.len().max(b.len());
    for i in (0..n).rev() {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        match x.cmp(&y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    Ordering::Equal
}

/// `a += b`, growing `a` as needed.
pub fn add_into(a: &mut Vec<u64>, b: &[u64]) {
    if a.len() < b.len() {
        a.resize(b.len(), 0);
    }
    let mut carry = 0u64;
    for (i, l) in a.iter_mut().enumerate() {
        let y = b.get(i).copied().unwrap_or(0);
        let (s1, c1) = l.overflowing_add(y);
        let (s2, c2) = s1.overflowing_add(carry);
        *l = s2;
        carry = (c1 | c2) as u64;
        if carry == 0 && i >= b.len() {
            break;
        }
    }
    if carry != 0 {
        a.push(carry);
    }
}

/// `a -= b`; requires `a >= b`.
pub fn sub_into(a: &mut [u64], b: &[u64]) {
    let mut borrow = 0u64;
    for (i, l) in a.iter_mut().enumerate() {
        let y = b.get(i).copied().unwrap_or(0);
        let (s1, c1) = l.overflowing_sub(y);
        let (s2, c2) = s1.overflowing_sub(borrow);
        *l = s2;
        borrow = (c1 | c2) as u64;
    }
}

/// Nearest `f64` of a little-endian limb slice.
pub fn to_f64(limbs: &[u64]) -> f64 {
    let mut f = 0.0;
    for &l in limbs.iter().rev() {
        f = f * 18_446_744_073_709_551_616.0 + l as f64;
    }
    f
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arithmetic_matches_u128(a in any::<u64>(), b in any::<u64>(), c in any::<u64>()) {
            let mut x = BigUint::from_u64(a);
            x.mul_u64(b);
            let want = a as u128 * b as u128;
            prop_assert_eq!(x.limbs().first().copied().unwrap_or(0), want as u64);
            prop_assert_eq!(x.rem_u64(c.max(1)), (want % c.max(1) as u128) as u64);
            let y = BigUint::from_u64(c);
            let mut z = x.clone();
            z.add_assign(&y);
            z.sub_assign(&y);
            prop_assert_eq!(&z, &x);
            prop_assert!((to_f64(x.limbs()) - want as f64).abs() <= want as f64 * 2f64.powi(-51));
        }
    }
}
