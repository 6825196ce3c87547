//! Encrypted logistic-regression training on the breast-cancer split between two parties,
//! under a two-party collective key at `n16384_l6_sec128`, with the collective refresh, against
//! the plaintext reference running the same steps with the same polynomial.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::small_l6;
use veil_ckks::{
    Ciphertext, Encoder, Encryptor, Evaluator, GaloisKeys, Level, Parameters, ParametersLiteral, RelinearizationKey, Scale, SecretKey,
};
use veil_he::train::{
    pack_labels, pack_rows, plaintext_reference, rotation_steps, sigmoid, train_logistic_regression, unpack_weights, LocalRefresher,
    LogRegTrainConfig, Refresher,
};
use veil_he::HeError;
use veil_math::sampler::{Prng, Seed};
use veil_threshold::shamir::{self, ShamirSubShare};
use veil_threshold::{
    merge, public_key_digest, DecryptionShare, GaloisKeyGen, PartyId, PublicKeyGen, RelinKeyGen, SecretShare, Session, Smudging,
    ThresholdShare,
};

const TRAIN_ROWS: usize = 455;
const SPLIT_SEED: u64 = 5;
const ITERATIONS: usize = 12;
const LEARNING_RATE: f64 = 0.2;
/// Rows of party A (the rest belong to party B).
const ROWS_A: usize = 230;

type Rows = Vec<Vec<f64>>;

/// The training split (rows, labels) and the held-out rows and labels.
fn data() -> (Rows, Vec<f64>, Rows, Vec<f64>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/tabular/breast_cancer.csv");
    let (train, held) = veil_ml::data::breast_cancer_split(&path, TRAIN_ROWS, SPLIT_SEED).unwrap();
    let rows = |d: &veil_ml::data::Dataset| (0..d.x.rows()).map(|i| d.x.row(i).to_vec()).collect::<Vec<_>>();
    let labels = |d: &veil_ml::data::Dataset| d.labels.iter().map(|&l| l as f64).collect::<Vec<_>>();
    (rows(&train), labels(&train), rows(&held), labels(&held))
}

fn accuracy(w: &[f64], rows: &[Vec<f64>], labels: &[f64]) -> f64 {
    let bias = w[w.len() - 1];
    let right = rows
        .iter()
        .zip(labels)
        .filter(|(x, &y)| {
            let z = x.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() + bias;
            (z >= 0.0) == (y == 1.0)
        })
        .count();
    100.0 * right as f64 / rows.len() as f64
}

fn max_logit(w: &[f64], rows: &[Vec<f64>]) -> f64 {
    rows.iter().map(|x| (x.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() + w[w.len() - 1]).abs()).fold(0.0, f64::max)
}

#[test]
fn plaintext_reference_converges_within_the_declared_bounds() {
    let (x, y, hx, hy) = data();
    let cfg = LogRegTrainConfig::new(x[0].len(), x.len(), ITERATIONS, LEARNING_RATE);
    let poly = cfg.sigmoid.clone();
    let w_poly = plaintext_reference(&x, &y, &cfg, &|z| poly.eval(z)).unwrap();
    let w_true = plaintext_reference(&x, &y, &cfg, &sigmoid).unwrap();
    let (acc_poly, acc_true) = (accuracy(&w_poly, &hx, &hy), accuracy(&w_true, &hx, &hy));
    eprintln!(
        "plaintext: polynomial sigmoid {acc_poly:.2}%, true sigmoid {acc_true:.2}%, max |w| {:.3}, max |z| {:.3} (train) {:.3} (held out)",
        w_poly.iter().fold(0.0f64, |m, v| m.max(v.abs())),
        max_logit(&w_poly, &x),
        max_logit(&w_poly, &hx)
    );
    assert!(acc_poly > 93.0 && acc_true > 93.0);
    assert!(w_poly.iter().all(|v| v.abs() <= f64::from(1u32 << cfg.log2_weight_bound)));
    assert!(max_logit(&w_poly, &x) <= f64::from(1u32 << cfg.log2_logit_bound));
}

