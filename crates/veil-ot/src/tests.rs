//! Protocol tests over in-memory channels.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use veil_channel::{memory, Channel, ChannelConfig, ChannelError};

use crate::*;

fn run_pair<A: Send + 'static, B>(
    config: IknpConfig,
    sender: impl FnOnce(&mut memory::MemoryChannel, CotSender) -> A + Send + 'static,
    receiver: impl FnOnce(&mut memory::MemoryChannel, CotReceiver) -> B,
) -> (A, B) {
    let (mut a, mut b) = memory::pair(ChannelConfig::default());
    let t = std::thread::spawn(move || {
        let s = CotSender::setup(&mut a, config, &mut ChaCha20Rng::seed_from_u64(11)).expect("sender setup");
        sender(&mut a, s)
    });
    let r = CotReceiver::setup(&mut b, config, &mut ChaCha20Rng::seed_from_u64(12)).expect("receiver setup");
    let rb = receiver(&mut b, r);
    (t.join().expect("sender thread"), rb)
}

#[test]
fn correlated_ots_satisfy_the_correlation_with_and_without_kos() {
    for kos in [false, true] {
        let n = 3 * iknp::CHUNK_OTS / 2 + 77;
        let choices: Vec<bool> = (0..n).map(|i| (i * i + 3 * i) % 5 < 2).collect();
        let c2 = choices.clone();
        let ((delta, q), t) = run_pair(
            IknpConfig { kos_check: kos },
            move |ch, mut s| (s.delta(), s.extend(ch, n).expect("extend")),
            move |ch, mut r| r.extend_chosen(ch, &c2).expect("extend"),
        );
        assert!(delta.lsb());
        assert_eq!(q.len(), n);
        for i in 0..n {
            assert_eq!(t[i], q[i] ^ delta.and_bit(choices[i]), "OT {i}, kos {kos}");
        }
        // The rows are not trivially structured.
        assert_ne!(q[0], q[1]);
    }
}

#[test]
fn pools_stay_in_step_and_random_choices_are_balanced() {
    let ((delta, q), (bits, t)) = run_pair(
        IknpConfig::default(),
        |ch, mut s| {
            let mut all = Vec::new();
            for n in [5, 100, iknp::POOL_REFILL_OTS, 7] {
                all.extend(s.take(ch, n).expect("take"));
            }
            (s.delta(), all)
        },
        |ch, mut r| {
            let (mut bits, mut all) = (Vec::new(), Vec::new());
            for n in [5, 100, iknp::POOL_REFILL_OTS, 7] {
                let (b, t) = r.take(ch, n).expect("take");
                bits.extend(b);
                all.extend(t);
            }
            (bits, all)
        },
    );
    for i in 0..q.len() {
        assert_eq!(t[i], q[i] ^ delta.and_bit(bits[i]));
    }
    let ones = bits.iter().filter(|b| **b).count() as f64;
    let n = bits.len() as f64;
    // Binomial(n, 1/2): 6 standard deviations.
    assert!((ones - n / 2.0).abs() < 6.0 * (n / 4.0).sqrt());
}

#[test]
fn random_ot_from_correlated_ot() {
    let ((delta, q), (bits, t)) = run_pair(
        IknpConfig::default(),
        |ch, mut s| (s.delta(), s.extend(ch, 300).expect("extend")),
        |ch, mut r| r.extend_random(ch, 300).expect("extend"),
    );
    let h = TccrHash::new();
    let pairs = iknp::random_ot_sender(&h, delta, &q, 1 << 64);
    let got = iknp::random_ot_receiver(&h, &t, 1 << 64);
    for i in 0..300 {
        assert_eq!(got[i], pairs[i][bits[i] as usize]);
        assert_ne!(got[i], pairs[i][!bits[i] as usize]);
    }
}

#[test]
fn a_cheating_receiver_fails_the_kos_check() {
    let (mut a, mut b) = memory::pair(ChannelConfig::default());
    let config = IknpConfig { kos_check: true };
    let t = std::thread::spawn(move || {
        let mut s = CotSender::setup(&mut a, config, &mut ChaCha20Rng::seed_from_u64(1)).expect("setup");
        s.extend(&mut a, 1000)
    });
    let _r = CotReceiver::setup(&mut b, config, &mut ChaCha20Rng::seed_from_u64(2)).expect("setup");
    // A receiver that sends an arbitrary matrix and an arbitrary proof.
    let total = (1000 + iknp::KOS_EXTRA_OTS).div_ceil(128) * 128;
    b.send(&vec![0x5au8; 16 * total]).expect("u");
    let _seed = b.recv().expect("seed");
    b.send(&[7u8; 32]).expect("proof");
    assert!(matches!(t.join().expect("thread"), Err(OtError::ConsistencyCheckFailed { .. })));
}

#[test]
fn mismatched_options_truncation_and_disconnect_are_typed_errors() {
    let (mut a, mut b) = memory::pair(ChannelConfig::default());
    let t = std::thread::spawn(move || CotSender::setup(&mut a, IknpConfig { kos_check: true }, &mut ChaCha20Rng::seed_from_u64(1)));
    let r = CotReceiver::setup(&mut b, IknpConfig::default(), &mut ChaCha20Rng::seed_from_u64(2));
    assert!(matches!(t.join().expect("thread"), Err(OtError::ConfigMismatch { .. })));
    assert!(r.is_err());

    let (mut a, mut b) = memory::pair(ChannelConfig::default());
    let t = std::thread::spawn(move || {
        let mut s = CotSender::setup(&mut a, IknpConfig::default(), &mut ChaCha20Rng::seed_from_u64(1)).expect("setup");
        s.extend(&mut a, 256)
    });
    let _r = CotReceiver::setup(&mut b, IknpConfig::default(), &mut ChaCha20Rng::seed_from_u64(2)).expect("setup");
    b.send(&[0u8; 100]).expect("short matrix");
    assert!(matches!(t.join().expect("thread"), Err(OtError::WrongLength { .. })));

    let (mut a, mut b) = memory::pair(ChannelConfig::default());
    let t = std::thread::spawn(move || {
        let mut s = CotSender::setup(&mut a, IknpConfig::default(), &mut ChaCha20Rng::seed_from_u64(1)).expect("setup");
        s.extend(&mut a, 256)
    });
    let r = CotReceiver::setup(&mut b, IknpConfig::default(), &mut ChaCha20Rng::seed_from_u64(2)).expect("setup");
    drop(r);
    drop(b);
    assert!(matches!(t.join().expect("thread"), Err(OtError::Channel(ChannelError::Disconnected { .. }))));
}
