//! Encrypted inference of veil-ml models whose inputs AND weights are ciphertexts.
//!
//! The data owner encrypts its rows ([`encrypt_rows`]), the model owner its model
//! ([`encrypt_model`]), both under the same public key (a single key, or the collective key of
//! `veil-threshold`); the evaluator, holding only the relinearisation key and the rotation keys
//! of [`ModelShape::rotation_steps`], computes one ciphertext with every row's outputs
//! ([`evaluate`]); whoever decrypts reads them back with [`ModelShape::decode`].
//!
//! # Supported models
//!
//! Dense layers, each optionally followed by a `Polynomial` activation of degree ≤ 2, and an
//! optional final `Sigmoid` or `Softmax`. The final sigmoid/softmax is **not** evaluated under
//! encryption: the ciphertext holds the logits and the receiver applies it after decryption
//! ([`ModelShape::finish`]), which is exact and costs no level. The shapes and the activation
//! polynomials are public (the evaluator must know the circuit); weights and biases are secret.
//!
//! # Packings
//!
//! Slots are cut into windows of `w` slots (`w` a power of two); row `r` of a stage's input
//! lives in the window starting at slot `r·w + o_s (mod n/2)`: the layer's inputs in positions
//! `0..d_in`, a `1.0` that the evaluator adds in position `d_in` (it meets the bias), zeros
//! elsewhere. Only rows asked for get the `1.0` and the activation's constant, so empty windows
//! stay zero. Two ways to multiply by the encrypted weight matrix `W̃` (`W` with the bias row):
//!
//! **[`Packing::RowSum`]** (fewer, smaller weight ciphertexts). The model owner encrypts, per
//! output neuron `j`, the column `W̃[·][j]` replicated in every window. Then
//!
//! 1. `p_j = x ⊙ W_j` (ciphertext × ciphertext, relinearise, rescale: **1 level**);
//! 2. `z_j = RowSum_w(p_j)` by left rotations `1, 2, …, w/2`: the window's sum lands in its first
//!    slot;
//! 3. a plaintext mask keeps that slot for the rows asked for (**1 level**), times `σ` (below);
//! 4. the neurons are gathered by a binary tree of left rotations by `1, 2, 4, …` (neuron `j`
//!    rotated by `M−1−j`, `M` the next power of two of `d_out`): neuron `j` lands at
//!    `o_s − (M − 1) + j`, so `o_{s+1} = o_s − (M − 1)`.
//!
//! `d_out` products, `d_out·log2 w` rotations for the sums, about `d_out` for the gather;
//! windows of `next_pow2(d_in + 1)` slots.
//!
//! **[`Packing::Diagonal`]** (fewer key switches, one level less per layer). The model owner
//! encrypts the `d_in + 1` diagonals `D_d[j] = σ·W̃[j + d][j]` (`j < d_out`) of `W̃`,
//! replicated per window, so that `y[j] = Σ_d D_d[j]·x[j + d]` lands in positions `0..d_out`
//! of the same window (`w ≥ d_in + d_out`) with exact zeros elsewhere: no mask, no gather. The
//! sum runs baby-step/giant-step: `y = Σ_g rot_{g·n_1}(Σ_b rot_b(x) ⊙ D'_{g·n_1+b})`, the model
//! owner pre-rotating `D'` by `−g·n_1` in the clear; the baby steps are built from power-of-two
//! rotations, the giant steps by Horner's rule with the one step `n_1`, and each giant sum is
//! relinearised once (`n_2` relinearisations for `d_in + 1` products). **1 level**.
//!
//! Both use only left rotations by powers of two below `w`: the same Galois keys as a
//! block-wise inner product of width `w` ([`ModelShape::rotation_steps`]).
//!
//! **Activation** `c_0 + c_1·z + c_2·z^2`: the masked or weighted output carries the factor
//! `σ = sqrt|c_2|` (`σ = c_1` when `c_2 = 0`, `σ = 1` without activation), so
//! `c_2·z^2 + c_1·z = ±u^2 + (c_1/σ)·u` for `u = σ·z`: one square and one constant product at
//! the same level (**1 level** for degree 2, none otherwise), then `c_0` is added in the
//! output positions.
//!
//! # Depth budget and cost
//!
//! A stage costs 2 levels with row sums, 1 with diagonals, plus 1 for a degree-2 activation.
//! `n16384_l6_sec128` has 6. A 2-layer MLP `30 → 8 → 2` with a degree-2 activation uses
//! 3 + 2 = **5 levels** with row sums (result at level 1) and 2 + 1 = **3 levels** with
//! diagonals (result at level 3); a 3-layer MLP `30 → 8 → 8 → 2` needs 8 levels with row sums
//! (refused, [`HeError::DepthExceeded`]) and 5 with diagonals. For `30 → 8 → 2`: row sums take 69
//! key switches and 10 weight ciphertexts, windows of 32 (256 rows per ciphertext at
//! `N = 16384`); diagonals take 23 key switches and 40 weight ciphertexts, windows of 64 (128
//! rows).
//!
//! # Security
//!
//! Rows and weights are encrypted under the same public key (IND-CPA under RLWE). The
//! evaluator learns the public shape, the row count and nothing else. The result holds the
//! asked-for outputs and (up to CKKS noise) zeros everywhere else, so the receiver learns the
//! model's outputs on its rows — as any prediction service reveals — and no partial sums of
//! the weights.

