//! [`Packing::Diagonal`](super::Packing::Diagonal): one weight ciphertext per diagonal of
//! `W̃`, summed by baby steps (power-of-two rotations) and giant steps (Horner's rule).

use veil_ckks::Ciphertext;

use super::{Ctx, ModelShape, Stage};
use crate::HeError;

/// Per diagonal `d = g·n_1 + b` of stage `i`: `σ·W̃[(p + d) mod (d_in + 1)][j]` at every output
/// position `p` of neuron `j` in every window, rotated right by `g·n_1`. The input window
/// repeats the input cyclically, so `x̃[p + d] = x[(p + d) mod (d_in + 1)]`.
pub(super) fn weight_vectors(shape: &ModelShape, i: usize, wt: &dyn Fn(usize, usize) -> f64) -> Vec<Vec<f64>> {
    let Some(stage) = shape.stages.get(i) else { return Vec::new() };
    let (n, n1, sigma) = (stage.diagonals(), stage.baby, stage.sigma());
    (0..n)
        .map(|d| {
            let shift = (d / n1) * n1;
            let mut v = vec![0.0; shape.slots];
            for r in 0..shape.capacity() {
                for p in 0..shape.out_extent(i) {
                    if let Some(j) = shape.output_index(i, p) {
                        v[(r * shape.width + stage.offset + p + shift) % shape.slots] = sigma * wt((p + d) % n, j);
                    }
                }
            }
            v
        })
        .collect()
}

/// `σ·(x·W̃)`: `Σ_g rot_{g·n_1}(Σ_b rot_b(x) ⊙ D'_{g·n_1+b})`, one relinearisation per giant
/// step, one rescale.
pub(super) fn linear(cx: &Ctx<'_>, stage: &Stage, x: &Ciphertext, weights: &[Ciphertext]) -> Result<Ciphertext, HeError> {
    let eval = cx.eval;
    let (n, n1) = (stage.diagonals(), stage.baby);
    let mut rots = Vec::with_capacity(n1.min(n));
    rots.push(x.clone());
    for b in 1..n1.min(n) {
        let high = 1usize << (usize::BITS - 1 - b.leading_zeros());
        let r = eval.rotate(&rots[b - high], high as i64, cx.gks)?;
        rots.push(r);
    }
    let mut acc: Option<Ciphertext> = None;
    for g in (0..n.div_ceil(n1)).rev() {
        let mut inner: Option<Ciphertext> = None;
        for (rot, w) in rots.iter().zip(&weights[g * n1..n.min(g * n1 + n1)]) {
            let t = eval.multiply(rot, w)?;
            match inner.as_mut() {
                None => inner = Some(t),
                Some(i) => eval.add_assign(i, &t)?,
            }
        }
        let inner = inner.ok_or_else(|| super::unsupported("a layer without inputs"))?;
        acc = Some(match acc {
            None => inner,
            Some(a) => {
                let a = eval.rotate(&eval.relinearize(&a, cx.rlk)?, n1 as i64, cx.gks)?;
                eval.add(&inner, &a)?
            }
        });
    }
    let acc = acc.ok_or_else(|| super::unsupported("a layer without inputs"))?;
    Ok(eval.rescale(&eval.relinearize(&acc, cx.rlk)?)?)
}
