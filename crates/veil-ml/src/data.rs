//! Loaders for the data sets shipped in the repository's `data/` folder.

use std::io::Read;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::{Matrix, MlError};

/// Examples (one per row) and their class labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub x: Matrix,
    pub labels: Vec<usize>,
}

impl Dataset {
    /// Rows `start..end`.
    pub fn slice(&self, start: usize, end: usize) -> Dataset {
        let end = end.min(self.labels.len());
        let start = start.min(end);
        Dataset { x: self.x.slice_rows(start, end), labels: self.labels[start..end].to_vec() }
    }

    /// Rows in a fixed pseudo-random order (ChaCha20 seeded with `seed`).
    pub fn shuffled(&self, seed: u64) -> Dataset {
        let mut idx: Vec<usize> = (0..self.labels.len()).collect();
        idx.shuffle(&mut rand_chacha::ChaCha20Rng::seed_from_u64(seed));
        Dataset { x: self.x.select_rows(&idx), labels: idx.iter().map(|&i| self.labels[i]).collect() }
    }

    /// Column means and standard deviations (sample, n − 1) of `self`, applied to `self` and
    /// returned so the same affine map can be applied to held-out data.
    pub fn standardise(&mut self) -> (Vec<f64>, Vec<f64>) {
        let (n, c) = self.x.shape();
        let mut mean = vec![0.0; c];
        for i in 0..n {
            for (m, v) in mean.iter_mut().zip(self.x.row(i)) {
                *m += v / n as f64;
            }
        }
        let mut sd = vec![0.0; c];
        for i in 0..n {
            for ((s, v), m) in sd.iter_mut().zip(self.x.row(i)).zip(&mean) {
                *s += (v - m) * (v - m) / (n.max(2) - 1) as f64;
            }
        }
        let sd: Vec<f64> = sd.iter().map(|s| if *s > 0.0 { s.sqrt() } else { 1.0 }).collect();
        apply_standardise(&mut self.x, &mean, &sd);
        (mean, sd)
    }
}

