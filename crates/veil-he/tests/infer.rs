//! Encrypted MLP inference with encrypted rows AND encrypted weights, against `Model::forward`:
//! under one key, under a two-party collective key, and at the secure preset.
#![allow(clippy::unwrap_used)]

mod common;

#[allow(dead_code)]
#[path = "../examples/train_breast_cancer_mlp.rs"]
mod training;

use std::path::PathBuf;
use std::sync::Arc;

use common::small_l6;
use proptest::prelude::*;
use veil_ckks::{
    Decryptor, Encoder, Encryptor, Evaluator, GaloisKeys, Parameters, ParametersLiteral, PublicKey, RelinearizationKey, SecretKey,
};
use veil_he::infer::{encrypt_model, encrypt_rows, evaluate, EncryptedModel, FinalActivation, ModelShape, Packing};
use veil_he::HeError;
use veil_math::sampler::{Prng, Seed};
use veil_ml::{Layer, Matrix, Model};
use veil_threshold::{
    merge, public_key_digest, DecryptionShare, GaloisKeyGen, PartyId, PublicKeyGen, RelinKeyGen, SecretShare, Session, Smudging,
};

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)
}

/// The shipped model and the held-out rows of its split.
fn shipped() -> (Model, veil_ml::data::Dataset) {
    let model = Model::load(&repo("data/models/breast_cancer_mlp.json")).unwrap();
    let (_, held) =
        veil_ml::data::breast_cancer_split(&repo("data/tabular/breast_cancer.csv"), training::SPLIT.0, training::SPLIT.1).unwrap();
    (model, held)
}

/// The model without its final softmax/sigmoid: the logits the ciphertext holds.
fn logits_model(m: &Model) -> Model {
    let mut l = m.clone();
    if matches!(l.layers.last(), Some(Layer::Softmax | Layer::Sigmoid)) {
        l.layers.pop();
    }
    l
}

/// Max abs error of the logits, and checks that probabilities and classes agree.
fn compare(model: &Model, shape: &ModelShape, x: &Matrix, slots: &[f64]) -> f64 {
    let got = shape.decode(slots, x.rows()).unwrap();
    let want = logits_model(model).forward(x).unwrap();
    let err = got.max_abs_diff(&want).unwrap();
    let probs = shape.finish(&got).max_abs_diff(&model.forward(x).unwrap()).unwrap();
    assert!(probs <= err, "probabilities differ by {probs}");
    // Only a row closer to another class than the error could flip.
    let margins = logits_model(model).decision_margins(&want);
    let (classes, plain) = (shape.classes(&got), model.predict(x).unwrap());
    for (r, ((c, p), m)) in classes.iter().zip(&plain).zip(&margins).enumerate() {
        assert!(c == p || *m <= 2.0 * err, "row {r}: class {c}, plaintext {p} (logit margin {m}, error {err})");
    }
    err
}

struct SingleKey {
    sk: SecretKey,
    pk: PublicKey,
    rlk: RelinearizationKey,
    gks: GaloisKeys,
}

fn single_key(params: &Arc<Parameters>, steps: &[i64]) -> SingleKey {
    let mut rng = Prng::from_os();
    let sk = SecretKey::generate(params, &mut rng).unwrap();
    let pk = PublicKey::generate(&sk, &mut rng).unwrap();
    let rlk = RelinearizationKey::generate(&sk, &mut rng).unwrap();
    let gks = GaloisKeys::generate(&sk, steps, false, &mut rng).unwrap();
    SingleKey { sk, pk, rlk, gks }
}