mod diagonal;
mod rowsum;
mod serial;

use std::sync::Arc;

use veil_ckks::linalg::sum_slots_steps;
use veil_ckks::{Ciphertext, Encoder, Encryptor, Evaluator, GaloisKeys, Level, Parameters, RelinearizationKey};
use veil_math::sampler::Prng;
use veil_ml::{Layer, Matrix, Model};

use crate::HeError;

pub use serial::MODEL_FORMAT_VERSION;

/// What the receiver applies to the decrypted logits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalActivation {
    /// Logits are the outputs.
    Identity,
    /// The logistic function (one output).
    Sigmoid,
    /// Row-wise softmax.
    Softmax,
}

/// How the encrypted weight matrices are laid out (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Packing {
    /// One ciphertext per output neuron; window sums, masks and a gather (2 levels a layer).
    RowSum,
    /// One ciphertext per diagonal; baby-step/giant-step sums (1 level a layer, fewer key
    /// switches, more weight ciphertexts, wider windows).
    #[default]
    Diagonal,
}

/// One dense layer and its optional activation, as evaluated.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    inputs: usize,
    outputs: usize,
    /// Coefficients `c_0, c_1[, c_2]` (trailing zeros removed); `None`: no activation.
    activation: Option<Vec<f64>>,
    /// Level of the stage's input and of its weight ciphertexts.
    level: Level,
    /// Slot of row 0's input window.
    offset: usize,
    /// Baby steps `n_1` of the diagonal packing (0 for row sums).
    baby: usize,
    /// Filled positions of the input window: `d_in + 1`, or with diagonals the input repeated
    /// cyclically (period `d_in + 1`) over `d_in + 1 + e − 1` positions, `e` the extent of the
    /// output window.
    extent: usize,
}

