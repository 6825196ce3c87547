//! `veil demo --mode stats`: single-key encrypted analytics on real process data (Tennessee Eastman, normal operation).
//!
//! Client side: read the first `--rows` samples of the fault-free run (52 sensors: xmeas_1..41,
//! xmv_1..11), scale each sensor by a public power of two so its values lie in [-1, 1], pack
//! the columns into CKKS slots (one block of `rows` slots per sensor) and encrypt them under a
//! freshly generated key. Server side, with only the public evaluation keys: per-sensor means,
//! per-sensor variances `mean((x - mean)^2)`, and a linear score per sample, the projection of
//! the standardised sensors on a fixed weight vector (the model). Client side again: decrypt
//! and compare with the same statistics computed in plaintext.
//!
//! The model is the first principal direction of the standardised readings, computed in
//! plaintext from the same slice (in practice it would come from a reference period); sensors
//! with zero variance get weight zero. The per-sensor powers of two are revealed to the server.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use veil_ckks::{
    Ciphertext, Decryptor, Encoder, Encryptor, Evaluator, GaloisKeys, Level, Parameters, ParametersLiteral, Prng, PublicKey,
    RelinearizationKey, Scale, SecretKey,
};

/// Public gain `A` applied to deviations before squaring (see [`Server::mean_and_variance`]).
const VARIANCE_GAIN: f64 = 256.0;

/// Options of `veil demo --mode stats`.
#[derive(Debug)]
pub struct StatsOptions {
    pub rows: usize,
    pub preset: String,
    pub data: PathBuf,
    pub json: bool,
}

/// One sensor's statistics, plaintext and decrypted.
#[derive(Debug, Serialize)]
struct SensorRow {
    sensor: String,
    mean: f64,
    mean_decrypted: f64,
    mean_abs_err: f64,
    variance: f64,
    variance_decrypted: f64,
    variance_abs_err: f64,
}

#[derive(Debug, Serialize)]
struct ScoreSummary {
    weights_of: &'static str,
    first: Vec<(f64, f64)>,
    max_abs_err: f64,
}

#[derive(Debug, Serialize)]
struct DemoReport {
    preset: String,
    ring_degree: usize,
    rows: usize,
    sensors: Vec<SensorRow>,
    score: ScoreSummary,
    max_abs_err_mean: f64,
    max_rel_err_variance: f64,
    timings_ms: Timings,
}

#[derive(Debug, Default, Serialize)]
struct Timings {
    keygen: f64,
    encrypt: f64,
    evaluate: f64,
    decrypt: f64,
}

/// The fault-free samples: sensor names and `rows` rows of 52 readings.
struct Table {
    names: Vec<String>,
    rows: Vec<Vec<f64>>,
}

fn read_tep(path: &Path, rows: usize) -> anyhow::Result<Table> {
    use std::io::{BufRead, BufReader};
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut lines = BufReader::new(flate2::read::GzDecoder::new(file)).lines();
    let header = lines.next().context("empty data file")??;
    let cols: Vec<&str> = header.split(',').collect();
    let fault = cols.iter().position(|c| *c == "fault").context("no `fault` column")?;
    let sensors: Vec<usize> = (0..cols.len()).filter(|&i| cols[i].starts_with("xmeas_") || cols[i].starts_with("xmv_")).collect();
    ensure!(sensors.len() == 52, "expected 52 sensor columns, found {}", sensors.len());
    let names = sensors.iter().map(|&i| cols[i].to_string()).collect();
    let mut out = Vec::with_capacity(rows);
    for (n, line) in lines.enumerate() {
        let line = line.with_context(|| format!("reading line {}", n + 2))?;
        let fields: Vec<&str> = line.split(',').collect();
        ensure!(fields.len() == cols.len(), "line {} has {} fields, expected {}", n + 2, fields.len(), cols.len());
        let f: f64 = fields[fault].trim().parse().with_context(|| format!("line {}: fault", n + 2))?;
        if f != 0.0 {
            continue;
        }
        let row = sensors
            .iter()
            .map(|&i| fields[i].trim().parse::<f64>().with_context(|| format!("line {}: {}", n + 2, cols[i])))
            .collect::<anyhow::Result<Vec<f64>>>()?;
        ensure!(row.iter().all(|v| v.is_finite()), "line {}: non-finite reading", n + 2);
        out.push(row);
        if out.len() == rows {
            break;
        }
    }
    ensure!(out.len() == rows, "only {} fault-free samples in {}, {} requested", out.len(), path.display(), rows);
    Ok(Table { names, rows: out })
}

