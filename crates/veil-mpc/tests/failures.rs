//! Shares look uniform; bad input, a dropped or a stalled party stop every participant with
//! an error within the timeout, never a hang and never a partial result.

use std::time::{Duration, Instant};

use rand::SeedableRng;
use veil_channel::memory::pair;
use veil_channel::{Channel, ChannelConfig};
use veil_ml::{Layer, Matrix, Model};
use veil_mpc::local::{run_2pc, run_3pc};
use veil_mpc::nn::{self, Arch, Engine};
use veil_mpc::provider;
use veil_mpc::twopc::{Role, Seeds, TwoPc};
use veil_mpc::{FixedPoint, MpcError, Seed};

/// Pearson χ² statistic of the top 4 bits of `samples` against the uniform distribution.
fn chi2_top4(samples: &[u64]) -> f64 {
    let mut counts = [0f64; 16];
    for s in samples {
        counts[(s >> 60) as usize] += 1.0;
    }
    let e = samples.len() as f64 / 16.0;
    counts.iter().map(|c| (c - e) * (c - e) / e).sum()
}

/// χ² with 15 degrees of freedom exceeds 57.4 with probability 10⁻⁶ (Wilson–Hilferty).
const CHI2_15_P1E6: f64 = 57.4;

#[test]
fn provider_shares_are_uniform() {
    let fp = FixedPoint::default();
    let secret = vec![fp.encode(1.0).expect("enc"); 4000];
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2024);
    let [s0, s1] = provider::share_2pc(&secret, &mut rng);
    assert!(chi2_top4(&s0) < CHI2_15_P1E6);
    assert!(chi2_top4(&s1) < CHI2_15_P1E6);
    let [p0, p1, p2] = provider::share_3pc(&secret, &mut rng);
    for v in [&p0.0, &p0.1, &p1.0, &p1.1, &p2.0, &p2.1] {
        assert!(chi2_top4(v) < CHI2_15_P1E6);
    }
    assert_eq!(provider::open_2pc(&s0, &s1), secret);
    assert_eq!(provider::open_3pc(&p0.0, &p1.0, &p2.0), secret);
}

/// Over many sessions with fresh seeds, what party 1 receives for the same secret (its
/// input share and the opened masked value) is uniform, and the parties' own comparison shares
/// do not depend on the secret.
#[test]
fn messages_a_party_receives_are_uniform() {
    let fp = FixedPoint::default();
    let secret = fp.encode(3.25).expect("enc");
    let runs = 600;
    let mut share1 = Vec::new();
    let mut opened = Vec::new();
    let mut relu_share = Vec::new();
    for _ in 0..runs {
        let r = run_2pc(fp, Duration::from_secs(10), |e| {
            let x = e.input(Role::P0, 1, 1, Some(&[secret]))?;
            let m = e.open_masked(&[&x])?;
            let y = e.relu(&x)?;
            Ok((x.v[0], m[0].opened().first().copied().unwrap_or(0), y.v[0]))
        });
        let (s, o, y) = *r[1].as_ref().expect("party 1");
        share1.push(s);
        opened.push(o);
        relu_share.push(y);
    }
    assert!(chi2_top4(&share1) < CHI2_15_P1E6, "input share");
    assert!(chi2_top4(&opened) < CHI2_15_P1E6, "opened value");
    assert!(chi2_top4(&relu_share) < CHI2_15_P1E6, "ReLU output share");
}

fn small_model() -> Model {
    Model::random_mlp(&[4, 3, 1], Layer::Relu, Some(Layer::Sigmoid), 9).expect("model")
}

#[test]
fn mismatched_shapes_stop_everyone_within_the_timeout() {
    let fp = FixedPoint::default();
    let m = small_model();
    let start = Instant::now();
    // Party 1 feeds 5 features into a 4-input model: it fails at once; the others time out.
    let r = run_2pc(fp, Duration::from_millis(500), |e| {
        let arch = Arch::of(&m)?;
        let sm = nn::share_model(e, 0, (e.party() == 0).then_some(&m), &arch)?;
        let cols = if e.party() == 1 { 5 } else { 4 };
        let x = Engine::input(e, 1, 1, cols, (e.party() == 1).then_some(&vec![0u64; cols][..]))?;
        let y = nn::infer(e, &sm, &x)?;
        Engine::reveal(e, &y)
    });
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(matches!(r[1], Err(MpcError::Shape { .. })), "{:?}", r[1]);
    assert!(r[0].is_err(), "party 0 must not produce a result");
}

