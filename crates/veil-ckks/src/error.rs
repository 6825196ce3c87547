use veil_channel::Fingerprint;
use veil_math::MathError;

/// Everything that can go wrong in veil-ckks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CkksError {
    /// The ring degree is not a supported power of two.
    #[error("ring degree 2^{log_n} is unsupported (need 2^10 ..= 2^17)")]
    UnsupportedDegree { log_n: u32 },
    /// The modulus chain is empty or a modulus size is out of range.
    #[error("invalid modulus chain: {reason}")]
    InvalidModuli { reason: String },
    /// The parameters are below 128-bit security by the HE standard's table.
    #[error("log2(Q·P) = {log_qp} bits exceeds the 128-bit bound of {max_bits} bits for N = {n} (HE standard, ternary secret)")]
    Insecure { n: usize, log_qp: u32, max_bits: u32 },
    /// The ring degree has no entry in the HE standard table (cannot be claimed secure).
    #[error("N = {n} has no 128-bit entry in the HE standard table")]
    NoSecurityEntry { n: usize },
    /// An insecure literal whose name does not say so.
    #[error("parameters {name:?} are marked insecure but their name does not start with \"insecure_\"")]
    UnnamedInsecure { name: String },
    /// A gadget digit larger than the special modulus P (key-switching noise would explode).
    #[error("digit of {digit_bits} bits exceeds the special modulus P of {p_bits} bits (dnum = {dnum})")]
    DigitTooLarge { digit_bits: u32, p_bits: u32, dnum: usize },
    /// dnum out of range.
    #[error("dnum = {dnum} is invalid for {q_count} ciphertext moduli")]
    InvalidDnum { dnum: usize, q_count: usize },
    /// The scale does not fit the modulus chain.
    #[error("invalid scale 2^{log_scale}: {reason}")]
    InvalidScale { log_scale: f64, reason: &'static str },
    /// Arithmetic-layer failure.
    #[error(transparent)]
    Math(#[from] MathError),
    /// Operands at different levels.
    #[error("level mismatch: {left} versus {right}")]
    LevelMismatch { left: usize, right: usize },
    /// Operands at different scales.
    #[error("scale mismatch: 2^{left:.4} versus 2^{right:.4}")]
    ScaleMismatch { left: f64, right: f64 },
    /// An operation needs a higher level than the operand has.
    #[error("operation needs level {needed}, operand is at level {actual}")]
    LevelTooLow { needed: usize, actual: usize },
    /// A requested level above the top of the chain.
    #[error("level {level} exceeds the maximum level {max}")]
    LevelOutOfRange { level: usize, max: usize },
    /// An operation on a ciphertext of the wrong degree (e.g. rotating before relinearising).
    #[error("ciphertext has degree {actual}, operation needs degree {expected}")]
    CiphertextDegree { expected: usize, actual: usize },
    /// A rotation or conjugation without its Galois key.
    #[error("no Galois key for element {galois_element} (rotation step {step:?})")]
    MissingGaloisKey { galois_element: usize, step: Option<i64> },
    /// More values than slots.
    #[error("{given} values do not fit in {slots} slots")]
    TooManyValues { given: usize, slots: usize },
    /// A value times the scale does not fit the encoder's integer range.
    #[error("encoded coefficient 2^{log2_magnitude:.1} exceeds 2^62 (scale too large or value too large)")]
    EncodingOverflow { log2_magnitude: f64 },
    /// Non-finite input.
    #[error("input value at slot {slot} is not finite")]
    NonFinite { slot: usize },
    /// A matrix of the wrong shape.
    #[error("matrix must be d×d with d dividing the {slots} slots; got {rows}×{cols}")]
    MatrixShape { rows: usize, cols: usize, slots: usize },
    /// Bytes for other parameters.
    #[error("object was made for parameters {found}, these are {expected}")]
    ParameterMismatch { expected: Fingerprint, found: Fingerprint },
    /// Bytes that are not a veil-ckks object of the expected kind.
    #[error("not a veil-ckks {expected}: {reason}")]
    Malformed { expected: &'static str, reason: String },
    /// Bytes end early.
    #[error("truncated {expected}: needed {needed} more bytes")]
    Truncated { expected: &'static str, needed: usize },
    /// Another format version.
    #[error("format version {found} is unsupported (this build reads {supported})")]
    UnsupportedVersion { found: u16, supported: u16 },
}
