//! In-memory channels between threads of one process, for tests and single-process runs.
//!
//! Frames are encoded and checked exactly as on a network link, so byte counts and
//! version/fingerprint checks match what TCP would give.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};

use crate::frame::{split_frame, FrameHeader, FRAME_HEADER_BYTES};
use crate::{Channel, ChannelConfig, ChannelError, LinkStats, StatsCounter};

/// One end of an in-memory link.
#[derive(Debug)]
pub struct MemoryChannel {
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
    config: ChannelConfig,
    peer: String,
    counter: StatsCounter,
}

/// Two connected ends with the same configuration; the first is named "A", the second "B"
/// (each end's `peer()` names the other).
pub fn pair(config: ChannelConfig) -> (MemoryChannel, MemoryChannel) {
    pair_named(config.clone(), "B", config, "A")
}

/// Two connected ends with their own configurations; `peer_of_first` is how the first end
/// names its peer (the second end), and vice versa.
pub fn pair_named(
    first: ChannelConfig,
    peer_of_first: &str,
    second: ChannelConfig,
    peer_of_second: &str,
) -> (MemoryChannel, MemoryChannel) {
    let (tx_ab, rx_ab) = mpsc::channel();
    let (tx_ba, rx_ba) = mpsc::channel();
    (
        MemoryChannel { tx: tx_ab, rx: rx_ba, config: first, peer: peer_of_first.to_string(), counter: StatsCounter::default() },
        MemoryChannel { tx: tx_ba, rx: rx_ab, config: second, peer: peer_of_second.to_string(), counter: StatsCounter::default() },
    )
}

impl MemoryChannel {
    /// Injects raw bytes as if the peer had sent them (for tampering tests).
    pub fn inject_raw_frame_to_peer(&mut self, frame: Vec<u8>) -> Result<(), ChannelError> {
        self.tx.send(frame).map_err(|_| ChannelError::Disconnected { peer: self.peer.clone() })
    }
}

impl Channel for MemoryChannel {
    fn send(&mut self, payload: &[u8]) -> Result<(), ChannelError> {
        let header = FrameHeader::for_payload(&self.config, payload.len(), &self.peer)?;
        let mut frame = Vec::with_capacity(FRAME_HEADER_BYTES + payload.len());
        frame.extend_from_slice(&header.encode());
        frame.extend_from_slice(payload);
        self.tx.send(frame).map_err(|_| ChannelError::Disconnected { peer: self.peer.clone() })?;
        self.counter.on_send(FRAME_HEADER_BYTES + payload.len());
        Ok(())
    }

    fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<(), ChannelError> {
        let frame = self.rx.recv_timeout(self.config.timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => ChannelError::Timeout { peer: self.peer.clone(), after: self.config.timeout },
            RecvTimeoutError::Disconnected => ChannelError::Disconnected { peer: self.peer.clone() },
        })?;
        let (_, payload) = split_frame(&frame, &self.config, &self.peer)?;
        buf.clear();
        buf.extend_from_slice(payload);
        self.counter.on_recv(frame.len());
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ChannelError> {
        Ok(())
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
    use std::time::Duration;

    #[test]
    fn round_trip_and_rounds() {
        let (mut a, mut b) = pair(ChannelConfig::default());
        a.send(b"1").expect("send");
        a.send(b"2").expect("send");
        assert_eq!(b.recv().expect("recv"), b"1");
        assert_eq!(b.recv().expect("recv"), b"2");
        b.send(b"3").expect("send");
        assert_eq!(a.recv().expect("recv"), b"3");
        a.send(b"4").expect("send");
        assert_eq!(a.stats().rounds, 2);
        assert_eq!(b.stats().rounds, 1);
        assert_eq!(a.peer(), "B");
    }

    #[test]
    fn errors_are_typed() {
        let cfg = ChannelConfig::new(Fingerprint([9; 16])).with_timeout(Duration::from_millis(20));
        let (mut a, b) = pair(cfg.clone());
        assert!(matches!(a.recv(), Err(ChannelError::Timeout { .. })));
        drop(b);
        assert!(matches!(a.recv(), Err(ChannelError::Disconnected { .. })));
        assert!(matches!(a.send(b"x"), Err(ChannelError::Disconnected { .. })));
        let (mut c, mut d) = pair(cfg);
        c.inject_raw_frame_to_peer(vec![1, 2, 3]).expect("inject");
        assert!(matches!(d.recv(), Err(ChannelError::Malformed { .. })));
        assert!(matches!(d.recv_exact_len(1), Err(ChannelError::Timeout { .. })));
    }
}
