//! The frame every message travels in.
//!
//! ```text
//! offset  size  field
//!      0     2  magic "VL"
//!      2     2  wire-format version, little-endian (currently 1)
//!      4    16  parameter fingerprint
//!     20     4  payload length in bytes, little-endian
//!     24     -  payload
//! ```

use crate::{ChannelConfig, ChannelError, Fingerprint};

/// Wire-format version of the frame and of every message format built on it.
pub const WIRE_VERSION: u16 = 1;

/// Size of the frame header in bytes.
pub const FRAME_HEADER_BYTES: usize = 24;

const MAGIC: [u8; 2] = *b"VL";

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub version: u16,
    pub fingerprint: Fingerprint,
    pub len: u32,
}

impl FrameHeader {
    /// Encodes the header.
    pub fn encode(&self) -> [u8; FRAME_HEADER_BYTES] {
        let mut out = [0u8; FRAME_HEADER_BYTES];
        out[0..2].copy_from_slice(&MAGIC);
        out[2..4].copy_from_slice(&self.version.to_le_bytes());
        out[4..20].copy_from_slice(&self.fingerprint.0);
        out[20..24].copy_from_slice(&self.len.to_le_bytes());
        out
    }

    /// Decodes a header without checking it against any configuration.
    pub fn decode(bytes: &[u8; FRAME_HEADER_BYTES]) -> Result<Self, &'static str> {
        if bytes[0..2] != MAGIC {
            return Err("bad magic (not a veil frame)");
        }
        let mut fp = [0u8; 16];
        fp.copy_from_slice(&bytes[4..20]);
        Ok(Self {
            version: u16::from_le_bytes([bytes[2], bytes[3]]),
            fingerprint: Fingerprint(fp),
            len: u32::from_le_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]),
        })
    }

    /// Builds the header for a payload of `len` bytes, refusing oversized payloads.
    pub fn for_payload(config: &ChannelConfig, len: usize, peer: &str) -> Result<Self, ChannelError> {
        if len > config.max_message_bytes || len > u32::MAX as usize {
            return Err(ChannelError::TooLarge { peer: peer.to_string(), len, max: config.max_message_bytes.min(u32::MAX as usize) });
        }
        Ok(Self { version: WIRE_VERSION, fingerprint: config.fingerprint, len: len as u32 })
    }

    /// Decodes a received header and checks magic, version, fingerprint and length bound.
    pub fn decode_checked(bytes: &[u8; FRAME_HEADER_BYTES], config: &ChannelConfig, peer: &str) -> Result<Self, ChannelError> {
        let header =
            Self::decode(bytes).map_err(|reason| ChannelError::Malformed { peer: peer.to_string(), reason: reason.to_string() })?;
        if header.version != WIRE_VERSION {
            return Err(ChannelError::VersionMismatch { peer: peer.to_string(), ours: WIRE_VERSION, theirs: header.version });
        }
        if header.fingerprint != config.fingerprint {
            return Err(ChannelError::FingerprintMismatch { peer: peer.to_string(), ours: config.fingerprint, theirs: header.fingerprint });
        }
        if header.len as usize > config.max_message_bytes {
            return Err(ChannelError::TooLarge { peer: peer.to_string(), len: header.len as usize, max: config.max_message_bytes });
        }
        Ok(header)
    }
}

/// Splits a whole received frame into its checked header and its payload: the header must pass
/// [`FrameHeader::decode_checked`] and announce exactly the bytes that follow it.
pub fn split_frame<'a>(frame: &'a [u8], config: &ChannelConfig, peer: &str) -> Result<(FrameHeader, &'a [u8]), ChannelError> {
    let malformed = |reason: String| ChannelError::Malformed { peer: peer.to_string(), reason };
    let Some(head) = frame.first_chunk::<FRAME_HEADER_BYTES>() else {
        return Err(malformed(format!("frame of {} bytes is shorter than its header", frame.len())));
    };
    let header = FrameHeader::decode_checked(head, config, peer)?;
    let payload = &frame[FRAME_HEADER_BYTES..];
    if payload.len() != header.len as usize {
        return Err(malformed(format!("header announces {} bytes, frame carries {}", header.len, payload.len())));
    }
    Ok((header, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = FrameHeader { version: WIRE_VERSION, fingerprint: Fingerprint([7; 16]), len: 1234 };
        assert_eq!(FrameHeader::decode(&h.encode()), Ok(h));
    }

    #[test]
    fn checked_decode_names_what_is_wrong() {
        let cfg = ChannelConfig::new(Fingerprint([1; 16]));
        let mut h = FrameHeader { version: WIRE_VERSION, fingerprint: Fingerprint([1; 16]), len: 3 };
        assert!(FrameHeader::decode_checked(&h.encode(), &cfg, "p").is_ok());
        h.version = 9;
        assert!(matches!(FrameHeader::decode_checked(&h.encode(), &cfg, "p"), Err(ChannelError::VersionMismatch { theirs: 9, .. })));
        h.version = WIRE_VERSION;
        h.fingerprint = Fingerprint([2; 16]);
        assert!(matches!(FrameHeader::decode_checked(&h.encode(), &cfg, "p"), Err(ChannelError::FingerprintMismatch { .. })));
        let mut bytes = h.encode();
        bytes[0] = b'X';
        assert!(matches!(FrameHeader::decode_checked(&bytes, &cfg, "p"), Err(ChannelError::Malformed { .. })));
        let small = ChannelConfig::new(Fingerprint([1; 16])).with_max_message_bytes(2);
        let h = FrameHeader { version: WIRE_VERSION, fingerprint: Fingerprint([1; 16]), len: 3 };
        assert!(matches!(FrameHeader::decode_checked(&h.encode(), &small, "p"), Err(ChannelError::TooLarge { .. })));
    }
}