impl Stage {
    /// Input width of the dense layer.
    pub fn inputs(&self) -> usize {
        self.inputs
    }
    /// Output width.
    pub fn outputs(&self) -> usize {
        self.outputs
    }
    /// Activation polynomial (`c_0, c_1[, c_2]`), if any.
    pub fn activation(&self) -> Option<&[f64]> {
        self.activation.as_deref()
    }
    /// Level the stage is evaluated at (its weights are encrypted at it).
    pub fn level(&self) -> Level {
        self.level
    }
    fn degree(&self) -> usize {
        self.activation.as_ref().map_or(1, |c| c.len().saturating_sub(1))
    }
    fn coeff(&self, k: usize) -> f64 {
        match &self.activation {
            Some(c) => c.get(k).copied().unwrap_or(0.0),
            None => f64::from(u8::from(k == 1)),
        }
    }
    /// `σ`: the factor the linear part carries into the activation.
    fn sigma(&self) -> f64 {
        if self.degree() == 2 {
            self.coeff(2).abs().sqrt()
        } else {
            self.coeff(1)
        }
    }
    fn levels(&self, packing: Packing) -> usize {
        let linear = match packing {
            Packing::RowSum => 2,
            Packing::Diagonal => 1,
        };
        linear + usize::from(self.degree() == 2)
    }
    /// Next power of two of the outputs (the gather tree's width).
    fn span(&self) -> usize {
        self.outputs.next_power_of_two()
    }
    /// Number of diagonals (`d_in + 1`, the bias row included).
    fn diagonals(&self) -> usize {
        self.inputs + 1
    }
}

/// The public description of an encrypted model: layer shapes, activations, packing, window
/// width and the level and slot layout of every stage. Both the data owner (to pack and decode)
/// and the evaluator use it; it is serialised as the header of an [`EncryptedModel`].
#[derive(Clone, Debug, PartialEq)]
pub struct ModelShape {
    width: usize,
    inputs: usize,
    stages: Vec<Stage>,
    output: FinalActivation,
    packing: Packing,
    slots: usize,
    max_level: Level,
}

/// The smallest window width that fits `model` under `packing` (see the module docs).
pub fn min_width(model: &Model, packing: Packing) -> Result<usize, HeError> {
    let (stages, _) = stages_of(model)?;
    Ok(min_width_of(model.inputs, &stages, packing))
}

fn min_width_of(inputs: usize, stages: &[StageSpec], packing: Packing) -> usize {
    let mut w = inputs + 1;
    for (i, (out, _)) in stages.iter().enumerate() {
        w = w.max(*out + usize::from(i + 1 < stages.len()));
    }
    if packing == Packing::Diagonal {
        let ins: Vec<usize> = std::iter::once(inputs).chain(stages.iter().map(|s| s.0)).collect();
        let mut extent = stages.last().map_or(0, |s| s.0);
        for d_in in ins[..stages.len()].iter().rev() {
            extent += d_in;
        }
        w = w.max(extent);
    }
    w.next_power_of_two()
}

type StageSpec = (usize, Option<Vec<f64>>);

fn unsupported(reason: impl Into<String>) -> HeError {
    HeError::UnsupportedModel { reason: reason.into() }
}

/// `(outputs, activation)` per dense layer, and the final activation.
fn stages_of(model: &Model) -> Result<(Vec<StageSpec>, FinalActivation), HeError> {
    model.validate()?;
    let mut stages: Vec<StageSpec> = Vec::new();
    let mut output = FinalActivation::Identity;
    let n = model.layers.len();
    for (i, layer) in model.layers.iter().enumerate() {
        let last = i + 1 == n;
        match layer {
            Layer::Dense { weight, .. } => stages.push((weight.cols(), None)),
            Layer::Polynomial { coeffs } => {
                let Some(stage) = stages.last_mut().filter(|s| s.1.is_none()) else {
                    return Err(unsupported(format!("layer {i}: a polynomial activation must follow a dense layer")));
                };
                let mut c = coeffs.clone();
                while c.len() > 1 && c.last() == Some(&0.0) {
                    c.pop();
                }
                if c.len() > 3 {
                    return Err(unsupported(format!("layer {i}: polynomial of degree {} (at most 2)", c.len() - 1)));
                }
                if c.iter().any(|v| !v.is_finite()) {
                    return Err(unsupported(format!("layer {i}: non-finite polynomial coefficient")));
                }
                stage.1 = Some(c);
            }
            Layer::Sigmoid if last && n > 1 => output = FinalActivation::Sigmoid,
            Layer::Softmax if last && n > 1 => output = FinalActivation::Softmax,
            Layer::Flatten { .. } if stages.is_empty() => {}
            other => {
                return Err(unsupported(format!(
                    "layer {i} ({other:?}): only dense layers, polynomial activations and a final sigmoid/softmax"
                )))
            }
        }
    }
    if stages.is_empty() {
        return Err(unsupported("no dense layer"));
    }
    Ok((stages, output))
}

