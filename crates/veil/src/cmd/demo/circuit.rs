//! The encrypted monitor: slot layout of readings and model, and the circuit the server
//! evaluates with evaluation keys only.
//!
//! Layout: one block of `B = 64` slots per sample (sensor `i` in slot `i` of its block, slots
//! 52..63 zero), `slots / B` samples per ciphertext. The inspectorate's model is replicated in
//! every block: `M` (means), `S` (`1/σ`), `W_j = p_j ⊘ σ / √λ_j` and the constants `√λ_j`.
//!
//! With `D = X − M`, `Z = D ⊙ S` and `U_j = Σ_block D ⊙ W_j` (a block sum by rotations
//! 1, 2, …, 32: the first slot of each block receives its sample's score),
//! `T² = Σ_j U_j²` and `SPE = Σ_block Z² − Σ_j (√λ_j·U_j)²`. Both are masked to the first slot
//! of each block (the other slots carry sums across neighbouring samples, which must not reach
//! the inspectorate), SPE is moved one slot left, and one ciphertext per input ciphertext comes
//! back: T² of sample `r` in slot `r·B`, its SPE in slot `r·B − 1`. Multiplicative depth 4;
//! squares are summed before one relinearisation.

use std::sync::Arc;

use anyhow::{ensure, Context};
use veil_ckks::{Ciphertext, Encoder, Evaluator, GaloisKeys, Level, Parameters, Plaintext, RelinearizationKey, Scale};

use super::monitor::{Monitor, Sample, SENSORS};

/// Slots per sample.
pub const BLOCK: usize = 64;
/// Levels the circuit consumes.
pub const DEPTH: usize = 4;

/// Where samples and scores sit in the slots.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub slots: usize,
    pub per_ct: usize,
    pub rows: usize,
}

impl Layout {
    pub fn new(params: &Parameters, rows: usize) -> anyhow::Result<Layout> {
        let slots = params.slot_count();
        ensure!(slots >= BLOCK, "{slots} slots cannot hold a block of {BLOCK}");
        ensure!(
            params.max_level().0 >= DEPTH,
            "preset {} has {} levels; the monitor circuit needs {DEPTH}",
            params.literal().name,
            params.max_level().0
        );
        Ok(Layout { slots, per_ct: slots / BLOCK, rows })
    }

    /// Number of reading ciphertexts (and of result ciphertexts).
    pub fn ciphertexts(&self) -> usize {
        self.rows.div_ceil(self.per_ct)
    }

    /// Rotation steps of the block sum.
    pub fn rotation_steps() -> Vec<i64> {
        (0..BLOCK.trailing_zeros()).map(|k| 1i64 << k).collect()
    }

    /// The slot vector of reading ciphertext `c`.
    pub fn pack_readings(&self, samples: &[Sample], c: usize) -> Vec<f64> {
        let mut v = vec![0.0; self.slots];
        for (r, s) in samples.iter().skip(c * self.per_ct).take(self.per_ct).enumerate() {
            v[r * BLOCK..r * BLOCK + SENSORS].copy_from_slice(&s.readings);
        }
        v
    }

    /// A per-sensor vector replicated in every block.
    pub fn replicate(&self, per_sensor: &[f64]) -> Vec<f64> {
        let mut v = vec![0.0; self.slots];
        for b in v.chunks_exact_mut(BLOCK) {
            b[..per_sensor.len()].copy_from_slice(per_sensor);
        }
        v
    }

    /// Slot of sample `r`'s T² (within its ciphertext).
    pub fn t2_slot(&self, r: usize) -> usize {
        r * BLOCK
    }

    /// Slot of sample `r`'s SPE.
    pub fn spe_slot(&self, r: usize) -> usize {
        (r * BLOCK + self.slots - 1) % self.slots
    }

    /// Scores of the samples of result ciphertext `c`, from its decoded slots.
    pub fn unpack_scores(&self, slots: &[f64], c: usize) -> Vec<(f64, f64)> {
        let here = self.rows.saturating_sub(c * self.per_ct).min(self.per_ct);
        (0..here).map(|r| (slots[self.t2_slot(r)], slots[self.spe_slot(r)])).collect()
    }
}

