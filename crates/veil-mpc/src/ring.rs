//! Arithmetic on vectors and row-major matrices over Z_2^64 (wrapping).

/// `a += b` entry-wise.
pub fn add_assign(a: &mut [u64], b: &[u64]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x = x.wrapping_add(*y);
    }
}

/// `a -= b` entry-wise.
pub fn sub_assign(a: &mut [u64], b: &[u64]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x = x.wrapping_sub(*y);
    }
}

pub fn add(a: &[u64], b: &[u64]) -> Vec<u64> {
    a.iter().zip(b).map(|(x, y)| x.wrapping_add(*y)).collect()
}

pub fn sub(a: &[u64], b: &[u64]) -> Vec<u64> {
    a.iter().zip(b).map(|(x, y)| x.wrapping_sub(*y)).collect()
}

/// Entry-wise product.
pub fn mul(a: &[u64], b: &[u64]) -> Vec<u64> {
    a.iter().zip(b).map(|(x, y)| x.wrapping_mul(*y)).collect()
}

/// Multiplies every entry by a public constant.
pub fn scale(a: &mut [u64], c: u64) {
    for x in a.iter_mut() {
        *x = x.wrapping_mul(c);
    }
}

/// `out += a · b` for `a` of shape `m × k` and `b` of shape `k × n`, `out` of shape `m × n`.
///
/// Uses the AVX-512 64-bit multiply where the processor has it (checked at run time).
pub fn matmul_acc(out: &mut [u64], a: &[u64], b: &[u64], m: usize, k: usize, n: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512dq") && std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the required CPU features were detected just above.
            unsafe { matmul_acc_avx512(out, a, b, m, k, n) };
            return;
        }
    }
    matmul_acc_portable(out, a, b, m, k, n);
}

/// [`matmul_acc_portable`] compiled with AVX-512 enabled, so the inner loop vectorises with
/// `vpmullq`.
///
/// # Safety
/// The processor must support AVX-512F and AVX-512DQ.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn matmul_acc_avx512(out: &mut [u64], a: &[u64], b: &[u64], m: usize, k: usize, n: usize) {
    matmul_acc_portable(out, a, b, m, k, n);
}

#[inline(always)]
fn matmul_acc_portable(out: &mut [u64], a: &[u64], b: &[u64], m: usize, k: usize, n: usize) {
    debug_assert_eq!(a.len(), m * k);
    debug_assert_eq!(b.len(), k * n);
    debug_assert_eq!(out.len(), m * n);
    for i in 0..m {
        let o = &mut out[i * n..(i + 1) * n];
        let ar = &a[i * k..(i + 1) * k];
        for (kk, &av) in ar.iter().enumerate() {
            let br = &b[kk * n..(kk + 1) * n];
            for (ov, bv) in o.iter_mut().zip(br) {
                *ov = ov.wrapping_add(av.wrapping_mul(*bv));
            }
        }
    }
}

/// `a · b`.
pub fn matmul(a: &[u64], b: &[u64], m: usize, k: usize, n: usize) -> Vec<u64> {
    let mut out = vec![0u64; m * n];
    matmul_acc(&mut out, a, b, m, k, n);
    out
}

/// Transpose of a `rows × cols` matrix.
pub fn transpose(a: &[u64], rows: usize, cols: usize) -> Vec<u64> {
    let mut out = vec![0u64; a.len()];
    for i in 0..rows {
        for j in 0..cols {
            out[j * rows + i] = a[i * cols + j];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_small() {
        let a = [1, 2, 3, 4, 5, 6];
        let b = [1, 0, 0, 1, 1u64.wrapping_neg(), 1];
        assert_eq!(matmul(&a, &b, 2, 3, 2), vec![(1u64).wrapping_sub(3), 5, (4u64).wrapping_sub(6), 11]);
        assert_eq!(transpose(&a, 2, 3), vec![1, 4, 2, 5, 3, 6]);
    }
}
