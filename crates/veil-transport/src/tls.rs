//! Mutually authenticated TLS 1.3 over TCP, with blocking I/O (after an optional short spin
//! on receive: see [`LinkOptions`]).
//!
//! Both ends present a certificate from the deployment's CA: the connecting side checks that
//! the listener's certificate is issued for the peer name it expects, the listening side
//! requires a client certificate from the CA and learns the client's name from it. After the
//! handshake the listener sends a short acceptance record, so that a client whose certificate
//! was refused (which TLS 1.3 reports only after the client's side of the handshake is done)
//! learns it in `connect`, not at its first `recv`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConfig, ServerConnection, StreamOwned};
use veil_channel::{ChannelConfig, ChannelError, StreamChannel, WIRE_VERSION};

use crate::socket::{BufferedSocket, LinkOptions};
use crate::{pki, Identity, TransportError};

/// A channel over mutually authenticated TLS 1.3 over TCP.
pub type TlsChannel = StreamChannel<TlsStream>;

/// Sent by the listener once it has authenticated and accepted the client.
const ACCEPTED: [u8; 8] = {
    let v = WIRE_VERSION.to_le_bytes();
    [b'V', b'L', b'O', b'K', v[0], v[1], 0, 0]
};

/// Bound on sending the closing alert when a link is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(200);

/// Shortest socket timeout (a zero timeout would mean "block forever" to the OS).
const MIN_SOCKET_TIMEOUT: Duration = Duration::from_millis(1);

/// A TLS connection over TCP, from either side.
pub enum TlsStream {
    Client(StreamOwned<ClientConnection, BufferedSocket>),
    Server(StreamOwned<ServerConnection, BufferedSocket>),
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = match self {
            TlsStream::Client(_) => "client",
            TlsStream::Server(_) => "server",
        };
        f.debug_struct("TlsStream").field("side", &side).field("peer_addr", &self.tcp().peer_addr().ok()).finish()
    }
}

impl TlsStream {
    /// The TCP socket underneath (in non-blocking mode when the link spins on receive: see
    /// [`LinkOptions::receive_spin`]).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            TlsStream::Client(s) => &s.get_ref().tcp,
            TlsStream::Server(s) => &s.get_ref().tcp,
        }
    }
}

impl TlsStream {
    fn set_receive_spin(&mut self, spin: Duration) -> io::Result<()> {
        match self {
            TlsStream::Client(s) => s.sock.set_receive_spin(spin),
            TlsStream::Server(s) => s.sock.set_receive_spin(spin),
        }
    }

    /// The negotiated TLS cipher suite (e.g. `TLS13_AES_128_GCM_SHA256`).
    pub fn cipher_suite(&self) -> Option<String> {
        let suite = match self {
            TlsStream::Client(s) => s.conn.negotiated_cipher_suite(),
            TlsStream::Server(s) => s.conn.negotiated_cipher_suite(),
        };
        suite.map(|s| format!("{:?}", s.suite()))
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            TlsStream::Client(s) => s.read(buf),
            TlsStream::Server(s) => s.read(buf),
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            TlsStream::Client(s) => s.write(buf),
            TlsStream::Server(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            TlsStream::Client(s) => s.flush(),
            TlsStream::Server(s) => s.flush(),
        }
    }
}

impl Drop for TlsStream {
    /// Sends a TLS close_notify (best effort, waiting at most 200 ms), so that the
    /// peer sees an orderly end of the link.
    fn drop(&mut self) {
        fn close<C, S>(conn: &mut C, sock: &mut BufferedSocket)
        where
            C: std::ops::DerefMut<Target = rustls::ConnectionCommon<S>>,
        {
            conn.send_close_notify();
            let _ = sock.make_blocking();
            let _ = sock.tcp.set_write_timeout(Some(CLOSE_TIMEOUT));
            while conn.wants_write() {
                if conn.write_tls(sock).is_err() {
                    break;
                }
            }
        }
        match self {
            TlsStream::Client(s) => close(&mut s.conn, &mut s.sock),
            TlsStream::Server(s) => close(&mut s.conn, &mut s.sock),
        }
    }
}

