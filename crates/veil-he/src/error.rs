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
    /// The model has a layer or shape that encrypted inference does not support.
    #[error("encrypted inference does not support this model: {reason}")]
    UnsupportedModel { reason: String },
    /// The model needs more multiplicative levels than the parameters have.
    #[error("the model needs {needed} levels, the parameters have {available}")]
    DepthExceeded { needed: usize, available: usize },
    /// More rows than one ciphertext holds, or rows of the wrong width.
    #[error("rows do not fit the packing: {reason}")]
    Packing { reason: String },
    /// An encrypted-model file or model shape that cannot be decoded.
    #[error("malformed encrypted model: {reason}")]
    MalformedModel { reason: String },
    /// A training configuration that cannot work (width, sizes, bounds, levels).
    #[error("invalid training configuration: {reason}")]
    InvalidConfig { reason: String },
    /// A refresher returned something other than a top-level ciphertext of the input's scale.
    #[error("collective refresh returned an unusable ciphertext: {reason}")]
    BadRefresh { reason: String },
    /// The refresher itself failed, e.g. a party's link broke or timed out mid-refresh.
    #[error("the collective refresh failed")]
    RefreshFailed {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}
