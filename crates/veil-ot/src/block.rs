//! The 128-bit block: a wire label, an OT message, an AES state.

use std::ops::{BitAnd, BitXor, BitXorAssign};

/// A 128-bit value. Byte order: `Block(x)` is the block whose 16 bytes are `x.to_le_bytes()`.
///
/// `Debug` does not print the value, because blocks are usually labels or keys.
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
#[repr(transparent)]
pub struct Block(pub u128);

impl Block {
    pub const ZERO: Block = Block(0);
    pub const ONES: Block = Block(u128::MAX);

    /// The block whose little-endian bytes are `bytes`.
    #[inline(always)]
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Block(u128::from_le_bytes(bytes))
    }

    /// Reads the first 16 bytes of `bytes`; `None` if there are fewer.
    #[inline(always)]
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.first_chunk::<16>().map(|b| Self::from_bytes(*b))
    }

    #[inline(always)]
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_le_bytes()
    }

    /// The least significant bit: the point-and-permute (colour) bit of a label.
    #[inline(always)]
    pub fn lsb(self) -> bool {
        self.0 & 1 == 1
    }

    /// All ones if `bit`, else zero, computed without a branch.
    #[inline(always)]
    pub fn mask(bit: bool) -> Self {
        Block((bit as u128).wrapping_neg())
    }

    /// `self` if `bit`, else zero, without a branch.
    #[inline(always)]
    pub fn and_bit(self, bit: bool) -> Self {
        Block(self.0 & (bit as u128).wrapping_neg())
    }

    /// The linear orthomorphism σ(x_hi ‖ x_lo) = (x_hi ⊕ x_lo) ‖ x_hi used by the
    /// correlation-robust hashes (both σ and σ ⊕ id are permutations).
    #[inline(always)]
    pub fn sigma(self) -> Self {
        let hi = (self.0 >> 64) as u64;
        let lo = self.0 as u64;
        Block((((hi ^ lo) as u128) << 64) | hi as u128)
    }
}

impl zeroize::DefaultIsZeroes for Block {}

impl BitXor for Block {
    type Output = Block;
    #[inline(always)]
    fn bitxor(self, rhs: Block) -> Block {
        Block(self.0 ^ rhs.0)
    }
}

impl BitXorAssign for Block {
    #[inline(always)]
    fn bitxor_assign(&mut self, rhs: Block) {
        self.0 ^= rhs.0;
    }
}

impl BitAnd for Block {
    type Output = Block;
    #[inline(always)]
    fn bitand(self, rhs: Block) -> Block {
        Block(self.0 & rhs.0)
    }
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Block(..)")
    }
}

/// Appends the little-endian bytes of every block to `out`.
pub fn extend_bytes(out: &mut Vec<u8>, blocks: &[Block]) {
    out.reserve(blocks.len() * 16);
    for b in blocks {
        out.extend_from_slice(&b.to_bytes());
    }
}

/// Parses a byte string of exactly `16 * k` bytes into `k` blocks.
pub fn blocks_from_bytes(bytes: &[u8]) -> Option<Vec<Block>> {
    if bytes.len() % 16 != 0 {
        return None;
    }
    Some(bytes.chunks_exact(16).filter_map(Block::from_slice).collect())
}

/// Views blocks as bytes. veil-ot only builds on little-endian targets, where this is the
/// little-endian encoding of each block.
pub fn as_bytes(blocks: &[Block]) -> &[u8] {
    // SAFETY: `Block` is `repr(transparent)` over `u128` (no padding); the byte slice covers
    // exactly the same memory and `u8` has alignment 1.
    unsafe { std::slice::from_raw_parts(blocks.as_ptr().cast::<u8>(), blocks.len() * 16) }
}

/// Mutable byte view of blocks (see [`as_bytes`]); every byte pattern is a valid block.
pub fn as_bytes_mut(blocks: &mut [Block]) -> &mut [u8] {
    // SAFETY: as in `as_bytes`; any bytes written form a valid `u128`.
    unsafe { std::slice::from_raw_parts_mut(blocks.as_mut_ptr().cast::<u8>(), blocks.len() * 16) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigma_and_sigma_plus_id_are_bijective_on_samples() {
        let xs = [Block(1), Block(1 << 64), Block(u128::MAX), Block(0x1234_5678_9abc_def0_0fed_cba9_8765_4321)];
        for x in xs {
            for y in xs {
                if x != y {
                    assert_ne!(x.sigma(), y.sigma());
                    assert_ne!(x.sigma() ^ x, y.sigma() ^ y);
                }
            }
        }
    }

    #[test]
    fn masks_select_without_branching() {
        let x = Block(0xdead_beef);
        assert_eq!(x.and_bit(true), x);
        assert_eq!(x.and_bit(false), Block::ZERO);
        assert_eq!(Block::mask(true), Block::ONES);
        assert_eq!(Block::from_bytes(x.to_bytes()), x);
    }
}