fn single_key_run(params: &Arc<Parameters>, model: &Model, packing: Packing, x: &Matrix) -> f64 {
    let shape = ModelShape::of_model(params, model, packing, None).unwrap();
    let keys = single_key(params, &shape.rotation_steps());
    let mut rng = Prng::from_os();
    let enc = Encryptor::with_public_key(params, &keys.pk);
    let bytes = encrypt_model(params, &enc, model, &shape, &mut rng).unwrap().to_bytes(params);
    let em = EncryptedModel::from_bytes(params, &bytes).unwrap();
    let ct = encrypt_rows(params, &enc, em.shape(), x, &mut rng).unwrap();
    let out = evaluate(&Evaluator::new(params), &em, &ct, x.rows(), &keys.rlk, &keys.gks).unwrap();
    assert_eq!(out.level(), shape.output_level());
    let slots = Encoder::new(params).decode(&Decryptor::new(&keys.sk).decrypt(&out).unwrap()).unwrap();
    let err = compare(model, &shape, x, &slots);
    eprintln!("{} {packing:?} ({} rows, depth {}): max abs error of the logits {err:.3e}", params.literal().name, x.rows(), shape.depth());
    err
}

#[test]
fn shipped_model_is_reproducible_and_accurate() {
    let (model, held) = shipped();
    let coeffs = training::ACTIVATION.to_vec();
    let (retrained, acc) = training::train(Some(Layer::Polynomial { coeffs })).unwrap();
    // JSON keeps each weight to within an ulp, so compare what the models compute.
    let diff = retrained.forward(&held.x).unwrap().max_abs_diff(&model.forward(&held.x).unwrap()).unwrap();
    assert!(diff < 1e-12, "data/models/breast_cancer_mlp.json is not what the example trains ({diff})");
    assert!(acc > 0.97, "held-out accuracy {acc}");
    assert_eq!(model.accuracy(&held.x, &held.labels).unwrap(), acc);
}

#[test]
fn single_key_mlp_matches_plaintext() {
    let params = small_l6();
    let (model, held) = shipped();
    for packing in [Packing::RowSum, Packing::Diagonal] {
        let x = held.x.slice_rows(0, 1024 / ModelShape::of_model(&params, &model, packing, None).unwrap().width());
        let err = single_key_run(&params, &model, packing, &x);
        assert!(err < 1e-4, "{packing:?}: max abs error {err}");
    }
}

#[test]
fn single_key_sigmoid_and_linear_models() {
    let params = small_l6();
    let (_, held) = shipped();
    let x = held.x.slice_rows(0, 16);
    // 30 → 5 → 1, negative quadratic term, final sigmoid (one output: masked, not gathered).
    let m = Model::random_mlp(&[30, 5, 1], Layer::Polynomial { coeffs: vec![0.1, -0.7, -0.2] }, Some(Layer::Sigmoid), 9).unwrap();
    assert_eq!(ModelShape::of_model(&params, &m, Packing::RowSum, None).unwrap().final_activation(), FinalActivation::Sigmoid);
    for packing in [Packing::RowSum, Packing::Diagonal] {
        assert!(single_key_run(&params, &m, packing, &x) < 1e-4);
    }
    // 30 → 3 → 3 with a linear activation (no level for it), raw logits.
    let m = Model::random_mlp(&[30, 3, 3], Layer::Polynomial { coeffs: vec![0.25, 2.0] }, None, 4).unwrap();
    assert_eq!(ModelShape::of_model(&params, &m, Packing::RowSum, None).unwrap().depth(), 4);
    for packing in [Packing::RowSum, Packing::Diagonal] {
        assert!(single_key_run(&params, &m, packing, &x) < 1e-4);
    }
    // Three layers (30 → 6 → 4 → 2, degree 2 twice) fit six levels only with diagonals.
    let poly = Layer::Polynomial { coeffs: vec![0.5, 0.5, 0.125] };
    let m = Model::random_mlp(&[30, 6, 4, 2], poly, Some(Layer::Softmax), 8).unwrap();
    assert!(matches!(ModelShape::of_model(&params, &m, Packing::RowSum, None), Err(HeError::DepthExceeded { .. })));
    assert!(single_key_run(&params, &m, Packing::Diagonal, &x) < 1e-4);
}

