//! The model representation: a sequence of layers over a batch of row vectors.

use serde::{Deserialize, Serialize};

use crate::{Matrix, MlError};

/// Version of the JSON model file format written by [`Model::to_json`].
pub const MODEL_FORMAT_VERSION: u32 = 1;

/// One layer. Inputs and outputs are batches: one row per example.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Layer {
    /// `y = x · weight + bias`, with `weight` of shape `inputs × outputs`.
    Dense { weight: Matrix, bias: Vec<f64> },
    /// `max(x, 0)` entry-wise.
    Relu,
    /// `1 / (1 + e^-x)` entry-wise.
    Sigmoid,
    /// `Σ_k coeffs[k] · x^k` entry-wise (an HE/MPC-friendly activation).
    Polynomial { coeffs: Vec<f64> },
    /// Row-wise `e^x_j / Σ_k e^x_k`.
    Softmax,
    /// Marks that a `dims` input (e.g. `[28, 28]`) is read as one row of `Π dims` values;
    /// batches are already stored flat, so it only checks the width.
    Flatten { dims: Vec<usize> },
}

impl Layer {
    /// Output width for an input of width `width`, or an error naming the mismatch.
    pub fn output_width(&self, width: usize) -> Result<usize, MlError> {
        match self {
            Layer::Dense { weight, bias } => {
                if weight.rows() != width {
                    return Err(MlError::Shape {
                        op: "dense layer",
                        expected: format!("{} inputs", weight.rows()),
                        got: format!("{width} inputs"),
                    });
                }
                if bias.len() != weight.cols() {
                    return Err(MlError::InvalidModel(format!("dense layer has {} outputs but {} biases", weight.cols(), bias.len())));
                }
                Ok(weight.cols())
            }
            Layer::Flatten { dims } => {
                let n: usize = dims.iter().product();
                if n != width {
                    return Err(MlError::Shape {
                        op: "flatten",
                        expected: format!("{n} values ({dims:?})"),
                        got: format!("{width} values"),
                    });
                }
                Ok(width)
            }
            Layer::Polynomial { coeffs } if coeffs.is_empty() => {
                Err(MlError::InvalidModel("polynomial activation without coefficients".into()))
            }
            _ => Ok(width),
        }
    }

    /// Plaintext evaluation of this layer on a batch.
    pub fn forward(&self, x: &Matrix) -> Result<Matrix, MlError> {
        self.output_width(x.cols())?;
        Ok(match self {
            Layer::Dense { weight, bias } => {
                let mut y = x.matmul(weight)?;
                let cols = y.cols();
                for (i, v) in y.data_mut().iter_mut().enumerate() {
                    *v += bias[i % cols];
                }
                y
            }
            Layer::Relu => x.map(|v| v.max(0.0)),
            Layer::Sigmoid => x.map(sigmoid),
            Layer::Polynomial { coeffs } => x.map(|v| coeffs.iter().rev().fold(0.0, |acc, c| acc * v + c)),
            Layer::Softmax => softmax_rows(x),
            Layer::Flatten { .. } => x.clone(),
        })
    }
}

/// The logistic function.
pub fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// Row-wise softmax (numerically stable).
pub fn softmax_rows(x: &Matrix) -> Matrix {
    let mut out = x.clone();
    let cols = x.cols().max(1);
    for row in out.data_mut().chunks_mut(cols) {
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut s = 0.0;
        for v in row.iter_mut() {
            *v = (*v - m).exp();
            s += *v;
        }
        for v in row.iter_mut() {
            *v /= s;
        }
    }
    out
}

/// A model: input width and the layers applied in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Number of input features per example.
    pub inputs: usize,
    pub layers: Vec<Layer>,
}

#[derive(Serialize, Deserialize)]
struct ModelFile {
    format: String,
    version: u32,
    model: Model,
}

const FORMAT_NAME: &str = "veil-model";

impl Model {
    /// Builds and validates a model.
    pub fn new(inputs: usize, layers: Vec<Layer>) -> Result<Self, MlError> {
        let m = Self { inputs, layers };
        m.validate()?;
        Ok(m)
    }

    /// Checks that consecutive layers fit; returns the output width.
    pub fn validate(&self) -> Result<usize, MlError> {
        if self.layers.is_empty() {
            return Err(MlError::InvalidModel("no layers".into()));
        }
        let mut w = self.inputs;
        for l in &self.layers {
            w = l.output_width(w)?;
        }
        Ok(w)
    }