/// Plaintext means and (population) variances per sensor.
fn plain_stats(t: &Table) -> (Vec<f64>, Vec<f64>) {
    let m = t.rows.len() as f64;
    let k = t.names.len();
    let means: Vec<f64> = (0..k).map(|c| t.rows.iter().map(|r| r[c]).sum::<f64>() / m).collect();
    let vars = (0..k).map(|c| t.rows.iter().map(|r| (r[c] - means[c]).powi(2)).sum::<f64>() / m).collect();
    (means, vars)
}

/// First principal direction of the standardised readings (power iteration on the correlation
/// matrix); zero weight for constant sensors; sign: largest component positive.
fn first_principal_direction(t: &Table, means: &[f64], vars: &[f64]) -> Vec<f64> {
    let k = means.len();
    let sd: Vec<f64> = vars.iter().map(|v| v.sqrt()).collect();
    let z: Vec<Vec<f64>> =
        t.rows.iter().map(|r| (0..k).map(|c| if sd[c] > 1e-12 { (r[c] - means[c]) / sd[c] } else { 0.0 }).collect()).collect();
    let mut cov = vec![vec![0.0; k]; k];
    for r in &z {
        for i in 0..k {
            for j in 0..k {
                cov[i][j] += r[i] * r[j] / t.rows.len() as f64;
            }
        }
    }
    let mut w: Vec<f64> = (0..k).map(|i| if sd[i] > 1e-12 { 1.0 } else { 0.0 }).collect();
    for _ in 0..500 {
        let nw: Vec<f64> = (0..k).map(|i| (0..k).map(|j| cov[i][j] * w[j]).sum()).collect();
        let norm = nw.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm == 0.0 {
            break;
        }
        w = nw.iter().map(|v| v / norm).collect();
    }
    let big = w.iter().copied().fold(0.0, |a: f64, b| if b.abs() > a.abs() { b } else { a });
    if big < 0.0 {
        w.iter_mut().for_each(|v| *v = -*v);
    }
    w
}

