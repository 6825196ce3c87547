//! Secure aggregation statistics under the collective key: count, sum, mean, variance and
//! covariance matrix of the rows that several data owners encrypted into disjoint blocks.
//!
//! Layout: row `r` occupies slots `[r·w, r·w + w)` of the (summed) ciphertext `x`, features in
//! columns `0..F` (`2F ≤ w`) and a 1.0 in column `F`. The server computes
//! `sum = RowSum(x)` and, for every shift `k < F`, `moment_k = RowSum(x ⊙ rot(x, k))`, where
//! `RowSum` adds the blocks with rotations by `w, 2w, 4w, …`. Slot `f` of `sum` is `Σ_r x_{r,f}`
//! (slot `F` the count) and slot `f` of `moment_k` is `Σ_r x_{r,f}·x_{r,f+k}` (no product
//! crosses a row because `f + k < 2F ≤ w`). The parties release only these sufficient
//! statistics; each derives mean, variance and covariance from them after merging.

use std::path::Path;

use anyhow::{bail, Context};
use veil_ckks::{Ciphertext, Encoder, Evaluator, GaloisKeys, Parameters, PublicKey, RelinearizationKey};
use veil_math::sampler::Prng;
use veil_threshold::{merge as merge_shares, public_key_digest, DecryptionShare, SecretShare, Session, Smudging};

use super::threshold::{load_ct, read, write_public};

fn check(params: &Parameters, width: usize, features: usize) -> anyhow::Result<()> {
    if !width.is_power_of_two() || width > params.slot_count() {
        bail!("--width must be a power of two dividing the {} slots", params.slot_count());
    }
    if features == 0 || 2 * features > width {
        bail!("--features F needs 1 <= F and 2F <= width ({width})");
    }
    Ok(())
}

/// Rotation steps the statistics need: `1..F` and the block strides `w·2^j`.
pub fn rotation_steps(params: &Parameters, width: usize, features: usize) -> anyhow::Result<Vec<i64>> {
    check(params, width, features)?;
    let mut steps: Vec<i64> = (1..features as i64).collect();
    let mut stride = width;
    while stride < params.slot_count() {
        steps.push(stride as i64);
        stride *= 2;
    }
    Ok(steps)
}

fn names(features: usize) -> Vec<String> {
    std::iter::once("sum".to_string()).chain((0..features).map(|k| format!("moment-{k}"))).collect()
}

fn row_sum(eval: &Evaluator, params: &Parameters, ct: &Ciphertext, width: usize, gks: &GaloisKeys) -> anyhow::Result<Ciphertext> {
    let mut acc = ct.clone();
    let mut stride = width;
    while stride < params.slot_count() {
        let r = eval.rotate(&acc, stride as i64, gks)?;
        acc = eval.add(&acc, &r)?;
        stride *= 2;
    }
    Ok(acc)
}

/// The evaluator's step (no secret): writes `sum.ct` and `moment-k.ct` to `out`.
pub fn aggregate(s: &Session, dir: &Path, inputs: &[std::path::PathBuf], width: usize, features: usize, out: &Path) -> anyhow::Result<()> {
    let params = s.params();
    check(params, width, features)?;
    let rlk = RelinearizationKey::from_bytes(params, &read(&dir.join("collective.rlk"))?)?;
    let gks = GaloisKeys::from_bytes(params, &read(&dir.join("collective.gks"))?)?;
    let eval = Evaluator::new(params);
    let mut cts = inputs.iter().map(|p| load_ct(params, p));
    let mut x = cts.next().context("no --inputs")??;
    for ct in cts {
        x = eval.add(&x, &ct?)?;
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_public(&out.join("sum.ct"), &row_sum(&eval, params, &x, width, &gks)?.to_bytes(params))?;
    for k in 0..features {
        let shifted = if k == 0 { x.clone() } else { eval.rotate(&x, k as i64, &gks)? };
        let m = row_sum(&eval, params, &eval.mul_relin_rescale(&x, &shifted, &rlk)?, width, &gks)?;
        write_public(&out.join(format!("moment-{k}.ct")), &m.to_bytes(params))?;
    }
    eprintln!("statistics over {} input(s) written to {}", inputs.len(), out.display());
    Ok(())
}

/// A party's flooded partial decryptions of every statistic, for the other party.
pub fn decrypt(s: &Session, sk: &SecretShare, stats: &Path, features: usize, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let smudging = Smudging::default_for(s.params());
    let mut rng = Prng::from_os();
    let dk = sk.decryption_key(s)?;
    for name in names(features) {
        let ct = load_ct(s.params(), &stats.join(format!("{name}.ct")))?;
        let share = dk.partial_decrypt(s, &ct, &smudging, &mut rng)?;
        write_public(&out.join(format!("share-{name}")), &share.to_bytes(s))?;
    }
    Ok(())
}

/// Merges every statistic (own share unflooded, the other party's from `shares`) and prints
/// `{"count", "mean", "variance", "covariance"}` (population moments) as JSON.
pub fn merge(s: &Session, sk: &SecretShare, pk: &PublicKey, stats: &Path, shares: &Path, features: usize) -> anyhow::Result<()> {
    let params = s.params();
    let key = public_key_digest(params, pk);
    let dk = sk.decryption_key(s)?;
    let encoder = Encoder::new(params);
    let mut plain = Vec::new();
    for name in names(features) {
        let ct = load_ct(params, &stats.join(format!("{name}.ct")))?;
        let path = shares.join(format!("share-{name}"));
        let theirs = DecryptionShare::from_bytes(s, &read(&path)?).with_context(|| format!("share {}", path.display()))?;
        let own = dk.receiver_share(s, &ct)?;
        plain.push(encoder.decode(&merge_shares(s, key, &ct, &[theirs], Some(&own))?)?);
    }
    let f = features;
    let count = plain[0][f];
    if count < 0.5 {
        bail!("no rows (count {count:.3})");
    }
    let mean: Vec<f64> = (0..f).map(|i| plain[0][i] / count).collect();
    let mut cov = vec![vec![0.0; f]; f];
    for k in 0..f {
        for i in 0..f - k {
            let c = plain[1 + k][i] / count - mean[i] * mean[i + k];
            cov[i][i + k] = c;
            cov[i + k][i] = c;
        }
    }
    let variance: Vec<f64> = (0..f).map(|i| cov[i][i]).collect();
    let out = serde_json::json!({ "count": count, "mean": mean, "variance": variance, "covariance": cov });
    println!("{out}");
    Ok(())
}