/// `x ← (x − mean) / sd` column-wise.
pub fn apply_standardise(x: &mut Matrix, mean: &[f64], sd: &[f64]) {
    let c = x.cols().max(1);
    for row in x.data_mut().chunks_mut(c) {
        for ((v, m), s) in row.iter_mut().zip(mean).zip(sd) {
            *v = (*v - m) / s;
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MlError + '_ {
    move |e| MlError::Io { path: path.display().to_string(), source: e }
}

fn bad(path: &Path, reason: impl Into<String>) -> MlError {
    MlError::Data { file: path.display().to_string(), reason: reason.into() }
}

/// Reads the scikit-learn CSV layout (`breast_cancer.csv`, `iris.csv`, ...): a first line
/// `rows,features,class names...`, then `features` numbers and an integer label per row.
pub fn sklearn_csv(path: &Path) -> Result<Dataset, MlError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let head = lines.next().ok_or_else(|| bad(path, "empty file"))?;
    let mut hf = head.split(',');
    let rows: usize = hf.next().and_then(|v| v.trim().parse().ok()).ok_or_else(|| bad(path, "header lacks a row count"))?;
    let cols: usize = hf.next().and_then(|v| v.trim().parse().ok()).ok_or_else(|| bad(path, "header lacks a feature count"))?;
    let classes = hf.count();
    let mut data = Vec::with_capacity(rows * cols);
    let mut labels = Vec::with_capacity(rows);
    for (i, line) in lines.enumerate() {
        let vals: Vec<&str> = line.split(',').collect();
        if vals.len() != cols + 1 {
            return Err(bad(path, format!("row {} has {} fields, expected {}", i + 1, vals.len(), cols + 1)));
        }
        for v in &vals[..cols] {
            let f: f64 = v.trim().parse().map_err(|_| bad(path, format!("row {}: {v:?} is not a number", i + 1)))?;
            if !f.is_finite() {
                return Err(bad(path, format!("row {}: non-finite value", i + 1)));
            }
            data.push(f);
        }
        let label: usize = vals[cols].trim().parse().map_err(|_| bad(path, format!("row {}: bad label", i + 1)))?;
        if classes > 0 && label >= classes {
            return Err(bad(path, format!("row {}: label {label} out of range", i + 1)));
        }
        labels.push(label);
    }
    if labels.len() != rows {
        return Err(bad(path, format!("header announces {rows} rows, file has {}", labels.len())));
    }
    Ok(Dataset { x: Matrix::new(rows, cols, data)?, labels })
}

/// The breast-cancer set prepared as the peers do: rows shuffled with `seed`, the first
/// `n_train` for training, the rest held out, features standardised with the training rows'
/// statistics. Returns `(train, held_out)`.
pub fn breast_cancer_split(path: &Path, n_train: usize, seed: u64) -> Result<(Dataset, Dataset), MlError> {
    let all = sklearn_csv(path)?.shuffled(seed);
    if n_train > all.labels.len() {
        return Err(bad(path, format!("asked for {n_train} training rows, file has {}", all.labels.len())));
    }
    let mut train = all.slice(0, n_train);
    let mut held = all.slice(n_train, all.labels.len());
    let (m, s) = train.standardise();
    apply_standardise(&mut held.x, &m, &s);
    Ok((train, held))
}

fn read_gz(path: &Path, limit: usize) -> Result<Vec<u8>, MlError> {
    let f = std::fs::File::open(path).map_err(io(path))?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(f).take(limit as u64).read_to_end(&mut out).map_err(io(path))?;
    Ok(out)
}

fn be32(b: &[u8], at: usize) -> Option<usize> {
    b.get(at..at + 4).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
}

/// Bound on a decompressed IDX file (the full MNIST training images are 47 MB).
const IDX_LIMIT: usize = 64 << 20;

/// MNIST from gzip IDX files: at most `limit` images, pixels scaled to `[0, 1]`, one row of
/// 784 values per image.
pub fn mnist(images_gz: &Path, labels_gz: &Path, limit: usize) -> Result<Dataset, MlError> {
    let img = read_gz(images_gz, IDX_LIMIT)?;
    let lab = read_gz(labels_gz, IDX_LIMIT)?;
    if be32(&img, 0) != Some(2051) {
        return Err(bad(images_gz, "not an IDX image file (magic 2051)"));
    }
    if be32(&lab, 0) != Some(2049) {
        return Err(bad(labels_gz, "not an IDX label file (magic 2049)"));
    }
    let n = be32(&img, 4).ok_or_else(|| bad(images_gz, "truncated header"))?;
    let (r, c) = (be32(&img, 8).unwrap_or(0), be32(&img, 12).unwrap_or(0));
    let nl = be32(&lab, 4).ok_or_else(|| bad(labels_gz, "truncated header"))?;
    if nl != n {
        return Err(bad(labels_gz, format!("{nl} labels for {n} images")));
    }
    let px = r.checked_mul(c).ok_or_else(|| bad(images_gz, "image size overflows"))?;
    let take = n.min(limit);
    if img.len() < 16 + take * px || lab.len() < 8 + take {
        return Err(bad(images_gz, "file shorter than its header announces"));
    }
    let data = img[16..16 + take * px].iter().map(|&p| f64::from(p) / 255.0).collect();
    let mut labels = Vec::with_capacity(take);
    for &l in &lab[8..8 + take] {
        if l > 9 {
            return Err(bad(labels_gz, format!("label {l} out of range")));
        }
        labels.push(usize::from(l));
    }
    Ok(Dataset { x: Matrix::new(take, px, data)?, labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_data(rel: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data").join(rel)
    }

    #[test]
    fn breast_cancer_loads_and_splits() {
        let (train, held) = breast_cancer_split(&repo_data("tabular/breast_cancer.csv"), 500, 0).expect("load");
        assert_eq!(train.x.shape(), (500, 30));
        assert_eq!(held.x.shape(), (69, 30));
        let mean0: f64 = (0..500).map(|i| train.x.get(i, 0)).sum::<f64>() / 500.0;
        assert!(mean0.abs() < 1e-9);
    }

    #[test]
    fn mnist_slice_loads() {
        let d = mnist(&repo_data("mnist/t10k-images-idx3-ubyte.gz"), &repo_data("mnist/t10k-labels-idx1-ubyte.gz"), 50).expect("load");
        assert_eq!(d.x.shape(), (50, 784));
        assert_eq!(d.labels[0], 7);
        assert!(d.x.data().iter().all(|&v| (0.0..=1.0).contains(&v)));
    }

    #[test]
    fn malformed_csv_is_an_error() {
        let dir = std::env::temp_dir().join(format!("veil-ml-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("bad.csv");
        std::fs::write(&p, "2,2,a,b\n1,2,0\n1,x,1\n").expect("write");
        assert!(matches!(sklearn_csv(&p), Err(MlError::Data { .. })));
        std::fs::write(&p, "3,2,a,b\n1,2,0\n").expect("write");
        assert!(matches!(sklearn_csv(&p), Err(MlError::Data { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
