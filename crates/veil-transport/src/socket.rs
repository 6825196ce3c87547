//! The TCP socket under a TLS link: a large read buffer, and a receive path that polls the
//! socket briefly before it sleeps.
//!
//! Waking a thread blocked in `read` costs tens of microseconds on an idle virtual machine,
//! which dominates protocols that exchange many small messages (a garbled comparison, an MPC
//! inference). When [`LinkOptions::receive_spin`] is non-zero the socket is kept in
//! non-blocking mode: a read first polls it for at most that long (yielding the core after
//! every poll, so that another party on the same core still runs), and only if nothing has arrived
//! switches the socket to blocking mode for one read bounded by the link's timeout. A write
//! that finds the send buffer full likewise waits in blocking mode, bounded by the timeout.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Bytes read from the socket per system call (rustls itself asks for 4 KiB at a time).
const SOCKET_READ_BUFFER: usize = 256 * 1024;

/// Tuning of a TLS link's socket, beside the [`veil_channel::ChannelConfig`] that bounds its
/// waits and frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkOptions {
    /// How long a receive polls the socket before it blocks; [`Duration::ZERO`] always blocks
    /// at once (the socket then stays in blocking mode). Spinning trades some CPU time for the
    /// latency of waking a sleeping thread; it stops once this budget is spent, so a peer that
    /// computes for long costs at most this much CPU per message.
    pub receive_spin: Duration,
}

impl LinkOptions {
    /// Default [`LinkOptions::receive_spin`]: about two loopback round trips of a TLS record.
    pub const DEFAULT_RECEIVE_SPIN: Duration = Duration::from_micros(40);

    /// Options with the given receive spin budget (zero turns spinning off).
    pub fn with_receive_spin(mut self, spin: Duration) -> Self {
        self.receive_spin = spin;
        self
    }
}

impl Default for LinkOptions {
    fn default() -> Self {
        Self { receive_spin: Self::DEFAULT_RECEIVE_SPIN }
    }
}

/// A TCP socket with a read buffer, so that a large TLS record costs one system call rather
/// than one per 4 KiB, and with the spin-then-block receive path described in the module.
pub struct BufferedSocket {
    pub(crate) tcp: TcpStream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    spin: Duration,
}

impl std::fmt::Debug for BufferedSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferedSocket")
            .field("tcp", &self.tcp)
            .field("buffered", &(self.end - self.start))
            .field("spin", &self.spin)
            .finish()
    }
}

impl BufferedSocket {
    /// Wraps a blocking socket whose timeouts are set; it stays blocking until
    /// [`BufferedSocket::set_receive_spin`].
    pub(crate) fn new(tcp: TcpStream) -> Self {
        Self { tcp, buf: vec![0u8; SOCKET_READ_BUFFER].into_boxed_slice(), start: 0, end: 0, spin: Duration::ZERO }
    }

    /// Sets the receive spin budget, putting the socket in non-blocking mode if it is non-zero.
    pub(crate) fn set_receive_spin(&mut self, spin: Duration) -> io::Result<()> {
        self.tcp.set_nonblocking(!spin.is_zero())?;
        self.spin = spin;
        Ok(())
    }

    /// Puts the socket back in blocking mode (for the closing alert).
    pub(crate) fn make_blocking(&mut self) -> io::Result<()> {
        self.set_receive_spin(Duration::ZERO)
    }

    fn nonblocking(&self) -> bool {
        !self.spin.is_zero()
    }

    /// Runs `op` with the socket in blocking mode (bounded by its timeouts), then restores
    /// non-blocking mode.
    fn blocking<T>(&mut self, op: impl FnOnce(&mut TcpStream) -> io::Result<T>) -> io::Result<T> {
        self.tcp.set_nonblocking(false)?;
        let result = op(&mut self.tcp);
        self.tcp.set_nonblocking(true)?;
        result
    }

    /// One read from the socket: polls for up to the spin budget, then blocks.
    fn read_socket(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if !self.nonblocking() {
            return self.tcp.read(out);
        }
        let start = Instant::now();
        loop {
            match self.tcp.read(out) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
            if start.elapsed() >= self.spin {
                break;
            }
            std::hint::spin_loop();
            std::thread::yield_now();
        }
        self.blocking(|tcp| tcp.read(out))
    }
}

impl Read for BufferedSocket {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end {
            if out.len() >= self.buf.len() {
                return self.read_socket(out);
            }
            let mut buf = std::mem::take(&mut self.buf);
            let filled = self.read_socket(&mut buf);
            self.buf = buf;
            self.end = filled?;
            self.start = 0;
        }
        let n = out.len().min(self.end - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

impl Write for BufferedSocket {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self.tcp.write(data) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.nonblocking() => self.blocking(|tcp| tcp.write(data)),
            other => other,
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self.tcp.write_vectored(bufs) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.nonblocking() => self.blocking(|tcp| tcp.write_vectored(bufs)),
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}
