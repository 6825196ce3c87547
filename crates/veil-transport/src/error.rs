//! The one error type of this crate.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use veil_channel::ChannelError;

/// What went wrong while setting up or using a link. Every variant names the file, peer or
/// address concerned and, where there is one, what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A failure on an established link (timeout, disconnection, bad frame, ...).
    #[error(transparent)]
    Channel(#[from] ChannelError),

    /// A file of the PKI or of a mailbox could not be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file of the PKI or of a mailbox could not be written.
    #[error("cannot write {}: {source}", path.display())]
    WriteFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Refused to overwrite an existing key, certificate or message file.
    #[error("{} already exists; refusing to overwrite it (move it away first if it is really to be replaced)", path.display())]
    AlreadyExists { path: PathBuf },

    /// A private-key file that group or others may read.
    #[error(
        "private key {} has mode {mode:04o}: it must be readable by its owner only (run `chmod 600 {}`)",
        path.display(),
        path.display()
    )]
    KeyFilePermissions { path: PathBuf, mode: u32 },

    /// A PEM file without the expected content.
    #[error("{}: {reason}", path.display())]
    Pem { path: PathBuf, reason: String },

    /// A party or CA name that cannot be used (not a DNS-style name).
    #[error("invalid name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },

    /// A certificate names another party than the one it was loaded for.
    #[error("{} is a certificate for {found:?}, not for {expected:?}", path.display())]
    CertificateName { path: PathBuf, expected: String, found: String },

    /// Generating or signing a key or certificate failed.
    #[error("cannot create the certificate of {subject}: {reason}")]
    CertificateGeneration { subject: String, reason: String },

    /// The TLS configuration could not be built from the identity's files.
    #[error("invalid TLS identity of {party}: {reason} (re-issue it with `veil certs issue`)")]
    TlsConfig { party: String, reason: String },

    /// Nothing accepted a connection at the address within the timeout.
    #[error(
        "could not connect to {peer} at {addr} within {after:?}: {source} \
         (is its process running and listening on that address?)"
    )]
    Connect {
        peer: String,
        addr: SocketAddr,
        after: Duration,
        #[source]
        source: std::io::Error,
    },

    /// No party connected to the listener within the timeout.
    #[error("no party connected to {addr} within {after:?}")]
    AcceptTimeout { addr: SocketAddr, after: Duration },

    /// The listening socket failed while waiting for a connection.
    #[error("accepting a connection on {addr} failed: {source}")]
    Accept {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source} (is another process using this port?)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    /// The peer's certificate was refused, or the peer refused ours.
    #[error(
        "TLS handshake with {peer} at {addr} failed: {reason} \
         (both parties need certificates from the same CA, issued for the names they are called by)"
    )]
    Handshake { peer: String, addr: SocketAddr, reason: String },

    /// An authenticated party connected that this party does not expect here.
    #[error("{addr}: the connecting party authenticated as {found:?}, expected one of {expected:?}")]
    UnexpectedPeer { addr: SocketAddr, expected: Vec<String>, found: String },

    /// A mesh description that cannot be set up.
    #[error("invalid mesh: {reason}")]
    InvalidMesh { reason: String },
}
