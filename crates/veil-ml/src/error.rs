/// What went wrong in veil-ml.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MlError {
    /// Two operands whose shapes do not fit together.
    #[error("shape mismatch in {op}: expected {expected}, got {got}")]
    Shape { op: &'static str, expected: String, got: String },
    /// A model that is not well formed (empty, inconsistent layer sizes, bad coefficients).
    #[error("invalid model: {0}")]
    InvalidModel(String),
    /// A model file written by another format version.
    #[error("model file format version {found} is not supported (this build reads version {supported})")]
    FormatVersion { found: u32, supported: u32 },
    /// A data file that does not parse.
    #[error("malformed data in {file}: {reason}")]
    Data { file: String, reason: String },
    /// JSON (de)serialisation of a model.
    #[error("model JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// File-system error, with the path.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}
