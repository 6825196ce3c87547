//! Primality and NTT-friendly prime generation.

use crate::{MathError, Modulus};

fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
    (a as u128 * b as u128 % m as u128) as u64
}

fn pow_mod(mut a: u64, mut e: u64, m: u64) -> u64 {
    let mut acc = 1 % m;
    a %= m;
    while e > 0 {
        if e & 1 == 1 {
            acc = mul_mod(acc, a, m);
        }
        a = mul_mod(a, a, m);
        e >>= 1;
    }
    acc
}

/// Deterministic Miller-Rabin for all `u64` (the first twelve prime bases suffice below 2^64).
pub fn is_prime(n: u64) -> bool {
    const BASES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    if n < 2 {
        return false;
    }
    for p in BASES {
        if n % p == 0 {
            return n == p;
        }
    }
    let s = (n - 1).trailing_zeros();
    let d = (n - 1) >> s;
    'witness: for a in BASES {
        let mut x = pow_mod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mul_mod(x, x, n);
            if x == n - 1 {
                continue 'witness;
            }
        }
        return false;
    }
    true
}

/// Whether `q` is a prime with `q ≡ 1 (mod 2n)`, i.e. admits a negacyclic NTT of size `n`.
pub fn is_ntt_friendly(q: u64, n: usize) -> bool {
    q % (2 * n as u64) == 1 && is_prime(q)
}

/// The largest `count` primes of exactly `bits` bits with `q ≡ 1 (mod 2n)`, skipping those in
/// `exclude`, in decreasing order. `bits` must be in `[20, 62]`.
pub fn ntt_primes(bits: u32, n: usize, count: usize, exclude: &[u64]) -> Result<Vec<u64>, MathError> {
    let err = MathError::NotEnoughPrimes { bits, count, degree: n };
    if !(20..=62).contains(&bits) || !n.is_power_of_two() {
        return Err(err);
    }
    let step = 2 * n as u64;
    let lower = 1u64 << (bits - 1);
    // Largest candidate below 2^bits that is 1 mod 2n.
    let mut cand = ((1u64 << bits) - 1) / step * step + 1;
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        if cand < lower || cand < step {
            return Err(err);
        }
        if is_prime(cand) && !exclude.contains(&cand) && cand < (1 << 62) {
            out.push(cand);
        }
        cand -= step;
    }
    Ok(out)
}

/// A primitive `order`-th root of unity modulo the prime `q` (`order` a power of two dividing
/// `q - 1`), chosen deterministically (the smallest generator-derived one).
pub fn primitive_root_of_unity(q: u64, order: u64) -> Result<u64, MathError> {
    let m = Modulus::new(q)?;
    if order == 0 || !order.is_power_of_two() || (q - 1) % order != 0 {
        return Err(MathError::NotNttFriendly { modulus: q, degree: (order / 2) as usize });
    }
    for g in 2..q.min(1 << 20) {
        let r = m.pow(g, (q - 1) / order);
        if order == 1 || m.pow(r, order / 2) == q - 1 {
            return Ok(r);
        }
    }
    Err(MathError::NotNttFriendly { modulus: q, degree: (order / 2) as usize })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn trial_division(n: u64) -> bool {
        if n < 2 {
            return false;
        }
        let mut d = 2;
        while d * d <= n {
            if n % d == 0 {
                return false;
            }
            d += 1;
        }
        true
    }

    #[test]
    fn known_primes_and_composites() {
        assert!(is_prime(2) && is_prime(3) && is_prime((1 << 61) - 1));
        // Strong pseudoprimes to several bases.
        for c in [2047u64, 3_215_031_751, 3_825_123_056_546_413_051] {
            assert!(!is_prime(c) || trial_division(c), "{c}");
        }
        assert!(!is_prime(3_825_123_056_546_413_051));
        assert!(!is_prime(u64::MAX));
    }

    proptest! {
        #[test]
        fn miller_rabin_agrees_with_trial_division(n in 0u64..2_000_000) {
            prop_assert_eq!(is_prime(n), trial_division(n));
        }
    }

    #[test]
    fn ntt_primes_have_the_requested_shape() {
        let ps = ntt_primes(40, 1 << 14, 6, &[]).unwrap();
        assert_eq!(ps.len(), 6);
        for w in ps.windows(2) {
            assert!(w[0] > w[1]);
        }
        for &p in &ps {
            assert_eq!(64 - p.leading_zeros(), 40);
            assert!(is_ntt_friendly(p, 1 << 14));
        }
        let more = ntt_primes(40, 1 << 14, 2, &ps[..3]).unwrap();
        assert_eq!(more, vec![ps[3], ps[4]]);
        let r = primitive_root_of_unity(ps[0], 1 << 15).unwrap();
        let m = Modulus::new(ps[0]).unwrap();
        assert_eq!(m.pow(r, 1 << 14), ps[0] - 1);
    }
}
