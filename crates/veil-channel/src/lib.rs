//! The link between two parties that every veil protocol is written against.
//!
//! Protocols (MPC, oblivious transfer, garbled circuits, threshold CKKS, ...) never touch a
//! socket: they take a [`Channel`], a reliable, ordered, message-oriented link to one peer.
//! `veil-transport` implements it over TCP with mutually authenticated TLS and over files;
//! [`memory::pair`] implements it in memory for tests.
//!
//! Every message travels in a [`frame`] that carries the wire-format version and the
//! [`Fingerprint`] of the parameters the sender is using, so that two parties configured
//! differently stop with [`ChannelError::FingerprintMismatch`] instead of computing garbage.
//! Every channel counts the bytes, messages and rounds it carries ([`LinkStats`]) and every
//! wait is bounded by a timeout.
#![forbid(unsafe_code)]

pub mod frame;
pub mod memory;
mod stream;

pub use frame::{split_frame, FrameHeader, FRAME_HEADER_BYTES, WIRE_VERSION};
pub use stream::StreamChannel;

use std::time::Duration;

/// Default bound on every wait for a peer's message.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default bound on one message's payload (1 GiB): a larger length field is treated as malformed.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1 << 30;

/// A 16-byte digest naming the parameters (and protocol) a message belongs to.
///
/// Two parties exchange messages only if their fingerprints are equal. It detects
/// misconfiguration, not attacks: integrity against an active attacker is the job of the
/// authenticated transport underneath.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Fingerprint(pub [u8; 16]);

impl Fingerprint {
    /// The fingerprint used where no parameters apply (e.g. a handshake).
    pub const NONE: Self = Self([0u8; 16]);

    /// Derives a fingerprint from a domain label (e.g. `"veil-ckks/parameters"`) and the
    /// canonical encoding of the parameters, with BLAKE3 in key-derivation mode.
    pub fn derive(domain: &str, canonical_bytes: &[u8]) -> Self {
        let full = blake3::derive_key(domain, canonical_bytes);
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        Self(out)
    }

    /// Lowercase hexadecimal, for error messages and file headers.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// What went wrong on a link. Every variant names the peer where one is known.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// No message arrived within the timeout.
    #[error("timed out after {after:?} waiting for {peer}")]
    Timeout { peer: String, after: Duration },
    /// The peer closed the link (or its process ended).
    #[error("{peer} disconnected")]
    Disconnected { peer: String },
    /// The peer speaks another wire-format version.
    #[error("{peer} speaks wire format v{theirs}, this build speaks v{ours}")]
    VersionMismatch { peer: String, ours: u16, theirs: u16 },
    /// The peer uses other parameters (or another protocol).
    #[error("{peer} uses parameters with fingerprint {theirs}, this party uses {ours}")]
    FingerprintMismatch { peer: String, ours: Fingerprint, theirs: Fingerprint },
    /// A frame that is not a veil frame, or whose length is out of bounds.
    #[error("malformed frame from {peer}: {reason}")]
    Malformed { peer: String, reason: String },
    /// A message larger than the configured bound (sending or receiving).
    #[error("message of {len} bytes exceeds the bound of {max} bytes (peer {peer})")]
    TooLarge { peer: String, len: usize, max: usize },
    /// Any other I/O failure of the underlying transport.
    #[error("I/O error on the link to {peer}: {source}")]
    Io {
        peer: String,
        #[source]
        source: std::io::Error,
    },
}

/// Traffic carried by one link, in both directions, including frame headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    /// Number of flights this side started: a send that is the first one, or follows a receive.
    /// For a two-party protocol, the number of communication rounds is the larger of the two
    /// sides' counts.
    pub rounds: u64,
}

impl LinkStats {
    /// Bytes in both directions.
    pub fn total_bytes(&self) -> u64 {
        self.bytes_sent + self.bytes_received
    }

    /// Field-wise sum (for aggregating the links of a multi-party session).
    pub fn merged(&self, other: &LinkStats) -> LinkStats {
        LinkStats {
            bytes_sent: self.bytes_sent + other.bytes_sent,
            bytes_received: self.bytes_received + other.bytes_received,
            messages_sent: self.messages_sent + other.messages_sent,
            messages_received: self.messages_received + other.messages_received,
            rounds: self.rounds.max(other.rounds),
        }
    }