/// The slot vectors of the inspectorate's model, with the level and scale each is encrypted at.
pub struct ModelPlaintexts {
    /// `M`, `S`, then `W_1..W_k`.
    pub vectors: Vec<Vec<f64>>,
    /// `√λ_j` (encrypted one level down, at scale `q_{L−1}`).
    pub sqrt_eigenvalues: Vec<f64>,
}

pub fn model_vectors(layout: &Layout, monitor: &Monitor) -> ModelPlaintexts {
    let mut vectors = vec![layout.replicate(&monitor.mean), layout.replicate(&monitor.inv_sd)];
    for (p, l) in monitor.loadings.iter().zip(&monitor.eigenvalues) {
        let w: Vec<f64> = p.iter().zip(&monitor.inv_sd).map(|(p, s)| p * s / l.sqrt()).collect();
        vectors.push(layout.replicate(&w));
    }
    ModelPlaintexts { vectors, sqrt_eigenvalues: monitor.eigenvalues.iter().map(|l| l.sqrt()).collect() }
}

/// Encodes the model for encryption: the vectors at the top level and default scale, the `√λ_j`
/// one level down at scale `q_{L−1}` (so multiplying by them and rescaling keeps the scale).
pub fn encode_model(params: &Arc<Parameters>, layout: &Layout, model: &ModelPlaintexts) -> anyhow::Result<Vec<Plaintext>> {
    let enc = Encoder::new(params);
    let top = params.max_level();
    let below = Level(top.0 - 1);
    let mut out = Vec::with_capacity(model.vectors.len() + model.sqrt_eigenvalues.len());
    for v in &model.vectors {
        out.push(enc.encode(v, top, params.default_scale())?);
    }
    for &c in &model.sqrt_eigenvalues {
        out.push(enc.encode(&vec![c; layout.slots], below, Scale(params.q()[below.0] as f64))?);
    }
    Ok(out)
}

/// The server's side: evaluation keys and public parameters only.
pub struct MonitorCircuit<'a> {
    pub params: &'a Arc<Parameters>,
    pub eval: &'a Evaluator,
    pub encoder: &'a Encoder,
    pub rlk: &'a RelinearizationKey,
    pub gks: &'a GaloisKeys,
    pub layout: Layout,
}

