//! `veil bench ckks`: the CKKS cases of BENCH.md at `N=8192,L=2,scale=2^40` and
//! `N=16384,L=6,scale=2^40` (presets `n8192_l2_sec128` and `n16384_l6_sec128`).
//!
//! Inputs are uniform in [-1, 1]. `encode_encrypt` is public-key encryption; `rotate` is a
//! rotation by one slot; `rotate_hoisted_8` is eight rotations (steps 1..=8) sharing one
//! decomposition; `matvec_64` is a 64×64 plaintext matrix times an encrypted vector replicated
//! over the slots (baby-step/giant-step diagonals, 8×8, diagonals encoded beforehand) followed by
//! one rescale, as the peers measure it. `relin_key_bytes` is the serialised key with its
//! uniform halves sent as a seed.

use veil_ckks::{
    Decryptor, Encoder, Encryptor, Evaluator, GaloisKeys, MatVecPlan, Parameters, ParametersLiteral, Prng, PublicKey, RelinearizationKey,
    SecretKey,
};

use super::{time_ms, Report};

/// A preset constructor.
type Preset = fn() -> ParametersLiteral;

const SETS: [(&str, Preset); 2] =
    [("N=8192,L=2,scale=2^40", ParametersLiteral::n8192_l2_sec128), ("N=16384,L=6,scale=2^40", ParametersLiteral::n16384_l6_sec128)];

pub fn run(report: &mut Report) -> anyhow::Result<()> {
    let threads = report.threads();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    pool.install(|| {
        let sets = if report.quick { &SETS[..1] } else { &SETS[..] };
        for (name, literal) in sets {
            run_set(report, name, literal())?;
        }
        Ok(())
    })
}

fn uniform(rng: &mut Prng, n: usize) -> Vec<f64> {
    (0..n).map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0).collect()
}

fn run_set(report: &mut Report, name: &str, literal: ParametersLiteral) -> anyhow::Result<()> {
    report.progress(&format!("{name}: key generation"));
    let params = Parameters::new(literal)?;
    let mut rng = Prng::from_os();
    let sk = SecretKey::generate(&params, &mut rng)?;
    let pk = PublicKey::generate(&sk, &mut rng)?;
    let rlk = RelinearizationKey::generate(&sk, &mut rng)?;
    let encoder = Encoder::new(&params);
    let eval = Evaluator::new(&params);
    let top = params.max_level();
    let scale = params.default_scale();
    let d = 64;
    let matrix: Vec<Vec<f64>> = (0..d).map(|_| uniform(&mut rng, d)).collect();
    let plan = MatVecPlan::new(&encoder, &params, &matrix, top)?;
    let mut steps: Vec<i64> = (1..=8).collect();
    steps.extend(plan.rotation_steps());
    let gks = GaloisKeys::generate(&sk, &steps, false, &mut rng)?;
    let encryptor = Encryptor::with_public_key(&params, &pk);
    let decryptor = Decryptor::new(&sk);
    let slots = params.slot_count();
    let (x, y) = (uniform(&mut rng, slots), uniform(&mut rng, slots));
    let ct_x = encryptor.encrypt(&encoder.encode(&x, top, scale)?, &mut rng)?;
    let ct_y = encryptor.encrypt(&encoder.encode(&y, top, scale)?, &mut rng)?;
    let runs = if report.quick { 3 } else { 20 };

    report.progress(&format!("{name}: timings"));
    let t = time_ms(runs, || encoder.encode(&x, top, scale).and_then(|pt| encryptor.encrypt(&pt, &mut rng)));
    report.timing("encode_encrypt", name, &t);
    let t = time_ms(runs, || decryptor.decrypt(&ct_x).and_then(|pt| encoder.decode(&pt)));
    report.timing("decrypt_decode", name, &t);
    let t = time_ms(runs, || eval.add(&ct_x, &ct_y));
    report.timing("add", name, &t);
    let t = time_ms(runs, || eval.mul_relin(&ct_x, &ct_y, &rlk));
    report.timing("mul_relin", name, &t);
    let prod = eval.mul_relin(&ct_x, &ct_y, &rlk)?;
    let t = time_ms(runs, || eval.rescale(&prod));
    report.timing("rescale", name, &t);
    let t = time_ms(runs, || eval.mul_relin_rescale(&ct_x, &ct_y, &rlk));
    report.timing("mul_relin_rescale", name, &t);
    let t = time_ms(runs, || eval.rotate(&ct_x, 1, &gks));
    report.timing("rotate", name, &t);
    let t = time_ms(runs, || eval.rotate_hoisted(&ct_x, &steps[..8], &gks));
    report.timing("rotate_hoisted_8", name, &t);
    let rep: Vec<f64> = (0..slots).map(|j| x[j % d]).collect();
    let ct_v = encryptor.encrypt(&encoder.encode(&rep, top, scale)?, &mut rng)?;
    let t = time_ms(runs.min(10), || eval.matvec(&ct_v, &plan, &gks).and_then(|c| eval.rescale(&c)));
    report.timing("matvec_64", name, &t);

    // Correctness of what was timed, and precision in bits.
    let mv = encoder.decode(&decryptor.decrypt(&eval.rescale(&eval.matvec(&ct_v, &plan, &gks)?)?)?)?;
    let mv_err = (0..d).map(|i| ((0..d).map(|j| matrix[i][j] * x[j]).sum::<f64>() - mv[i]).abs()).fold(0.0, f64::max);
    anyhow::ensure!(mv_err < 1e-3, "matvec_64 result off by {mv_err}");
    let out = encoder.decode(&decryptor.decrypt(&eval.mul_relin_rescale(&ct_x, &ct_y, &rlk)?)?)?;
    let err = x.iter().zip(&y).zip(&out).map(|((a, b), o)| (a * b - o).abs()).fold(0.0, f64::max);
    report.value("precision_mul_rescale", name, "bits", -err.log2());
    report.value("ciphertext_bytes", name, "bytes", ct_x.to_bytes(&params).len() as f64);
    report.value("relin_key_bytes", name, "bytes", rlk.to_bytes(&params).len() as f64);
    Ok(())
}