    /// Counters accumulated since `earlier` (a snapshot of the same link).
    pub fn since(&self, earlier: &LinkStats) -> LinkStats {
        LinkStats {
            bytes_sent: self.bytes_sent - earlier.bytes_sent,
            bytes_received: self.bytes_received - earlier.bytes_received,
            messages_sent: self.messages_sent - earlier.messages_sent,
            messages_received: self.messages_received - earlier.messages_received,
            rounds: self.rounds - earlier.rounds,
        }
    }
}

/// Tracks byte, message and round counts; shared by every channel implementation.
#[derive(Clone, Debug, Default)]
pub struct StatsCounter {
    stats: LinkStats,
    last_was_send: bool,
}

impl StatsCounter {
    /// Records one sent frame of `bytes` bytes (header included).
    pub fn on_send(&mut self, bytes: usize) {
        if !self.last_was_send {
            self.stats.rounds += 1;
            self.last_was_send = true;
        }
        self.stats.bytes_sent += bytes as u64;
        self.stats.messages_sent += 1;
    }

    /// Records one received frame of `bytes` bytes (header included).
    pub fn on_recv(&mut self, bytes: usize) {
        self.last_was_send = false;
        self.stats.bytes_received += bytes as u64;
        self.stats.messages_received += 1;
    }

    pub fn stats(&self) -> LinkStats {
        self.stats
    }
}

/// A reliable, ordered, message-oriented link to one peer.
///
/// `send` may buffer: a protocol must call [`Channel::flush`] before it waits for an answer
/// that depends on what it sent (`recv` on the stream implementation flushes first, so this
/// only matters for hand-written transports). `recv` waits at most the channel's timeout.
pub trait Channel: Send {
    /// Sends one message.
    fn send(&mut self, payload: &[u8]) -> Result<(), ChannelError>;

    /// Receives the next message into `buf` (cleared first), checking version and fingerprint.
    fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<(), ChannelError>;

    /// Pushes buffered messages to the peer.
    fn flush(&mut self) -> Result<(), ChannelError>;

    /// Counters since the link was opened.
    fn stats(&self) -> LinkStats;

    /// A human-readable name of the peer, for error messages.
    fn peer(&self) -> &str;

    /// Receives the next message.
    fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        let mut buf = Vec::new();
        self.recv_into(&mut buf)?;
        Ok(buf)
    }

    /// Receives the next message and checks that it has exactly `len` bytes.
    fn recv_exact_len(&mut self, len: usize) -> Result<Vec<u8>, ChannelError> {
        let buf = self.recv()?;
        if buf.len() != len {
            return Err(ChannelError::Malformed {
                peer: self.peer().to_string(),
                reason: format!("expected a {len}-byte message, got {} bytes", buf.len()),
            });
        }
        Ok(buf)
    }
}

impl<C: Channel + ?Sized> Channel for Box<C> {
    fn send(&mut self, payload: &[u8]) -> Result<(), ChannelError> {
        (**self).send(payload)
    }
    fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<(), ChannelError> {
        (**self).recv_into(buf)
    }
    fn flush(&mut self) -> Result<(), ChannelError> {
        (**self).flush()
    }
    fn stats(&self) -> LinkStats {
        (**self).stats()
    }
    fn peer(&self) -> &str {
        (**self).peer()
    }
}

impl<C: Channel + ?Sized> Channel for &mut C {
    fn send(&mut self, payload: &[u8]) -> Result<(), ChannelError> {
        (**self).send(payload)
    }
    fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<(), ChannelError> {
        (**self).recv_into(buf)
    }
    fn flush(&mut self) -> Result<(), ChannelError> {
        (**self).flush()
    }
    fn stats(&self) -> LinkStats {
        (**self).stats()
    }
    fn peer(&self) -> &str {
        (**self).peer()
    }
}

/// Settings shared by every channel implementation.
#[derive(Clone, Debug)]
pub struct ChannelConfig {
    /// Fingerprint stamped on every sent frame and required on every received one.
    pub fingerprint: Fingerprint,
    /// Bound on every wait.
    pub timeout: Duration,
    /// Bound on one payload.
    pub max_message_bytes: usize,
}

impl ChannelConfig {
    pub fn new(fingerprint: Fingerprint) -> Self {
        Self { fingerprint, timeout: DEFAULT_TIMEOUT, max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn with_max_message_bytes(mut self, max: usize) -> Self {
        self.max_message_bytes = max;
        self
    }
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self::new(Fingerprint::NONE)
    }
}