#[test]
fn two_party_collective_key_mlp_matches_plaintext() {
    for packing in [Packing::RowSum, Packing::Diagonal] {
        two_party(packing);
    }
}

fn two_party(packing: Packing) {
    let params = small_l6();
    let (model, held) = shipped();
    let x = held.x.slice_rows(0, 16);
    let mut rng = Prng::from_os();
    let session = Session::new(&params, Seed::random(), &[PartyId(1), PartyId(2)]).unwrap();
    let mut a = SecretShare::generate(&session, PartyId(1), &mut rng).unwrap();
    let mut b = SecretShare::generate(&session, PartyId(2), &mut rng).unwrap();
    let ckg = PublicKeyGen::new(&session).unwrap();
    let pk = ckg.aggregate(&[ckg.share(&a, &mut rng).unwrap(), ckg.share(&b, &mut rng).unwrap()]).unwrap();
    a.bind(&session, &pk);
    b.bind(&session, &pk);
    let key = public_key_digest(&params, &pk);
    let rkg = RelinKeyGen::new(&session).unwrap();
    let (ea, ra) = rkg.round1(&a, &mut rng).unwrap();
    let (eb, rb) = rkg.round1(&b, &mut rng).unwrap();
    let agg = rkg.aggregate_round1(key, &[ra, rb]).unwrap();
    let r2 = [rkg.round2(&a, ea, &agg, &mut rng).unwrap(), rkg.round2(&b, eb, &agg, &mut rng).unwrap()];
    let rlk = rkg.finalize(key, &agg, &r2).unwrap();
    let shape = ModelShape::of_model(&params, &model, packing, None).unwrap();
    let mut gks = GaloisKeys::default();
    for step in shape.rotation_steps() {
        let g = GaloisKeyGen::new(&session, params.galois_element(step)).unwrap();
        let shares = [g.share(&a, &mut rng).unwrap(), g.share(&b, &mut rng).unwrap()];
        gks.insert(g.aggregate(key, &shares).unwrap());
    }
    let enc = Encryptor::with_public_key(&params, &pk);
    // B encrypts its model, A its rows; the server evaluates.
    let em = encrypt_model(&params, &enc, &model, &shape, &mut rng).unwrap();
    let ct = encrypt_rows(&params, &enc, em.shape(), &x, &mut rng).unwrap();
    let out = evaluate(&Evaluator::new(&params), &em, &ct, x.rows(), &rlk, &gks).unwrap();
    // B releases a flooded share; A merges it with its own.
    let from_b = b.decryption_key(&session).unwrap().partial_decrypt(&session, &out, &Smudging::default_for(&params), &mut rng).unwrap();
    let from_b = DecryptionShare::from_bytes(&session, &from_b.to_bytes(&session)).unwrap();
    let own = a.decryption_key(&session).unwrap().receiver_share(&session, &out).unwrap();
    let slots = Encoder::new(&params).decode(&merge(&session, key, &out, &[from_b], Some(&own)).unwrap()).unwrap();
    let err = compare(&model, &shape, &x, &slots);
    eprintln!("two parties, {packing:?}, smudged: max abs error of the logits {err:.3e}");
    assert!(err < 1e-2, "max abs error {err}");
    // Nothing but the asked-for outputs is left in the slots: no partial sums of B's weights.
    let index: Vec<f64> = (0..slots.len()).map(|i| i as f64).collect();
    let used: std::collections::HashSet<usize> = shape.decode(&index, x.rows()).unwrap().data().iter().map(|&i| i as usize).collect();
    assert_eq!(used.len(), x.rows() * shape.outputs());
    let stray = slots.iter().enumerate().filter(|(i, _)| !used.contains(i)).map(|(_, v)| v.abs()).fold(0.0, f64::max);
    assert!(stray < 1e-2, "a slot outside the outputs holds {stray}");
}