fn configure_socket(tcp: &TcpStream, timeout: Duration) -> io::Result<()> {
    let timeout = timeout.max(MIN_SOCKET_TIMEOUT);
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Describes a failed handshake or set-up read in words, naming the TLS alert if there is one.
fn describe(e: &io::Error) -> String {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::AlertReceived(alert)) => {
            format!("the peer refused this party's certificate or parameters (TLS alert {alert:?})")
        }
        Some(rustls::Error::InvalidCertificate(reason)) => {
            format!("the peer's certificate is not acceptable ({reason:?})")
        }
        Some(rustls::Error::NoCertificatesPresented) => "the peer presented no certificate".to_string(),
        Some(other) => other.to_string(),
        None if e.kind() == io::ErrorKind::UnexpectedEof => {
            "the peer closed the connection during set-up (it may not expect this party, or refused its certificate)".to_string()
        }
        None => e.to_string(),
    }
}

fn set_up_error(peer: &str, addr: SocketAddr, timeout: Duration, e: &io::Error) -> TransportError {
    if is_timeout(e) {
        return TransportError::Channel(ChannelError::Timeout { peer: peer.to_string(), after: timeout });
    }
    TransportError::Handshake { peer: peer.to_string(), addr, reason: describe(e) }
}

/// Connects to `peer` listening at `addr`, retrying until `config.timeout` while nothing
/// listens there yet, and checks that its certificate is issued by our CA for the name `peer`.
/// The socket gets the default [`LinkOptions`] (see [`connect_with`]).
pub fn connect(addr: SocketAddr, peer: &str, identity: &Identity, config: ChannelConfig) -> Result<TlsChannel, TransportError> {
    connect_with(addr, peer, identity, config, LinkOptions::default())
}

/// Like [`connect`], with the given socket tuning.
pub fn connect_with(
    addr: SocketAddr,
    peer: &str,
    identity: &Identity,
    config: ChannelConfig,
    options: LinkOptions,
) -> Result<TlsChannel, TransportError> {
    pki::validate_party_name(peer)?;
    let server_name = ServerName::try_from(peer.to_string())
        .map_err(|_| TransportError::InvalidName { name: peer.to_string(), reason: "not a DNS name" })?;
    let timeout = config.timeout;
    let tcp = connect_tcp(addr, peer, timeout)?;
    configure_socket(&tcp, timeout).map_err(|e| set_up_error(peer, addr, timeout, &e))?;

    let mut conn = ClientConnection::new(identity.client.clone(), server_name)
        .map_err(|e| TransportError::TlsConfig { party: identity.name().to_string(), reason: e.to_string() })?;
    let mut tcp = BufferedSocket::new(tcp);
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| set_up_error(peer, addr, timeout, &e))?;
    }
    let mut stream = TlsStream::Client(StreamOwned::new(conn, tcp));
    let mut marker = [0u8; ACCEPTED.len()];
    stream.read_exact(&mut marker).map_err(|e| set_up_error(peer, addr, timeout, &e))?;
    if marker != ACCEPTED {
        return Err(TransportError::Handshake {
            peer: peer.to_string(),
            addr,
            reason: format!("unexpected acceptance record {marker:02x?} (not a veil party of this wire version)"),
        });
    }
    stream.set_receive_spin(options.receive_spin).map_err(|e| set_up_error(peer, addr, timeout, &e))?;
    tracing::debug!(peer, %addr, "TLS link established");
    Ok(StreamChannel::new(stream, config, peer))
}

fn connect_tcp(addr: SocketAddr, peer: &str, timeout: Duration) -> Result<TcpStream, TransportError> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now()).max(MIN_SOCKET_TIMEOUT);
        match TcpStream::connect_timeout(&addr, remaining) {
            Ok(tcp) => return Ok(tcp),
            Err(source) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(TransportError::Connect { peer: peer.to_string(), addr, after: timeout, source });
                }
                std::thread::sleep(pause.min(deadline - now));
                pause = (pause * 2).min(Duration::from_millis(100));
            }
        }
    }
}

