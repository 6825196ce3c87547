//! Dense row-major matrices of `f64`: a batch of row vectors, or a weight matrix.

use serde::{Deserialize, Serialize};

use crate::MlError;

/// A row-major `rows × cols` matrix of `f64`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Matrix {
    /// Wraps `data` (row-major); fails unless `data.len() == rows * cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Result<Self, MlError> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(MlError::Shape {
                op: "Matrix::new",
                expected: format!("{rows}×{cols} = {} values", rows.saturating_mul(cols)),
                got: format!("{} values", data.len()),
            });
        }
        Ok(Self { rows, cols, data })
    }

    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self { rows, cols, data: vec![0.0; rows * cols] }
    }

    /// Builds a matrix from rows of equal length.
    pub fn from_rows(rows: &[Vec<f64>]) -> Result<Self, MlError> {
        let cols = rows.first().map_or(0, Vec::len);
        let mut data = Vec::with_capacity(rows.len() * cols);
        for (i, r) in rows.iter().enumerate() {
            if r.len() != cols {
                return Err(MlError::Shape {
                    op: "Matrix::from_rows",
                    expected: format!("{cols} columns"),
                    got: format!("{} columns in row {i}", r.len()),
                });
            }
            data.extend_from_slice(r);
        }
        Ok(Self { rows: rows.len(), cols, data })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }
    pub fn cols(&self) -> usize {
        self.cols
    }
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
    pub fn data(&self) -> &[f64] {
        &self.data
    }
    pub fn data_mut(&mut self) -> &mut [f64] {
        &mut self.data
    }
    pub fn into_data(self) -> Vec<f64> {
        self.data
    }

    /// Row `i` (panics if out of range: callers index within `rows()`).
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.cols + j]
    }

    /// Rows `start..end` as a new matrix (clamped to the matrix).
    pub fn slice_rows(&self, start: usize, end: usize) -> Matrix {
        let end = end.min(self.rows);
        let start = start.min(end);
        Matrix { rows: end - start, cols: self.cols, data: self.data[start * self.cols..end * self.cols].to_vec() }
    }

    /// Rows picked by index (indices must be `< rows()`).
    pub fn select_rows(&self, idx: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(idx.len() * self.cols);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        Matrix { rows: idx.len(), cols: self.cols, data }
    }

    pub fn transpose(&self) -> Matrix {
        let mut out = Matrix::zeros(self.cols, self.rows);
        for i in 0..self.rows {
            for j in 0..self.cols {
                out.data[j * self.rows + i] = self.data[i * self.cols + j];
            }
        }
        out
    }

    /// `self · other`.
    pub fn matmul(&self, other: &Matrix) -> Result<Matrix, MlError> {
        if self.cols != other.rows {
            return Err(MlError::Shape {
                op: "matmul",
                expected: format!("{} rows on the right", self.cols),
                got: format!("{}×{}", other.rows, other.cols),
            });
        }
        let mut out = Matrix::zeros(self.rows, other.cols);
        for i in 0..self.rows {
            let o = &mut out.data[i * other.cols..(i + 1) * other.cols];
            for k in 0..self.cols {
                let a = self.data[i * self.cols + k];
                if a == 0.0 {
                    continue;
                }
                for (oj, bj) in o.iter_mut().zip(other.row(k)) {
                    *oj += a * bj;
                }
            }
        }
        Ok(out)
    }

    /// Applies `f` to every entry.
    pub fn map(&self, f: impl Fn(f64) -> f64) -> Matrix {
        Matrix { rows: self.rows, cols: self.cols, data: self.data.iter().map(|&v| f(v)).collect() }
    }

    /// Index of the largest entry of each row (the first one on ties).
    pub fn argmax_rows(&self) -> Vec<usize> {
        (0..self.rows)
            .map(|i| {
                let r = self.row(i);
                let mut best = 0;
                for (j, &v) in r.iter().enumerate() {
                    if v > r[best] {
                        best = j;
                    }
                }
                best
            })
            .collect()
    }

    /// Largest absolute entry-wise difference (shapes must agree).
    pub fn max_abs_diff(&self, other: &Matrix) -> Result<f64, MlError> {
        if self.shape() != other.shape() {
            return Err(MlError::Shape {
                op: "max_abs_diff",
                expected: format!("{:?}", self.shape()),
                got: format!("{:?}", other.shape()),
            });
        }
        Ok(self.data.iter().zip(&other.data).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_and_transpose() {
        let a = Matrix::new(2, 3, vec![1., 2., 3., 4., 5., 6.]).expect("shape");
        let b = a.transpose();
        let c = a.matmul(&b).expect("matmul");
        assert_eq!(c.data(), &[14., 32., 32., 77.]);
        assert!(a.matmul(&a).is_err());
        assert!(Matrix::new(2, 2, vec![1.0]).is_err());
        assert_eq!(a.argmax_rows(), vec![2, 2]);
    }
}