/// Two parties' collective keys (every share through its byte form is covered by
/// veil-threshold's tests; here the shares are combined directly).
struct Parties {
    params: std::sync::Arc<Parameters>,
    session: Session,
    shares: Vec<SecretShare>,
    pk: veil_ckks::PublicKey,
    rlk: veil_ckks::RelinearizationKey,
    gks: GaloisKeys,
    key: veil_threshold::Digest,
}

fn collective_keys(params: &std::sync::Arc<Parameters>, steps: &[i64], rng: &mut Prng) -> Parties {
    collective_keys_t(params, steps, 2, 2, rng)
}

/// `parties` parties' collective keys, decryptable by any `threshold` of them once the shares
/// are reshared ([`threshold_shares`]).
fn collective_keys_t(params: &std::sync::Arc<Parameters>, steps: &[i64], parties: u32, threshold: usize, rng: &mut Prng) -> Parties {
    let params = params.clone();
    let ids: Vec<PartyId> = (1..=parties).map(PartyId).collect();
    let session = Session::with_threshold(&params, Seed([41; 32]), &ids, threshold).unwrap();
    let mut shares: Vec<SecretShare> = ids.iter().map(|&p| SecretShare::generate(&session, p, rng).unwrap()).collect();
    let ckg = PublicKeyGen::new(&session).unwrap();
    let pk = ckg.aggregate(&shares.iter().map(|s| ckg.share(s, rng).unwrap()).collect::<Vec<_>>()).unwrap();
    for s in &mut shares {
        s.bind(&session, &pk);
    }
    let key = public_key_digest(&params, &pk);
    let rkg = RelinKeyGen::new(&session).unwrap();
    let (ephs, r1): (Vec<_>, Vec<_>) = shares.iter().map(|s| rkg.round1(s, rng).unwrap()).unzip();
    let agg = rkg.aggregate_round1(key, &r1).unwrap();
    let r2: Vec<_> = shares.iter().zip(ephs).map(|(s, e)| rkg.round2(s, e, &agg, rng).unwrap()).collect();
    let rlk = rkg.finalize(key, &agg, &r2).unwrap();
    let mut gks = GaloisKeys::default();
    for &step in steps {
        let gkg = GaloisKeyGen::new(&session, params.galois_element(step)).unwrap();
        let g: Vec<_> = shares.iter().map(|s| gkg.share(s, rng).unwrap()).collect();
        gks.insert(gkg.aggregate(key, &g).unwrap());
    }
    Parties { params, session, shares, pk, rlk, gks, key }
}

/// What one party encrypts: its rows and labels, packed at its offset, one ciphertext each per
/// chunk.
fn encrypt_party(
    p: &Parties,
    cfg: &LogRegTrainConfig,
    first: usize,
    rows: &[Vec<f64>],
    labels: &[f64],
    rng: &mut Prng,
) -> (Vec<Ciphertext>, Vec<Ciphertext>) {
    let enc = Encoder::new(&p.params);
    let encryptor = Encryptor::with_public_key(&p.params, &p.pk);
    let mut seal = |v: Vec<Vec<f64>>| -> Vec<Ciphertext> {
        v.iter().map(|s| encryptor.encrypt(&enc.encode(s, p.params.max_level(), p.params.default_scale()).unwrap(), rng).unwrap()).collect()
    };
    let x = seal(pack_rows(&p.params, cfg, first, rows).unwrap());
    let y = seal(pack_labels(&p.params, cfg, first, labels).unwrap());
    (x, y)
}

/// Party `me` learns the weights: the other party sends its flooded share, `me` merges it with
/// its own.
fn receive_model(p: &Parties, cfg: &LogRegTrainConfig, ct: &Ciphertext, me: usize, rng: &mut Prng) -> Vec<f64> {
    let other = 1 - me;
    let smudging = Smudging::default_for(&p.params);
    let sent = p.shares[other].decryption_key(&p.session).unwrap().partial_decrypt(&p.session, ct, &smudging, rng).unwrap();
    let sent = DecryptionShare::from_bytes(&p.session, &sent.to_bytes(&p.session)).unwrap();
    let own = p.shares[me].decryption_key(&p.session).unwrap().receiver_share(&p.session, ct).unwrap();
    let pt = merge(&p.session, p.key, ct, &[sent], Some(&own)).unwrap();
    unpack_weights(cfg, &Encoder::new(&p.params).decode(&pt).unwrap())
}

