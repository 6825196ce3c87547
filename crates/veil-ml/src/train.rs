//! Plaintext mini-batch SGD: the reference that secure training is checked against.
//!
//! Supported models: any sequence of dense layers with ReLU, sigmoid or polynomial
//! activations between them, ending in either a sigmoid with one output (binary
//! cross-entropy, labels 0/1) or a softmax / raw logits (softmax cross-entropy, labels
//! `0..outputs`). The loss gradient with respect to the last pre-activation is
//! `(p − y) / batch` in both cases.

use crate::{Layer, Matrix, MlError, Model};

/// Hyper-parameters of one SGD run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f64,
    /// Rows per step (the last step of an epoch may be smaller).
    pub batch: usize,
    /// Passes over the data.
    pub epochs: usize,
}

/// The gradient of the loss with respect to the model's final pre-activation, for the
/// prediction `p` (after the final sigmoid/softmax) and labels.
pub fn output_delta(p: &Matrix, labels: &[usize]) -> Matrix {
    let mut d = p.clone();
    let cols = p.cols();
    let scale = 1.0 / p.rows().max(1) as f64;
    for (i, row) in d.data_mut().chunks_mut(cols.max(1)).enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            let y = if cols == 1 { labels[i] as f64 } else { f64::from(u8::from(labels[i] == j)) };
            *v = (*v - y) * scale;
        }
    }
    d
}

/// Runs `cfg.epochs` epochs of SGD over `(x, labels)` in row order, updating `model`.
pub fn sgd(model: &mut Model, x: &Matrix, labels: &[usize], cfg: &SgdConfig) -> Result<(), MlError> {
    if labels.len() != x.rows() {
        return Err(MlError::Shape { op: "sgd labels", expected: format!("{} labels", x.rows()), got: format!("{}", labels.len()) });
    }
    if cfg.batch == 0 {
        return Err(MlError::InvalidModel("batch size 0".into()));
    }
    model.validate()?;
    for _ in 0..cfg.epochs {
        let mut start = 0;
        while start < x.rows() {
            let end = (start + cfg.batch).min(x.rows());
            step(model, &x.slice_rows(start, end), &labels[start..end], cfg.lr)?;
            start = end;
        }
    }
    Ok(())
}

/// One SGD step on one batch.
pub fn step(model: &mut Model, x: &Matrix, labels: &[usize], lr: f64) -> Result<(), MlError> {
    let n = model.layers.len();
    let ends_in_prob = matches!(model.layers.last(), Some(Layer::Sigmoid | Layer::Softmax));
    let mut acts = vec![x.clone()];
    for l in &model.layers {
        let h = l.forward(acts.last().unwrap_or(x))?;
        acts.push(h);
    }
    let p = if ends_in_prob { acts[n].clone() } else { crate::model::softmax_rows(&acts[n]) };
    let mut delta = output_delta(&p, labels);
    let first = if ends_in_prob { n - 1 } else { n };
    for i in (0..first).rev() {
        let input = &acts[i];
        match &mut model.layers[i] {
            Layer::Dense { weight, bias } => {
                let gw = input.transpose().matmul(&delta)?;
                let back = delta.matmul(&weight.transpose())?;
                for (w, g) in weight.data_mut().iter_mut().zip(gw.data()) {
                    *w -= lr * g;
                }
                let cols = delta.cols();
                for (j, b) in bias.iter_mut().enumerate() {
                    let g: f64 = (0..delta.rows()).map(|r| delta.data()[r * cols + j]).sum();
                    *b -= lr * g;
                }
                delta = back;
            }
            Layer::Relu => {
                for (d, v) in delta.data_mut().iter_mut().zip(input.data()) {
                    if *v <= 0.0 {
                        *d = 0.0;
                    }
                }
            }
            Layer::Sigmoid => {
                for (d, v) in delta.data_mut().iter_mut().zip(acts[i + 1].data()) {
                    *d *= v * (1.0 - v);
                }
            }
            Layer::Polynomial { coeffs } => {
                for (d, v) in delta.data_mut().iter_mut().zip(input.data()) {
                    let deriv: f64 = coeffs.iter().enumerate().skip(1).map(|(k, c)| k as f64 * c * v.powi(k as i32 - 1)).sum();
                    *d *= deriv;
                }
            }
            Layer::Flatten { .. } => {}
            Layer::Softmax => return Err(MlError::InvalidModel("softmax is supported only as the last layer in training".into())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logistic_regression_learns_a_separable_set() {
        let rows: Vec<Vec<f64>> = (0..200).map(|i| vec![(i as f64 / 100.0) - 1.0, ((i * 7) % 13) as f64 / 13.0]).collect();
        let labels: Vec<usize> = rows.iter().map(|r| usize::from(r[0] > 0.1)).collect();
        let x = Matrix::from_rows(&rows).expect("rows");
        let mut m = Model::random_mlp(&[2, 1], Layer::Relu, Some(Layer::Sigmoid), 3).expect("model");
        sgd(&mut m, &x, &labels, &SgdConfig { lr: 0.5, batch: 20, epochs: 50 }).expect("sgd");
        assert!(m.accuracy(&x, &labels).expect("acc") > 0.95);
    }

    #[test]
    fn mlp_gradient_matches_finite_differences() {
        let x = Matrix::new(3, 2, vec![0.3, -0.2, 0.9, 0.1, -0.5, 0.4]).expect("x");
        let labels = [0usize, 2, 1];
        let m = Model::random_mlp(&[2, 4, 3], Layer::Sigmoid, Some(Layer::Softmax), 5).expect("model");
        let loss = |m: &Model| -> f64 {
            let p = m.forward(&x).expect("fwd");
            -(0..3).map(|i| p.get(i, labels[i]).ln()).sum::<f64>() / 3.0
        };
        let mut stepped = m.clone();
        let lr = 1e-3;
        step(&mut stepped, &x, &labels, lr).expect("step");
        let (Layer::Dense { weight: w0, .. }, Layer::Dense { weight: w1, .. }) = (&m.layers[0], &stepped.layers[0]) else {
            unreachable!("first layer is dense")
        };
        let analytic = (w0.get(1, 2) - w1.get(1, 2)) / lr;
        let eps = 1e-6;
        let mut plus = m.clone();
        if let Layer::Dense { weight, .. } = &mut plus.layers[0] {
            weight.data_mut()[4 + 2] += eps;
        }
        let numeric = (loss(&plus) - loss(&m)) / eps;
        assert!((analytic - numeric).abs() < 1e-4, "{analytic} vs {numeric}");
    }
}