/// Baby steps `n_1` (a power of two) minimising the key switches `(n_1 − 1) + n_2 + (n_2 − 1)`
/// of a baby-step/giant-step sum over `d` diagonals.
fn best_baby(d: usize) -> usize {
    let cost = |n1: usize| (n1 - 1) + 2 * d.div_ceil(n1) - 1;
    let mut best = 1;
    let mut n1 = 1;
    while n1 <= d.next_power_of_two() {
        if cost(n1) < cost(best) {
            best = n1;
        }
        n1 *= 2;
    }
    best
}

impl ModelShape {
    /// The shape of `model` under `params` with `packing`, with windows of `width` slots
    /// (default: the smallest that fits, [`min_width`]).
    pub fn of_model(params: &Parameters, model: &Model, packing: Packing, width: Option<usize>) -> Result<Self, HeError> {
        let (stages, output) = stages_of(model)?;
        let width = width.unwrap_or_else(|| min_width_of(model.inputs, &stages, packing));
        Self::build(params, width, model.inputs, stages, output, packing)
    }

    fn build(
        params: &Parameters,
        width: usize,
        inputs: usize,
        specs: Vec<StageSpec>,
        output: FinalActivation,
        packing: Packing,
    ) -> Result<Self, HeError> {
        let slots = params.slot_count();
        if !width.is_power_of_two() || width > slots {
            return Err(HeError::Packing { reason: format!("window width {width} is not a power of two dividing {slots} slots") });
        }
        if specs.is_empty() {
            return Err(unsupported("no dense layer"));
        }
        if min_width_of(inputs, &specs, packing) > width {
            return Err(HeError::Packing {
                reason: format!("windows of {width} slots are too narrow, {packing:?} needs {}", min_width_of(inputs, &specs, packing)),
            });
        }
        if output == FinalActivation::Sigmoid && specs.last().map(|s| s.0) != Some(1) {
            return Err(unsupported("a final sigmoid needs one output"));
        }
        let max_level = params.max_level();
        let mut stages = Vec::with_capacity(specs.len());
        let (mut level, mut offset, mut d_in, mut needed) = (max_level.0 as isize, 0usize, inputs, 0);
        for (outputs, activation) in specs {
            if outputs == 0 {
                return Err(unsupported("a dense layer without outputs"));
            }
            let mut stage =
                Stage { inputs: d_in, outputs, activation, level: Level(level.max(0) as usize), offset, baby: 0, extent: d_in + 1 };
            if packing == Packing::Diagonal {
                stage.baby = best_baby(stage.diagonals());
            } else {
                offset = (offset + slots - (stage.span() - 1)) % slots;
            }
            needed += stage.levels(packing);
            level -= stage.levels(packing) as isize;
            d_in = outputs;
            stages.push(stage);
        }
        if level < 0 {
            return Err(HeError::DepthExceeded { needed, available: max_level.0 });
        }
        if packing == Packing::Diagonal {
            let mut next = stages.last().map_or(0, |s| s.outputs);
            for s in stages.iter_mut().rev() {
                s.extent = s.diagonals() + next - 1;
                next = s.extent;
            }
        }
        Ok(Self { width, inputs, stages, output, packing, slots, max_level })
    }