#[test]
fn two_parties_train_on_encrypted_breast_cancer_rows_like_the_plaintext_reference() {
    let (x, y, hx, hy) = data();
    let cfg = LogRegTrainConfig::new(x[0].len(), x.len(), ITERATIONS, LEARNING_RATE);
    let mut rng = Prng::from_seed(&Seed([42; 32]));
    let params = Parameters::new(ParametersLiteral::n16384_l6_sec128()).unwrap();
    let steps = rotation_steps(&params, &cfg);
    let t = Instant::now();
    let p = collective_keys(&params, &steps, &mut rng);
    eprintln!("collective keys (pk, rlk, {} rotation keys): {:.2} s", steps.len(), t.elapsed().as_secs_f64());

    let (xa, ya) = encrypt_party(&p, &cfg, 0, &x[..ROWS_A], &y[..ROWS_A], &mut rng);
    let (xb, yb) = encrypt_party(&p, &cfg, ROWS_A, &x[ROWS_A..], &y[ROWS_A..], &mut rng);
    let eval = Evaluator::new(&p.params);
    let sum = |a: &[Ciphertext], b: &[Ciphertext]| a.iter().zip(b).map(|(u, v)| eval.add(u, v).unwrap()).collect::<Vec<_>>();
    let (xs, ys) = (sum(&xa, &xb), sum(&ya, &yb));
    assert_eq!(xs.len(), 2);

    let mut refresher = LocalRefresher::new(&p.session, p.key, &p.shares, Prng::from_seed(&Seed([43; 32]))).unwrap();
    let mut done = 0;
    let t = Instant::now();
    let w_ct = train_logistic_regression(&eval, &p.rlk, &p.gks, &xs, &ys, &cfg, &mut refresher, &mut |i| done = i).unwrap();
    let train_s = t.elapsed().as_secs_f64();
    assert_eq!(done, ITERATIONS);
    let refreshes = refresher.refreshes();
    assert_eq!(refreshes, ITERATIONS - 1, "one refresh of the weights per iteration after the first");
    eprintln!(
        "training: {ITERATIONS} iterations in {train_s:.2} s ({:.3} s per iteration including refresh); {refreshes} refreshes, {:.3} s per refresh",
        train_s / ITERATIONS as f64,
        refresher.elapsed().as_secs_f64() / refreshes as f64
    );

    let w_a = receive_model(&p, &cfg, &w_ct, 0, &mut rng);
    let w_b = receive_model(&p, &cfg, &w_ct, 1, &mut rng);
    let poly = cfg.sigmoid.clone();
    let w_ref = plaintext_reference(&x, &y, &cfg, &|z| poly.eval(z)).unwrap();
    let w_true = plaintext_reference(&x, &y, &cfg, &sigmoid).unwrap();
    let err = |w: &[f64]| w.iter().zip(&w_ref).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let (err_a, err_b) = (err(&w_a), err(&w_b));
    let (acc_a, acc_b, acc_ref, acc_true) =
        (accuracy(&w_a, &hx, &hy), accuracy(&w_b, &hx, &hy), accuracy(&w_ref, &hx, &hy), accuracy(&w_true, &hx, &hy));
    eprintln!(
        "held-out accuracy ({} rows): encrypted {acc_a:.2}% (A) {acc_b:.2}% (B), plaintext same steps {acc_ref:.2}%, true sigmoid {acc_true:.2}%; max weight error {err_a:.2e} (A) {err_b:.2e} (B)",
        hy.len()
    );
    assert!(err_a < 5e-3 && err_b < 5e-3, "weights differ from the reference by {err_a} / {err_b}");
    assert!((acc_a - acc_ref).abs() <= 1.0 && (acc_b - acc_ref).abs() <= 1.0);
    assert!(acc_ref > 93.0);
}