pub fn run(args: StatsOptions) -> anyhow::Result<()> {
    let rows = args.rows;
    if !rows.is_power_of_two() || !(2..=256).contains(&rows) {
        bail!("--rows must be a power of two between 2 and 256 (got {rows})");
    }
    let literal = ParametersLiteral::preset(&args.preset).with_context(|| {
        let names: Vec<String> = ParametersLiteral::presets().into_iter().map(|p| p.name).collect();
        format!("unknown preset {:?}; choose one of {}", args.preset, names.join(", "))
    })?;
    let path = args.data.clone();
    let table = read_tep(&path, rows)?;
    let (means, vars) = plain_stats(&table);
    let weights = first_principal_direction(&table, &means, &vars);
    let k = table.names.len();

    let bar = ProgressBar::with_draw_target(Some(5), ProgressDrawTarget::stderr());
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()));
    let mut timings = Timings::default();

    // ---- Client: keys and encryption -------------------------------------------------------
    bar.set_message("client: key generation");
    let t0 = Instant::now();
    let params = Parameters::new(literal)?;
    ensure!(params.max_level().0 >= 2, "preset {} has fewer than the 2 levels the demo needs", args.preset);
    let slots = params.slot_count();
    ensure!(rows <= slots, "{rows} rows do not fit in {slots} slots");
    let per_ct = slots / rows;
    let n_ct = k.div_ceil(per_ct);
    let mut rng = Prng::from_os();
    let sk = SecretKey::generate(&params, &mut rng)?;
    let pk = PublicKey::generate(&sk, &mut rng)?;
    let rlk = RelinearizationKey::generate(&sk, &mut rng)?;
    let mut steps: Vec<i64> = Vec::new();
    let mut s = 1;
    while s < rows {
        steps.push(s as i64);
        steps.push(-(s as i64));
        s <<= 1;
    }
    let mut s = rows;
    while s < slots {
        steps.push(s as i64);
        s <<= 1;
    }
    let gks = GaloisKeys::generate(&sk, &steps, false, &mut rng)?;
    timings.keygen = t0.elapsed().as_secs_f64() * 1e3;
    bar.inc(1);

    bar.set_message("client: encrypt");
    let t0 = Instant::now();
    let encoder = Encoder::new(&params);
    let top = params.max_level();
    let scale = params.default_scale();
    // Public per-sensor power of two bounding |x|.
    let shift: Vec<i32> = (0..k)
        .map(|c| {
            let mx = table.rows.iter().map(|r| r[c].abs()).fold(0.0, f64::max);
            if mx > 0.0 {
                mx.log2().ceil() as i32
            } else {
                0
            }
        })
        .collect();
    let encryptor = Encryptor::with_public_key(&params, &pk);
    let mut cts = Vec::with_capacity(n_ct);
    for j in 0..n_ct {
        let mut v = vec![0.0; slots];
        for b in 0..per_ct {
            let c = j * per_ct + b;
            if c >= k {
                break;
            }
            for (r, row) in table.rows.iter().enumerate() {
                v[b * rows + r] = row[c] / 2f64.powi(shift[c]);
            }
        }
        cts.push(encryptor.encrypt(&encoder.encode(&v, top, scale)?, &mut rng)?);
    }
    timings.encrypt = t0.elapsed().as_secs_f64() * 1e3;
    bar.inc(1);

    // ---- Server: statistics without the secret key -------------------------------------------
    bar.set_message("server: means, variances, scores");
    let t0 = Instant::now();
    let eval = Evaluator::new(&params);
    let server = Server { params: &params, encoder: &encoder, eval: &eval, gks: &gks, rlk: &rlk, rows, per_ct };
    let mut mean_cts = Vec::with_capacity(n_ct);
    let mut var_cts = Vec::with_capacity(n_ct);
    for ct in &cts {
        let (m, v) = server.mean_and_variance(ct)?;
        mean_cts.push(m);
        var_cts.push(v);
    }
    // Score weights the server holds in plaintext: w_c · 2^shift_c / σ_c, offset Σ w_c μ_c / σ_c.
    let mut coef = vec![0.0; k];
    let mut offset = 0.0;
    for c in 0..k {
        let sd = vars[c].sqrt();
        if sd > 1e-12 {
            coef[c] = weights[c] * 2f64.powi(shift[c]) / sd;
            offset += weights[c] * means[c] / sd;
        }
    }
    let score_ct = server.linear_score(&cts, &coef, offset)?;
    timings.evaluate = t0.elapsed().as_secs_f64() * 1e3;
    bar.inc(1);

    // ---- Client: decrypt and compare ---------------------------------------------------------
    bar.set_message("client: decrypt");
    let t0 = Instant::now();
    let decryptor = Decryptor::new(&sk);
    let dec = |ct: &Ciphertext| -> anyhow::Result<Vec<f64>> { Ok(encoder.decode(&decryptor.decrypt(ct)?)?) };
    let mut sensors = Vec::with_capacity(k);
    for j in 0..n_ct {
        let (m, v) = (dec(&mean_cts[j])?, dec(&var_cts[j])?);
        for b in 0..per_ct {
            let c = j * per_ct + b;
            if c >= k {
                break;
            }
            let mean_he = m[b * rows] * 2f64.powi(shift[c]);
            let var_he = v[b * rows] * 4f64.powi(shift[c]) / (VARIANCE_GAIN * VARIANCE_GAIN);
            sensors.push(SensorRow {
                sensor: table.names[c].clone(),
                mean: means[c],
                mean_decrypted: mean_he,
                mean_abs_err: (mean_he - means[c]).abs(),
                variance: vars[c],
                variance_decrypted: var_he,
                variance_abs_err: (var_he - vars[c]).abs(),
            });
        }
    }
    let scores_he = dec(&score_ct)?;
    timings.decrypt = t0.elapsed().as_secs_f64() * 1e3;
    bar.inc(1);
    bar.finish_and_clear();

    let scores: Vec<f64> = table
        .rows
        .iter()
        .map(|r| (0..k).map(|c| if vars[c].sqrt() > 1e-12 { weights[c] * (r[c] - means[c]) / vars[c].sqrt() } else { 0.0 }).sum())
        .collect();
    let score_err = scores.iter().zip(&scores_he).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let report = DemoReport {
        preset: args.preset.clone(),
        ring_degree: params.n(),
        rows,
        max_abs_err_mean: sensors.iter().map(|s| s.mean_abs_err).fold(0.0, f64::max),
        max_rel_err_variance: sensors.iter().filter(|s| s.variance > 0.0).map(|s| s.variance_abs_err / s.variance).fold(0.0, f64::max),
        sensors,
        score: ScoreSummary {
            weights_of: "first principal direction of the standardised sensors",
            first: scores.iter().zip(&scores_he).take(5).map(|(a, b)| (*a, *b)).collect(),
            max_abs_err: score_err,
        },
        timings_ms: timings,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report, &path);
    }
    Ok(())
}