#[test]
fn a_stalled_or_vanished_party_is_an_error_not_a_hang() {
    let fp = FixedPoint::default();
    let m = small_model();
    let x = Matrix::new(1, 4, vec![0.5, -0.25, 1.0, 0.0]).expect("x");
    for stall in [true, false] {
        let start = Instant::now();
        let r = run_3pc(fp, Duration::from_millis(400), |e| {
            let arch = Arch::of(&m)?;
            let sm = nn::share_model(e, 0, (e.party() == 0).then_some(&m), &arch)?;
            let xs = Engine::input(e, 1, 1, 4, (e.party() == 1).then_some(&fp.encode_all(x.data())?[..]))?;
            if e.party() == 2 {
                if stall {
                    std::thread::sleep(Duration::from_millis(1500));
                }
                return Err(MpcError::Config("party 2 leaves".into()));
            }
            let y = nn::infer(e, &sm, &xs)?;
            Engine::reveal(e, &y)
        });
        assert!(start.elapsed() < Duration::from_secs(6));
        for (i, res) in r.iter().enumerate().take(2) {
            match res {
                Err(MpcError::Channel(_)) => {}
                other => panic!("party {i} (stall={stall}): expected a link error, got {other:?}"),
            }
        }
    }
}

#[test]
fn a_malformed_message_is_a_typed_error() {
    let fp = FixedPoint::default();
    let cfg = ChannelConfig::default().with_timeout(Duration::from_millis(500));
    let (a, mut b) = pair(cfg.clone());
    let (d, _dd) = pair(cfg);
    let mut p1 = TwoPc::from_seeds(
        Role::P1,
        fp,
        Some(Box::new(a)),
        Some(Box::new(d)),
        Seeds { s0: None, s1: Some(Seed::insecure_from_u64(1)), s01: Some(Seed::insecure_from_u64(2)) },
    );
    let x = p1.input(Role::P0, 1, 3, None).expect("input");
    b.send(&[1, 2, 3]).expect("send");
    match p1.reveal(&x) {
        Err(MpcError::Malformed { .. }) => {}
        other => panic!("expected a malformed-message error, got {other:?}"),
    }
    // A frame that is not a veil frame at all.
    let (a, mut b) = pair(ChannelConfig::default().with_timeout(Duration::from_millis(500)));
    let mut p1 =
        TwoPc::from_seeds(Role::P1, fp, Some(Box::new(a)), None, Seeds { s0: None, s1: None, s01: Some(Seed::insecure_from_u64(2)) });
    b.inject_raw_frame_to_peer(vec![0xff; 7]).expect("inject");
    assert!(matches!(p1.reveal(&x), Err(MpcError::Channel(_))));
}

/// What party 2 receives when a 3PC ReLU result is re-shared is uniform over sessions, for a
/// fixed secret (party 2 dealt the comparison's randomness, so these values must be re-masked
/// with randomness it does not know).
#[test]
fn three_party_reshare_after_comparison_is_uniform_at_party_2() {
    let fp = FixedPoint::default();
    let secret = fp.encode(2.5).expect("enc");
    let (mut from0, mut from1) = (Vec::new(), Vec::new());
    for _ in 0..600 {
        let r = run_3pc(fp, Duration::from_secs(10), |e| {
            let x = e.input(0, 1, 1, (e.party() == 0).then_some(&[secret][..]))?;
            let y = e.relu(&x)?;
            Ok((y.a[0], y.b[0]))
        });
        let (a, b) = *r[2].as_ref().expect("party 2");
        from1.push(a);
        from0.push(b);
    }
    assert!(chi2_top4(&from0) < CHI2_15_P1E6);
    assert!(chi2_top4(&from1) < CHI2_15_P1E6);
}
