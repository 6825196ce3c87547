//! Secure aggregation statistics under the collective key: count, sum, mean, variance and
//! covariance matrix of the rows that several data owners encrypted.
//!
//! Layout: row `r` of a ciphertext occupies slots `[r·w, r·w + w)`, features in columns
//! `0..F` (`2F ≤ w`) and a 1.0 in column `F`; blocks without a row are zero. For every
//! ciphertext `x_c` the server forms `x_c ⊙ rot(x_c, k)` for each shift `k < F` and adds
//! them over `c`; then `sum = RowSum(Σ_c x_c)` and `moment_k = RowSum(Σ_c x_c ⊙ rot(x_c, k))`,
//! where `RowSum` adds the blocks with rotations by `w, 2w, 4w, …`. Slot `f` of `sum` is
//! `Σ_r x_{r,f}` (slot `F` the count) and slot `f` of `moment_k` is `Σ_r x_{r,f}·x_{r,f+k}`
//! (no product crosses a row because `f + k < 2F ≤ w`). `RowSum` is cyclic, so every block
//! holds the same totals: the server packs the `F + 1` statistics into `⌈(F+1)/B⌉` ciphertexts
//! (`B = slots/w` blocks) by keeping, with one plaintext mask, statistic `j` in block `j mod B`
//! of ciphertext `⌊j/B⌋` (only its `F + 1` or `F − k` meaningful slots, every other slot zero).
//! The parties release only these sufficient statistics, in as few decryptions as the slots
//! allow (one at `N = 2^14`, `w = 64`, `F ≤ 127`: each released decryption spends some of the
//! smudging budget of the key); mean, variance and covariance follow from them.
//!
//! The same in-memory functions serve the file commands (`aggregate-stats`, `stats-decrypt`,
//! `stats-merge`) and the networked job (`task = "aggregate"`, `cmd/aggregate_net.rs`).

use std::path::Path;

use anyhow::{bail, Context};
use serde::Serialize;
use veil_ckks::{Ciphertext, Encoder, Evaluator, GaloisKeys, Parameters, PublicKey, RelinearizationKey};
use veil_math::sampler::Prng;
use veil_threshold::{merge as merge_shares, public_key_digest, DecryptionShare, SecretShare, Session, Smudging};

use super::threshold::{load_ct, read, write_public};