    /// Output width.
    pub fn outputs(&self) -> Result<usize, MlError> {
        self.validate()
    }

    /// Plaintext reference inference on a batch (one example per row).
    pub fn forward(&self, x: &Matrix) -> Result<Matrix, MlError> {
        if x.cols() != self.inputs {
            return Err(MlError::Shape {
                op: "model input",
                expected: format!("{} features", self.inputs),
                got: format!("{} features", x.cols()),
            });
        }
        let mut h = x.clone();
        for l in &self.layers {
            h = l.forward(&h)?;
        }
        Ok(h)
    }

    /// Predicted classes: argmax of each output row, or `output ≥ 0.5` for one output
    /// column after a sigmoid (`≥ 0` for a raw logit).
    pub fn predict(&self, x: &Matrix) -> Result<Vec<usize>, MlError> {
        let y = self.forward(x)?;
        Ok(self.classes(&y))
    }

    /// Classes from this model's outputs (see [`Model::predict`]).
    pub fn classes(&self, y: &Matrix) -> Vec<usize> {
        if y.cols() == 1 {
            let thr = if matches!(self.layers.last(), Some(Layer::Sigmoid)) { 0.5 } else { 0.0 };
            y.data().iter().map(|&v| usize::from(v >= thr)).collect()
        } else {
            y.argmax_rows()
        }
    }

    /// How far each row's outputs are from changing its class (see [`Model::classes`]): the gap
    /// between the two largest outputs, or the distance of a single output to its threshold.
    /// A perturbation of every output by less than half of it (one output: less than it)
    /// leaves the class unchanged.
    pub fn decision_margins(&self, y: &Matrix) -> Vec<f64> {
        if y.cols() == 1 {
            let thr = if matches!(self.layers.last(), Some(Layer::Sigmoid)) { 0.5 } else { 0.0 };
            y.data().iter().map(|&v| (v - thr).abs()).collect()
        } else {
            (0..y.rows())
                .map(|i| {
                    let (mut first, mut second) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
                    for &v in y.row(i) {
                        if v > first {
                            (first, second) = (v, first);
                        } else if v > second {
                            second = v;
                        }
                    }
                    first - second
                })
                .collect()
        }
    }

    /// Fraction of rows whose predicted class equals `labels`.
    pub fn accuracy(&self, x: &Matrix, labels: &[usize]) -> Result<f64, MlError> {
        let p = self.predict(x)?;
        if p.len() != labels.len() {
            return Err(MlError::Shape {
                op: "accuracy",
                expected: format!("{} labels", p.len()),
                got: format!("{} labels", labels.len()),
            });
        }
        Ok(accuracy(&p, labels))
    }

    /// Serialises to the versioned JSON model file format.
    pub fn to_json(&self) -> Result<String, MlError> {
        let f = ModelFile { format: FORMAT_NAME.into(), version: MODEL_FORMAT_VERSION, model: self.clone() };
        Ok(serde_json::to_string(&f)?)
    }

    /// Parses and validates a JSON model file.
    pub fn from_json(text: &str) -> Result<Self, MlError> {
        let v: serde_json::Value = serde_json::from_str(text)?;
        let version = v.get("version").and_then(serde_json::Value::as_u64).unwrap_or(0);
        if v.get("format").and_then(serde_json::Value::as_str) != Some(FORMAT_NAME) {
            return Err(MlError::InvalidModel(format!("not a {FORMAT_NAME} file")));
        }
        if version != u64::from(MODEL_FORMAT_VERSION) {
            return Err(MlError::FormatVersion { found: u32::try_from(version).unwrap_or(u32::MAX), supported: MODEL_FORMAT_VERSION });
        }
        let f: ModelFile = serde_json::from_value(v)?;
        f.model.validate()?;
        Ok(f.model)
    }

    /// Reads a JSON model file.
    pub fn load(path: &std::path::Path) -> Result<Self, MlError> {
        let text = std::fs::read_to_string(path).map_err(|e| MlError::Io { path: path.display().to_string(), source: e })?;
        Self::from_json(&text)
    }

    /// Writes a JSON model file.
    pub fn save(&self, path: &std::path::Path) -> Result<(), MlError> {
        std::fs::write(path, self.to_json()?).map_err(|e| MlError::Io { path: path.display().to_string(), source: e })
    }

