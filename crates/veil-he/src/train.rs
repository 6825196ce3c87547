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
//! two or three parties that is one refresh (of the weights) per iteration after the first.
//! Where the weights can only be refreshed from a higher level, an iteration cannot end on
//! refreshable weights without a refresh inside it: the trainer then also refreshes the logits
//! of each chunk (their refresh noise enters before the factor `η/n`), and, only if even fresh
//! logits are not enough, the spread gradient terms of each chunk.
//!
//! # Precision and cost
//!
//! On the breast-cancer split (455 training rows of 30 standardised features, two chunks at
//! `N = 2^14`, two parties, 12 iterations of `η = 0.2`, cubic on `[−16, 16]`, `tests/train.rs`):
//! weights within `3·10^−4` of the plaintext reference with the same steps and polynomial, the
//! same held-out accuracy (95.6 %; 96.5 % with the true sigmoid), about 0.45 s per iteration
//! and 20 ms per refresh on a loaded 2-core machine. An iteration takes `4·chunks` ciphertext
//! products (`3·chunks + 1` relinearisations), `2·log2(w)·chunks + log2(slots/w)` rotations
//! and at most one refresh.

mod local;
mod pack;
mod sigmoid;

use veil_ckks::linalg::sum_slots_steps;
use veil_ckks::{Ciphertext, Encoder, Evaluator, GaloisKeys, Level, Parameters, RelinearizationKey, Scale};
use veil_math::RnsPoly;

pub use local::LocalRefresher;
pub use pack::{pack_labels, pack_rows, unpack_weights};
pub use sigmoid::{sigmoid, PolySigmoid};

use crate::HeError;

/// The parties' collective refresh, seen from the evaluator: a ciphertext at a low level in,
/// an encryption of the same values at the top level with the same scale out.
pub trait Refresher {
    /// The lowest level at which [`Refresher::refresh`] accepts a ciphertext of scale `scale`
    /// whose slots lie in `[−2^log2_bound, 2^log2_bound]` (the statistical masking of the
    /// refresh needs room: `veil_threshold::RefreshSecurity::min_level`).
    fn min_level(&self, scale: Scale, log2_bound: u32) -> Result<Level, HeError>;

    /// Refreshes `ct` (slots declared within `±2^log2_bound`) to the top level, same scale. A
    /// failure of the refresher's own (a link, a peer) is [`HeError::RefreshFailed`]; the
    /// trainer stops and passes it on.
    fn refresh(&mut self, ct: &Ciphertext, log2_bound: u32) -> Result<Ciphertext, HeError>;
}

/// Declared bound `2^0` on the gradient terms `(η/n)·(p(z) − y)` when they are refreshed.
const LOG2_GRADIENT_TERM_BOUND: u32 = 0;

/// What to train and how.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRegTrainConfig {
    /// Gradient-descent iterations.
    pub iterations: usize,
    /// Step size `η` (the update is `W ← W − (η/n)·Σ_r x_r·(p(z_r) − y_r)`).
    pub learning_rate: f64,
    /// Slots per row block: a power of two `≥ features + 1`.
    pub width: usize,
    /// Features per row (the packing adds the bias column).
    pub features: usize,
    /// Rows of the whole (all parties') training set.
    pub rows: usize,
    /// The sigmoid approximation.
    pub sigmoid: PolySigmoid,
    /// Declared bound `|w_j| ≤ 2^k` on the weights (sizes the masks of their refresh).
    pub log2_weight_bound: u32,
    /// Declared bound `|x_r·W| ≤ 2^k` on the logits (sizes the masks if logits are refreshed).
    pub log2_logit_bound: u32,
}

impl LogRegTrainConfig {
    /// `iterations` steps of size `learning_rate` on `rows` rows of `features` features: the
    /// smallest width, the least-squares cubic on `[−16, 16]`, weights declared within `±8`,
    /// logits within `±32`.
    pub fn new(features: usize, rows: usize, iterations: usize, learning_rate: f64) -> Self {
        Self {
            iterations,
            learning_rate,
            width: (features + 1).next_power_of_two(),
            features,
            rows,
            sigmoid: PolySigmoid::least_squares(16.0),
            log2_weight_bound: 3,
            log2_logit_bound: 5,
        }
    }