fn print_table(r: &DemoReport, path: &Path) {
    println!(
        "veil demo: CKKS ({}, N = {}) on {} fault-free Tennessee Eastman samples ({})",
        r.preset,
        r.ring_degree,
        r.rows,
        path.display()
    );
    println!("the server computed every statistic below on ciphertexts, without the secret key\n");
    println!(
        "{:<9} {:>14} {:>14} {:>10}   {:>14} {:>14} {:>10}",
        "sensor", "mean", "mean (HE)", "abs err", "variance", "variance (HE)", "abs err"
    );
    for s in &r.sensors {
        println!(
            "{:<9} {:>14.6} {:>14.6} {:>10.2e}   {:>14.6} {:>14.6} {:>10.2e}",
            s.sensor, s.mean, s.mean_decrypted, s.mean_abs_err, s.variance, s.variance_decrypted, s.variance_abs_err
        );
    }
    println!("\nlinear score (projection on the {}), first samples:", r.score.weights_of);
    for (i, (a, b)) in r.score.first.iter().enumerate() {
        println!("  sample {:>3}: plaintext {:>12.6}   decrypted {:>12.6}   abs err {:.2e}", i + 1, a, b, (a - b).abs());
    }
    println!(
        "\nmax abs error: means {:.2e}, scores {:.2e}; max relative error of variances {:.2e}",
        r.max_abs_err_mean, r.score.max_abs_err, r.max_rel_err_variance
    );
    let t = &r.timings_ms;
    println!(
        "time: key generation {:.0} ms, encryption {:.0} ms, server evaluation {:.0} ms, decryption {:.0} ms",
        t.keygen, t.encrypt, t.evaluate, t.decrypt
    );
}

/// The evaluator's side: everything it holds is public.
struct Server<'a> {
    params: &'a Parameters,
    encoder: &'a Encoder,
    eval: &'a Evaluator,
    gks: &'a GaloisKeys,
    rlk: &'a RelinearizationKey,
    rows: usize,
    per_ct: usize,
}

