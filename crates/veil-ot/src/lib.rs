//! Oblivious transfer for veil: base OT over Ristretto255 and IKNP OT extension.
//!
//! * [`base`]: Chou–Orlandi random OT (128 of them seed the extension).
//! * [`iknp`]: IKNP extension to millions of correlated OTs with a global Δ
//!   ([`CotSender`], [`CotReceiver`]), random OT by hashing ([`iknp::random_ot_sender`]),
//!   precomputed pools, and the optional KOS consistency check.
//! * [`TccrHash`]: the fixed-key-AES correlation-robust hash shared with garbled circuits.
//!
//! Every protocol step talks to the peer through a [`veil_channel::Channel`].
//!
//! Choice: veil implements OT itself rather than depending on `cryprot-ot` (0.3.2 exists on
//! crates.io, MIT): on this project's machine the peer measurement of `cryprot-ot`'s
//! semi-honest IKNP correlated OT is 15.75 M/s (both parties in one process, QUIC), while
//! this crate reaches about 21 M/s in the same `ot_ext_per_s` case between two threads over
//! mutually authenticated TLS (`veil bench gc`); the protocols are small, and the garbler must
//! own Δ and the label layout.

#[cfg(target_endian = "big")]
compile_error!("veil-ot views blocks as little-endian bytes on the wire; big-endian targets are not supported");

pub mod aes;
pub mod base;
pub mod block;
pub mod gf128;
pub mod hash;
pub mod iknp;
pub mod transpose;

pub use block::Block;
pub use hash::TccrHash;
pub use iknp::{CotReceiver, CotSender, IknpConfig};

use veil_channel::ChannelError;

/// What went wrong in an OT protocol.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtError {
    /// The link failed (timeout, disconnect, malformed frame, ...).
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// A group element that does not decode to a valid Ristretto point, or the identity.
    #[error("{peer} sent an invalid Ristretto255 point (base OT element {index})")]
    InvalidPoint { peer: String, index: usize },
    /// A message of the wrong size for the protocol step.
    #[error("{peer} sent {got} bytes for the {what}, expected {expected}")]
    WrongLength { peer: String, what: &'static str, expected: usize, got: usize },
    /// The two parties configured the extension differently.
    #[error("{peer} runs OT extension with KOS check = {theirs_kos}, this party with {ours:?}")]
    ConfigMismatch { peer: String, ours: IknpConfig, theirs_kos: bool },
    /// The receiver's extension matrix is inconsistent (KOS check): it deviated from the protocol.
    #[error("KOS consistency check failed: {peer} deviated from the OT-extension protocol")]
    ConsistencyCheckFailed { peer: String },
    /// The operating system's randomness source failed.
    #[error("the system random number generator failed")]
    Rng,
}

#[cfg(test)]
mod tests;
