//! `veil bench threshold`: the threshold cases of BENCH.md for 2, 3 and 5 parties at
//! `N=16384,L=6,scale=2^40` (preset `n16384_l6_sec128`), in process, without a network.
//!
//! Per-party cases time what one party computes, as the peers do: `keygen_round` = drawing its
//! secret share, expanding the common polynomial and computing its public-key share;
//! `relin_keygen` = both relinearisation rounds of one party (common polynomials included,
//! aggregation excluded); `partial_decrypt` = one flooded decryption share of a ciphertext after
//! one multiplication and rescaling; `merge` = summing all shares and decoding.
//! `end_to_end_inference` = A encrypts 8192 feature values, B encrypts the weights of a linear
//! model replicated per 32-feature row, the server multiplies, relinearises, rescales and sums
//! each row with 5 rotations, every party partially decrypts and A merges (keys excluded).
//! `max_abs_err_after_mul` multiplies two encryptions of uniform values in [-1, 1] and merges
//! the flooded shares of every party (default smudging, σ = 2^20); the extra case
//! `max_abs_err_after_mul_receiver_merges` has the receiver merge its own share unflooded, and
//! `ciphertext_error_log2` is `log2 ‖e_ct‖_∞` of the product before flooding (the `B` of the
//! smudging derivation). The MLP secure-inference cases are in `threshold_mlp.rs`.

use veil_ckks::{
    Ciphertext, Encoder, Encryptor, Evaluator, GaloisKeys, Parameters, ParametersLiteral, Prng, PublicKey, RelinearizationKey,
};
use veil_math::sampler::Seed;
use veil_math::Coeff;
use veil_threshold::{
    merge, public_key_digest, DecryptionShare, Digest, GaloisKeyGen, PartyId, PublicKeyGen, RelinKeyGen, SecretShare, Session, Share,
    Smudging,
};

use std::time::Instant;

use super::{time_ms, Report, Timing};

const PARTIES: [u32; 3] = [2, 3, 5];
const ROW: usize = 32;

pub fn run(report: &mut Report) -> anyhow::Result<()> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(report.threads()).build()?;
    pool.install(|| {
        let params = Parameters::new(ParametersLiteral::n16384_l6_sec128())?;
        let parties: &[u32] = if report.quick { &PARTIES[..1] } else { &PARTIES };
        for &n in parties {
            run_parties(report, &params, n)?;
        }
        super::threshold_mlp::run(report, &params)
    })
}

struct Keys {
    session: Session,
    shares: Vec<SecretShare>,
    pk: PublicKey,
    rlk: RelinearizationKey,
    gks: GaloisKeys,
    key: Digest,
}

fn keygen(params: &std::sync::Arc<Parameters>, n: u32, rng: &mut Prng) -> anyhow::Result<Keys> {
    let ids: Vec<PartyId> = (1..=n).map(PartyId).collect();
    let session = Session::new(params, Seed::random(), &ids)?;
    let mut shares = ids.iter().map(|&p| SecretShare::generate(&session, p, rng)).collect::<Result<Vec<_>, _>>()?;
    let ckg = PublicKeyGen::new(&session)?;
    let pk_shares = shares.iter().map(|s| ckg.share(s, rng)).collect::<Result<Vec<_>, _>>()?;
    let pk = ckg.aggregate(&pk_shares)?;
    for s in &mut shares {
        s.bind(&session, &pk);
    }
    let key = public_key_digest(params, &pk);
    let rkg = RelinKeyGen::new(&session)?;
    let mut ephs = Vec::new();
    let mut r1 = Vec::new();
    for s in &shares {
        let (e, sh) = rkg.round1(s, rng)?;
        ephs.push(e);
        r1.push(sh);
    }
    let agg = rkg.aggregate_round1(key, &r1)?;
    let r2 = shares.iter().zip(ephs).map(|(s, e)| rkg.round2(s, e, &agg, rng)).collect::<Result<Vec<_>, _>>()?;
    let rlk = rkg.finalize(key, &agg, &r2)?;
    let mut gks = GaloisKeys::default();
    let mut step = 1i64;
    while step < ROW as i64 {
        let gkg = GaloisKeyGen::new(&session, params.galois_element(step))?;
        let g = shares.iter().map(|s| gkg.share(s, rng)).collect::<Result<Vec<_>, _>>()?;
        gks.insert(gkg.aggregate(key, &g)?);
        step *= 2;
    }
    Ok(Keys { session, shares, pk, rlk, gks, key })
}

fn uniform(rng: &mut Prng, n: usize) -> Vec<f64> {
    (0..n).map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0).collect()
}

fn flooded_shares(k: &Keys, ct: &Ciphertext, smudging: &Smudging, rng: &mut Prng) -> anyhow::Result<Vec<DecryptionShare>> {
    k.shares.iter().map(|s| Ok(s.decryption_key(&k.session)?.partial_decrypt(&k.session, ct, smudging, rng)?)).collect()
}

fn max_err(got: &[f64], want: &[f64]) -> f64 {
    got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
}

