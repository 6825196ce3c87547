//! Transposition of the 128 × n bit matrix of OT extension.
//!
//! Input: 128 rows of `n` bits (`n/8` bytes each, row `j` at `j·n/8`; bit `i` of a row is bit
//! `i % 8` of byte `i / 8`). Output: `n` blocks; bit `j` of block `i` is bit `i` of row `j`.
//! On x86_64 the kernel gathers 16 rows' bytes into an SSE2 register and peels one output row
//! per `movemask`; elsewhere a portable bit loop is used.

use crate::Block;

/// Transposes `rows` (128 rows of `n` bits) into `out` (`n` blocks). `n` must be a multiple of
/// 8 and `rows.len() == 16 * n`, `out.len() == n`; otherwise nothing is written and `false`
/// is returned.
pub fn transpose_128xn(rows: &[u8], out: &mut [Block]) -> bool {
    rows.len() == 16 * out.len() && transpose_128xn_strided(rows, out.len() / 8, out)
}

/// As [`transpose_128xn`], with row `j` starting at byte `j · stride` (`stride ≥ n / 8`).
/// A stride that is not a multiple of 4096 bytes (e.g. `n / 8 + 64`) keeps the 16 or 32
/// rows read together out of the same L1 cache set.
pub fn transpose_128xn_strided(rows: &[u8], stride: usize, out: &mut [Block]) -> bool {
    let n = out.len();
    if n % 8 != 0 || stride < n / 8 || rows.len() < 127 * stride + n / 8 {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 detected just above; bounds were checked above.
            unsafe { avx2(rows, stride, out) };
        } else {
            // SAFETY: SSE2 is part of the x86_64 baseline; bounds were checked above.
            unsafe { sse2(rows, stride, out) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    tail(rows, stride, out, 0);
    true
}

/// Bit-by-bit reference implementation (any `n` multiple of 8).
pub fn portable(rows: &[u8], out: &mut [Block]) {
    let n = out.len();
    let row_bytes = n / 8;
    for (i, o) in out.iter_mut().enumerate() {
        let mut v = 0u128;
        for j in 0..128 {
            let bit = (rows[j * row_bytes + i / 8] >> (i % 8)) & 1;
            v |= (bit as u128) << j;
        }
        *o = Block(v);
    }
}

/// Loads 8 bytes (from offset `base`) of each of the 16 rows `base + k·stride` and
/// transposes them: element `b` of the result holds byte `b` of rows 0..16.
///
/// # Safety
/// `base + 15·stride + 8 <= rows.len()`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn gather_16x8(rows: &[u8], base: usize, stride: usize) -> [core::arch::x86_64::__m128i; 8] {
    use core::arch::x86_64::*;
    // SAFETY: the caller guarantees every 8-byte load lies inside `rows`; SSE2 is baseline.
    unsafe {
        let x: [__m128i; 16] = std::array::from_fn(|k| _mm_loadl_epi64(rows.as_ptr().add(base + k * stride).cast()));
        let a: [__m128i; 8] = std::array::from_fn(|k| _mm_unpacklo_epi8(x[2 * k], x[2 * k + 1]));
        // b[2m]: rows 4m..4m+4, bytes 0-3; b[2m+1]: the same rows, bytes 4-7.
        let b: [__m128i; 8] = std::array::from_fn(|k| {
            let m = k / 2;
            if k % 2 == 0 {
                _mm_unpacklo_epi16(a[2 * m], a[2 * m + 1])
            } else {
                _mm_unpackhi_epi16(a[2 * m], a[2 * m + 1])
            }
        });
        // c[0..4]: rows 0-7, byte pairs (0,1), (2,3), (4,5), (6,7); c[4..8]: rows 8-15.
        let c: [__m128i; 8] = std::array::from_fn(|k| {
            let (half, pair) = (k / 4, k % 4);
            let (p, q) = (b[4 * half + pair / 2], b[4 * half + 2 + pair / 2]);
            if pair % 2 == 0 {
                _mm_unpacklo_epi32(p, q)
            } else {
                _mm_unpackhi_epi32(p, q)
            }
        });
        std::array::from_fn(|byte| {
            let (p, q) = (c[byte / 2], c[4 + byte / 2]);
            if byte % 2 == 0 {
                _mm_unpacklo_epi64(p, q)
            } else {
                _mm_unpackhi_epi64(p, q)
            }
        })
    }
}

/// The AVX2 kernel: 32 input rows per `movemask`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2(rows: &[u8], stride: usize, out: &mut [Block]) {
    use core::arch::x86_64::*;
    let n = out.len();
    let row_bytes = n / 8;
    let mut ib = 0;
    while ib + 8 <= row_bytes {
        let mut acc = [[0u8; 16]; 64];
        for jb in 0..4 {
            let base = jb * 32 * stride + ib;
            // SAFETY: `base + 31·stride + 8 <= 127·stride + n/8 <= rows.len()` (checked by the caller).
            let (lo, hi) = unsafe { (gather_16x8(rows, base, stride), gather_16x8(rows, base + 16 * stride, stride)) };
            for byte in 0..8 {
                let mut v = _mm256_set_m128i(hi[byte], lo[byte]);
                for bit in (0..8).rev() {
                    let m = (_mm256_movemask_epi8(v) as u32).to_le_bytes();
                    acc[byte * 8 + bit][4 * jb..4 * jb + 4].copy_from_slice(&m);
                    v = _mm256_slli_epi64(v, 1);
                }
            }
        }
        for (o, a) in out[ib * 8..ib * 8 + 64].iter_mut().zip(acc) {
            *o = Block::from_bytes(a);
        }
        ib += 8;
    }
    if ib < row_bytes {
        tail(rows, stride, out, ib);
    }
}

