//! Correlation-robust hashes from the fixed-key AES permutation π.
//!
//! `H(x, i) = π(σ(x) ⊕ i) ⊕ σ(x) ⊕ i` with the orthomorphism σ of [`Block::sigma`]: the
//! tweakable "MMO-σ" construction. In the random-permutation model it is tweakable circular
//! correlation robust (Guo, Katz, Wang, Yu, *Efficient and Secure Multiparty Computation from
//! Fixed-Key Block Ciphers*, S&P 2020, §7), which is what half-gates garbling and the
//! OT-extension hash need, provided every (input, tweak) pair with a new tweak is used once.
//!
//! Caveat (same paper): security of any fixed-key construction is multi-instance; an adversary
//! that makes `p` offline π queries against `q` hash outputs succeeds with probability about
//! `p·q / 2^128`, so a session hashing 2^40 labels keeps about 88 bits against offline work.
//! Re-keying per batch (their MITCCRH) would remove the `q` factor at a key-schedule cost per
//! batch; veil keeps the single fixed key, as the peer measurements it is compared with do.

use crate::aes::Aes;
use crate::Block;

/// The tweakable correlation-robust hash `H(x, i)`.
#[derive(Clone, Debug)]
pub struct TccrHash {
    pi: Aes,
}

impl Default for TccrHash {
    fn default() -> Self {
        Self::new()
    }
}

impl TccrHash {
    pub fn new() -> Self {
        Self { pi: Aes::fixed() }
    }

    /// `H(x, tweak)` for one block.
    #[inline]
    pub fn hash(&self, x: Block, tweak: u128) -> Block {
        let mut a = [x];
        self.hash_array(&mut a, &[tweak]);
        a[0]
    }

    /// `xs[k] ← H(xs[k], tweaks[k])` for `N` blocks at once (interleaved AES).
    #[inline]
    pub fn hash_array<const N: usize>(&self, xs: &mut [Block; N], tweaks: &[u128; N]) {
        let mut pre = [Block::ZERO; N];
        for k in 0..N {
            pre[k] = xs[k].sigma() ^ Block(tweaks[k]);
        }
        *xs = pre;
        self.pi.encrypt_array(xs);
        for k in 0..N {
            xs[k] ^= pre[k];
        }
    }

    /// `xs[k] ← H(xs[k], first_tweak + k)` for any number of blocks.
    pub fn hash_slice(&self, xs: &mut [Block], first_tweak: u128) {
        let mut pre = Vec::with_capacity(xs.len());
        for (k, x) in xs.iter_mut().enumerate() {
            let p = x.sigma() ^ Block(first_tweak.wrapping_add(k as u128));
            pre.push(p);
            *x = p;
        }
        self.pi.encrypt_blocks(xs);
        for (x, p) in xs.iter_mut().zip(pre) {
            *x ^= p;
        }
    }

    /// The permutation itself (for callers that batch their own hashing).
    pub fn permutation(&self) -> &Aes {
        &self.pi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_and_single_hashes_agree_and_tweaks_separate() {
        let h = TccrHash::new();
        let xs: Vec<Block> = (0..19u128).map(|i| Block(i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))).collect();
        let mut batch = xs.clone();
        h.hash_slice(&mut batch, 100);
        for (k, x) in xs.iter().enumerate() {
            assert_eq!(batch[k], h.hash(*x, 100 + k as u128));
        }
        let mut arr = [xs[0], xs[1], xs[2], xs[3]];
        h.hash_array(&mut arr, &[100, 101, 102, 103]);
        assert_eq!(&arr[..], &batch[..4]);
        assert_ne!(h.hash(xs[3], 1), h.hash(xs[3], 2));
    }
}
