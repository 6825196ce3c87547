//! Links between veil parties, behind the [`veil_channel::Channel`] trait.
//!
//! - [`connect`] / [`Listener`]: TCP with mutually authenticated TLS 1.3 (rustls, `ring`
//!   provider), blocking I/O, `TCP_NODELAY`, every wait bounded by [`ChannelConfig::timeout`];
//!   a receive first polls the socket for [`LinkOptions::receive_spin`] (40 µs by default) to
//!   avoid the cost of waking a sleeping thread on small messages.
//! - [`mesh::establish`]: one TLS link between every pair of parties of a session.
//! - [`file::FileChannel`]: a directory used as a mailbox, for air-gapped sites that move
//!   media by courier (integrity-checked, not authenticated: see the module).
//! - [`pki`]: the small CA that issues the parties' certificates (`veil certs`), and
//!   [`Identity`], a party's certificate, key and trusted roots loaded from a PKI directory.
//!
//! ```
//! use std::time::Duration;
//! use veil_transport::{connect, pki, Channel, ChannelConfig, Fingerprint, Identity, Listener};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! pki::create_local(dir.path(), &["alice", "bob"])?; // what `veil certs init` does
//! let config = ChannelConfig::new(Fingerprint::derive("example/v1", b"parameters"))
//!     .with_timeout(Duration::from_secs(5));
//!
//! let bob = Identity::load(dir.path(), "bob")?;
//! let listener = Listener::bind("127.0.0.1:0".parse()?, &bob)?;
//! let addr = listener.local_addr();
//! let cfg = config.clone();
//! let server = std::thread::spawn(move || -> Result<String, veil_transport::TransportError> {
//!     let (mut link, peer) = listener.accept(cfg)?; // peer = "alice", from her certificate
//!     let question = link.recv()?;
//!     link.send(&[question[0] + 1])?;
//!     link.flush()?;
//!     Ok(peer)
//! });
//!
//! let alice = Identity::load(dir.path(), "alice")?;
//! let mut link = connect(addr, "bob", &alice, config)?; // checks bob's certificate
//! link.send(&[41])?;
//! assert_eq!(link.recv()?, [42]);
//! assert_eq!(server.join().expect("server thread")?, "alice");
//! assert_eq!(link.stats().rounds, 1);
//! # Ok(())
//! # }
//! ```
//!
//! Security assumptions: the CA key is kept by whoever sets up the deployment and every party
//! trusts only that CA; a party's name is the DNS name in its certificate, and a link is
//! established only if both ends prove possession of a key certified for the name the other
//! end expects. The parameter fingerprint in each frame detects misconfiguration, while TLS
//! gives confidentiality, integrity and authenticity of the bytes.
#![forbid(unsafe_code)]

mod error;
pub mod file;
mod identity;
pub mod mesh;
pub mod pki;
mod socket;
mod tls;

pub use error::TransportError;
pub use identity::Identity;
pub use socket::LinkOptions;
pub use tls::{connect, connect_with, Listener, TlsChannel, TlsStream};
pub use veil_channel::{Channel, ChannelConfig, ChannelError, Fingerprint, LinkStats};
