/// Errors of the arithmetic layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MathError {
    /// A modulus outside the supported range (odd, at least 3, below 2^62).
    #[error("modulus {modulus} is unsupported (need an odd value in [3, 2^62))")]
    UnsupportedModulus { modulus: u64 },
    /// The ring degree is not a power of two in the supported range.
    #[error("ring degree {degree} is unsupported (need a power of two in [16, 2^17])")]
    UnsupportedDegree { degree: usize },
    /// No NTT is possible for this modulus and degree (not prime, or not 1 mod 2N).
    #[error("modulus {modulus} is not an NTT-friendly prime for degree {degree}")]
    NotNttFriendly { modulus: u64, degree: usize },
    /// Not enough primes of the requested size exist (or all were excluded).
    #[error("could not find {count} NTT-friendly primes of {bits} bits for degree {degree}")]
    NotEnoughPrimes { bits: u32, count: usize, degree: usize },
    /// Two moduli of one basis are equal (or not coprime).
    #[error("modulus {modulus} appears twice in one RNS basis")]
    DuplicateModulus { modulus: u64 },
    /// An operation combined ring elements over different RNS bases.
    #[error("RNS basis mismatch: {left:?} versus {right:?}")]
    BasisMismatch { left: Vec<usize>, right: Vec<usize> },
    /// A modulus index outside the ring context.
    #[error("modulus index {index} out of range (context has {count} moduli)")]
    ModulusIndex { index: usize, count: usize },
    /// A buffer of the wrong length for the ring element it should hold.
    #[error("expected {expected} coefficients, got {actual}")]
    Length { expected: usize, actual: usize },
    /// A residue not reduced modulo its modulus (e.g. in decoded bytes).
    #[error("residue {value} is not reduced modulo {modulus}")]
    Unreduced { value: u64, modulus: u64 },
    /// The NTT kernel orders evaluation points differently for two moduli of one ring.
    #[error("NTT evaluation layout of modulus {modulus} differs from the first modulus")]
    LayoutMismatch { modulus: u64 },
    /// A value has no inverse modulo the modulus.
    #[error("{value} is not invertible modulo {modulus}")]
    NotInvertible { value: u64, modulus: u64 },
}
