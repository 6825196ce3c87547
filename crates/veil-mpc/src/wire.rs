//! Encoding of ring vectors on the wire (little-endian u64) with exact length checks.

use veil_channel::Channel;

use crate::MpcError;

/// Appends `v` as little-endian words.
pub fn put(out: &mut Vec<u8>, v: &[u64]) {
    out.reserve(v.len() * 8);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

/// Parses exactly `n` words.
pub fn get(bytes: &[u8], n: usize, peer: &str, step: &'static str) -> Result<Vec<u64>, MpcError> {
    if bytes.len() != n * 8 {
        return Err(MpcError::malformed(peer, step, format!("expected {} bytes ({n} ring elements), got {}", n * 8, bytes.len())));
    }
    Ok(bytes.chunks_exact(8).map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect())
}

/// Sends a vector of ring elements as one message.
pub fn send(ch: &mut dyn Channel, v: &[u64]) -> Result<(), MpcError> {
    let mut b = Vec::with_capacity(v.len() * 8);
    put(&mut b, v);
    ch.send(&b)?;
    Ok(())
}

/// Receives exactly `n` ring elements.
pub fn recv(ch: &mut dyn Channel, n: usize, step: &'static str) -> Result<Vec<u64>, MpcError> {
    let b = ch.recv()?;
    get(&b, n, ch.peer(), step)
}
