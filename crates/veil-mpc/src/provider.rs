//! Data providers and result receivers outside the computing parties.
//!
//! A provider secret-shares its rows for the computing parties; each party receives one
//! message and cannot learn anything from it alone (2PC: a uniform additive share; 3PC: two of
//! three uniform additive shares). A receiver collects the parties' shares of a result and
//! reconstructs it; nobody else learns it.

use rand_chacha::rand_core::{CryptoRng, RngCore};

use crate::ring;

/// Additive 2-out-of-2 shares `(x − r, r)` of `x`, `r` uniform.
pub fn share_2pc<R: RngCore + CryptoRng>(x: &[u64], rng: &mut R) -> [Vec<u64>; 2] {
    let r: Vec<u64> = x.iter().map(|_| rng.next_u64()).collect();
    [ring::sub(x, &r), r]
}

/// Replicated 3-party shares: party i receives `(xᵢ, xᵢ₊₁)`.
pub fn share_3pc<R: RngCore + CryptoRng>(x: &[u64], rng: &mut R) -> [(Vec<u64>, Vec<u64>); 3] {
    let s0: Vec<u64> = x.iter().map(|_| rng.next_u64()).collect();
    let s1: Vec<u64> = x.iter().map(|_| rng.next_u64()).collect();
    let s2: Vec<u64> = (0..x.len()).map(|i| x[i].wrapping_sub(s0[i]).wrapping_sub(s1[i])).collect();
    [(s0.clone(), s1.clone()), (s1, s2.clone()), (s2, s0)]
}

/// Reconstructs from 2PC shares.
pub fn open_2pc(s0: &[u64], s1: &[u64]) -> Vec<u64> {
    ring::add(s0, s1)
}

/// Reconstructs from the first components of the three replicated shares.
pub fn open_3pc(x0: &[u64], x1: &[u64], x2: &[u64]) -> Vec<u64> {
    (0..x0.len()).map(|i| x0[i].wrapping_add(x1[i]).wrapping_add(x2[i])).collect()
}