/// A listening socket that accepts mutually authenticated TLS links.
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    addr: SocketAddr,
    server: Arc<ServerConfig>,
    options: LinkOptions,
}

impl Listener {
    /// Listens on `addr` (port 0 picks a free port; see [`Listener::local_addr`]).
    pub fn bind(addr: SocketAddr, identity: &Identity) -> Result<Listener, TransportError> {
        let bind_err = |source| TransportError::Bind { addr, source };
        let tcp = TcpListener::bind(addr).map_err(bind_err)?;
        tcp.set_nonblocking(true).map_err(bind_err)?;
        let addr = tcp.local_addr().map_err(bind_err)?;
        Ok(Listener { tcp, addr, server: identity.server.clone(), options: LinkOptions::default() })
    }

    /// Gives the links it accepts from now on the socket tuning `options` (the default is
    /// [`LinkOptions::default`]).
    pub fn with_options(mut self, options: LinkOptions) -> Listener {
        self.options = options;
        self
    }

    /// The address actually listened on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Accepts one connection within `config.timeout`, requires a client certificate from the
    /// CA, and returns the channel and the peer's authenticated name (from its certificate).
    pub fn accept(&self, config: ChannelConfig) -> Result<(TlsChannel, String), TransportError> {
        self.accept_checked(config, |_| true, &[])
    }

    /// Like [`Listener::accept`], but refuses (and closes) a connection from any party whose
    /// authenticated name is not in `expected`.
    pub fn accept_one_of(&self, config: ChannelConfig, expected: &[String]) -> Result<(TlsChannel, String), TransportError> {
        self.accept_checked(config, |name| expected.iter().any(|e| e == name), expected)
    }

    fn accept_checked(
        &self,
        config: ChannelConfig,
        allowed: impl Fn(&str) -> bool,
        expected: &[String],
    ) -> Result<(TlsChannel, String), TransportError> {
        let timeout = config.timeout;
        let (tcp, from) = self.accept_tcp(timeout)?;
        let who = "an unauthenticated party".to_string();
        tcp.set_nonblocking(false).and_then(|()| configure_socket(&tcp, timeout)).map_err(|e| set_up_error(&who, from, timeout, &e))?;

        let mut conn = ServerConnection::new(self.server.clone()).map_err(|e| TransportError::Handshake {
            peer: who.clone(),
            addr: from,
            reason: e.to_string(),
        })?;
        let mut tcp = BufferedSocket::new(tcp);
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).map_err(|e| set_up_error(&who, from, timeout, &e))?;
        }
        let leaf = conn.peer_certificates().and_then(|c| c.first()).ok_or_else(|| TransportError::Handshake {
            peer: who.clone(),
            addr: from,
            reason: "the peer presented no certificate".to_string(),
        })?;
        let names = pki::dns_names(leaf).map_err(|reason| TransportError::Handshake { peer: who.clone(), addr: from, reason })?;
        let [name] = names.as_slice() else {
            return Err(TransportError::Handshake {
                peer: who,
                addr: from,
                reason: format!("its certificate names {} parties ({names:?}), expected exactly one", names.len()),
            });
        };
        let name = name.clone();
        let mut stream = TlsStream::Server(StreamOwned::new(conn, tcp));
        if !allowed(&name) {
            return Err(TransportError::UnexpectedPeer { addr: from, expected: expected.to_vec(), found: name });
        }
        stream.write_all(&ACCEPTED).and_then(|()| stream.flush()).map_err(|e| set_up_error(&name, from, timeout, &e))?;
        stream.set_receive_spin(self.options.receive_spin).map_err(|e| set_up_error(&name, from, timeout, &e))?;
        tracing::debug!(peer = %name, %from, "TLS link accepted");
        Ok((StreamChannel::new(stream, config, name.clone()), name))
    }

    fn accept_tcp(&self, timeout: Duration) -> Result<(TcpStream, SocketAddr), TransportError> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            match self.tcp.accept() {
                Ok(accepted) => return Ok(accepted),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset) => {}
                Err(source) => return Err(TransportError::Accept { addr: self.addr, source }),
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(TransportError::AcceptTimeout { addr: self.addr, after: timeout });
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}
