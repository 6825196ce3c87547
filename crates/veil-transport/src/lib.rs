//! Links between veil parties, behind the [`veil_channel::Channel`] trait.
//!
//! - [`connect`] / [`Listener`]: TCP with mutually authenticated TLS 1.3 (rustls, `ring`
//!   provider), blocking I/O, `TCP_NODELAY`, every wait bounded by [`ChannelConfig::timeout`].
//! - [`mesh::establish`]: one TLS link between every pair of parties of a session.
//! - [`file::FileChannel`]: a directory used as a mailbox, for air-gapped sites that move
//!   media by courier (integrity-checked, not authenticated: see the module).
//! - [`pki`]: the small CA that issues the parties' certificates (`veil certs`), and
//!   [`Identity`], a party's certificate, key and trusted roots loaded from a PKI directory.
//!
//! Security assumptions: the CA key is kept by whoever sets up the deployment and every party
//! trusts only that CA; a party's name is the DNS name in its certificate, and a link is
//! established only if both ends prove possession of a key certified for the name the other
//! end expects. The parameter fingerprint in each frame detects misconfiguration, while TLS
//! gives confidentiality, integrity and authenticity of the bytes.

mod error;
pub mod file;
mod identity;
pub mod mesh;
pub mod pki;
mod tls;

pub use error::TransportError;
pub use identity::Identity;
pub use tls::{connect, Listener, TlsChannel, TlsStream};
pub use veil_channel::{Channel, ChannelConfig, ChannelError, Fingerprint, LinkStats};