    /// Window width (slots per row).
    pub fn width(&self) -> usize {
        self.width
    }
    /// Input features per row (without the bias column).
    pub fn inputs(&self) -> usize {
        self.inputs
    }
    /// Outputs per row.
    pub fn outputs(&self) -> usize {
        self.stages.last().map_or(0, |s| s.outputs)
    }
    /// The stages, in evaluation order.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }
    /// The packing of the weights.
    pub fn packing(&self) -> Packing {
        self.packing
    }
    /// What the receiver applies after decryption.
    pub fn final_activation(&self) -> FinalActivation {
        self.output
    }
    /// Rows one ciphertext holds.
    pub fn capacity(&self) -> usize {
        self.slots / self.width
    }
    /// Levels consumed by the evaluation.
    pub fn depth(&self) -> usize {
        self.stages.iter().map(|s| s.levels(self.packing)).sum()
    }
    /// Level of the result ciphertext.
    pub fn output_level(&self) -> Level {
        Level(self.max_level.0 - self.depth())
    }
    /// Rotation steps the evaluator needs Galois keys for: `1, 2, …, w/2`.
    pub fn rotation_steps(&self) -> Vec<i64> {
        sum_slots_steps(self.width)
    }
    /// Weight ciphertexts the model owner sends.
    pub fn weight_ciphertexts(&self) -> usize {
        self.stages.iter().map(|s| self.ciphertexts_of(s)).sum()
    }
    fn ciphertexts_of(&self, s: &Stage) -> usize {
        match self.packing {
            Packing::RowSum => s.outputs,
            Packing::Diagonal => s.diagonals(),
        }
    }
    /// Computed positions of stage `i`'s output window.
    fn out_extent(&self, i: usize) -> usize {
        match (self.packing, self.stages.get(i + 1)) {
            (Packing::Diagonal, Some(next)) => next.extent,
            _ => self.stages.get(i).map_or(0, |s| s.outputs),
        }
    }
    /// The output neuron at position `p` of stage `i`'s output window, if any (with diagonals
    /// the outputs repeat with the next stage's period `d_out + 1`; its bias slots are `None`).
    fn output_index(&self, i: usize, p: usize) -> Option<usize> {
        let outputs = self.stages.get(i)?.outputs;
        match (self.packing, self.stages.get(i + 1)) {
            (Packing::Diagonal, Some(next)) => (p < next.extent && p % next.diagonals() < outputs).then(|| p % next.diagonals()),
            _ => (p < outputs).then_some(p),
        }
    }
    /// Where stage `s`'s outputs land.
    fn out_offset(&self, s: &Stage) -> usize {
        match self.packing {
            Packing::RowSum => (s.offset + self.slots - (s.span() - 1)) % self.slots,
            Packing::Diagonal => s.offset,
        }
    }

    fn check_rows(&self, rows: usize) -> Result<(), HeError> {
        if rows == 0 || rows > self.capacity() {
            return Err(HeError::Packing { reason: format!("{rows} rows; one ciphertext holds 1 to {} rows", self.capacity()) });
        }
        Ok(())
    }

    /// The logits of the first `rows` rows from the decrypted slots of a result.
    pub fn decode(&self, slots: &[f64], rows: usize) -> Result<Matrix, HeError> {
        self.check_rows(rows)?;
        if slots.len() != self.slots {
            return Err(HeError::Packing { reason: format!("{} decoded slots, the parameters have {}", slots.len(), self.slots) });
        }
        let last = self.stages.last().ok_or_else(|| unsupported("no dense layer"))?;
        let (k, off) = (self.outputs(), self.out_offset(last));
        let data = (0..rows).flat_map(|r| (0..k).map(move |j| slots[(r * self.width + off + j) % self.slots])).collect();
        Ok(Matrix::new(rows, k, data)?)
    }

    /// Applies the final activation to decoded logits: equals `Model::forward`.
    pub fn finish(&self, logits: &Matrix) -> Matrix {
        match self.output {
            FinalActivation::Identity => logits.clone(),
            FinalActivation::Sigmoid => logits.map(veil_ml::sigmoid),
            FinalActivation::Softmax => veil_ml::softmax_rows(logits),
        }
    }

