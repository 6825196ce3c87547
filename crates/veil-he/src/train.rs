//! Logistic regression trained by full-batch encrypted gradient descent.
//!
//! # Layout
//!
//! The design matrix is packed row by row: row `r` (features, then a bias column of `1.0`, then
//! zeros up to the block width `w`, a power of two) lies in slots `[r·w, r·w + w)`; a ciphertext
//! holds `slots / w` rows and a data set of more rows is a slice of ciphertexts ([`pack_rows`]).
//! Labels `y ∈ {0, 1}` lie in a separate slice of ciphertexts, label `r` at slot `r·w` and zero
//! elsewhere ([`pack_labels`]). Parties encrypt disjoint row ranges (zero elsewhere) and the
//! evaluator adds their ciphertexts. The weights are one ciphertext holding `w_j` at every slot
//! `r·w + j` (replicated in every row block).
//!
//! # One iteration
//!
//! With `p` the polynomial sigmoid ([`PolySigmoid`]), `η` the learning rate and `n` the number of
//! rows, `W ← W − (η/n)·Σ_r x_r·(p(x_r·W) − y_r)`, evaluated as
//!
//! 1. `z = RowSum_w(X ⊙ W)` (one product, `log2 w` rotations): slot `r·w` holds `x_r·W`;
//! 2. `d = mask ⊙ (η/n)·p(z) − (η/n)·y`: the coefficients of `p` are plaintext vectors
//!    `(η/n)·c_k·mask` (`mask` = 1 at the slots `r·w`), so masking and the step size cost no
//!    level; depth 2;
//! 3. `d` is replicated over each row block by `log2 w` rotations, multiplied by `X` (one
//!    product), the chunks are added, and `g = ColumnSum(…)` (`log2(slots/w)` rotations by
//!    multiples of `w`) lands replicated like `W`;
//! 4. `W ← W − g`.
//!
//! An iteration consumes four levels. The scales of the plaintext coefficients are chosen so
//! that `g` comes out at exactly the scale of `W`: the weights keep the scale they started with.
//! Whenever the next stage would take a ciphertext below the level at which the parties can
//! refresh it ([`Refresher::min_level`]), the trainer asks the [`Refresher`] (the parties'
//! collective refresh, `veil_threshold::refresh`) for a fresh one. At `n16384_l6_sec128` with
//! two parties that is one refresh (of the weights) per iteration.

use std::sync::Arc;

use veil_ckks::{Ciphertext, Evaluator, GaloisKeys, Level, Parameters, RelinearizationKey};

use crate::HeError;

/// The parties' collective refresh, seen from the evaluator: a ciphertext at a low level in,
/// an encryption of the same values at the top level (same scale) out.
pub trait Refresher {
    /// The lowest level at which [`Refresher::refresh`] accepts a ciphertext whose slots lie in
    /// `[−2^log2_bound, 2^log2_bound]` (the statistical masking of the refresh needs room).
    fn min_level(&self, log2_bound: u32) -> Result<Level, HeError>;

    /// Refreshes `ct` (slots declared within `±2^log2_bound`) to the top level.
    fn refresh(&mut self, ct: &Ciphertext, log2_bound: u32) -> Result<Ciphertext, HeError>;
}

/// A degree-3 polynomial approximation `c_0 + c_1 x + c_2 x² + c_3 x³` of the logistic sigmoid
/// on `[−interval, interval]`.
#[derive(Clone, Debug, PartialEq)]
pub struct PolySigmoid {
    /// Half-width of the interval the fit is made on.
    pub interval: f64,
    /// `c_0..c_3`.
    pub coefficients: [f64; 4],
}

/// What to train and how.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRegTrainConfig {
    /// Gradient-descent iterations.
    pub iterations: usize,
    /// Step size `η` (the gradient is the mean over the rows, so the update is `η/n·Σ`).
    pub learning_rate: f64,
    /// Slots per row block: a power of two `≥ features + 1`.
    pub width: usize,
    /// Features per row (the bias column is added by the packing).
    pub features: usize,
    /// Rows of the whole (all parties') training set.
    pub rows: usize,
    /// The sigmoid approximation.
    pub sigmoid: PolySigmoid,
    /// Declared bound `|w_j| ≤ 2^k` on the weights (sizes the masks of their refresh).
    pub log2_weight_bound: u32,
    /// Declared bound `|x_r·w| ≤ 2^k` on the logits (sizes the masks if a logit is refreshed).
    pub log2_logit_bound: u32,
}

/// Rotation steps (Galois keys) the trainer needs for `cfg`.
pub fn rotation_steps(params: &Parameters, cfg: &LogRegTrainConfig) -> Vec<i64> {
    let _ = (params, cfg);
    Vec::new()
}

/// Trains from encrypted rows `x` and labels `y` (both laid out as in the module docs, one
/// ciphertext per chunk of `slots / width` rows) and returns the weights, replicated per row
/// block (decrypt and read them with [`unpack_weights`]). `progress` is called after each
/// iteration with the number done.
#[allow(clippy::too_many_arguments)]
pub fn train_logistic_regression(
    eval: &Evaluator,
    rlk: &RelinearizationKey,
    gks: &GaloisKeys,
    x: &[Ciphertext],
    y: &[Ciphertext],
    cfg: &LogRegTrainConfig,
    refresher: &mut dyn Refresher,
    progress: &mut dyn FnMut(usize),
) -> Result<Ciphertext, HeError> {
    let _ = (eval, rlk, gks, x, y, cfg, refresher, progress);
    Err(HeError::InvalidConfig { reason: "encrypted training is not implemented yet".into() })
}

/// The same iterations on plaintext, with the same polynomial sigmoid (or any other `sigmoid`):
/// the reference the encrypted result is checked against. Returns `features + 1` weights, the
/// bias last.
pub fn plaintext_reference(rows: &[Vec<f64>], labels: &[f64], cfg: &LogRegTrainConfig, sigmoid: &dyn Fn(f64) -> f64) -> Result<Vec<f64>, HeError> {
    let _ = (rows, labels, cfg, sigmoid);
    Err(HeError::InvalidConfig { reason: "not implemented yet".into() })
}

/// Slot vectors of rows `first_row..first_row + rows.len()` (one vector per ciphertext chunk,
/// zero outside those rows), to be encoded and encrypted by their owner.
pub fn pack_rows(params: &Arc<Parameters>, cfg: &LogRegTrainConfig, first_row: usize, rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, HeError> {
    let _ = (params, cfg, first_row, rows);
    Err(HeError::InvalidConfig { reason: "not implemented yet".into() })
}

/// Slot vectors of labels `first_row..` (one per chunk; label `r` at slot `r·width`).
pub fn pack_labels(params: &Arc<Parameters>, cfg: &LogRegTrainConfig, first_row: usize, labels: &[f64]) -> Result<Vec<Vec<f64>>, HeError> {
    let _ = (params, cfg, first_row, labels);
    Err(HeError::InvalidConfig { reason: "not implemented yet".into() })
}

/// The `features + 1` weights (bias last) from the decrypted slots of the weight ciphertext
/// (averaged over the row blocks).
pub fn unpack_weights(cfg: &LogRegTrainConfig, slots: &[f64]) -> Vec<f64> {
    let _ = (cfg, slots);
    Vec::new()
}