impl MonitorCircuit<'_> {
    fn block_sum(&self, ct: &Ciphertext) -> anyhow::Result<Ciphertext> {
        let mut acc = ct.clone();
        for step in Layout::rotation_steps() {
            let r = self.eval.rotate(&acc, step, self.gks)?;
            self.eval.add_assign(&mut acc, &r)?;
        }
        Ok(acc)
    }

    /// `ct · mask`, rescaled to scale `Δ`: the mask is 1 at the first slot of each block that
    /// holds a sample of ciphertext `c`, encoded at the scale that lands exactly on `Δ`.
    fn mask_first_slots(&self, ct: &Ciphertext, c: usize) -> anyhow::Result<Ciphertext> {
        let here = self.layout.rows.saturating_sub(c * self.layout.per_ct).min(self.layout.per_ct);
        let mut m = vec![0.0; self.layout.slots];
        for r in 0..here {
            m[r * BLOCK] = 1.0;
        }
        let level = ct.level();
        let scale = self.params.default_scale().0 * self.params.q()[level.0] as f64 / ct.scale().0;
        let pt = self.encoder.encode(&m, level, Scale(scale))?;
        Ok(self.eval.rescale(&self.eval.mul_plain(ct, &pt)?)?)
    }

    /// T² and SPE of every sample of reading ciphertext `c` (`x`), one ciphertext.
    ///
    /// `model` is `[M, S, W_1..W_k, √λ_1..√λ_k]` as encrypted by the inspectorate.
    pub fn evaluate(&self, x: &Ciphertext, model: &[Ciphertext], c: usize) -> anyhow::Result<Ciphertext> {
        ensure!(model.len() >= 4 && model.len() % 2 == 0, "the model has {} ciphertexts, expected 2 + 2k", model.len());
        let k = (model.len() - 2) / 2;
        let (mean, inv_sd, weights, roots) = (&model[0], &model[1], &model[2..2 + k], &model[2 + k..]);
        let ev = self.eval;
        let d = ev.sub(x, mean).context("readings and model differ in level or scale")?;
        let z = ev.mul_relin_rescale(&d, inv_sd, self.rlk)?;
        let mut t2: Option<Ciphertext> = None;
        let mut explained: Option<Ciphertext> = None;
        for (w, root) in weights.iter().zip(roots) {
            let u = self.block_sum(&ev.mul_relin_rescale(&d, w, self.rlk)?)?;
            let v = ev.mul_relin_rescale(&u, root, self.rlk)?;
            accumulate(ev, &mut t2, ev.multiply(&u, &u)?)?;
            accumulate(ev, &mut explained, ev.multiply(&v, &v)?)?;
        }
        let t2 = ev.rescale(&ev.relinearize(&t2.context("no components")?, self.rlk)?)?;
        let explained = ev.rescale(&ev.relinearize(&explained.context("no components")?, self.rlk)?)?;
        let norm = self.block_sum(&ev.mul_relin_rescale(&z, &z, self.rlk)?)?;
        // Bring ‖z‖² (level L−2) to the level and scale of Σ v² (level L−3).
        let q_above = self.params.q()[norm.level().0 + 1] as f64;
        let norm = ev.rescale(&ev.mul_const_at_scale(&norm, 1.0, Scale(q_above))?)?;
        let spe = ev.sub(&norm, &explained)?;
        let t2 = ev.drop_to_level(&t2, spe.level())?;
        let mut out = self.mask_first_slots(&t2, c)?;
        let spe = ev.rotate(&self.mask_first_slots(&spe, c)?, 1, self.gks)?;
        ev.add_assign(&mut out, &spe)?;
        Ok(out)
    }
}

fn accumulate(ev: &Evaluator, acc: &mut Option<Ciphertext>, term: Ciphertext) -> anyhow::Result<()> {
    match acc {
        None => *acc = Some(term),
        Some(a) => ev.add_assign(a, &term)?,
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use veil_ckks::ParametersLiteral;

    #[test]
    fn score_slots_are_distinct_and_samples_round_trip() {
        let params = Parameters::new(ParametersLiteral::insecure_n2048_l4_dnum3()).unwrap();
        let layout = Layout::new(&params, 20).unwrap();
        assert_eq!((layout.per_ct, layout.ciphertexts()), (16, 2));
        let mut seen = std::collections::HashSet::new();
        for r in 0..layout.per_ct {
            assert!(seen.insert(layout.t2_slot(r)) && seen.insert(layout.spe_slot(r)));
        }
        let samples: Vec<Sample> = (0..20)
            .map(|i| Sample { index: i + 1, fault_active: false, readings: std::array::from_fn(|c| (i * 100 + c) as f64) })
            .collect();
        let v = layout.pack_readings(&samples, 1);
        assert_eq!(v[3 * BLOCK + 7], 1907.0);
        assert_eq!(v[4 * BLOCK], 0.0);
        let mut slots = vec![0.0; layout.slots];
        for r in 0..layout.per_ct {
            slots[layout.t2_slot(r)] = r as f64;
            slots[layout.spe_slot(r)] = -(r as f64);
        }
        let scores = layout.unpack_scores(&slots, 1);
        assert_eq!(scores.len(), 4);
        assert!(scores.iter().enumerate().all(|(r, &(t, q))| t == r as f64 && q == -(r as f64)));
    }

    #[test]
    fn shallow_presets_are_refused() {
        let params = Parameters::new(ParametersLiteral::insecure_n1024_l2()).unwrap();
        assert!(Layout::new(&params, 8).is_err());
    }
}
