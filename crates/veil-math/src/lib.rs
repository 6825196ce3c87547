//! veil-math: the arithmetic under veil's lattice schemes.
//!
//! * [`modular`]: word-size modular arithmetic for moduli below 2^62 (Barrett reduction of
//!   128-bit products, Shoup multiplication by a precomputed constant).
//! * [`prime`]: deterministic Miller-Rabin for `u64` and NTT-friendly primes `q ≡ 1 (mod 2N)`.
//! * [`bigint`]: a small unsigned big integer, enough for exact CRT reconstruction.
//! * [`rns`]: residue number system bases, exact CRT reconstruction and fast base conversion.
//! * [`ntt`]: the negacyclic number-theoretic transform over `Z_q[X]/(X^N + 1)` (backed by
//!   `tfhe-ntt`), with the evaluation-point layout needed for automorphisms.
//! * [`ring`]: RNS ring elements whose representation is part of the type:
//!   [`ring::RnsPoly<Coeff>`](ring::RnsPoly) and `RnsPoly<Ntt>`.
//! * [`pool`]: a process-wide pool of ciphertext-sized residue buffers, reused instead of fresh
//!   (page-faulting) allocations.
//! * [`sampler`]: samplers driven by ChaCha20: uniform mod q (expandable from a 32-byte seed),
//!   ternary secrets and a bounded discrete Gaussian.
//!
//! Everything here is deterministic given its inputs; randomness enters only through
//! [`sampler`]. Secret-bearing polynomials are zeroised on drop.
#![forbid(unsafe_code)]

pub mod bigint;
mod error;
pub mod modular;
pub mod ntt;
pub mod pool;
pub mod prime;
pub mod ring;
pub mod rns;
pub mod sampler;

pub use error::MathError;
pub use modular::Modulus;
pub use ntt::NttTable;
pub use ring::{Coeff, Ntt, RingContext, RnsPoly};
pub use rns::{BaseConverter, RnsBasis};
