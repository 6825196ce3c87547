//! A process-wide pool of residue buffers, so that hot paths (key switching, products,
//! rescaling) reuse ciphertext-sized memory instead of asking the allocator for it each time.
//!
//! Why by hand: a polynomial at `N = 2^14` is 128 KiB a limb, and glibc serves blocks above
//! 128 KiB with `mmap` and returns them with `munmap`, so every fresh polynomial page-faults on
//! first touch (about a third of a key switch at `N = 2^14`). SEAL and OpenFHE keep memory
//! pools for the same reason; no allocator crate both stays portable and avoids this without
//! replacing the program's global allocator, which a library must not do.
//!
//! Contract: [`take_zeroed`] returns exactly `len` zeros; [`take_for_overwrite`] returns `len`
//! words of unspecified value, for a caller that writes every one. [`give`] takes a vector back:
//! it keeps it when it is large enough to be worth keeping, its capacity equals its length and
//! the pool holds less than [`POOL_BYTES`]; otherwise it frees it.
//!
//! What the pool holds: buffers are not cleared on return. Secret keys, key shares and
//! decryption shares zeroise their polynomials when dropped, and zeroising empties the vector,
//! so they never reach the pool; any other buffer comes back as it was, which is what the
//! allocator's free lists would hold after a `free`.

use std::collections::HashMap;
use std::sync::Mutex;

/// Buffers shorter than this (in words: 128 KiB) come from the allocator's own bins.
pub const MIN_POOLED_WORDS: usize = 1 << 14;

/// Most bytes the pool keeps at once.
pub const POOL_BYTES: usize = 256 << 20;

struct Pool {
    free: HashMap<usize, Vec<Vec<u64>>>,
    bytes: usize,
    limit: usize,
}

impl Pool {
    fn with_limit(limit: usize) -> Self {
        Self { free: HashMap::new(), bytes: 0, limit }
    }

    fn take(&mut self, len: usize) -> Option<Vec<u64>> {
        let v = self.free.get_mut(&len)?.pop()?;
        self.bytes -= len * 8;
        Some(v)
    }

    /// Whether a buffer of `len` words fits under the limit.
    fn has_room(&self, len: usize) -> bool {
        self.bytes + len * 8 <= self.limit
    }

    /// Keeps `v` if there is room (else drops it).
    fn keep(&mut self, v: Vec<u64>) {
        if self.has_room(v.len()) {
            self.bytes += v.len() * 8;
            self.free.entry(v.len()).or_default().push(v);
        }
    }
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);

fn with_pool<T>(f: impl FnOnce(&mut Pool) -> T) -> T {
    // A poisoned lock only means another thread panicked while holding it; the pool's one
    // invariant (the byte count) holds between statements, so keep using it.
    let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(|| Pool::with_limit(POOL_BYTES)))
}

fn worth_keeping(v: &[u64], capacity: usize) -> bool {
    v.len() >= MIN_POOLED_WORDS && capacity == v.len()
}

fn reuse(len: usize) -> Option<Vec<u64>> {
    if len < MIN_POOLED_WORDS {
        return None;
    }
    with_pool(|p| p.take(len))
}

/// `len` zeros, from the pool when a buffer of that length is free.
pub fn take_zeroed(len: usize) -> Vec<u64> {
    match reuse(len) {
        Some(mut v) => {
            v.fill(0);
            v
        }
        None => vec![0; len],
    }
}

/// `len` words of unspecified value (stale residues, or zeros), for a caller that overwrites
/// every one of them.
pub fn take_for_overwrite(len: usize) -> Vec<u64> {
    reuse(len).unwrap_or_else(|| vec![0; len])
}

/// Returns a buffer to the pool, or frees it (see the module docs).
pub fn give(v: Vec<u64>) {
    if worth_keeping(&v, v.capacity()) {
        with_pool(|p| p.keep(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_keeps_what_fits_and_hands_back_the_same_length() {
        let len = MIN_POOLED_WORDS + 3;
        let mut p = Pool::with_limit(3 * len * 8);
        p.keep(vec![0; len]);
        assert_eq!(p.bytes, len * 8);
        assert!(p.take(len + 1).is_none());
        assert_eq!(p.take(len).map(|v| v.len()), Some(len));
        assert_eq!(p.bytes, 0);
        let big = 2 * len;
        p.keep(vec![0; big]);
        p.keep(vec![0; big]);
        assert_eq!(p.bytes, big * 8, "the second buffer would exceed the limit");
    }

    #[test]
    fn only_large_exactly_sized_buffers_are_worth_keeping() {
        assert!(!worth_keeping(&[1u64; 16], 16));
        let v = vec![1u64; MIN_POOLED_WORDS];
        assert!(worth_keeping(&v, v.capacity()));
        assert!(!worth_keeping(&v, v.capacity() + 1));
    }

    #[test]
    fn take_zeroed_is_zero_even_after_reuse() {
        let len = MIN_POOLED_WORDS + 5;
        for _ in 0..3 {
            let mut v = take_zeroed(len);
            assert!(v.len() == len && v.iter().all(|&x| x == 0));
            v.iter_mut().enumerate().for_each(|(i, x)| *x = i as u64 + 1);
            give(v);
            assert_eq!(take_for_overwrite(len).len(), len);
        }
    }
}
