//! Seeds and the pseudo-random generator that expands them (ChaCha20).

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A 256-bit PRG seed or PRF key; zeroised on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Seed(pub(crate) [u8; 32]);

impl Seed {
    /// A fresh seed from the operating system's CSPRNG.
    pub fn random() -> Self {
        let mut s = [0u8; 32];
        rand_core::OsRng.fill_bytes(&mut s);
        Self(s)
    }

    /// A seed from raw bytes (received from a peer).
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A deterministic seed for tests and reproducible benchmarks only.
    pub fn insecure_from_u64(v: u64) -> Self {
        Self(*blake3::hash(&v.to_le_bytes()).as_bytes())
    }

    /// An independent seed for a sub-protocol, labelled by `domain`.
    pub fn derive(&self, domain: &str) -> Seed {
        Seed(blake3::derive_key(domain, &self.0))
    }
}

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed(<redacted>)")
    }
}

/// Expands a seed into ring elements.
pub struct Prg(ChaCha20Rng);

impl std::fmt::Debug for Prg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prg(<redacted>)")
    }
}

impl Prg {
    pub fn new(seed: &Seed) -> Self {
        Self(ChaCha20Rng::from_seed(seed.0))
    }

    /// `n` uniform elements of Z_2^64.
    pub fn ring(&mut self, n: usize) -> Vec<u64> {
        let mut v = vec![0u64; n];
        self.fill(&mut v);
        v
    }

    pub fn fill(&mut self, v: &mut [u64]) {
        for x in v.iter_mut() {
            *x = self.0.next_u64();
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
}