#[test]
fn higher_refresh_levels_are_planned_around_with_per_chunk_refreshes() {
    let (x, y, _, _) = data();
    let rows = 100;
    let (x, y) = (&x[..rows], &y[..rows]);
    let iterations = 4;
    let cfg = LogRegTrainConfig::new(x[0].len(), rows, iterations, LEARNING_RATE);
    let params = small_l6();
    let mut rng = Prng::from_seed(&Seed([51; 32]));
    let p = collective_keys(&params, &rotation_steps(&params, &cfg), &mut rng);
    let (xs, ys) = encrypt_party(&p, &cfg, 0, x, y, &mut rng);
    assert_eq!(xs.len(), 4);
    // λ = 85 at N = 2^11: weights and logits refresh from level 3, so an iteration (W at
    // 6 → 2) cannot end on a refreshable W: the trainer refreshes the logits of each chunk
    // (first iteration), then the weights and the logits (each later one).
    let mut refresher = LocalRefresher::new(&p.session, p.key, &p.shares, Prng::from_seed(&Seed([52; 32]))).unwrap().with_lambda(85);
    let scale = params.default_scale();
    assert_eq!(refresher.min_level(scale, cfg.log2_weight_bound).unwrap(), Level(3));
    assert_eq!(refresher.min_level(scale, 0).unwrap(), Level(2));
    let eval = Evaluator::new(&params);
    let w_ct = train_logistic_regression(&eval, &p.rlk, &p.gks, &xs, &ys, &cfg, &mut refresher, &mut |_| {}).unwrap();
    assert_eq!(refresher.refreshes(), xs.len() + (iterations - 1) * (1 + xs.len()));
    let poly = cfg.sigmoid.clone();
    let w_ref = plaintext_reference(x, y, &cfg, &|z| poly.eval(z)).unwrap();
    let err = |w: &[f64]| w.iter().zip(&w_ref).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let e = err(&receive_model(&p, &cfg, &w_ct, 0, &mut rng));
    eprintln!("λ = 85 (logits refreshed): max weight error {e:.2e}");
    assert!(e < 2e-3, "weights differ from the reference by {e}");

    // λ = 125: weights and logits from level 4, gradient terms from level 3; even fresh logits
    // (6 → 4) cannot reach refreshable weights, so the spread gradient terms are refreshed too.
    let mut refresher = LocalRefresher::new(&p.session, p.key, &p.shares, Prng::from_seed(&Seed([53; 32]))).unwrap().with_lambda(125);
    assert_eq!(refresher.min_level(scale, cfg.log2_weight_bound).unwrap(), Level(4));
    assert_eq!(refresher.min_level(scale, 0).unwrap(), Level(3));
    let w_ct = train_logistic_regression(&eval, &p.rlk, &p.gks, &xs, &ys, &cfg, &mut refresher, &mut |_| {}).unwrap();
    assert_eq!(refresher.refreshes(), iterations * 2 * xs.len());
    let e = err(&receive_model(&p, &cfg, &w_ct, 0, &mut rng));
    eprintln!("λ = 125 (logits and gradient terms refreshed): max weight error {e:.2e}");
    assert!(e < 5e-3, "weights differ from the reference by {e}");
}

/// Every party's Shamir share of the collective key (each deals to all, each combines).
fn threshold_shares(p: &Parties, rng: &mut Prng) -> Vec<ThresholdShare> {
    let dealt: Vec<Vec<ShamirSubShare>> = p.shares.iter().map(|s| shamir::deal(&p.session, s, rng).unwrap()).collect();
    let ids = p.session.parties().to_vec();
    ids.iter()
        .enumerate()
        .map(|(j, &id)| ThresholdShare::combine(&p.session, id, p.key, &dealt.iter().map(|d| d[j].clone()).collect::<Vec<_>>()).unwrap())
        .collect()
}

