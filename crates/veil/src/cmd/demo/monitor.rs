//! The inspectorate's process monitor in plaintext: a PCA model of declared normal operation
//! with Hotelling's T² and the squared prediction error (SPE, or Q), and the Tennessee Eastman
//! readers that feed it.
//!
//! For standardised readings `z = (x − μ) ⊘ σ` and the `k` leading eigenpairs `(λ_j, p_j)` of
//! the reference correlation matrix:
//! `T² = Σ_j (p_j·z)² / λ_j` and `SPE = ‖z‖² − Σ_j (p_j·z)²` (the squared distance of `z` to
//! the principal subspace, as the `p_j` are orthonormal). A sample raises an alarm when a
//! statistic exceeds its control limit, the empirical 99th percentile of the statistic over the
//! reference samples (the smallest reference value at or above 99 % of them).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context};

/// Number of process variables (xmeas_1..41, xmv_1..11).
pub const SENSORS: usize = 52;

/// The reference file (training runs: run 0 is normal operation, 500 samples).
pub const TRAIN_FILE: &str = "tep_train.csv.gz";
/// The monitored runs, trimmed to samples 1–480 (see `data/tep/SOURCE.md`), or the full test set.
pub const TEST_FILES: [&str; 2] = ["tep_test_first480.csv.gz", "tep_test.csv.gz"];

/// Quantile of the reference statistics used as control limit.
pub const LIMIT_QUANTILE: f64 = 0.99;

/// One sample of a run.
#[derive(Clone, Debug)]
pub struct Sample {
    /// 1-based index in the run (one sample every 3 minutes).
    pub index: usize,
    /// Whether the disturbance is in effect at this sample.
    pub fault_active: bool,
    pub readings: [f64; SENSORS],
}

/// The data directory: `--data`, else `data/tep` of the working directory, else of the repository.
pub fn data_dir(arg: &Option<PathBuf>) -> PathBuf {
    if let Some(p) = arg {
        return p.clone();
    }
    let local = Path::new("data/tep");
    if local.join(TRAIN_FILE).exists() {
        return local.to_path_buf();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/tep")
}

/// The first file of `names` that exists in `dir` (the first name if none does, so the error
/// names it).
pub fn pick_file(dir: &Path, names: &[&str]) -> PathBuf {
    names.iter().map(|n| dir.join(n)).find(|p| p.exists()).unwrap_or_else(|| dir.join(names[0]))
}

/// The sensor names and the first `limit` samples of run `fault` of a TEP CSV (gzip).
pub fn read_run(path: &Path, fault: u32, limit: usize) -> anyhow::Result<(Vec<String>, Vec<Sample>)> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut lines = BufReader::new(flate2::read::GzDecoder::new(file)).lines();
    let header = lines.next().with_context(|| format!("{}: empty file", path.display()))??;
    let cols: Vec<&str> = header.split(',').collect();
    let col = |name: &str| cols.iter().position(|c| *c == name).with_context(|| format!("{}: no `{name}` column", path.display()));
    let (fault_col, sample_col, active_col) = (col("fault")?, col("sample")?, col("fault_active")?);
    let sensors: Vec<usize> = (0..cols.len()).filter(|&i| cols[i].starts_with("xmeas_") || cols[i].starts_with("xmv_")).collect();
    ensure!(sensors.len() == SENSORS, "{}: expected {SENSORS} sensor columns, found {}", path.display(), sensors.len());
    let names = sensors.iter().map(|&i| cols[i].to_string()).collect();
    let mut out = Vec::with_capacity(limit.min(1024));
    for (n, line) in lines.enumerate() {
        let at = || format!("{} line {}", path.display(), n + 2);
        let line = line.with_context(at)?;
        let fields: Vec<&str> = line.split(',').collect();
        ensure!(fields.len() == cols.len(), "{}: {} fields, expected {}", at(), fields.len(), cols.len());
        let number = |i: usize| fields[i].trim().parse::<f64>().with_context(|| format!("{}: column {}", at(), cols[i]));
        if number(fault_col)? != f64::from(fault) {
            continue;
        }
        let mut readings = [0.0; SENSORS];
        for (r, &i) in readings.iter_mut().zip(&sensors) {
            *r = number(i)?;
            ensure!(r.is_finite(), "{}: non-finite {}", at(), cols[i]);
        }
        let index = number(sample_col)?;
        ensure!(index >= 1.0 && index.fract() == 0.0, "{}: sample index {index}", at());
        out.push(Sample { index: index as usize, fault_active: number(active_col)? != 0.0, readings });
        if out.len() == limit {
            break;
        }
    }
    Ok((names, out))
}

/// The monitor: what the inspectorate owns and encrypts.
#[derive(Clone, Debug)]
pub struct Monitor {
    /// Reference means `μ`.
    pub mean: Vec<f64>,
    /// `1/σ` per sensor (0 for a sensor constant over the reference period).
    pub inv_sd: Vec<f64>,
    /// Loadings `p_j` (unit vectors), one per retained component.
    pub loadings: Vec<Vec<f64>>,
    /// Eigenvalues `λ_j` of the reference correlation matrix, decreasing.
    pub eigenvalues: Vec<f64>,
    /// Control limits (T², SPE): the 99th percentiles over the reference samples.
    pub limit_t2: f64,
    pub limit_spe: f64,
    /// Share of the total variance the retained components explain.
    pub explained: f64,
}

/// The two monitoring statistics of one sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scores {
    pub t2: f64,
    pub spe: f64,
}

