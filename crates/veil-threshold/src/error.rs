use veil_channel::Fingerprint;
use veil_ckks::CkksError;
use veil_math::MathError;

use crate::session::PartyId;
use crate::wire::ShareKind;

/// Everything that can go wrong in veil-threshold.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ThresholdError {
    /// A session needs at least two parties, at most [`crate::MAX_PARTIES`], ids distinct and
    /// non-zero.
    #[error("invalid party set: {reason}")]
    InvalidParties { reason: String },
    /// The threshold `t` is outside `1..=N`.
    #[error("threshold t = {threshold} is invalid for {parties} parties")]
    InvalidThreshold { threshold: usize, parties: usize },
    /// A party id that is not a member of the session.
    #[error("party {party} is not a member of this session")]
    UnknownParty { party: PartyId },
    /// Two shares from the same party in one aggregation.
    #[error("party {party} contributed twice")]
    DuplicateShare { party: PartyId },
    /// An aggregation or merge without every required party.
    #[error("shares are missing from parties {missing:?} ({have} of {need} present)")]
    MissingShares { missing: Vec<PartyId>, have: usize, need: usize },
    /// A coalition smaller than the threshold, or not a subset of the session.
    #[error("coalition {coalition:?} cannot decrypt: {reason}")]
    InvalidCoalition { coalition: Vec<PartyId>, reason: String },
    /// Bytes that are not a veil-threshold share, or a structurally invalid one.
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    /// Bytes that end early.
    #[error("truncated {what}: needed {needed} more bytes")]
    Truncated { what: &'static str, needed: usize },
    /// Another wire-format version.
    #[error("share format version {found} is unsupported (this build reads {supported})")]
    UnsupportedVersion { found: u16, supported: u16 },
    /// The authentication tag does not match: the bytes were modified (or made for another
    /// session).
    #[error("{kind} from party {party}: authentication tag mismatch (tampered bytes or another session)")]
    TagMismatch { kind: ShareKind, party: PartyId },
    /// A share of another kind than expected (e.g. a round-1 share where round 2 is due).
    #[error("expected a {expected} share, got a {found} share")]
    WrongKind { expected: ShareKind, found: ShareKind },
    /// A share made for other CKKS parameters.
    #[error("{kind} from party {party} was made for parameters {found}, this session uses {expected}")]
    ParameterMismatch { kind: ShareKind, party: PartyId, expected: Fingerprint, found: Fingerprint },
    /// A share made in another session (other CRS seed or party set).
    #[error("{kind} from party {party} belongs to session {found}, not {expected}")]
    SessionMismatch { kind: ShareKind, party: PartyId, expected: Fingerprint, found: Fingerprint },
    /// A share made under another collective key.
    #[error("{kind} from party {party} was made with a share of another collective key ({found}, expected {expected})")]
    KeyMismatch { kind: ShareKind, party: PartyId, expected: String, found: String },
    /// A decryption or key-switching share made for another ciphertext.
    #[error("{kind} from party {party} was made for another ciphertext ({found}, expected {expected})")]
    CiphertextMismatch { kind: ShareKind, party: PartyId, expected: String, found: String },
    /// A round-2 share computed on another round-1 aggregate, or shares of one protocol mixed
    /// with another's context (Galois element, coalition, target key).
    #[error("{kind} from party {party} has context {found}, expected {expected}")]
    ContextMismatch { kind: ShareKind, party: PartyId, expected: String, found: String },
    /// A secret share that is not yet bound to a collective public key.
    #[error("the secret share of party {party} is not bound to a collective public key yet")]
    UnboundKey { party: PartyId },
    /// Ciphertexts must be relinearised (degree 1) before threshold decryption or switching.
    #[error("ciphertext has degree {degree}; relinearise it before threshold decryption")]
    CiphertextDegree { degree: usize },
    /// A smudging parameter out of range.
    #[error("smudging standard deviation 2^{log2_sigma} is outside [0, {max}]")]
    InvalidSmudging { log2_sigma: f64, max: f64 },
    /// An unflooded (receiver-only) decryption share may not be serialised.
    #[error("the receiver's own unflooded decryption share must never leave its process")]
    UnfloodedShareExport,
    /// A ciphertext whose level cannot hold the masks of a collective refresh.
    #[error("ciphertext at level {level} cannot be refreshed with λ = {lambda} for slots within ±2^{log2_message_bound}: that needs log2 Q_l > {log2_modulus_needed:.1} (lowest such level: {min_level:?})")]
    RefreshLevelTooLow { level: usize, min_level: Option<usize>, lambda: u32, log2_message_bound: u32, log2_modulus_needed: f64 },
    /// Refresh parameters out of range.
    #[error("invalid refresh parameters (λ = {lambda}, bound 2^{log2_message_bound}): {reason}")]
    InvalidRefreshSecurity { lambda: u32, log2_message_bound: u32, reason: String },
    /// The masked aggregate of a refresh is larger than honest shares can make it: a share is
    /// missing, wrong or tampered, or the message lies far outside its declared bound.
    #[error("refresh aggregate has magnitude 2^{log2_found:.1}, beyond the 2^{log2_bound:.1} honest shares give (a wrong or missing share, or a message far outside its declared bound)")]
    RefreshOutOfBound { log2_found: f64, log2_bound: f64 },
    /// A failure of the CKKS layer.
    #[error(transparent)]
    Ckks(#[from] CkksError),
    /// A failure of the arithmetic layer.
    #[error(transparent)]
    Math(#[from] MathError),
}
