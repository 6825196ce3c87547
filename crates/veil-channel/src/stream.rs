//! A [`Channel`] over any byte stream (TCP, TLS, a pipe): framing, checks, buffering, counters.

use std::io::{self, Read, Write};

use crate::frame::{FrameHeader, FRAME_HEADER_BYTES};
use crate::{Channel, ChannelConfig, ChannelError, LinkStats, StatsCounter};

/// Writes are coalesced up to this many bytes before they reach the stream.
const WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// A [`Channel`] over a byte stream.
///
/// The stream's own read timeout bounds each wait (the transport sets it from
/// [`ChannelConfig::timeout`]); a timeout or a short read leaves the link unusable, and every
/// later call fails.
#[derive(Debug)]
pub struct StreamChannel<S> {
    stream: S,
    config: ChannelConfig,
    peer: String,
    write_buf: Vec<u8>,
    counter: StatsCounter,
    broken: bool,
}

impl<S: Read + Write + Send> StreamChannel<S> {
    /// Wraps `stream`, a connection to `peer` whose read timeout is already set.
    pub fn new(stream: S, config: ChannelConfig, peer: impl Into<String>) -> Self {
        Self {
            stream,
            config,
            peer: peer.into(),
            write_buf: Vec::with_capacity(WRITE_BUFFER_BYTES),
            counter: StatsCounter::default(),
            broken: false,
        }
    }

    /// The configuration this channel checks frames against.
    pub fn config(&self) -> &ChannelConfig {
        &self.config
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    fn io_error(&mut self, e: io::Error) -> ChannelError {
        self.broken = true;
        let peer = self.peer.clone();
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ChannelError::Timeout { peer, after: self.config.timeout },
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected => ChannelError::Disconnected { peer },
            _ => ChannelError::Io { peer, source: e },
        }
    }

    fn check_usable(&self) -> Result<(), ChannelError> {
        if self.broken {
            return Err(ChannelError::Disconnected { peer: self.peer.clone() });
        }
        Ok(())
    }
}

impl<S: Read + Write + Send> Channel for StreamChannel<S> {
    fn send(&mut self, payload: &[u8]) -> Result<(), ChannelError> {
        self.check_usable()?;
        let header = FrameHeader::for_payload(&self.config, payload.len(), &self.peer)?;
        self.write_buf.extend_from_slice(&header.encode());
        if self.write_buf.len() + payload.len() > WRITE_BUFFER_BYTES {
            self.flush()?;
            if payload.len() >= WRITE_BUFFER_BYTES {
                if let Err(e) = self.stream.write_all(payload) {
                    return Err(self.io_error(e));
                }
            } else {
                self.write_buf.extend_from_slice(payload);
            }
        } else {
            self.write_buf.extend_from_slice(payload);
        }
        self.counter.on_send(FRAME_HEADER_BYTES + payload.len());
        Ok(())
    }

    fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<(), ChannelError> {
        self.check_usable()?;
        self.flush()?;
        let mut header = [0u8; FRAME_HEADER_BYTES];
        if let Err(e) = self.stream.read_exact(&mut header) {
            return Err(self.io_error(e));
        }
        let header = match FrameHeader::decode_checked(&header, &self.config, &self.peer) {
            Ok(h) => h,
            Err(e) => {
                self.broken = true;
                return Err(e);
            }
        };
        buf.clear();
        buf.resize(header.len as usize, 0);
        if let Err(e) = self.stream.read_exact(buf) {
            return Err(self.io_error(e));
        }
        self.counter.on_recv(FRAME_HEADER_BYTES + buf.len());
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ChannelError> {
        if self.write_buf.is_empty() {
            return Ok(());
        }
        let result = self.stream.write_all(&self.write_buf).and_then(|()| self.stream.flush());
        self.write_buf.clear();
        result.map_err(|e| self.io_error(e))
    }

    fn stats(&self) -> LinkStats {
        self.counter.stats()
    }

    fn peer(&self) -> &str {
        &self.peer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Fingerprint;
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    fn tcp_pair(timeout: Duration) -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let client = TcpStream::connect(addr).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        for s in [&client, &server] {
            s.set_read_timeout(Some(timeout)).expect("timeout");
            s.set_nodelay(true).expect("nodelay");
        }
        (client, server)
    }

    #[test]
    fn messages_cross_a_tcp_link_and_are_counted() {
        let (a, b) = tcp_pair(Duration::from_secs(5));
        let cfg = ChannelConfig::new(Fingerprint([3; 16]));
        let mut a = StreamChannel::new(a, cfg.clone(), "b");
        let mut b = StreamChannel::new(b, cfg, "a");
        let big = vec![0xabu8; 3 * WRITE_BUFFER_BYTES + 5];
        let expected = big.clone();
        let receiver = std::thread::spawn(move || {
            assert_eq!(b.recv().expect("recv"), b"hello");
            assert_eq!(b.recv().expect("recv big"), expected);
            b.send(b"").expect("send empty");
            b.flush().expect("flush");
            b
        });
        a.send(b"hello").expect("send");
        a.send(&big).expect("send big");
        a.flush().expect("flush");
        assert_eq!(a.recv().expect("recv empty"), b"");
        let b = receiver.join().expect("receiver thread");
        let sa = a.stats();
        assert_eq!(sa.messages_sent, 2);
        assert_eq!(sa.bytes_sent, (2 * FRAME_HEADER_BYTES + 5 + big.len()) as u64);
        assert_eq!(sa.rounds, 1);
        assert_eq!(b.stats().rounds, 1);
        assert_eq!(b.stats().bytes_received, sa.bytes_sent);
    }

    #[test]
    fn a_silent_peer_times_out_and_a_closed_one_disconnects() {
        let (a, b) = tcp_pair(Duration::from_millis(100));
        let cfg = ChannelConfig::new(Fingerprint::NONE).with_timeout(Duration::from_millis(100));
        let mut a = StreamChannel::new(a, cfg, "b");
        assert!(matches!(a.recv(), Err(ChannelError::Timeout { .. })));
        let (c, d) = tcp_pair(Duration::from_secs(5));
        let mut c = StreamChannel::new(c, ChannelConfig::default(), "d");
        drop(d);
        drop(b);
        assert!(matches!(c.recv(), Err(ChannelError::Disconnected { .. })));
    }

    #[test]
    fn mismatched_fingerprints_are_refused() {
        let (a, b) = tcp_pair(Duration::from_secs(5));
        let mut a = StreamChannel::new(a, ChannelConfig::new(Fingerprint([1; 16])), "b");
        let mut b = StreamChannel::new(b, ChannelConfig::new(Fingerprint([2; 16])), "a");
        a.send(b"x").expect("send");
        a.flush().expect("flush");
        assert!(matches!(b.recv(), Err(ChannelError::FingerprintMismatch { .. })));
    }
}