    /// Predicted classes from logits: `logit ≥ 0` for one output, else the argmax.
    pub fn classes(&self, logits: &Matrix) -> Vec<usize> {
        if logits.cols() == 1 {
            logits.data().iter().map(|&v| usize::from(v >= 0.0)).collect()
        } else {
            logits.argmax_rows()
        }
    }

    /// A slot vector with `value(p)` (where `Some`) at position `p < len` of the windows
    /// starting at `r·w + offset` for `r < rows`.
    fn windows(&self, offset: usize, rows: usize, len: usize, value: impl Fn(usize) -> Option<f64>) -> Vec<f64> {
        let mut v = vec![0.0; self.slots];
        for r in 0..rows {
            for p in 0..len {
                if let Some(x) = value(p) {
                    v[(r * self.width + offset + p) % self.slots] = x;
                }
            }
        }
        v
    }
}

/// A model whose weights and biases are ciphertexts, with its public [`ModelShape`].
#[derive(Clone, Debug)]
pub struct EncryptedModel {
    shape: ModelShape,
    /// Per stage: one ciphertext per output neuron (row sums) or per diagonal.
    weights: Vec<Vec<Ciphertext>>,
}

impl EncryptedModel {
    /// The public shape.
    pub fn shape(&self) -> &ModelShape {
        &self.shape
    }
    /// Weight ciphertexts per stage.
    pub fn weights(&self) -> &[Vec<Ciphertext>] {
        &self.weights
    }
}

/// Model owner: encrypts every dense layer of `model` for `shape` (from
/// [`ModelShape::of_model`] on the same model), each ciphertext at the level its stage is
/// evaluated at.
pub fn encrypt_model(
    params: &Arc<Parameters>,
    encryptor: &Encryptor<'_>,
    model: &Model,
    shape: &ModelShape,
    rng: &mut Prng,
) -> Result<EncryptedModel, HeError> {
    let (specs, output) = stages_of(model)?;
    let same = specs.len() == shape.stages.len()
        && output == shape.output
        && model.inputs == shape.inputs
        && specs.iter().zip(&shape.stages).all(|(a, b)| a.0 == b.outputs && a.1 == b.activation);
    if !same {
        return Err(unsupported("the shape was not made from this model"));
    }
    let encoder = Encoder::new(params);
    let dense = model.layers.iter().filter_map(|l| match l {
        Layer::Dense { weight, bias } => Some((weight, bias)),
        _ => None,
    });
    let mut weights = Vec::with_capacity(shape.stages.len());
    for (i, (stage, (w, b))) in shape.stages.iter().zip(dense).enumerate() {
        // W̃[i][j]: the weights, then the bias row.
        let wt = |i: usize, j: usize| if i < stage.inputs { w.get(i, j) } else { b[j] };
        let vectors = match shape.packing {
            Packing::RowSum => rowsum::weight_vectors(shape, stage, &wt),
            Packing::Diagonal => diagonal::weight_vectors(shape, i, &wt),
        };
        let mut cts = Vec::with_capacity(vectors.len());
        for v in vectors {
            cts.push(encryptor.encrypt(&encoder.encode(&v, stage.level, params.default_scale())?, rng)?);
        }
        weights.push(cts);
    }
    Ok(EncryptedModel { shape: shape.clone(), weights })
}

/// Data owner: packs `rows` (exactly `shape.inputs()` features each, no bias column) into one
/// ciphertext at the top level, row `r` in slots `[r·w, r·w + inputs)` (with diagonals, repeated
/// cyclically after a gap for the bias, as the first stage reads it).
pub fn encrypt_rows(
    params: &Arc<Parameters>,
    encryptor: &Encryptor<'_>,
    shape: &ModelShape,
    rows: &Matrix,
    rng: &mut Prng,
) -> Result<Ciphertext, HeError> {
    shape.check_rows(rows.rows())?;
    if rows.cols() != shape.inputs {
        return Err(HeError::Packing { reason: format!("rows have {} features, the model takes {}", rows.cols(), shape.inputs) });
    }
    let first = shape.stages.first().ok_or_else(|| unsupported("no dense layer"))?;
    let mut v = vec![0.0; shape.slots];
    for r in 0..rows.rows() {
        let row = rows.row(r);
        for p in 0..first.extent {
            if let Some(&x) = row.get(p % first.diagonals()) {
                v[r * shape.width + p] = x;
            }
        }
    }
    let pt = Encoder::new(params).encode(&v, params.max_level(), params.default_scale())?;
    Ok(encryptor.encrypt(&pt, rng)?)
}

