//! The file mailbox: round trips, damaged files, timeouts and end markers.

use std::thread;
use std::time::{Duration, Instant};

use veil_channel::FRAME_HEADER_BYTES;
use veil_transport::file::{FileChannel, TAG_BYTES};
use veil_transport::{Channel, ChannelConfig, ChannelError, Fingerprint, TransportError};

fn config(timeout_ms: u64) -> ChannelConfig {
    ChannelConfig::new(Fingerprint([4; 16])).with_timeout(Duration::from_millis(timeout_ms))
}

fn pair(dir: &std::path::Path, timeout_ms: u64) -> (FileChannel, FileChannel) {
    let a = FileChannel::open(dir, "site-a", "site-b", config(timeout_ms)).expect("open a");
    let b = FileChannel::open(dir, "site-b", "site-a", config(timeout_ms)).expect("open b");
    (a, b)
}

#[test]
fn messages_cross_the_mailbox_in_order_and_are_counted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut a, mut b) = pair(dir.path(), 5000);
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let expected = big.clone();
    let peer = thread::spawn(move || {
        assert_eq!(b.recv().expect("recv 0"), b"first");
        assert_eq!(b.recv().expect("recv 1"), expected);
        b.send(b"reply").expect("send");
        b.stats()
    });
    a.send(b"first").expect("send");
    a.send(&big).expect("send big");
    assert_eq!(a.recv().expect("recv"), b"reply");
    let b_stats = peer.join().expect("peer thread");
    let overhead = (FRAME_HEADER_BYTES + TAG_BYTES) as u64;
    let stats = a.stats();
    assert_eq!(stats.messages_sent, 2);
    assert_eq!(stats.bytes_sent, 2 * overhead + 5 + big.len() as u64);
    assert_eq!(stats.bytes_received, overhead + 5);
    assert_eq!(stats.rounds, 1);
    assert_eq!(b_stats.bytes_received, stats.bytes_sent);
    assert_eq!(b_stats.rounds, 1);
    assert!(a.message_path(0, "site-a", "site-b").ends_with("0000000000.site-a-to-site-b.veilmsg"));
    assert!(a.message_path(0, "site-a", "site-b").is_file());
}

#[test]
fn no_message_gives_a_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut a, _b) = pair(dir.path(), 150);
    let start = Instant::now();
    assert!(matches!(a.recv(), Err(ChannelError::Timeout { ref peer, .. }) if peer == "site-b"));
    assert!(start.elapsed() >= Duration::from_millis(150));
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn truncated_and_tampered_files_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut a, mut b) = pair(dir.path(), 1000);
    a.send(b"a message of some length").expect("send");
    let path = a.message_path(0, "site-a", "site-b");
    let good = std::fs::read(&path).expect("read");

    for damaged in [
        good[..good.len() - 1].to_vec(),
        good[..10].to_vec(),
        Vec::new(),
        {
            let mut t = good.clone();
            t[FRAME_HEADER_BYTES + 3] ^= 1;
            t
        },
        {
            let mut t = good.clone();
            t[6] ^= 0x80; // inside the fingerprint
            t
        },
    ] {
        std::fs::write(&path, &damaged).expect("damage");
        let err = b.recv().expect_err("damaged file");
        assert!(matches!(&err, ChannelError::Malformed { reason, .. } if reason.contains("veilmsg")), "{err}");
    }
    std::fs::write(&path, &good).expect("restore");
    assert_eq!(b.recv().expect("intact file"), b"a message of some length");
}

#[test]
fn a_message_moved_to_another_position_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut a, mut b) = pair(dir.path(), 1000);
    a.send(b"zero").expect("send");
    let first = std::fs::read(a.message_path(0, "site-a", "site-b")).expect("read");
    assert_eq!(b.recv().expect("recv"), b"zero");
    // A replay of message 0 as message 1.
    std::fs::write(a.message_path(1, "site-a", "site-b"), &first).expect("replay");
    assert!(matches!(b.recv(), Err(ChannelError::Malformed { .. })));
}

#[test]
fn other_parameters_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut a = FileChannel::open(dir.path(), "site-a", "site-b", config(1000)).expect("open");
    let other = ChannelConfig::new(Fingerprint([9; 16])).with_timeout(Duration::from_millis(1000));
    let mut b = FileChannel::open(dir.path(), "site-b", "site-a", other).expect("open");
    a.send(b"x").expect("send");
    assert!(matches!(b.recv(), Err(ChannelError::FingerprintMismatch { .. })));
}

#[test]
fn oversized_messages_are_refused_before_reading() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut a = FileChannel::open(dir.path(), "site-a", "site-b", config(1000)).expect("open");
    let mut b = FileChannel::open(dir.path(), "site-b", "site-a", config(1000).with_max_message_bytes(16)).expect("open");
    a.send(&[0u8; 17]).expect("send");
    assert!(matches!(b.recv(), Err(ChannelError::TooLarge { .. })));
}

#[test]
fn a_closed_peer_gives_disconnected_and_stale_mailboxes_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut a, mut b) = pair(dir.path(), 5000);
    a.send(b"last").expect("send");
    a.close().expect("close");
    assert!(matches!(a.send(b"more"), Err(ChannelError::Disconnected { .. })));
    assert_eq!(b.recv().expect("recv"), b"last");
    let start = Instant::now();
    assert!(matches!(b.recv(), Err(ChannelError::Disconnected { .. })));
    assert!(start.elapsed() < Duration::from_secs(2), "the end marker must stop the wait at once");
    let err = FileChannel::open(dir.path(), "site-a", "site-b", config(100)).expect_err("stale mailbox");
    assert!(matches!(err, TransportError::AlreadyExists { .. }), "{err}");
    assert!(FileChannel::open(dir.path(), "site-a", "site-a", config(100)).is_err());
}

mod damaged_files {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any truncation or byte flip of a message file gives a typed error, never a panic or
        /// a different payload.
        #[test]
        fn damage_is_always_detected(
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
            bit in 0u8..8,
            truncate in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().expect("temp dir");
            let (mut a, mut b) = pair(dir.path(), 50);
            a.send(&payload).expect("send");
            let path = a.message_path(0, "site-a", "site-b");
            let mut bytes = std::fs::read(&path).expect("read");
            if truncate {
                bytes.truncate(cut.index(bytes.len()));
            } else {
                let i = flip.index(bytes.len());
                bytes[i] ^= 1 << bit;
            }
            std::fs::write(&path, &bytes).expect("damage");
            let refused = matches!(b.recv(), Err(ChannelError::Malformed { .. }));
            prop_assert!(refused);
        }
    }
}