fn run_parties(report: &mut Report, params: &std::sync::Arc<Parameters>, n: u32) -> anyhow::Result<()> {
    let name = format!("parties={n},N=16384,L=6,scale=2^40");
    let runs = if report.quick { 3 } else { 10 };
    let mut rng = Prng::from_os();
    report.progress(&format!("{name}: collective key generation"));
    let k = keygen(params, n, &mut rng)?;
    let me = &k.shares[1];

    let t = time_ms(runs, || -> anyhow::Result<()> {
        let mut rng = Prng::from_os();
        let s = SecretShare::generate(&k.session, PartyId(2), &mut rng)?;
        let ckg = PublicKeyGen::new(&k.session)?;
        std::hint::black_box(ckg.share(&s, &mut rng)?);
        Ok(())
    });
    report.timing("keygen_round", &name, &t);

    let rkg = RelinKeyGen::new(&k.session)?;
    let others = k.shares[..]
        .iter()
        .filter(|s| s.party() != me.party())
        .map(|s| Ok(rkg.round1(s, &mut rng)?.1))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut samples = Vec::new();
    for run in 0..=runs {
        let mut rng = Prng::from_os();
        let start = Instant::now();
        let rkg = RelinKeyGen::new(&k.session)?;
        let (eph, mine) = rkg.round1(me, &mut rng)?;
        let round1 = start.elapsed();
        let mut all = others.clone();
        all.push(mine);
        let agg = rkg.aggregate_round1(k.key, &all)?;
        let start = Instant::now();
        std::hint::black_box(rkg.round2(me, eph, &agg, &mut rng)?);
        if run > 0 {
            samples.push(round1 + start.elapsed());
        }
    }
    let t = Timing::from_samples(samples);
    report.timing("relin_keygen", &name, &t);

    let encoder = Encoder::new(params);
    let eval = Evaluator::new(params);
    let encryptor = Encryptor::with_public_key(params, &k.pk);
    let slots = params.slot_count();
    let (top, scale) = (params.max_level(), params.default_scale());
    let (x, w) = (uniform(&mut rng, slots), uniform(&mut rng, slots));
    let cx = encryptor.encrypt(&encoder.encode(&x, top, scale)?, &mut rng)?;
    let cw = encryptor.encrypt(&encoder.encode(&w, top, scale)?, &mut rng)?;
    let prod = eval.mul_relin_rescale(&cx, &cw, &k.rlk)?;
    let want: Vec<f64> = x.iter().zip(&w).map(|(a, b)| a * b).collect();
    let smudging = Smudging::default_for(params);

    let dk = me.decryption_key(&k.session)?;
    let t = time_ms(runs, || dk.partial_decrypt(&k.session, &prod, &smudging, &mut Prng::from_os()));
    report.timing("partial_decrypt", &name, &t);

    let shares = flooded_shares(&k, &prod, &smudging, &mut rng)?;
    let t = time_ms(runs, || -> anyhow::Result<Vec<f64>> { Ok(encoder.decode(&merge(&k.session, k.key, &prod, &shares, None)?)?) });
    report.timing("merge", &name, &t);
    let got = encoder.decode(&merge(&k.session, k.key, &prod, &shares, None)?)?;
    report.value("max_abs_err_after_mul", &name, "abs", max_err(&got, &want));

    let own = k.shares[0].decryption_key(&k.session)?.receiver_share(&k.session, &prod)?;
    let got = encoder.decode(&merge(&k.session, k.key, &prod, &shares[1..], Some(&own))?)?;
    report.value("max_abs_err_after_mul_receiver_merges", &name, "abs", max_err(&got, &want));

    let tiny = Smudging::with_log2_sigma(0.0)?;
    let exact = flooded_shares(&k, &prod, &tiny, &mut rng)?;
    let pt = merge(&k.session, k.key, &prod, &exact, None)?;
    let ideal = encoder.encode(&want, prod.level(), prod.scale())?;
    let mut diff = pt.poly().clone();
    diff.sub_assign(params.ring(), ideal.poly())?;
    let diff: veil_math::RnsPoly<Coeff> = diff.into_coeff(params.ring());
    let q0 = params.ring().modulus(0);
    let bound = diff.limb(0).iter().map(|&v| q0.center(v).unsigned_abs()).max().unwrap_or(0);
    report.value("ciphertext_error_log2", &name, "bits", (bound.max(1) as f64).log2());

    let rows = slots / ROW;
    let weights = uniform(&mut rng, ROW);
    let w_rep: Vec<f64> = (0..slots).map(|i| weights[i % ROW]).collect();
    let t = time_ms(runs, || -> anyhow::Result<Vec<f64>> {
        let mut rng = Prng::from_os();
        let ca = encryptor.encrypt(&encoder.encode(&x, top, scale)?, &mut rng)?;
        let cb = encryptor.encrypt(&encoder.encode(&w_rep, top, scale)?, &mut rng)?;
        let mut acc = eval.mul_relin_rescale(&ca, &cb, &k.rlk)?;
        let mut step = 1i64;
        while step < ROW as i64 {
            let r = eval.rotate(&acc, step, &k.gks)?;
            acc = eval.add(&acc, &r)?;
            step *= 2;
        }
        let released: Vec<DecryptionShare> = k.shares[1..]
            .iter()
            .map(|s| {
                let d = s.decryption_key(&k.session)?.partial_decrypt(&k.session, &acc, &smudging, &mut rng)?;
                Ok(Share::from_bytes(&k.session, &d.to_bytes(&k.session))?)
            })
            .collect::<anyhow::Result<_>>()?;
        let own = k.shares[0].decryption_key(&k.session)?.receiver_share(&k.session, &acc)?;
        let out = encoder.decode(&merge(&k.session, k.key, &acc, &released, Some(&own))?)?;
        Ok((0..rows).map(|r| out[r * ROW]).collect())
    });
    report.timing("end_to_end_inference", &name, &t);
    Ok(())
}