/// The keys and helpers of one evaluation.
struct Ctx<'a> {
    eval: &'a Evaluator,
    encoder: Encoder,
    shape: &'a ModelShape,
    rows: usize,
    rlk: &'a RelinearizationKey,
    gks: &'a GaloisKeys,
}

/// Evaluator: the outputs (logits) of the first `rows` rows of `x` under `model`, in one
/// ciphertext at [`ModelShape::output_level`]. Needs the relinearisation key and the Galois
/// keys of [`ModelShape::rotation_steps`]; holds no secret.
pub fn evaluate(
    eval: &Evaluator,
    model: &EncryptedModel,
    x: &Ciphertext,
    rows: usize,
    rlk: &RelinearizationKey,
    gks: &GaloisKeys,
) -> Result<Ciphertext, HeError> {
    let params = eval.params();
    let shape = &model.shape;
    shape.check_rows(rows)?;
    if shape.slots != params.slot_count() || shape.max_level != params.max_level() {
        return Err(HeError::Packing { reason: "the model was encrypted for other parameters".into() });
    }
    if x.level() != params.max_level() {
        return Err(veil_ckks::CkksError::LevelMismatch { left: x.level().0, right: params.max_level().0 }.into());
    }
    let cx = Ctx { eval, encoder: Encoder::new(params), shape, rows, rlk, gks };
    let mut x = x.clone();
    for (i, (stage, weights)) in shape.stages.iter().zip(&model.weights).enumerate() {
        if weights.len() != shape.ciphertexts_of(stage) {
            return Err(HeError::MalformedModel {
                reason: format!("{} weight ciphertexts for a stage of {}", weights.len(), shape.ciphertexts_of(stage)),
            });
        }
        let bias = shape.windows(stage.offset, rows, stage.extent, |p| (p % stage.diagonals() == stage.inputs).then_some(1.0));
        x = eval.add_plain(&x, &cx.encoder.encode(&bias, x.level(), x.scale())?)?;
        let u = match shape.packing {
            Packing::RowSum => rowsum::linear(&cx, stage, &x, weights)?,
            Packing::Diagonal => diagonal::linear(&cx, stage, &x, weights)?,
        };
        x = activation(&cx, i, stage, u)?;
    }
    Ok(x)
}

