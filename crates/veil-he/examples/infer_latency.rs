//! Latency of encrypted MLP inference at N = 16384 (`n16384_l6_sec128`): the shipped
//! breast-cancer MLP (30 → 8 → 2, degree-2 activation) on a batch of held-out rows, inputs and
//! weights both encrypted. `RAYON_NUM_THREADS=1 cargo run -p veil-he --release --example
//! infer_latency [ROWS] [RUNS]` (defaults 100 and 10); prints medians in milliseconds.

use std::path::Path;
use std::time::Instant;

use veil_ckks::{
    Decryptor, Encoder, Encryptor, Evaluator, GaloisKeys, Parameters, ParametersLiteral, PublicKey, RelinearizationKey, SecretKey,
};
use veil_he::infer::{encrypt_model, encrypt_rows, evaluate, ModelShape, Packing};
use veil_math::sampler::Prng;
use veil_ml::Model;

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rows: usize = args.next().map_or(Ok(100), |s| s.parse())?;
    let runs: usize = args.next().map_or(Ok(10), |s| s.parse())?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let model = Model::load(&root.join("data/models/breast_cancer_mlp.json"))?;
    let (_, held) = veil_ml::data::breast_cancer_split(&root.join("data/tabular/breast_cancer.csv"), 400, 1)?;
    let x = held.x.slice_rows(0, rows);
    let params = Parameters::new(ParametersLiteral::n16384_l6_sec128())?;
    for packing in [Packing::RowSum, Packing::Diagonal] {
        run(&params, &model, &x, packing, runs)?;
    }
    Ok(())
}

fn run(
    params: &std::sync::Arc<Parameters>,
    model: &Model,
    x: &veil_ml::Matrix,
    packing: Packing,
    runs: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let (params, rows) = (params.clone(), x.rows());
    let shape = ModelShape::of_model(&params, model, packing, None)?;
    let mut rng = Prng::from_os();
    let sk = SecretKey::generate(&params, &mut rng)?;
    let pk = PublicKey::generate(&sk, &mut rng)?;
    let rlk = RelinearizationKey::generate(&sk, &mut rng)?;
    let gks = GaloisKeys::generate(&sk, &shape.rotation_steps(), false, &mut rng)?;
    let enc = Encryptor::with_public_key(&params, &pk);
    let t = Instant::now();
    let em = encrypt_model(&params, &enc, model, &shape, &mut rng)?;
    let t_model = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let ct = encrypt_rows(&params, &enc, &shape, x, &mut rng)?;
    let t_rows = t.elapsed().as_secs_f64() * 1e3;
    let eval = Evaluator::new(&params);
    let mut out = evaluate(&eval, &em, &ct, rows, &rlk, &gks)?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        out = evaluate(&eval, &em, &ct, rows, &rlk, &gks)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let slots = Encoder::new(&params).decode(&Decryptor::new(&sk).decrypt(&out)?)?;
    let got = shape.decode(&slots, rows)?;
    let want = model.forward(x)?;
    let logits = Model { inputs: model.inputs, layers: model.layers[..model.layers.len() - 1].to_vec() }.forward(x)?;
    let agree = shape.classes(&got) == model.predict(x)?;
    println!(
        "n16384_l6_sec128, {packing:?}, {rows} rows, depth {}: evaluate median {:.1} ms (min {:.1}, max {:.1}, {runs} runs); encrypt model {t_model:.1} ms ({} bytes), encrypt rows {t_rows:.1} ms; max abs error logits {:.2e}, probabilities {:.2e}; predictions agree: {agree}",
        shape.depth(),
        median_ms(times.clone()),
        times.iter().copied().fold(f64::INFINITY, f64::min),
        times.iter().copied().fold(0.0, f64::max),
        em.to_bytes(&params).len(),
        got.max_abs_diff(&logits)?,
        shape.finish(&got).max_abs_diff(&want)?,
    );
    Ok(())
}