#[test]
fn secure_preset_batch_of_100_rows() {
    let params = Parameters::new(ParametersLiteral::n16384_l6_sec128()).unwrap();
    let (model, held) = shipped();
    let x = held.x.slice_rows(0, 100);
    for packing in [Packing::RowSum, Packing::Diagonal] {
        let err = single_key_run(&params, &model, packing, &x);
        assert!(err < 1e-4, "{packing:?}: max abs error {err}");
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    let params = small_l6();
    let (model, held) = shipped();
    let shape = ModelShape::of_model(&params, &model, Packing::RowSum, None).unwrap();
    let keys = single_key(&params, &[1, 2]);
    let mut rng = Prng::from_os();
    let enc = Encryptor::with_public_key(&params, &keys.pk);
    let too_many = held.x.slice_rows(0, shape.capacity() + 1);
    assert!(matches!(encrypt_rows(&params, &enc, &shape, &too_many, &mut rng), Err(HeError::Packing { .. })));
    let narrow = Matrix::zeros(2, 29);
    assert!(matches!(encrypt_rows(&params, &enc, &shape, &narrow, &mut rng), Err(HeError::Packing { .. })));
    let em = encrypt_model(&params, &enc, &model, &shape, &mut rng).unwrap();
    let other_model = Model::random_mlp(&[30, 8, 2], Layer::Relu, None, 1).unwrap();
    assert!(matches!(encrypt_model(&params, &enc, &other_model, &shape, &mut rng), Err(HeError::UnsupportedModel { .. })));
    let ct = encrypt_rows(&params, &enc, &shape, &held.x.slice_rows(0, 4), &mut rng).unwrap();
    // Missing rotation keys (4, 8, 16) are named, not silently skipped.
    let e = evaluate(&Evaluator::new(&params), &em, &ct, 4, &keys.rlk, &keys.gks).unwrap_err();
    assert!(matches!(e, HeError::Ckks(veil_ckks::CkksError::MissingGaloisKey { .. })), "{e}");
    assert!(matches!(evaluate(&Evaluator::new(&params), &em, &ct, 0, &keys.rlk, &keys.gks), Err(HeError::Packing { .. })));

    let bytes = em.to_bytes(&params);
    for cut in [0, 10, 30, bytes.len() / 2, bytes.len() - 1] {
        assert!(EncryptedModel::from_bytes(&params, &bytes[..cut]).is_err(), "truncated at {cut}");
    }
    let mut extra = bytes.clone();
    extra.push(0);
    assert!(matches!(EncryptedModel::from_bytes(&params, &extra), Err(HeError::MalformedModel { .. })));
    let other = Parameters::new(ParametersLiteral::insecure_n2048_l4_dnum3()).unwrap();
    assert!(matches!(EncryptedModel::from_bytes(&other, &bytes), Err(HeError::MalformedModel { .. })));
    // The header alone gives the shape (what the data owner needs to pack and decode).
    assert_eq!(ModelShape::from_bytes(&params, &bytes).unwrap(), shape);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// No byte string makes the shape decoder panic; a flipped header byte is refused or
    /// yields a shape that re-encodes to exactly those bytes.
    #[test]
    fn shape_decoder_never_panics(flip in 0usize..200, bit in 0u8..8, junk in proptest::collection::vec(any::<u8>(), 0..96)) {
        let params = small_l6();
        let model = Model::random_mlp(&[30, 8, 2], Layer::Polynomial { coeffs: vec![0.5, 0.5, 0.125] }, Some(Layer::Softmax), 1).unwrap();
        let packing = if bit % 2 == 0 { Packing::RowSum } else { Packing::Diagonal };
        let mut bytes = ModelShape::of_model(&params, &model, packing, None).unwrap().to_bytes(&params);
        let i = flip % bytes.len();
        bytes[i] ^= 1 << bit;
        if let Ok(s) = ModelShape::from_bytes(&params, &bytes) {
            prop_assert!(bytes.starts_with(&s.to_bytes(&params)));
        }
        let _ = ModelShape::from_bytes(&params, &junk);
        let _ = EncryptedModel::from_bytes(&params, &junk);
    }
}