/// `c_0 + c_1·z + c_2·z^2` from `u = σ·z` (zeros outside the stage's output positions).
fn activation(cx: &Ctx<'_>, i: usize, stage: &Stage, u: Ciphertext) -> Result<Ciphertext, HeError> {
    let eval = cx.eval;
    let mut y = if stage.degree() == 2 {
        let sq = eval.rescale(&eval.mul_relin(&u, &u, cx.rlk)?)?;
        let sq = if stage.coeff(2) < 0.0 { eval.negate(&sq) } else { sq };
        if stage.coeff(1) == 0.0 {
            sq
        } else {
            let lin = eval.rescale(&eval.mul_const_at_scale(&u, stage.coeff(1) / stage.sigma(), u.scale())?)?;
            eval.add(&sq, &lin)?
        }
    } else {
        u
    };
    if stage.coeff(0) != 0.0 {
        let shape = cx.shape;
        let c0 = shape.windows(shape.out_offset(stage), cx.rows, shape.out_extent(i), |p| shape.output_index(i, p).map(|_| stage.coeff(0)));
        y = eval.add_plain(&y, &cx.encoder.encode(&c0, y.level(), y.scale())?)?;
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_ckks::ParametersLiteral;

    fn mlp(sizes: &[usize], coeffs: Vec<f64>, last: Option<Layer>) -> Model {
        Model::random_mlp(sizes, Layer::Polynomial { coeffs }, last, 5).expect("model")
    }

    #[test]
    fn depth_and_layout_of_a_two_layer_mlp() {
        let params = Parameters::new(ParametersLiteral::n16384_l6_sec128()).expect("params");
        let m = mlp(&[30, 8, 2], vec![0.5, 0.5, 0.125], Some(Layer::Softmax));
        let s = ModelShape::of_model(&params, &m, Packing::RowSum, None).expect("shape");
        assert_eq!((s.width(), s.depth(), s.output_level(), s.capacity()), (32, 5, Level(1), 256));
        assert_eq!(s.stages()[1].level(), Level(3));
        assert_eq!(s.rotation_steps(), vec![1, 2, 4, 8, 16]);
        let linear = mlp(&[30, 8, 1], vec![0.0, 1.0], Some(Layer::Sigmoid));
        assert_eq!(ModelShape::of_model(&params, &linear, Packing::RowSum, None).expect("shape").depth(), 4);
        let deep = mlp(&[30, 8, 8, 2], vec![0.0, 1.0, 1.0], None);
        assert!(matches!(
            ModelShape::of_model(&params, &deep, Packing::RowSum, None),
            Err(HeError::DepthExceeded { needed: 8, available: 6 })
        ));
        let cubic = mlp(&[4, 2, 1], vec![0.0, 1.0, 0.0, 1.0], None);
        assert!(matches!(ModelShape::of_model(&params, &cubic, Packing::RowSum, None), Err(HeError::UnsupportedModel { .. })));
        let relu = Model::random_mlp(&[4, 2, 1], Layer::Relu, None, 1).expect("model");
        assert!(matches!(ModelShape::of_model(&params, &relu, Packing::RowSum, None), Err(HeError::UnsupportedModel { .. })));
        assert!(matches!(ModelShape::of_model(&params, &m, Packing::RowSum, Some(16)), Err(HeError::Packing { .. })));
        // Diagonals: one level a layer, windows of 64 (30 inputs + 8 outputs), 31 + 9 ciphertexts.
        let d = ModelShape::of_model(&params, &m, Packing::Diagonal, None).expect("shape");
        assert_eq!((d.width(), d.depth(), d.output_level(), d.weight_ciphertexts()), (64, 3, Level(3), 40));
        assert_eq!((d.stages()[0].baby, d.stages()[1].baby), (8, 4));
        assert_eq!(ModelShape::of_model(&params, &deep, Packing::Diagonal, None).expect("shape").depth(), 5);
        assert!(matches!(ModelShape::of_model(&params, &m, Packing::Diagonal, Some(32)), Err(HeError::Packing { .. })));
    }

    #[test]
    fn baby_steps_minimise_key_switches() {
        assert_eq!(best_baby(31), 8);
        assert_eq!(best_baby(9), 4);
        assert_eq!(best_baby(1), 1);
        assert_eq!(best_baby(2), 2);
    }

    #[test]
    fn decoding_reads_the_output_windows() {
        let params = Parameters::new(ParametersLiteral::insecure_n1024_l2()).expect("params");
        let m = Model::random_mlp(&[3, 2], Layer::Relu, None, 1).expect("model");
        let s = ModelShape::of_model(&params, &m, Packing::RowSum, None).expect("shape");
        assert_eq!(s.width(), 4);
        let slots: Vec<f64> = (0..512).map(|i| i as f64).collect();
        // One stage with two outputs: offset 0 − (2 − 1) = −1.
        let y = s.decode(&slots, 2).expect("decode");
        assert_eq!(y.data(), &[511.0, 0.0, 3.0, 4.0]);
        assert!(s.decode(&slots, 129).is_err());
        assert!(s.decode(&slots[1..], 1).is_err());
    }
}