    /// A model with weights drawn uniformly from `±1/sqrt(inputs)` per dense layer (the
    /// PyTorch default), from a fixed `seed`: `sizes` are the widths, `hidden` the activation
    /// between dense layers, `last` an optional final activation.
    pub fn random_mlp(sizes: &[usize], hidden: Layer, last: Option<Layer>, seed: u64) -> Result<Self, MlError> {
        use rand::{Rng, SeedableRng};
        if sizes.len() < 2 {
            return Err(MlError::InvalidModel("an MLP needs at least an input and an output width".into()));
        }
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let mut layers = Vec::new();
        for (i, w) in sizes.windows(2).enumerate() {
            let bound = 1.0 / (w[0] as f64).sqrt();
            let weight = Matrix::new(w[0], w[1], (0..w[0] * w[1]).map(|_| rng.gen_range(-bound..bound)).collect())?;
            let bias = (0..w[1]).map(|_| rng.gen_range(-bound..bound)).collect();
            layers.push(Layer::Dense { weight, bias });
            if i + 2 < sizes.len() {
                layers.push(hidden.clone());
            }
        }
        if let Some(l) = last {
            layers.push(l);
        }
        Self::new(sizes[0], layers)
    }
}

/// Fraction of equal entries.
pub fn accuracy(pred: &[usize], labels: &[usize]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    pred.iter().zip(labels).filter(|(a, b)| a == b).count() as f64 / labels.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_version_check() {
        let m = Model::random_mlp(&[4, 3, 2], Layer::Relu, Some(Layer::Softmax), 1).expect("model");
        let j = m.to_json().expect("json");
        let back = Model::from_json(&j).expect("parse");
        let x = Matrix::new(1, 4, vec![0.1, -0.2, 0.3, 0.9]).expect("x");
        let d = back.forward(&x).expect("f").max_abs_diff(&m.forward(&x).expect("f")).expect("shape");
        assert!(d < 1e-12);
        let bumped = j.replace("\"version\":1", "\"version\":9");
        assert!(matches!(Model::from_json(&bumped), Err(MlError::FormatVersion { found: 9, .. })));
        assert!(Model::from_json("{").is_err());
    }

    #[test]
    fn shapes_are_checked() {
        let m = Model::random_mlp(&[4, 3, 2], Layer::Relu, None, 1).expect("model");
        assert!(m.forward(&Matrix::zeros(2, 5)).is_err());
        let y = m.forward(&Matrix::zeros(2, 4)).expect("forward");
        assert_eq!(y.shape(), (2, 2));
        let bad = Model { inputs: 4, layers: vec![Layer::Relu, Layer::Flatten { dims: vec![2, 3] }] };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn activations() {
        let x = Matrix::new(1, 3, vec![-1.0, 0.0, 2.0]).expect("m");
        assert_eq!(Layer::Relu.forward(&x).expect("relu").data(), &[0.0, 0.0, 2.0]);
        let p = Layer::Polynomial { coeffs: vec![1.0, 0.0, 2.0] }.forward(&x).expect("poly");
        assert_eq!(p.data(), &[3.0, 1.0, 9.0]);
        let s = Layer::Softmax.forward(&x).expect("softmax");
        assert!((s.data().iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((Layer::Sigmoid.forward(&x).expect("sig").get(0, 1) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn decision_margins_measure_the_distance_to_another_class() {
        let m = Model::random_mlp(&[2, 3], Layer::Relu, None, 1).expect("model");
        let y = Matrix::new(2, 3, vec![0.1, 0.7, 0.4, 2.0, 2.0, -1.0]).expect("y");
        let d = m.decision_margins(&y);
        assert!((d[0] - 0.3).abs() < 1e-12 && d[1] == 0.0, "{d:?}");
        let logit = Model::random_mlp(&[2, 1], Layer::Relu, None, 1).expect("model");
        let prob = Model::random_mlp(&[2, 1], Layer::Relu, Some(Layer::Sigmoid), 1).expect("model");
        let z = Matrix::new(2, 1, vec![-0.25, 0.75]).expect("z");
        assert_eq!(logit.decision_margins(&z), vec![0.25, 0.75]);
        assert_eq!(prob.decision_margins(&z), vec![0.75, 0.25]);
    }
}
