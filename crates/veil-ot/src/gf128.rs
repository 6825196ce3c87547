//! Carry-less multiplication in GF(2^128) = GF(2)\[x\] / (x^128 + x^7 + x^2 + x + 1), for the KOS
//! consistency check. PCLMULQDQ where the CPU has it, a portable constant-time loop otherwise.

/// The 256-bit carry-less product `(lo, hi)` of `a` and `b`.
#[inline]
pub fn clmul(a: u128, b: u128) -> (u128, u128) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("pclmulqdq") {
        // SAFETY: PCLMULQDQ (and SSE2, baseline) checked just above.
        return unsafe { clmul_pclmul(a, b) };
    }
    clmul_portable(a, b)
}

/// Portable carry-less product; the loop runs the same way whatever the operands.
pub fn clmul_portable(a: u128, b: u128) -> (u128, u128) {
    let (mut lo, mut hi) = (0u128, 0u128);
    for i in 0..128 {
        let m = ((b >> i) & 1).wrapping_neg();
        lo ^= (a << i) & m;
        if i > 0 {
            hi ^= (a >> (128 - i)) & m;
        }
    }
    (lo, hi)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq,sse2")]
unsafe fn clmul_pclmul(a: u128, b: u128) -> (u128, u128) {
    use core::arch::x86_64::*;
    let va = _mm_set_epi64x((a >> 64) as i64, a as i64);
    let vb = _mm_set_epi64x((b >> 64) as i64, b as i64);
    let ll = _mm_clmulepi64_si128(va, vb, 0x00);
    let hh = _mm_clmulepi64_si128(va, vb, 0x11);
    let lh = _mm_clmulepi64_si128(va, vb, 0x10);
    let hl = _mm_clmulepi64_si128(va, vb, 0x01);
    let mid = _mm_xor_si128(lh, hl);
    let get = |v: __m128i| -> u128 {
        let lo = _mm_cvtsi128_si64(v) as u64 as u128;
        let hi = _mm_cvtsi128_si64(_mm_unpackhi_epi64(v, v)) as u64 as u128;
        (hi << 64) | lo
    };
    let (ll, hh, mid) = (get(ll), get(hh), get(mid));
    (ll ^ (mid << 64), hh ^ (mid >> 64))
}

/// Reduces a 256-bit product modulo x^128 + x^7 + x^2 + x + 1.
pub fn reduce(lo: u128, hi: u128) -> u128 {
    let (l2, h2) = clmul_portable_small(hi);
    let (l3, _) = clmul_portable_small(h2);
    lo ^ l2 ^ l3
}

/// `v · (x^7 + x^2 + x + 1)` as a 256-bit value.
fn clmul_portable_small(v: u128) -> (u128, u128) {
    let lo = v ^ (v << 1) ^ (v << 2) ^ (v << 7);
    let hi = (v >> 127) ^ (v >> 126) ^ (v >> 121);
    (lo, hi)
}

/// Multiplication in GF(2^128).
pub fn mul(a: u128, b: u128) -> u128 {
    let (lo, hi) = clmul(a, b);
    reduce(lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn hardware_matches_portable_and_field_laws_hold(a in any::<u128>(), b in any::<u128>(), c in any::<u128>()) {
            prop_assert_eq!(clmul(a, b), clmul_portable(a, b));
            prop_assert_eq!(mul(a, b), mul(b, a));
            prop_assert_eq!(mul(a, b ^ c), mul(a, b) ^ mul(a, c));
            prop_assert_eq!(mul(mul(a, b), c), mul(a, mul(b, c)));
            prop_assert_eq!(mul(a, 1), a);
        }
    }

    #[test]
    fn x_to_the_128_reduces_to_the_low_terms() {
        // x^127 · x = x^128 ≡ x^7 + x^2 + x + 1.
        assert_eq!(mul(1u128 << 127, 2), 0x87);
    }
}
