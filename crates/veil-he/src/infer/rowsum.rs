//! [`Packing::RowSum`](super::Packing::RowSum): one weight ciphertext per output neuron,
//! window sums, masks and a gather tree.

use veil_ckks::{Ciphertext, Evaluator, GaloisKeys, Scale};

use super::{Ctx, ModelShape, Stage};
use crate::HeError;

/// Per output neuron `j`: `W̃[·][j]` in positions `0..=d_in` of every window.
pub(super) fn weight_vectors(shape: &ModelShape, stage: &Stage, wt: &dyn Fn(usize, usize) -> f64) -> Vec<Vec<f64>> {
    (0..stage.outputs).map(|j| shape.windows(stage.offset, shape.capacity(), stage.inputs + 1, |p| Some(wt(p, j)))).collect()
}

/// `σ·(x·W̃)` with neuron `j` at position `j` of the windows at the stage's output offset.
pub(super) fn linear(cx: &Ctx<'_>, stage: &Stage, x: &Ciphertext, weights: &[Ciphertext]) -> Result<Ciphertext, HeError> {
    let (eval, shape) = (cx.eval, cx.shape);
    let span = stage.span();
    let mask_values = shape.windows(stage.offset, cx.rows, 1, |_| Some(stage.sigma()));
    let mut mask = None;
    let mut parts: Vec<Option<Ciphertext>> = vec![None; span];
    for (j, w) in weights.iter().enumerate() {
        let z = eval.sum_slots(&eval.mul_relin_rescale(x, w, cx.rlk)?, shape.width, cx.gks)?;
        if mask.is_none() {
            // Encoded at the prime the rescale divides by, so that the scale comes back.
            let q = eval.params().q()[z.level().0] as f64;
            mask = Some(cx.encoder.encode(&mask_values, z.level(), Scale(q))?);
        }
        if let (Some(m), Some(slot)) = (&mask, parts.get_mut(span - 1 - j)) {
            *slot = Some(eval.rescale(&eval.mul_plain(&z, m)?)?);
        }
    }
    gather(eval, parts, cx.gks)
}

/// Sums `parts[i]` rotated left by `i` (a binary tree of left rotations by 1, 2, 4, …);
/// `parts.len()` is a power of two, absent entries count as zero.
fn gather(eval: &Evaluator, mut parts: Vec<Option<Ciphertext>>, gks: &GaloisKeys) -> Result<Ciphertext, HeError> {
    let mut step = 1i64;
    while parts.len() > 1 {
        let mut next = Vec::with_capacity(parts.len() / 2);
        let mut it = parts.into_iter();
        while let (Some(a), Some(b)) = (it.next(), it.next()) {
            let b = b.map(|c| eval.rotate(&c, step, gks)).transpose()?;
            next.push(match (a, b) {
                (Some(a), Some(b)) => Some(eval.add(&a, &b)?),
                (x, None) | (None, x) => x,
            });
        }
        parts = next;
        step *= 2;
    }
    parts.pop().flatten().ok_or_else(|| super::unsupported("a layer without outputs"))
}
