use veil_channel::ChannelError;

/// What went wrong in an MPC session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MpcError {
    /// The link to another party failed (timeout, disconnect, malformed frame, ...).
    #[error("link failure: {0}")]
    Channel(#[from] ChannelError),
    /// A message whose content does not fit the protocol step.
    #[error("malformed message from {peer} in {step}: {reason}")]
    Malformed { peer: String, step: &'static str, reason: String },
    /// Operands whose shapes do not fit.
    #[error("shape mismatch in {op}: expected {expected}, got {got}")]
    Shape { op: &'static str, expected: String, got: String },
    /// A value that cannot be encoded in the fixed-point format.
    #[error("value {value} cannot be encoded with {frac_bits} fractional bits in 64 bits")]
    Encoding { value: f64, frac_bits: u32 },
    /// A configuration that the protocol cannot run with.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A model layer that this protocol does not evaluate.
    #[error("unsupported layer for secure evaluation: {0}")]
    Unsupported(String),
    /// Error from the model representation.
    #[error(transparent)]
    Model(#[from] veil_ml::MlError),
}

impl MpcError {
    pub(crate) fn malformed(peer: &str, step: &'static str, reason: impl Into<String>) -> Self {
        Self::Malformed { peer: peer.to_string(), step, reason: reason.into() }
    }
}