impl Monitor {
    /// Fits the monitor on the reference samples with `components` principal components.
    pub fn fit(reference: &[Sample], components: usize) -> anyhow::Result<Monitor> {
        let n = reference.len();
        ensure!(n > SENSORS, "{n} reference samples are too few for {SENSORS} sensors");
        ensure!((1..SENSORS).contains(&components), "--components must be between 1 and {} (got {components})", SENSORS - 1);
        let mean: Vec<f64> = (0..SENSORS).map(|c| reference.iter().map(|s| s.readings[c]).sum::<f64>() / n as f64).collect();
        let inv_sd: Vec<f64> = (0..SENSORS)
            .map(|c| {
                let var = reference.iter().map(|s| (s.readings[c] - mean[c]).powi(2)).sum::<f64>() / (n - 1) as f64;
                if var > 1e-18 {
                    1.0 / var.sqrt()
                } else {
                    0.0
                }
            })
            .collect();
        let z: Vec<Vec<f64>> = reference.iter().map(|s| standardise(&s.readings, &mean, &inv_sd)).collect();
        let mut corr = vec![vec![0.0; SENSORS]; SENSORS];
        for row in &z {
            for i in 0..SENSORS {
                for j in i..SENSORS {
                    corr[i][j] += row[i] * row[j] / (n - 1) as f64;
                }
            }
        }
        for i in 1..SENSORS {
            let (upper, lower) = corr.split_at_mut(i);
            for (j, row) in upper.iter().enumerate() {
                lower[0][j] = row[i];
            }
        }
        let (values, vectors) = symmetric_eigen(corr);
        let total: f64 = values.iter().sum();
        let mut order: Vec<usize> = (0..SENSORS).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
        let eigenvalues: Vec<f64> = order[..components].iter().map(|&j| values[j]).collect();
        ensure!(eigenvalues.iter().all(|&l| l > 1e-9), "the reference data have fewer than {components} non-degenerate components");
        let loadings = order[..components].iter().map(|&j| (0..SENSORS).map(|i| vectors[i][j]).collect()).collect();
        let explained = eigenvalues.iter().sum::<f64>() / total;
        let mut monitor = Monitor { mean, inv_sd, loadings, eigenvalues, limit_t2: 0.0, limit_spe: 0.0, explained };
        let scores: Vec<Scores> = reference.iter().map(|s| monitor.scores(&s.readings)).collect();
        monitor.limit_t2 = quantile(scores.iter().map(|s| s.t2).collect(), LIMIT_QUANTILE);
        monitor.limit_spe = quantile(scores.iter().map(|s| s.spe).collect(), LIMIT_QUANTILE);
        Ok(monitor)
    }

    /// Number of retained components.
    pub fn components(&self) -> usize {
        self.eigenvalues.len()
    }

    /// T² and SPE of one sample, in plaintext (the reference the encrypted result is checked against).
    pub fn scores(&self, x: &[f64; SENSORS]) -> Scores {
        let z = standardise(x, &self.mean, &self.inv_sd);
        let mut t2 = 0.0;
        let mut explained = 0.0;
        for (p, l) in self.loadings.iter().zip(&self.eigenvalues) {
            let t: f64 = p.iter().zip(&z).map(|(a, b)| a * b).sum();
            t2 += t * t / l;
            explained += t * t;
        }
        Scores { t2, spe: z.iter().map(|v| v * v).sum::<f64>() - explained }
    }

    /// Alarms (T², SPE) of a pair of scores.
    pub fn alarms(&self, s: Scores) -> (bool, bool) {
        (s.t2 > self.limit_t2, s.spe > self.limit_spe)
    }
}

fn standardise(x: &[f64], mean: &[f64], inv_sd: &[f64]) -> Vec<f64> {
    x.iter().zip(mean).zip(inv_sd).map(|((x, m), s)| (x - m) * s).collect()
}

/// The smallest value at or above a fraction `q` of `values`.
fn quantile(mut values: Vec<f64>, q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// Eigenvalues and eigenvectors (columns) of a symmetric matrix by cyclic Jacobi rotations.
fn symmetric_eigen(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut v: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect()).collect();
    for _sweep in 0..100 {
        let off: f64 = (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| a[i][j] * a[i][j]).sum();
        if off < 1e-22 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for row in a.iter_mut() {
                    let (akp, akq) = (row[p], row[q]);
                    row[p] = c * akp - s * akq;
                    row[q] = s * akp + c * akq;
                }
                let (head, tail) = a.split_at_mut(q);
                for (x, y) in head[p].iter_mut().zip(tail[0].iter_mut()) {
                    let (apk, aqk) = (*x, *y);
                    *x = c * apk - s * aqk;
                    *y = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i][i]).collect(), v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_diagonalises_a_symmetric_matrix() {
        let a = vec![vec![4.0, 1.0, 0.5], vec![1.0, 3.0, -0.2], vec![0.5, -0.2, 1.0]];
        let (values, vectors) = symmetric_eigen(a.clone());
        for (j, &l) in values.iter().enumerate() {
            for i in 0..3 {
                let av: f64 = (0..3).map(|k| a[i][k] * vectors[k][j]).sum();
                assert!((av - l * vectors[i][j]).abs() < 1e-12);
            }
        }
        assert!((values.iter().sum::<f64>() - 8.0).abs() < 1e-12);
    }

    #[test]
    fn quantile_is_an_order_statistic() {
        let v: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(quantile(v.clone(), 0.99), 198.0);
        assert_eq!(quantile(v, 1.0), 200.0);
    }
}
