//! `veil bench threshold`, MLP secure-inference cases: the shipped breast-cancer MLP
//! (`data/models/breast_cancer_mlp.json`: 30 → 8 → 2, activation `(z + 2)^2 / 8`, softmax in the
//! clear) on 100 held-out rows, rows and weights encrypted under a two-party collective key at
//! `N=16384,L=6,scale=2^40` (`veil_he::infer`: 3 levels with diagonals, 5 with row sums).
//!
//! Both packings of the weights run (`packing=diagonal`, `packing=row-sum` in `params`).
//! `mlp_infer_b100` = the evaluator's work alone; `mlp_end_to_end_b100` = A encrypts its rows,
//! B its model, the server evaluates, B releases a flooded partial decryption, A merges and decodes (keys
//! excluded). Values: `mlp_max_abs_err` (largest absolute error of the decrypted
//! probabilities against `Model::forward`, default smudging), `mlp_class_agreement` (fraction of
//! rows whose encrypted prediction equals the plaintext model's), `mlp_accuracy` (encrypted
//! predictions against the labels), `mlp_model_bytes` (the encrypted model's size) and
//! `mlp_depth` (levels used).

use std::path::PathBuf;
use std::sync::Arc;

use veil_ckks::{Encoder, Encryptor, Evaluator, GaloisKeys, Parameters, Prng};
use veil_he::infer::{encrypt_model, encrypt_rows, evaluate, ModelShape, Packing};
use veil_math::sampler::Seed;
use veil_ml::Model;
use veil_threshold::{
    merge, public_key_digest, DecryptionShare, GaloisKeyGen, PartyId, PublicKeyGen, RelinKeyGen, SecretShare, Session, Smudging,
};

use super::{time_ms, Report};

const ROWS: usize = 100;

fn data(rel: &str) -> PathBuf {
    std::env::var_os("VEIL_DATA")
        .map(|d| PathBuf::from(d).join(rel))
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data")).join(rel))
}

/// Runs the MLP cases under a fresh two-party collective key, for both packings.
pub fn run(report: &mut Report, params: &Arc<Parameters>) -> anyhow::Result<()> {
    let base = format!("parties=2,N=16384,L=6,scale=2^40,model=mlp30-8-2-poly2,rows={ROWS}");
    let runs = if report.quick { 3 } else { 10 };
    report.progress(&format!("{base}: collective keys"));
    let model = Model::load(&data("models/breast_cancer_mlp.json"))?;
    let (_, held) = veil_ml::data::breast_cancer_split(&data("tabular/breast_cancer.csv"), 400, 1)?;
    let x = held.x.slice_rows(0, ROWS);
    let labels = &held.labels[..ROWS];
    let shapes = [Packing::Diagonal, Packing::RowSum].map(|p| ModelShape::of_model(params, &model, p, None));
    let widest = shapes.iter().filter_map(|s| s.as_ref().ok()).map(ModelShape::width).max().unwrap_or(1);

    let mut rng = Prng::from_os();
    let session = Session::new(params, Seed::random(), &[PartyId(1), PartyId(2)])?;
    let mut a = SecretShare::generate(&session, PartyId(1), &mut rng)?;
    let mut b = SecretShare::generate(&session, PartyId(2), &mut rng)?;
    let ckg = PublicKeyGen::new(&session)?;
    let pk = ckg.aggregate(&[ckg.share(&a, &mut rng)?, ckg.share(&b, &mut rng)?])?;
    a.bind(&session, &pk);
    b.bind(&session, &pk);
    let key = public_key_digest(params, &pk);
    let rkg = RelinKeyGen::new(&session)?;
    let (ea, ra) = rkg.round1(&a, &mut rng)?;
    let (eb, rb) = rkg.round1(&b, &mut rng)?;
    let agg = rkg.aggregate_round1(key, &[ra, rb])?;
    let r2 = [rkg.round2(&a, ea, &agg, &mut rng)?, rkg.round2(&b, eb, &agg, &mut rng)?];
    let rlk = rkg.finalize(key, &agg, &r2)?;
    let mut gks = GaloisKeys::default();
    for step in veil_ckks::linalg::sum_slots_steps(widest) {
        let g = GaloisKeyGen::new(&session, params.galois_element(step))?;
        let shares = [g.share(&a, &mut rng)?, g.share(&b, &mut rng)?];
        gks.insert(g.aggregate(key, &shares)?);
    }
    let enc = Encryptor::with_public_key(params, &pk);
    let eval = Evaluator::new(params);
    let encoder = Encoder::new(params);
    let smudging = Smudging::default_for(params);

    for shape in shapes {
        let shape = shape?;
        let name = format!("{base},packing={}", if shape.packing() == Packing::Diagonal { "diagonal" } else { "row-sum" });
        report.progress(&format!("{name}: evaluation"));
        let em = encrypt_model(params, &enc, &model, &shape, &mut rng)?;
        let ct = encrypt_rows(params, &enc, &shape, &x, &mut rng)?;
        evaluate(&eval, &em, &ct, ROWS, &rlk, &gks)?;
        let t = time_ms(runs, || evaluate(&eval, &em, &ct, ROWS, &rlk, &gks));
        report.timing("mlp_infer_b100", &name, &t);

        report.progress(&format!("{name}: end to end"));
        let end_to_end = || -> anyhow::Result<Vec<f64>> {
            let mut rng = Prng::from_os();
            let em = encrypt_model(params, &enc, &model, &shape, &mut rng)?;
            let ct = encrypt_rows(params, &enc, &shape, &x, &mut rng)?;
            let out = evaluate(&eval, &em, &ct, ROWS, &rlk, &gks)?;
            let from_b = b.decryption_key(&session)?.partial_decrypt(&session, &out, &smudging, &mut rng)?;
            let from_b = DecryptionShare::from_bytes(&session, &from_b.to_bytes(&session))?;
            let own = a.decryption_key(&session)?.receiver_share(&session, &out)?;
            Ok(encoder.decode(&merge(&session, key, &out, &[from_b], Some(&own))?)?)
        };
        let t = time_ms(runs, end_to_end);
        report.timing("mlp_end_to_end_b100", &name, &t);

        let slots = end_to_end()?;
        let logits = shape.decode(&slots, ROWS)?;
        let got = shape.finish(&logits);
        let classes = shape.classes(&logits);
        report.value("mlp_depth", &name, "levels", shape.depth() as f64);
        report.value("mlp_max_abs_err", &name, "abs", got.max_abs_diff(&model.forward(&x)?)?);
        report.value("mlp_class_agreement", &name, "fraction", veil_ml::accuracy(&classes, &model.predict(&x)?));
        report.value("mlp_accuracy", &name, "fraction", veil_ml::accuracy(&classes, labels));
        report.value("mlp_model_bytes", &name, "bytes", em.to_bytes(params).len() as f64);
    }
    Ok(())
}
