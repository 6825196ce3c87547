//! Garbled circuits for veil: free-XOR + half-gates with point-and-permute, a streaming
//! garbler and evaluator over a [`veil_channel::Channel`], and Bristol Fashion circuits.
//!
//! * [`bristol`]: parse, validate and evaluate Bristol Fashion files in the clear.
//! * [`halfgates`]: the garbling and evaluation kernels (tables streamed in chunks, so the
//!   garbled circuit is never held in memory).
//! * [`protocol`]: [`Garbler`] and [`Evaluator`] sessions: OT-extension setup once, then any
//!   number of executions of [`Program`]s, inputs of the evaluator by correlated OT.
//! * [`millionaires`]: the 32/64-bit comparison programs.
#![forbid(unsafe_code)]

pub mod bristol;
pub mod halfgates;
pub mod millionaires;
pub mod protocol;
pub mod schedule;
pub mod values;

pub use bristol::{Circuit, Gate};
pub use protocol::{Evaluator, Garbler, OutputTo, Program};
pub use schedule::Schedule;
pub use veil_ot::IknpConfig;

use veil_channel::ChannelError;
use veil_ot::OtError;

/// What went wrong while parsing, garbling or evaluating.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GcError {
    /// A malformed Bristol Fashion file.
    #[error("malformed circuit, line {line}: {reason}")]
    Parse { line: usize, reason: String },
    /// The circuit file could not be read.
    #[error("cannot read circuit file {path}: {source}")]
    CircuitFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A party's input has the wrong number of bits.
    #[error("the {party}'s input has {got} bits, the circuit expects {expected}")]
    InputLength { party: &'static str, expected: usize, got: usize },
    /// The input split names more groups than the circuit has.
    #[error("the garbler is given {garbler_groups} input groups but the circuit has {groups}")]
    InvalidSplit { groups: usize, garbler_groups: usize },
    /// A garbled-table chunk of the wrong size (truncated or padded stream).
    #[error("garbled-table chunk of {got} bytes, expected {expected}")]
    TableLength { expected: usize, got: usize },
    /// A protocol message of the wrong size.
    #[error("{peer} sent {got} bytes for the {what}, expected {expected}")]
    MessageLength { peer: String, what: &'static str, expected: usize, got: usize },
    /// The parties disagree on the circuit or the roles.
    #[error("session mismatch with {peer}: {reason}")]
    SessionMismatch { peer: String, reason: String },
    /// An output label that decodes to neither 0 nor 1: the garbled circuit was tampered with,
    /// truncated or garbled inconsistently. No output is returned.
    #[error("output wire {output}: the label matches neither decoding hash from {peer} (tampered or inconsistent garbled circuit)")]
    InvalidOutputLabel { peer: String, output: usize },
    /// A value that does not fit the input group it is meant for.
    #[error("input group {group}: {reason}")]
    InputValue { group: usize, reason: String },
    /// The link failed.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// Oblivious transfer failed.
    #[error(transparent)]
    Ot(#[from] OtError),
    /// The operating system's randomness source failed.
    #[error("the system random number generator failed")]
    Rng,
}

#[cfg(test)]
mod tests;