    /// Checks the configuration against the parameters.
    pub fn validate(&self, params: &Parameters) -> Result<(), HeError> {
        let bad = |reason: String| Err(HeError::InvalidConfig { reason });
        let slots = params.slot_count();
        if !self.width.is_power_of_two() || self.width <= self.features || self.width > slots {
            return bad(format!("width {} must be a power of two above {} features and at most {slots} slots", self.width, self.features));
        }
        if self.rows == 0 || self.features == 0 {
            return bad("no rows or no features".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad(format!("learning rate {} must be positive", self.learning_rate));
        }
        if !self.sigmoid.coefficients.iter().all(|c| c.is_finite()) {
            return bad("sigmoid coefficients must be finite".into());
        }
        if self.log2_weight_bound > 40 || self.log2_logit_bound > 40 {
            return bad("declared bounds above 2^40".into());
        }
        Ok(())
    }

    /// Rows per ciphertext: `slots / width`.
    pub fn rows_per_ciphertext(&self, params: &Parameters) -> usize {
        params.slot_count() / self.width.max(1)
    }

    /// Ciphertexts (chunks) the training set takes.
    pub fn chunks(&self, params: &Parameters) -> usize {
        self.rows.div_ceil(self.rows_per_ciphertext(params).max(1))
    }
}

/// Rotation steps (Galois keys) the trainer needs for `cfg`: `1, 2, …, w/2` (row sums), their
/// negatives (spreading a row's value over its block) and `w, 2w, …, slots/2` (column sums).
pub fn rotation_steps(params: &Parameters, cfg: &LogRegTrainConfig) -> Vec<i64> {
    let mut steps = sum_slots_steps(cfg.width);
    steps.extend(sum_slots_steps(cfg.width).into_iter().map(|s| -s));
    let mut s = cfg.width;
    while s < params.slot_count() {
        steps.push(s as i64);
        s *= 2;
    }
    steps
}

/// The same iterations on plaintext with the sigmoid `sigmoid` (the configuration's polynomial
/// for the reference of the encrypted run, or the true sigmoid): `features + 1` weights, the
/// bias last, starting from zero.
pub fn plaintext_reference(
    rows: &[Vec<f64>],
    labels: &[f64],
    cfg: &LogRegTrainConfig,
    sigmoid: &dyn Fn(f64) -> f64,
) -> Result<Vec<f64>, HeError> {
    if rows.len() != cfg.rows || labels.len() != cfg.rows || rows.iter().any(|r| r.len() != cfg.features) {
        return Err(HeError::InvalidConfig {
            reason: format!("expected {} rows of {} features and as many labels", cfg.rows, cfg.features),
        });
    }
    let step = cfg.learning_rate / cfg.rows as f64;
    let mut w = vec![0.0; cfg.features + 1];
    for _ in 0..cfg.iterations {
        let mut g = vec![0.0; cfg.features + 1];
        for (x, &y) in rows.iter().zip(labels) {
            let z = x.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + w[cfg.features];
            let d = step * (sigmoid(z) - y);
            for (gj, xj) in g.iter_mut().zip(x) {
                *gj += d * xj;
            }
            g[cfg.features] += d;
        }
        for (wj, gj) in w.iter_mut().zip(&g) {
            *wj -= gj;
        }
    }
    Ok(w)
}

/// Trains from encrypted rows `x` and labels `y` (laid out as in the module docs, one ciphertext
/// per chunk of `slots / width` rows, at the top level) and returns the weights, replicated per
/// row block (decrypt them and read them with [`unpack_weights`]), starting from zero.
/// `progress` is called after each iteration with the number done.
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
    let t = Trainer::new(eval, rlk, gks, x, y, cfg)?;
    let params = eval.params();
    let top = params.max_level();
    let zero = RnsPoly::zero(params.ring(), &params.q_basis(top)).map_err(veil_ckks::CkksError::from)?;
    let mut w = Ciphertext::from_parts(params, vec![zero.clone(), zero], top, params.default_scale())?;
    for it in 0..cfg.iterations {
        w = t.iteration(w, refresher)?;
        progress(it + 1);
    }
    Ok(w)
}

/// The evaluator side of one training run.
struct Trainer<'a> {
    eval: &'a Evaluator,
    enc: Encoder,
    rlk: &'a RelinearizationKey,
    gks: &'a GaloisKeys,
    x: &'a [Ciphertext],
    y: &'a [Ciphertext],
    cfg: &'a LogRegTrainConfig,
    masks: Vec<Vec<f64>>,
    step: f64,
}

const fn level_of(l: usize) -> Level {
    Level(l)
}

