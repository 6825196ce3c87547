//! AES-128 on blocks: AES-NI with eight-way interleaving where the CPU has it (detected at run
//! time), the `aes` crate otherwise. Used as a keyed PRG (CTR mode) and as the fixed-key
//! permutation π of the correlation-robust hashes.

use aes::cipher::{BlockEncrypt, KeyInit};

use crate::Block;

/// Fixed public key of the permutation π (the first 16 bytes of the binary expansion of π).
pub const FIXED_KEY: [u8; 16] = [0x24, 0x3f, 0x6a, 0x88, 0x85, 0xa3, 0x08, 0xd3, 0x13, 0x19, 0x8a, 0x2e, 0x03, 0x70, 0x73, 0x44];

/// Number of blocks processed together for instruction-level parallelism.
pub const PAR_BLOCKS: usize = 8;

/// AES-128 with an expanded key. The round keys are zeroised on drop.
#[derive(Clone)]
pub struct Aes {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    #[cfg(target_arch = "x86_64")]
    Ni(ni::RoundKeys),
    Soft(Box<aes::Aes128>),
}

impl std::fmt::Debug for Aes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.uses_aes_ni() { "Aes(AES-NI)" } else { "Aes(software)" })
    }
}

impl Aes {
    /// Expands `key` (the block's 16 little-endian bytes are the AES key).
    pub fn new(key: Block) -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("sse2") {
            // SAFETY: the CPU supports AES-NI and SSE2 (checked just above).
            return Self { backend: Backend::Ni(unsafe { ni::expand(key.to_bytes()) }) };
        }
        Self::new_software(key)
    }

    /// The portable implementation, whatever the CPU (for tests and comparisons).
    pub fn new_software(key: Block) -> Self {
        Self { backend: Backend::Soft(Box::new(aes::Aes128::new(&key.to_bytes().into()))) }
    }

    /// The fixed-key permutation π.
    pub fn fixed() -> Self {
        Self::new(Block::from_bytes(FIXED_KEY))
    }

    /// Whether this instance runs on AES-NI.
    pub fn uses_aes_ni(&self) -> bool {
        match self.backend {
            #[cfg(target_arch = "x86_64")]
            Backend::Ni(_) => true,
            Backend::Soft(_) => false,
        }
    }

    /// Encrypts every block in place.
    pub fn encrypt_blocks(&self, blocks: &mut [Block]) {
        match &self.backend {
            #[cfg(target_arch = "x86_64")]
            Backend::Ni(rk) => {
                let mut chunks = blocks.chunks_exact_mut(PAR_BLOCKS);
                for c in &mut chunks {
                    if let Some(c) = c.first_chunk_mut::<PAR_BLOCKS>() {
                        // SAFETY: `Backend::Ni` is only built after detecting AES-NI and SSE2.
                        unsafe { ni::encrypt::<PAR_BLOCKS>(rk, c) };
                    }
                }
                for b in chunks.into_remainder() {
                    // SAFETY: as above.
                    unsafe { ni::encrypt::<1>(rk, std::array::from_mut(b)) };
                }
            }
            Backend::Soft(cipher) => {
                for b in blocks.iter_mut() {
                    let mut ga = b.to_bytes().into();
                    cipher.encrypt_block(&mut ga);
                    *b = Block::from_bytes(ga.into());
                }
            }
        }
    }

    /// Encrypts exactly `N` blocks in place (`N` a small constant: the compiler interleaves them).
    #[inline]
    pub fn encrypt_array<const N: usize>(&self, blocks: &mut [Block; N]) {
        match &self.backend {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Backend::Ni` is only built after detecting AES-NI and SSE2.
            Backend::Ni(rk) => unsafe { ni::encrypt::<N>(rk, blocks) },
            Backend::Soft(_) => self.encrypt_blocks(blocks),
        }
    }

    /// Writes `AES_k(counter + i)` into `out[i]`: `out.len()` blocks of the CTR keystream.
    pub fn ctr_keystream(&self, counter: u128, out: &mut [Block]) {
        for (i, b) in out.iter_mut().enumerate() {
            *b = Block(counter.wrapping_add(i as u128));
        }
        self.encrypt_blocks(out);
    }
}

impl Drop for Aes {
    fn drop(&mut self) {
        match &mut self.backend {
            #[cfg(target_arch = "x86_64")]
            Backend::Ni(rk) => rk.zeroize(),
            Backend::Soft(_) => {} // the `aes` crate zeroises on drop (feature "zeroize")
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod ni {
    use core::arch::x86_64::*;

    use crate::Block;

    /// The eleven AES-128 round keys.
    #[derive(Clone, Copy)]
    pub struct RoundKeys([__m128i; 11]);

    impl RoundKeys {
        pub fn zeroize(&mut self) {
            for k in self.0.iter_mut() {
                // SAFETY: `k` is a valid, aligned place; SSE2 is baseline on x86_64.
                unsafe { std::ptr::write_volatile(k, _mm_setzero_si128()) };
            }
        }
    }

    #[inline(always)]
    unsafe fn expand_step(key: __m128i, assist: __m128i) -> __m128i {
        // SAFETY (whole body): SSE2 intrinsics on register values.
        unsafe {
            let assist = _mm_shuffle_epi32(assist, 0xff);
            let mut k = key;
            let mut t = _mm_slli_si128(key, 4);
            k = _mm_xor_si128(k, t);
            t = _mm_slli_si128(t, 4);
            k = _mm_xor_si128(k, t);
            t = _mm_slli_si128(t, 4);
            k = _mm_xor_si128(k, t);
            _mm_xor_si128(k, assist)
        }
    }

    /// AES-128 key expansion.
    ///
    /// # Safety
    /// The CPU must support AES-NI and SSE2.
    #[target_feature(enable = "aes,sse2")]
    pub unsafe fn expand(key: [u8; 16]) -> RoundKeys {
        macro_rules! step {
            ($k:expr, $rcon:literal) => {
                // SAFETY: AES-NI is enabled for this function.
                unsafe { expand_step($k, _mm_aeskeygenassist_si128($k, $rcon)) }
            };
        }
        // SAFETY: unaligned load of 16 bytes from a 16-byte array.
        let k0 = unsafe { _mm_loadu_si128(key.as_ptr().cast()) };
        let k1 = step!(k0, 0x01);
        let k2 = step!(k1, 0x02);
        let k3 = step!(k2, 0x04);
        let k4 = step!(k3, 0x08);
        let k5 = step!(k4, 0x10);
        let k6 = step!(k5, 0x20);
        let k7 = step!(k6, 0x40);
        let k8 = step!(k7, 0x80);
        let k9 = step!(k8, 0x1b);
        let k10 = step!(k9, 0x36);
        RoundKeys([k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, k10])
    }

    /// Encrypts `N` blocks with interleaved rounds.
    ///
    /// # Safety
    /// The CPU must support AES-NI and SSE2.
    #[target_feature(enable = "aes,sse2")]
    #[inline]
    pub unsafe fn encrypt<const N: usize>(rk: &RoundKeys, blocks: &mut [Block; N]) {
        // SAFETY (whole body): loads and stores stay inside `blocks`; AES-NI is enabled.
        unsafe {
            let mut s = [_mm_setzero_si128(); N];
            for i in 0..N {
                s[i] = _mm_xor_si128(_mm_loadu_si128((&blocks[i] as *const Block).cast()), rk.0[0]);
            }
            for r in 1..10 {
                for x in s.iter_mut() {
                    *x = _mm_aesenc_si128(*x, rk.0[r]);
                }
            }
            for i in 0..N {
                let c = _mm_aesenclast_si128(s[i], rk.0[10]);
                _mm_storeu_si128((&mut blocks[i] as *mut Block).cast(), c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fips197_known_answer_on_both_backends() {
        let key = Block::from_bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
        let pt = Block::from_bytes([0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
        let ct = Block::from_bytes([0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30, 0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4, 0xc5, 0x5a]);
        for aes in [Aes::new(key), Aes::new_software(key)] {
            let mut v = vec![pt; 11];
            aes.encrypt_blocks(&mut v);
            assert!(v.iter().all(|b| *b == ct), "{aes:?}");
            let mut a = [pt; 3];
            aes.encrypt_array(&mut a);
            assert_eq!(a, [ct; 3]);
        }
    }

    #[test]
    fn hardware_and_software_agree_on_a_keystream() {
        let key = Block(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        let mut a = vec![Block::ZERO; 37];
        let mut b = a.clone();
        Aes::new(key).ctr_keystream(5, &mut a);
        Aes::new_software(key).ctr_keystream(5, &mut b);
        assert_eq!(a, b);
    }
}