impl Server<'_> {
    /// Block sums at each block's first slot: rotations by 1, 2, 4, … < rows.
    fn block_sum(&self, ct: &Ciphertext) -> anyhow::Result<Ciphertext> {
        Ok(self.eval.sum_slots(ct, self.rows, self.gks)?)
    }

    /// A plaintext with `value` at every block start, encoded at the top prime of `level`.
    fn block_start_mask(&self, value: f64, level: Level) -> anyhow::Result<veil_ckks::Plaintext> {
        let mut v = vec![0.0; self.params.slot_count()];
        for b in 0..self.per_ct {
            v[b * self.rows] = value;
        }
        Ok(self.encoder.encode(&v, level, Scale(self.params.q()[level.0] as f64))?)
    }

    /// Copies each block's first slot over the whole block (rotations right by 1, 2, 4, …).
    fn replicate(&self, ct: &Ciphertext) -> anyhow::Result<Ciphertext> {
        let mut acc = ct.clone();
        let mut s = 1;
        while s < self.rows {
            let r = self.eval.rotate(&acc, -(s as i64), self.gks)?;
            self.eval.add_assign(&mut acc, &r)?;
            s <<= 1;
        }
        Ok(acc)
    }

    /// Per-block mean and `A²·variance` (`A = VARIANCE_GAIN`), at each block's first slot, in
    /// two levels: `d = A·x/√m − rep(A·sum·m^{-3/2})`, `Σ_block d² = A²·variance`,
    /// mean `= sum/m`. The gain lifts the deviations above the absolute noise floor of
    /// rescaling (about 2^-27 at scale 2^40); it stays small enough that `Σ d² <= A² < 2^19`
    /// fits below `q_0 / (2Δ)`.
    fn mean_and_variance(&self, ct: &Ciphertext) -> anyhow::Result<(Ciphertext, Ciphertext)> {
        let m = self.rows as f64;
        let sum = self.block_sum(ct)?;
        let mean = self.eval.rescale(&self.eval.mul_plain(&sum, &self.block_start_mask(1.0 / m, ct.level())?)?)?;
        let gain = VARIANCE_GAIN;
        let scaled_mean = self.eval.rescale(&self.eval.mul_plain(&sum, &self.block_start_mask(gain * m.powf(-1.5), ct.level())?)?)?;
        let x_scaled = self.eval.rescale(&self.eval.mul_const(ct, gain / m.sqrt())?)?;
        let d = self.eval.sub(&x_scaled, &self.replicate(&scaled_mean)?)?;
        let d2 = self.eval.mul_relin_rescale(&d, &d, self.rlk)?;
        let var = self.block_sum(&d2)?;
        Ok((mean, var))
    }

    /// `Σ_c coef_c · x̃_{r,c} − offset` in slot `r` (x̃ the scaled readings).
    fn linear_score(&self, cts: &[Ciphertext], coef: &[f64], offset: f64) -> anyhow::Result<Ciphertext> {
        let slots = self.params.slot_count();
        let mut acc: Option<Ciphertext> = None;
        for (j, ct) in cts.iter().enumerate() {
            let mut w = vec![0.0; slots];
            for b in 0..self.per_ct {
                let c = j * self.per_ct + b;
                if c < coef.len() {
                    w[b * self.rows..(b + 1) * self.rows].iter_mut().for_each(|x| *x = coef[c]);
                }
            }
            let pt = self.encoder.encode(&w, ct.level(), Scale(self.params.q()[ct.level().0] as f64))?;
            let term = self.eval.mul_plain(ct, &pt)?;
            match acc.as_mut() {
                None => acc = Some(term),
                Some(a) => self.eval.add_assign(a, &term)?,
            }
        }
        let mut acc = self.eval.rescale(&acc.context("no ciphertexts")?)?;
        let mut s = self.rows;
        while s < slots {
            let r = self.eval.rotate(&acc, s as i64, self.gks)?;
            self.eval.add_assign(&mut acc, &r)?;
            s <<= 1;
        }
        Ok(self.eval.add_const(&acc, -offset)?)
    }
}