/// Output rows from input byte `ib` on, bit by bit (the part that does not fill 8 bytes).
fn tail(rows: &[u8], stride: usize, out: &mut [Block], mut ib: usize) {
    let row_bytes = out.len() / 8;
    while ib < row_bytes {
        for bit in 0..8 {
            let mut v = 0u128;
            for j in 0..128 {
                v |= (((rows[j * stride + ib] >> bit) & 1) as u128) << j;
            }
            out[ib * 8 + bit] = Block(v);
        }
        ib += 1;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
unsafe fn sse2(rows: &[u8], stride: usize, out: &mut [Block]) {
    use core::arch::x86_64::*;
    let n = out.len();
    let row_bytes = n / 8;
    let mut ib = 0;
    // 64 output rows at a time: for each group of 16 input rows, load 8 bytes of each,
    // transpose the 16 × 8 bytes with three levels of unpacks (`v[b]` = byte `ib + b` of the
    // 16 rows), then peel one output bit-column per `movemask`.
    while ib + 8 <= row_bytes {
        let mut acc = [[0u8; 16]; 64];
        for jb in 0..8 {
            // SAFETY: `jb·16·stride + ib + 15·stride + 8 <= 127·stride + n/8 <= rows.len()`.
            let v8 = unsafe { gather_16x8(rows, jb * 16 * stride + ib, stride) };
            for (byte, mut v) in v8.into_iter().enumerate() {
                for bit in (0..8).rev() {
                    let m = (_mm_movemask_epi8(v) as u16).to_le_bytes();
                    acc[byte * 8 + bit][2 * jb..2 * jb + 2].copy_from_slice(&m);
                    v = _mm_slli_epi64(v, 1);
                }
            }
        }
        for (o, a) in out[ib * 8..ib * 8 + 64].iter_mut().zip(acc) {
            *o = Block::from_bytes(a);
        }
        ib += 8;
    }
    if ib < row_bytes {
        tail(rows, stride, out, ib);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fast_kernel_matches_the_bit_loop(seed in any::<u64>(), words in 1usize..40) {
            let n = words * 8;
            let mut state = seed | 1;
            let rows: Vec<u8> = (0..16 * n).map(|_| { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state as u8 }).collect();
            let mut fast = vec![Block::ZERO; n];
            let mut slow = vec![Block::ZERO; n];
            prop_assert!(transpose_128xn(&rows, &mut fast));
            portable(&rows, &mut slow);
            prop_assert_eq!(&fast, &slow);
            #[cfg(target_arch = "x86_64")]
            {
                let mut sse = vec![Block::ZERO; n];
                // SAFETY: SSE2 is baseline; shapes as checked by `transpose_128xn` above.
                unsafe { sse2(&rows, n / 8, &mut sse) };
                prop_assert_eq!(&sse, &slow);
            }
        }
    }

    #[test]
    fn strided_rows_transpose_like_packed_ones() {
        let n = 200;
        let stride = n / 8 + 7;
        let packed: Vec<u8> = (0..16 * n).map(|i| (i * 37 % 251) as u8).collect();
        let mut strided = vec![0xeeu8; 128 * stride];
        for j in 0..128 {
            strided[j * stride..j * stride + n / 8].copy_from_slice(&packed[j * n / 8..(j + 1) * n / 8]);
        }
        let (mut a, mut b) = (vec![Block::ZERO; n], vec![Block::ZERO; n]);
        assert!(transpose_128xn(&packed, &mut a));
        assert!(transpose_128xn_strided(&strided, stride, &mut b));
        assert_eq!(a, b);
        assert!(!transpose_128xn_strided(&strided, n / 8 - 1, &mut b));
    }

    #[test]
    fn wrong_shapes_are_refused() {
        let mut out = vec![Block::ZERO; 12];
        assert!(!transpose_128xn(&[0u8; 16 * 12], &mut out));
        let mut out = vec![Block::ZERO; 16];
        assert!(!transpose_128xn(&[0u8; 10], &mut out));
    }
}