impl<'a> Trainer<'a> {
    fn new(
        eval: &'a Evaluator,
        rlk: &'a RelinearizationKey,
        gks: &'a GaloisKeys,
        x: &'a [Ciphertext],
        y: &'a [Ciphertext],
        cfg: &'a LogRegTrainConfig,
    ) -> Result<Self, HeError> {
        let params = eval.params();
        cfg.validate(params)?;
        let chunks = cfg.chunks(params);
        if x.len() != chunks || y.len() != chunks {
            return Err(HeError::InvalidConfig {
                reason: format!("{} row and {} label ciphertexts for {} rows: expected {chunks} of each", x.len(), y.len(), cfg.rows),
            });
        }
        for (what, cts) in [("row", x), ("label", y)] {
            for ct in cts {
                if ct.level() != params.max_level() || ct.degree() != 1 || !ct.scale().matches(cts[0].scale()) {
                    return Err(HeError::InvalidConfig {
                        reason: format!("{what} ciphertexts must be fresh (top level, degree 1, one scale)"),
                    });
                }
            }
        }
        let masks = (0..chunks).map(|c| pack::row_mask(params, cfg, c)).collect();
        Ok(Self { eval, enc: Encoder::new(params), rlk, gks, x, y, cfg, masks, step: cfg.learning_rate / cfg.rows as f64 })
    }

    fn q(&self, level: usize) -> f64 {
        self.eval.params().q()[level] as f64
    }

    /// Rescales and records the intended scale (they agree up to floating-point rounding).
    fn rescale_to(&self, ct: &Ciphertext, scale: f64) -> Result<Ciphertext, HeError> {
        let mut out = self.eval.rescale(ct)?;
        if (out.scale().0 / scale - 1.0).abs() > 1e-9 {
            return Err(HeError::InvalidConfig {
                reason: format!("scale bookkeeping: 2^{} where 2^{} was planned", out.scale().log2(), scale.log2()),
            });
        }
        out.set_scale(Scale(scale));
        Ok(out)
    }

    /// `(η/n)·c·mask` of `chunk` encoded at `level` and `scale`.
    fn coefficient(&self, chunk: usize, c: f64, level: usize, scale: f64) -> Result<veil_ckks::Plaintext, HeError> {
        let v: Vec<f64> = self.masks[chunk].iter().map(|m| m * c * self.step).collect();
        Ok(self.enc.encode(&v, level_of(level), Scale(scale))?)
    }

    fn refreshed(&self, refresher: &mut dyn Refresher, ct: &Ciphertext, bound: u32) -> Result<Ciphertext, HeError> {
        let out = refresher.refresh(ct, bound)?;
        let top = self.eval.params().max_level();
        if out.level() != top || !out.scale().matches(ct.scale()) || out.degree() != 1 {
            return Err(HeError::BadRefresh {
                reason: format!(
                    "got level {} scale 2^{:.3}, expected level {} scale 2^{:.3}",
                    out.level().0,
                    out.scale().log2(),
                    top.0,
                    ct.scale().log2()
                ),
            });
        }
        Ok(out)
    }