/// Checks the layout: `width` a power of two dividing the slots, `1 ≤ F`, `2F ≤ width`.
pub fn check(params: &Parameters, width: usize, features: usize) -> anyhow::Result<()> {
    if !width.is_power_of_two() || width > params.slot_count() {
        bail!("width must be a power of two dividing the {} slots, got {width}", params.slot_count());
    }
    if features == 0 || 2 * features > width {
        bail!("F = {features} features need 1 <= F and 2F <= width ({width})");
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

/// Packs rows (each `F` features) as rows `first_row..` of a joint data set: row `g` in block
/// `g mod (slots/width)` of slot vector `g div (slots/width)`, its features then 1.0; zero
/// elsewhere (so that owners of disjoint row ranges can add their ciphertexts).
pub fn pack_rows(params: &Parameters, rows: &[Vec<f64>], width: usize, features: usize, first_row: usize) -> anyhow::Result<Vec<Vec<f64>>> {
    check(params, width, features)?;
    if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != features) {
        bail!("row {} has {} features, expected {features}", i + 1, r.len());
    }
    let slots = params.slot_count();
    let per = slots / width;
    let end = first_row.checked_add(rows.len()).context("row count overflow")?;
    let mut chunks = vec![vec![0.0; slots]; end.div_ceil(per)];
    for (i, row) in rows.iter().enumerate() {
        let g = first_row + i;
        let at = (g % per) * width;
        let chunk = &mut chunks[g / per];
        chunk[at..at + features].copy_from_slice(row);
        chunk[at + features] = 1.0;
    }
    Ok(chunks)
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

/// The evaluator's step (no secret): the statistics `[sum, moment_0, …, moment_{F−1}]` over
/// every row of every ciphertext of `chunks`, packed into [`packed_count`] ciphertexts (two
/// multiplicative levels; read them with [`unpack_statistics`]).
pub fn encrypted_statistics(
    params: &std::sync::Arc<Parameters>,
    chunks: &[Ciphertext],
    width: usize,
    features: usize,
    rlk: &RelinearizationKey,
    gks: &GaloisKeys,
) -> anyhow::Result<Vec<Ciphertext>> {
    check(params, width, features)?;
    let eval = Evaluator::new(params);
    let (first, rest) = chunks.split_first().context("no encrypted rows")?;
    let mut total = first.clone();
    for ct in rest {
        total = eval.add(&total, ct)?;
    }
    // Per chunk: the F shifts from one hoisted decomposition; per shift: the degree-2 products
    // of every chunk summed before one relinearisation and rescaling.
    let shifts: Vec<i64> = (0..features as i64).collect();
    let mut products: Vec<Option<Ciphertext>> = vec![None; features];
    for x in chunks {
        for (acc, shifted) in products.iter_mut().zip(eval.rotate_hoisted(x, &shifts, gks)?) {
            let p = eval.multiply(x, &shifted)?;
            match acc {
                Some(a) => eval.add_assign(a, &p)?,
                None => *acc = Some(p),
            }
        }
    }
    let mut out = vec![row_sum(&eval, params, &total, width, gks)?];
    for acc in products {
        let acc = eval.rescale(&eval.relinearize(&acc.context("no encrypted rows")?, rlk)?)?;
        out.push(row_sum(&eval, params, &acc, width, gks)?);
    }
    pack_statistics(&eval, &out, width, features)
}

/// Number of ciphertexts the packed statistics take: `⌈(F + 1)/B⌉`.
pub fn packed_count(params: &Parameters, width: usize, features: usize) -> usize {
    (features + 1).div_ceil((params.slot_count() / width.max(1)).max(1))
}

/// Meaningful slots of statistic `j` in its block: `F + 1` for the sums (with the count),
/// `F − k` for `moment_k`.
fn kept_slots(j: usize, features: usize) -> usize {
    if j == 0 {
        features + 1
    } else {
        features + 1 - j
    }
}

/// Statistic `j` → block `j mod B` of ciphertext `⌊j/B⌋`, other slots zeroed, all at one
/// level and scale (the sums are scaled to the moments' scale by their mask's scale, then
/// dropped to the moments' level).
fn pack_statistics(eval: &Evaluator, stats: &[Ciphertext], width: usize, features: usize) -> anyhow::Result<Vec<Ciphertext>> {
    let params = eval.params();
    let (sum, moments) = stats.split_first().context("no statistics")?;
    let first = moments.first().context("no moments")?;
    let (top, mid) = (sum.level().0, first.level().0);
    if mid == 0 || mid + 1 != top || moments.iter().any(|m| m.level() != first.level() || !m.scale().matches(first.scale())) {
        bail!("the statistics need three levels (the parameters have {})", params.max_level().0);
    }
    let target = first.scale();
    let q = |l: usize| params.q()[l] as f64;
    let blocks = params.slot_count() / width;
    let encoder = Encoder::new(params);
    let mut out = Vec::new();
    for group in (0..stats.len()).collect::<Vec<_>>().chunks(blocks) {
        let mut acc: Option<Ciphertext> = None;
        for &j in group {
            let at = (j % blocks) * width;
            let mut mask = vec![0.0; params.slot_count()];
            mask[at..at + kept_slots(j, features)].fill(1.0);
            let ct = &stats[j];
            let mask_scale = if j == 0 { target.0 * q(top) / ct.scale().0 } else { q(mid) };
            let pt = encoder.encode(&mask, ct.level(), veil_ckks::Scale(mask_scale))?;
            let mut m = eval.rescale(&eval.mul_plain(ct, &pt)?)?;
            if j == 0 {
                m = eval.drop_to_level(&m, veil_ckks::Level(mid - 1))?;
            }
            if (m.scale().0 / target.0 - 1.0).abs() > 1e-9 {
                bail!("scale bookkeeping of the packed statistics: 2^{} for 2^{}", m.scale().log2(), target.log2());
            }
            m.set_scale(target);
            acc = Some(match acc {
                Some(a) => eval.add(&a, &m)?,
                None => m,
            });
        }
        out.push(acc.context("empty group")?);
    }
    Ok(out)
}

/// The decoded slots of the packed statistics back in the order `[sum, moment_0, …]`, each
/// the `F + 1` first slots of its block.
pub fn unpack_statistics(slots: &[Vec<f64>], width: usize, features: usize) -> anyhow::Result<Vec<Vec<f64>>> {
    let per = slots.first().map_or(0, |s| s.len() / width.max(1));
    if per == 0 || slots.len() != (features + 1).div_ceil(per) || slots.iter().any(|s| s.len() != per * width) {
        bail!("{} decoded statistics ciphertexts do not fit {} statistics of width {width}", slots.len(), features + 1);
    }
    Ok((0..=features)
        .map(|j| {
            let at = (j % per) * width;
            slots[j / per][at..at + features + 1].to_vec()
        })
        .collect())
}

/// Count, mean, population variance and covariance of the rows.
#[derive(Clone, Debug, Serialize)]
pub struct Statistics {
    pub count: f64,
    pub mean: Vec<f64>,
    pub variance: Vec<f64>,
    pub covariance: Vec<Vec<f64>>,
}

/// The statistics from the decoded slots of `[sum, moment_0, …]`.
pub fn statistics(plain: &[Vec<f64>], features: usize) -> anyhow::Result<Statistics> {
    let f = features;
    if plain.len() != f + 1 || plain.iter().any(|p| p.len() <= f) {
        bail!("expected {} decoded statistics of more than {f} slots", f + 1);
    }
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
    let variance = (0..f).map(|i| cov[i][i]).collect();
    Ok(Statistics { count, mean, variance, covariance: cov })
}

/// The public layout of a statistics directory (`layout.json`).
#[derive(Debug, Serialize, serde::Deserialize)]
struct Layout {
    width: usize,
    features: usize,
    ciphertexts: usize,
}

fn ct_name(c: usize) -> String {
    format!("stats-{c}.ct")
}

fn read_layout(stats: &Path, features: usize) -> anyhow::Result<Layout> {
    let path = stats.join("layout.json");
    let layout: Layout = serde_json::from_slice(&read(&path)?).with_context(|| format!("parsing {}", path.display()))?;
    if layout.features != features {
        bail!("{} describes {} features, --features says {features}", path.display(), layout.features);
    }
    if layout.ciphertexts == 0 || layout.ciphertexts > features + 1 {
        bail!("{}: {} ciphertexts for {} statistics", path.display(), layout.ciphertexts, features + 1);
    }
    Ok(layout)
}

/// `aggregate-stats`: the evaluator's step on files; writes the packed statistics
/// `stats-<c>.ct` and their public `layout.json` to `out`. Each input is a chunk of rows
/// (several owners may use disjoint blocks of one ciphertext each, or whole ciphertexts of
/// their own).
pub fn aggregate(s: &Session, dir: &Path, inputs: &[std::path::PathBuf], width: usize, features: usize, out: &Path) -> anyhow::Result<()> {
    let params = s.params();
    check(params, width, features)?;
    let rlk = RelinearizationKey::from_bytes(params, &read(&dir.join("collective.rlk"))?)?;
    let gks = GaloisKeys::from_bytes(params, &read(&dir.join("collective.gks"))?)?;
    let chunks = inputs.iter().map(|p| load_ct(params, p)).collect::<anyhow::Result<Vec<_>>>()?;
    let stats = encrypted_statistics(params, &chunks, width, features, &rlk, &gks)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (c, ct) in stats.iter().enumerate() {
        write_public(&out.join(ct_name(c)), &ct.to_bytes(params))?;
    }
    let layout = Layout { width, features, ciphertexts: stats.len() };
    write_public(&out.join("layout.json"), serde_json::to_string(&layout)?.as_bytes())?;
    eprintln!("statistics over {} input(s) written to {} ({} ciphertext(s))", inputs.len(), out.display(), stats.len());
    Ok(())
}

/// `stats-decrypt`: a party's flooded partial decryptions of the statistics, for the other
/// party (`share-<c>`).
pub fn decrypt(s: &Session, sk: &SecretShare, stats: &Path, features: usize, out: &Path) -> anyhow::Result<()> {
    let layout = read_layout(stats, features)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let smudging = Smudging::default_for(s.params());
    let mut rng = Prng::from_os();
    let dk = sk.decryption_key(s)?;
    for c in 0..layout.ciphertexts {
        let ct = load_ct(s.params(), &stats.join(ct_name(c)))?;
        let share = dk.partial_decrypt(s, &ct, &smudging, &mut rng)?;
        write_public(&out.join(format!("share-{c}")), &share.to_bytes(s))?;
    }
    Ok(())
}

/// `stats-merge`: merges the statistics (own share unflooded, the other party's from
/// `shares`) and prints `{"count", "mean", "variance", "covariance"}` (population moments) as
/// JSON.
pub fn merge(s: &Session, sk: &SecretShare, pk: &PublicKey, stats: &Path, shares: &Path, features: usize) -> anyhow::Result<()> {
    let params = s.params();
    let layout = read_layout(stats, features)?;
    let key = public_key_digest(params, pk);
    let dk = sk.decryption_key(s)?;
    let encoder = Encoder::new(params);
    let mut slots = Vec::new();
    for c in 0..layout.ciphertexts {
        let ct = load_ct(params, &stats.join(ct_name(c)))?;
        let path = shares.join(format!("share-{c}"));
        let theirs = DecryptionShare::from_bytes(s, &read(&path)?).with_context(|| format!("share {}", path.display()))?;
        let own = dk.receiver_share(s, &ct)?;
        slots.push(encoder.decode(&merge_shares(s, key, &ct, &[theirs], Some(&own))?)?);
    }
    let plain = unpack_statistics(&slots, layout.width, features)?;
    println!("{}", serde_json::to_string(&statistics(&plain, features)?)?);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use veil_ckks::{Decryptor, Encryptor, ParametersLiteral, SecretKey};

    /// Encrypted statistics over rows split into several ciphertexts equal the plaintext ones.
    #[test]
    fn encrypted_statistics_match_the_plaintext_reference() {
        let params = Parameters::new(ParametersLiteral::insecure_n2048_l4_dnum3()).unwrap();
        let (width, f) = (8, 3);
        let rows: Vec<Vec<f64>> = (0..300).map(|r| (0..f).map(|k| (((r * 7 + k * 13) % 17) as f64 - 8.0) / 9.0).collect()).collect();
        let mut rng = Prng::from_os();
        let sk = SecretKey::generate(&params, &mut rng).unwrap();
        let rlk = RelinearizationKey::generate(&sk, &mut rng).unwrap();
        let gks = GaloisKeys::generate(&sk, &rotation_steps(&params, width, f).unwrap(), false, &mut rng).unwrap();
        let enc = Encoder::new(&params);
        let chunks: Vec<Ciphertext> = pack_rows(&params, &rows, width, f, 0)
            .unwrap()
            .iter()
            .map(|v| {
                Encryptor::with_secret_key(&sk)
                    .encrypt(&enc.encode(v, params.max_level(), params.default_scale()).unwrap(), &mut rng)
                    .unwrap()
            })
            .collect();
        assert_eq!(chunks.len(), 3);
        let cts = encrypted_statistics(&params, &chunks, width, f, &rlk, &gks).unwrap();
        assert_eq!(cts.len(), packed_count(&params, width, f));
        let slots: Vec<Vec<f64>> = cts.iter().map(|c| enc.decode(&Decryptor::new(&sk).decrypt(c).unwrap()).unwrap()).collect();
        // Every slot outside the statistics' own is zero.
        let blocks = params.slot_count() / width;
        for (c, v) in slots.iter().enumerate() {
            for (i, x) in v.iter().enumerate() {
                let j = c * blocks + i / width;
                if j > f || i % width >= kept_slots(j, f) {
                    assert!(x.abs() < 1e-6, "slot {i} of ciphertext {c} holds {x}");
                }
            }
        }
        let got = statistics(&unpack_statistics(&slots, width, f).unwrap(), f).unwrap();
        let n = rows.len() as f64;
        assert!((got.count - n).abs() < 1e-2);
        for a in 0..f {
            let ma = rows.iter().map(|r| r[a]).sum::<f64>() / n;
            assert!((got.mean[a] - ma).abs() < 1e-4);
            for b in 0..f {
                let mb = rows.iter().map(|r| r[b]).sum::<f64>() / n;
                let c = rows.iter().map(|r| r[a] * r[b]).sum::<f64>() / n - ma * mb;
                assert!((got.covariance[a][b] - c).abs() < 1e-4, "cov {a},{b}: {} vs {c}", got.covariance[a][b]);
            }
        }
        assert!(pack_rows(&params, &[vec![1.0; f + 1]], width, f, 0).is_err());
        assert_eq!(pack_rows(&params, &rows[..2], width, f, 255).unwrap().len(), 3);
        assert!(check(&params, 8, 5).is_err());
    }
}
