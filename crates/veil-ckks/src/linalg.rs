//! Linear algebra on slots: sums of slots and plaintext-matrix × encrypted-vector products.

use crate::ciphertext::Ciphertext;
use crate::encoding::{Encoder, Plaintext};
use crate::eval::Evaluator;
use crate::keys::GaloisKeys;
use crate::params::{Level, Scale};
use crate::CkksError;

impl Evaluator {
    /// Sums `width` consecutive slots (a power of two dividing the slot count): afterwards slot
    /// `i` holds `Σ_{k<width} a_{i+k}` (indices mod the slot count). Needs the rotation keys
    /// of [`sum_slots_steps`].
    pub fn sum_slots(&self, a: &Ciphertext, width: usize, keys: &GaloisKeys) -> Result<Ciphertext, CkksError> {
        let mut acc = a.clone();
        for step in sum_slots_steps(width) {
            let r = self.rotate(&acc, step, keys)?;
            self.add_assign(&mut acc, &r)?;
        }
        Ok(acc)
    }

    /// `M·v` for the `d×d` matrix of `plan` and the encrypted vector `v` held (replicated with
    /// period `d`) in the slots, by the baby-step/giant-step diagonal method (Halevi-Shoup):
    /// `M·v = Σ_g rot_{g·n1}( Σ_b rot_{-g·n1}(diag_{g·n1+b}) ⊙ rot_b(v) )`. The baby-step
    /// rotations are hoisted. The result has scale `Δ_v · Δ_M` and is not rescaled.
    pub fn matvec(&self, v: &Ciphertext, plan: &MatVecPlan, keys: &GaloisKeys) -> Result<Ciphertext, CkksError> {
        if v.level != plan.level {
            return Err(CkksError::LevelMismatch { left: v.level.0, right: plan.level.0 });
        }
        let baby_steps: Vec<i64> = (0..plan.n1 as i64).collect();
        let baby = self.rotate_hoisted(v, &baby_steps, keys)?;
        let mut acc: Option<Ciphertext> = None;
        for g in 0..plan.n2 {
            let mut inner: Option<Ciphertext> = None;
            for (b, rotated) in baby.iter().enumerate() {
                let Some(pt) = plan.diagonals.get(g * plan.n1 + b) else { break };
                let term = self.mul_plain(rotated, pt)?;
                match inner.as_mut() {
                    None => inner = Some(term),
                    Some(x) => self.add_assign(x, &term)?,
                }
            }
            let Some(inner) = inner else { break };
            let inner = if g == 0 { inner } else { self.rotate(&inner, (g * plan.n1) as i64, keys)? };
            match acc.as_mut() {
                None => acc = Some(inner),
                Some(x) => self.add_assign(x, &inner)?,
            }
        }
        acc.ok_or(CkksError::MatrixShape { rows: 0, cols: 0, slots: self.params().slot_count() })
    }
}

/// Rotation steps used by [`Evaluator::sum_slots`].
pub fn sum_slots_steps(width: usize) -> Vec<i64> {
    let mut steps = Vec::new();
    let mut s = 1;
    while s < width {
        steps.push(s as i64);
        s <<= 1;
    }
    steps
}

/// A plaintext `d×d` matrix prepared for [`Evaluator::matvec`]: its generalised diagonals,
/// pre-rotated for the giant steps and encoded at the top prime of `level` (so that one
/// rescale restores the vector's scale).
#[derive(Debug, Clone)]
pub struct MatVecPlan {
    d: usize,
    n1: usize,
    n2: usize,
    level: Level,
    diagonals: Vec<Plaintext>,
}

impl MatVecPlan {
    /// Prepares `matrix` (`d` rows of `d` entries, `d` dividing the slot count) for vectors
    /// at `level`.
    pub fn new(encoder: &Encoder, params: &crate::Parameters, matrix: &[Vec<f64>], level: Level) -> Result<Self, CkksError> {
        let slots = params.slot_count();
        let d = matrix.len();
        if d == 0 || slots % d != 0 || matrix.iter().any(|r| r.len() != d) {
            return Err(CkksError::MatrixShape { rows: d, cols: matrix.first().map_or(0, Vec::len), slots });
        }
        params.check_level(level)?;
        let n1 = (d as f64).sqrt().ceil() as usize;
        let n1 = n1.next_power_of_two().min(d);
        let n2 = d.div_ceil(n1);
        let scale = Scale(params.q()[level.0] as f64);
        let mut diagonals = Vec::with_capacity(d);
        for g in 0..n2 {
            for b in 0..n1 {
                let i = g * n1 + b;
                if i >= d {
                    break;
                }
                // diag_i[j] = M[j mod d][(j + i) mod d], then rotated right by g·n1.
                let shift = g * n1;
                let values: Vec<f64> = (0..slots)
                    .map(|j| {
                        let src = (j + slots - shift % slots) % slots;
                        matrix[src % d][(src + i) % d]
                    })
                    .collect();
                diagonals.push(encoder.encode(&values, level, scale)?);
            }
        }
        Ok(Self { d, n1, n2, level, diagonals })
    }

    /// Matrix dimension.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// Rotation steps the product needs keys for.
    pub fn rotation_steps(&self) -> Vec<i64> {
        (1..self.n1 as i64).chain((1..self.n2).map(|g| (g * self.n1) as i64)).collect()
    }
}
