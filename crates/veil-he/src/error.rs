//! The error type of veil-he.

use thiserror::Error;

/// Everything that can go wrong when evaluating or training a model on ciphertexts.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HeError {
    /// An error of the CKKS engine (levels, scales, keys, parameters).
    #[error(transparent)]
    Ckks(#[from] veil_ckks::CkksError),
    /// An error of the threshold protocols (refresh, decryption shares).
    #[error(transparent)]
    Threshold(#[from] veil_threshold::ThresholdError),
    /// An error of the plaintext model representation.
    #[error(transparent)]
    Model(#[from] veil_ml::MlError),
}