    fn iteration(&self, mut w: Ciphertext, refresher: &mut dyn Refresher) -> Result<Ciphertext, HeError> {
        let params = self.eval.params();
        let top = params.max_level().0;
        let (s_x, s_w) = (self.x[0].scale().0, w.scale().0);
        let cfg = self.cfg;
        let lvl = |r: Result<Level, HeError>| r.map(|l| l.0);
        let s_z = |a: usize| s_x * s_w / self.q(a);
        let s_d = |a3: usize| s_w * self.q(a3) / s_x;
        let m_w = lvl(refresher.min_level(Scale(s_w), cfg.log2_weight_bound))?;
        let shallow = || HeError::InvalidConfig {
            reason: format!("{top} levels leave no room for the stages of an iteration (depths 1, 2, 1) between refreshes"),
        };
        // Every stage must fit between the top level and the refresh level of its output.
        let m_z_top = lvl(refresher.min_level(Scale(s_z(top)), cfg.log2_logit_bound))?;
        let m_d_top = lvl(refresher.min_level(Scale(s_d(top)), LOG2_GRADIENT_TERM_BOUND))?;
        if top < 4 || m_w + 1 > top || m_z_top + 1 > top || (m_w + 3 > top && m_d_top + 2 > top) {
            return Err(shallow());
        }

        // Stage 1: z = RowSum(X ⊙ W), one level.
        let a_w = w.level().0;
        if a_w == 0 || a_w - 1 < lvl(refresher.min_level(Scale(s_z(a_w)), cfg.log2_logit_bound))? {
            w = self.refreshed(refresher, &w, cfg.log2_weight_bound)?;
        }
        let a_w = w.level().0;
        let mut z = Vec::with_capacity(self.x.len());
        for xc in self.x {
            let p = self.eval.mul_relin(&self.eval.drop_to_level(xc, w.level())?, &w, self.rlk)?;
            let p = self.rescale_to(&p, s_z(a_w))?;
            z.push(self.eval.sum_slots(&p, cfg.width, self.gks)?);
        }

        // Stage 2: d = mask ⊙ (η/n)·p(z) − (η/n)·y, two levels. The logits are refreshed when
        // the iteration could not otherwise end on refreshable weights: their refresh noise
        // enters before the factor η/n (that of the gradient terms would not).
        let mut a_z = a_w - 1;
        if a_z < 3 || a_z - 3 < m_w {
            z = z.iter().map(|c| self.refreshed(refresher, c, cfg.log2_logit_bound)).collect::<Result<_, _>>()?;
            a_z = top;
        }
        let a_d = a_z - 2;
        // Only when even fresh logits cannot reach refreshable weights (top − 3 < m_W).
        let refresh_d = a_d - 1 < m_w;
        if refresh_d && a_d < m_d_top {
            return Err(shallow());
        }
        let a3 = if refresh_d { top } else { a_d };
        let target = s_d(a3);
        let mut d = Vec::with_capacity(z.len());
        for (c, zc) in z.iter().enumerate() {
            d.push(self.gradient_terms(c, zc, a_z, target)?);
        }

        // Stage 3: g = ColumnSum(Σ_c X_c ⊙ Spread(d_c)), one level; W ← W − g.
        let mut acc: Option<Ciphertext> = None;
        for (xc, dc) in self.x.iter().zip(&d) {
            let mut spread = dc.clone();
            let mut s = 1;
            while s < cfg.width {
                let r = self.eval.rotate(&spread, -(s as i64), self.gks)?;
                self.eval.add_assign(&mut spread, &r)?;
                s *= 2;
            }
            if refresh_d {
                // After the spread, so the refresh noise of a slot is not summed over a block.
                spread = self.refreshed(refresher, &spread, LOG2_GRADIENT_TERM_BOUND)?;
            }
            let prod = self.eval.multiply(&self.eval.drop_to_level(xc, level_of(a3))?, &spread)?;
            match acc.as_mut() {
                None => acc = Some(prod),
                Some(a) => self.eval.add_assign(a, &prod)?,
            }
        }
        let acc = acc.ok_or_else(shallow)?;
        let mut g = self.rescale_to(&self.eval.relinearize(&acc, self.rlk)?, s_w)?;
        let mut s = cfg.width;
        while s < params.slot_count() {
            let r = self.eval.rotate(&g, s as i64, self.gks)?;
            self.eval.add_assign(&mut g, &r)?;
            s *= 2;
        }
        let out_level = level_of(w.level().0.min(g.level().0));
        Ok(self.eval.sub(&self.eval.drop_to_level(&w, out_level)?, &self.eval.drop_to_level(&g, out_level)?)?)
    }

    /// `mask ⊙ (η/n)·p(z) − (η/n)·y` of chunk `c` at level `a_z − 2` and scale `target`, from
    /// `z` at level `a_z`: `p(z) = (c_3 z + c_2)·z² + c_1 z + c_0` with plaintext coefficient
    /// vectors whose scales are chosen to land exactly on `target`.
    fn gradient_terms(&self, c: usize, z: &Ciphertext, a_z: usize, target: f64) -> Result<Ciphertext, HeError> {
        let [c0, c1, c2, c3] = self.cfg.sigmoid.coefficients;
        let s_z = z.scale().0;
        let z2 = self.eval.mul_relin(z, z, self.rlk)?;
        let s_z2 = s_z * s_z / self.q(a_z);
        let z2 = self.rescale_to(&z2, s_z2)?;
        let s_t = target * self.q(a_z - 1) / s_z2;
        let t = self.eval.mul_plain(z, &self.coefficient(c, c3, a_z, s_t * self.q(a_z) / s_z)?)?;
        let mut t = self.rescale_to(&t, s_t)?;
        if c2 != 0.0 {
            t = self.eval.add_plain(&t, &self.coefficient(c, c2, a_z - 1, s_t)?)?;
        }
        let u = self.rescale_to(&self.eval.mul_relin(&t, &z2, self.rlk)?, target)?;
        let z_low = self.eval.drop_to_level(z, level_of(a_z - 1))?;
        let v = self.eval.mul_plain(&z_low, &self.coefficient(c, c1, a_z - 1, target * self.q(a_z - 1) / s_z)?)?;
        let v = self.rescale_to(&v, target)?;
        let mut d = self.eval.add(&u, &v)?;
        d = self.eval.add_plain(&d, &self.coefficient(c, c0, a_z - 2, target)?)?;
        let y = self.eval.drop_to_level(&self.y[c], level_of(a_z - 1))?;
        let s_y = y.scale().0;
        let y = self.eval.mul_const_at_scale(&y, self.step, Scale(target * self.q(a_z - 1) / s_y))?;
        let y = self.rescale_to(&y, target)?;
        Ok(self.eval.sub(&d, &y)?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