#[test]
fn a_two_of_three_key_trains_with_one_party_away() {
    let (x, y, _, _) = data();
    let rows = 64;
    let (x, y) = (&x[..rows], &y[..rows]);
    let iterations = 3;
    let cfg = LogRegTrainConfig::new(x[0].len(), rows, iterations, LEARNING_RATE);
    let params = small_l6();
    let mut rng = Prng::from_seed(&Seed([71; 32]));
    let p = collective_keys_t(&params, &rotation_steps(&params, &cfg), 3, 2, &mut rng);
    let ts = threshold_shares(&p, &mut rng);
    let (xs, ys) = encrypt_party(&p, &cfg, 0, x, y, &mut rng);
    // Party 2 is away: parties 1 and 3 refresh and decrypt.
    let coalition = [PartyId(1), PartyId(3)];
    let keys = |members: &[&ThresholdShare]| members.iter().map(|t| t.decryption_key(&p.session, &coalition).unwrap()).collect::<Vec<_>>();
    let refused = LocalRefresher::with_keys(&p.session, p.key, keys(&[&ts[0]]), Prng::from_seed(&Seed([72; 32])));
    assert!(matches!(refused, Err(HeError::InvalidConfig { .. })), "one member of a two-party coalition was accepted");
    let mut refresher = LocalRefresher::with_keys(&p.session, p.key, keys(&[&ts[0], &ts[2]]), Prng::from_seed(&Seed([73; 32]))).unwrap();
    let eval = Evaluator::new(&params);
    let w_ct = train_logistic_regression(&eval, &p.rlk, &p.gks, &xs, &ys, &cfg, &mut refresher, &mut |_| {}).unwrap();
    assert!(refresher.refreshes() >= iterations - 1);
    let smudging = Smudging::default_for(&params);
    let ds: Vec<DecryptionShare> =
        keys(&[&ts[0], &ts[2]]).iter().map(|k| k.partial_decrypt(&p.session, &w_ct, &smudging, &mut rng).unwrap()).collect();
    let w = unpack_weights(&cfg, &Encoder::new(&params).decode(&merge(&p.session, p.key, &w_ct, &ds, None).unwrap()).unwrap());
    let poly = cfg.sigmoid.clone();
    let w_ref = plaintext_reference(x, y, &cfg, &|z| poly.eval(z)).unwrap();
    let err = w.iter().zip(&w_ref).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    eprintln!("2-of-3 key, parties 1 and 3: {} refreshes, max weight error {err:.2e}", refresher.refreshes());
    assert!(err < 2e-3, "weights differ from the reference by {err}");
}

/// A refresher that declares a level and answers with the ciphertext it was given.
struct Broken(usize);

impl Refresher for Broken {
    fn min_level(&self, _: Scale, _: u32) -> Result<Level, HeError> {
        Ok(Level(self.0))
    }
    fn refresh(&mut self, ct: &Ciphertext, _: u32) -> Result<Ciphertext, HeError> {
        Ok(ct.clone())
    }
}

#[test]
fn refresh_levels_without_room_and_broken_refreshers_give_typed_errors() {
    let (x, y, _, _) = data();
    let rows = 32;
    let cfg = LogRegTrainConfig::new(x[0].len(), rows, 2, LEARNING_RATE);
    let params = small_l6();
    let mut rng = Prng::from_seed(&Seed([61; 32]));
    let sk = SecretKey::generate(&params, &mut rng).unwrap();
    let pk = veil_ckks::PublicKey::generate(&sk, &mut rng).unwrap();
    let rlk = RelinearizationKey::generate(&sk, &mut rng).unwrap();
    let gks = GaloisKeys::generate(&sk, &rotation_steps(&params, &cfg), false, &mut rng).unwrap();
    let enc = Encoder::new(&params);
    let encryptor = Encryptor::with_public_key(&params, &pk);
    let mut seal = |v: Vec<Vec<f64>>| -> Vec<Ciphertext> {
        v.iter()
            .map(|s| encryptor.encrypt(&enc.encode(s, params.max_level(), params.default_scale()).unwrap(), &mut rng).unwrap())
            .collect()
    };
    let xs = seal(pack_rows(&params, &cfg, 0, &x[..rows]).unwrap());
    let ys = seal(pack_labels(&params, &cfg, 0, &y[..rows]).unwrap());
    let eval = Evaluator::new(&params);
    let run = |r: &mut dyn Refresher, xs: &[Ciphertext]| train_logistic_regression(&eval, &rlk, &gks, xs, &ys, &cfg, r, &mut |_| {});
    assert!(matches!(run(&mut Broken(5), &xs), Err(HeError::InvalidConfig { .. })));
    assert!(matches!(run(&mut Broken(2), &xs), Err(HeError::BadRefresh { .. })));
    assert!(matches!(run(&mut Broken(2), &[]), Err(HeError::InvalidConfig { .. })));
    let low = vec![eval.drop_to_level(&xs[0], Level(3)).unwrap()];
    assert!(matches!(run(&mut Broken(2), &low), Err(HeError::InvalidConfig { .. })));
}
