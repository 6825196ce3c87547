//! The Boolean circuit behind comparisons: the sign bit of `a + b mod 2^64` for 64-bit words
//! `a` (party 0's arithmetic share) and `b` (party 1's), on XOR-shared words.
//!
//! `msb(a + b) = a₆₃ ⊕ b₆₃ ⊕ c₆₃`, where `c₆₃` is the carry into bit 63. The carry is the
//! generate signal of the 63 low bits, computed by a reduction tree of (generate, propagate)
//! pairs, `(G, P) ∘ (G', P') = (G ⊕ P·G', P·P')`, six levels deep. Each level needs both
//! products `P·G'` and `P·P'`; they are packed into one 64-bit AND (the `P·P'` results go to
//! the positions the level frees), so the circuit costs 7 rounds of one AND word per element:
//! one for `g = a·b`, six for the tree.

/// Positions holding a group's value at level `k` (the top bit of each `2^(k+1)`-bit group).
fn hi_mask(k: u32) -> u64 {
    let s = 1u64 << (k + 1);
    let mut m = 0u64;
    let mut pos = s - 1;
    while pos < 64 {
        m |= 1 << pos;
        pos += s;
    }
    m
}

/// Number of AND rounds of [`msb`].
pub const MSB_ROUNDS: usize = 7;

/// Computes XOR shares of `msb(a + b)` (in bit 0) for every element, given this party's
/// index, its input words (`a` for party 0, `b` for party 1) and an AND oracle on XOR
/// shares that is called [`MSB_ROUNDS`] times with vectors as long as the input.
pub fn msb<E>(party: usize, share: &[u64], mut and: impl FnMut(&[u64], &[u64]) -> Result<Vec<u64>, E>) -> Result<Vec<u64>, E> {
    let n = share.len();
    let zeros = vec![0u64; n];
    // XOR sharings of a (party 0 holds it) and b (party 1 holds it).
    let g = if party == 0 { and(share, &zeros)? } else { and(&zeros, share)? };
    let mut gg: Vec<u64> = g.iter().map(|v| v << 1).collect();
    let mut pp: Vec<u64> = share.iter().map(|v| v << 1).collect();
    for k in 0..6u32 {
        let s = 1u32 << k;
        let h = hi_mask(k);
        let l = h >> s;
        let x: Vec<u64> = pp.iter().map(|p| (p & h) | ((p & h) >> s)).collect();
        let y: Vec<u64> = gg.iter().zip(&pp).map(|(g, p)| ((g << s) & h) | (p & l)).collect();
        let z = and(&x, &y)?;
        for i in 0..n {
            gg[i] = (gg[i] & h) ^ (z[i] & h);
            pp[i] = (z[i] & l) << s;
        }
    }
    Ok(gg.iter().zip(share).map(|(g, v)| (g >> 63) ^ (v >> 63)).collect())
}

/// Packs the low bits of `bits` into words (bit `i` of word `i / 64`).
pub fn pack_bits(bits: &[u64]) -> Vec<u64> {
    let mut out = vec![0u64; bits.len().div_ceil(64)];
    for (i, b) in bits.iter().enumerate() {
        out[i / 64] |= (b & 1) << (i % 64);
    }
    out
}

/// Inverse of [`pack_bits`] for `n` bits.
pub fn unpack_bits(words: &[u64], n: usize) -> Vec<u64> {
    (0..n).map(|i| (words[i / 64] >> (i % 64)) & 1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Runs the circuit for both parties in lockstep with an ideal AND on XOR shares.
    fn run(a: &[u64], b: &[u64]) -> Vec<u64> {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        // Collect both parties' oracle calls by running party 0 and party 1 interleaved.
        let mut calls0: Vec<(Vec<u64>, Vec<u64>)> = Vec::new();
        let mut results1: Vec<Vec<u64>> = Vec::new();
        // First pass: party 0 records its inputs, returns its share of random output.
        // Simpler: simulate with an oracle that needs both shares, so run the parties as threads.
        let (tx0, rx0) = std::sync::mpsc::channel::<(Vec<u64>, Vec<u64>)>();
        let (tx1, rx1) = std::sync::mpsc::channel::<Vec<u64>>();
        let a2 = a.to_vec();
        let h = std::thread::spawn(move || {
            msb::<()>(0, &a2, |x, y| {
                tx0.send((x.to_vec(), y.to_vec())).map_err(|_| ())?;
                rx1.recv().map_err(|_| ())
            })
        });
        let r1 = msb::<()>(1, b, |x1, y1| {
            let (x0, y0) = rx0.recv().map_err(|_| ())?;
            let z: Vec<u64> = (0..x1.len()).map(|i| (x0[i] ^ x1[i]) & (y0[i] ^ y1[i])).collect();
            let z0: Vec<u64> = z.iter().map(|_| rng.gen()).collect();
            let z1: Vec<u64> = z.iter().zip(&z0).map(|(z, r)| z ^ r).collect();
            calls0.push((x0, y0));
            results1.push(z1.clone());
            tx1.send(z0).map_err(|_| ())?;
            Ok(z1)
        })
        .expect("party 1");
        let r0 = h.join().expect("thread").expect("party 0");
        assert_eq!(calls0.len(), MSB_ROUNDS);
        r0.iter().zip(&r1).map(|(x, y)| (x ^ y) & 1).collect()
    }

    #[test]
    fn sign_of_the_sum() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        let mut a: Vec<u64> = (0..500).map(|_| rng.gen()).collect();
        let mut b: Vec<u64> = (0..500).map(|_| rng.gen()).collect();
        for (i, x) in [0u64, 1, u64::MAX, 1 << 63, (1 << 63) - 1].iter().enumerate() {
            a[i] = *x;
            b[i] = x.wrapping_neg();
            a[i + 5] = *x;
            b[i + 5] = 0;
        }
        let got = run(&a, &b);
        for i in 0..a.len() {
            assert_eq!(got[i], a[i].wrapping_add(b[i]) >> 63, "element {i}");
        }
    }

    #[test]
    fn bit_packing() {
        let bits = vec![1, 0, 1, 1, 0, 0, 0, 1, 1, 1];
        assert_eq!(unpack_bits(&pack_bits(&bits), bits.len()), bits);
    }
}
