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
//! # Packing
//!
//! Slots are cut into windows of `w` slots (`w` a power of two, larger than every layer's
//! input width and at least every layer's output width). Stage `s` (one dense layer and its
//! activation) reads row `r` from the window starting at slot `r·w + o_s (mod n/2)`: the layer's
//! inputs in positions `0..d_in`, a `1.0` that the evaluator adds in position `d_in` (it meets
//! the bias), zeros elsewhere. The model owner encrypts, for each output neuron `j`, the vector
//! `(W[0][j], …, W[d_in−1][j], b_j, 0, …)` replicated in every window, at the level the stage
//! is evaluated at. Then
//!
//! 1. `p_j = x ⊙ W_j` (ciphertext × ciphertext, relinearise, rescale: **1 level**);
//! 2. `z_j = RowSum_w(p_j)` by left rotations `1, 2, …, w/2`: the window's sum lands in its first
//!    slot;
//! 3. a plaintext mask keeps that slot for the `R` rows asked for (**1 level**) — it also carries
//!    `sqrt|c_2|` of the activation `c_0 + c_1·z + c_2·z^2`, or `c_1` when `c_2 = 0`;
//! 4. the neurons are gathered by a binary tree of left rotations by `1, 2, 4, …` (neuron `j`
//!    rotated by `M−1−j`, `M` the next power of two of `d_out`): neuron `j` lands at
//!    `o_s − (M − 1) + j`, so `o_{s+1} = o_s − (M − 1)`. Only the rotation keys of step 2 are
//!    used, the same keys as a block-wise inner product of width `w`;
//! 5. activation: with `u = sqrt|c_2|·z`, `c_2·z^2 + c_1·z = ±u^2 + (c_1/sqrt|c_2|)·u`, one
//!    square and one constant product at the same level (**1 level** for degree 2, none
//!    otherwise), then `c_0` is added as a plaintext in the output positions.
//!
//! The last stage is masked too, so a decryption reveals the outputs of the `R` rows and
//! nothing else of the model (no partial inner products, no outputs for empty windows).
//!
//! # Depth budget
//!
//! A stage costs 2 levels, 3 with a degree-2 activation. `n16384_l6_sec128` has 6: a 2-layer
//! MLP `30 → h → k` with a degree-2 activation uses 3 + 2 = **5 levels** and its result sits at
//! level 1; a 3-layer MLP would need 8 and is refused ([`HeError::DepthExceeded`]).

mod serial;

use std::sync::Arc;

use veil_ckks::linalg::sum_slots_steps;
use veil_ckks::{Ciphertext, Encoder, Encryptor, Evaluator, GaloisKeys, Level, Parameters, RelinearizationKey, Scale};
use veil_math::sampler::Prng;
use veil_ml::{Layer, Matrix, Model};

use crate::HeError;

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
    fn levels(&self) -> usize {
        2 + usize::from(self.degree() == 2)
    }
    fn span(&self) -> usize {
        self.outputs.next_power_of_two()
    }
}

/// The public description of an encrypted model: layer shapes, activations, window width and
/// the level and slot layout of every stage. Both the data owner (to pack and decode) and the
/// evaluator use it; it is serialised as the header of an [`EncryptedModel`].
#[derive(Clone, Debug, PartialEq)]
pub struct ModelShape {
    width: usize,
    inputs: usize,
    stages: Vec<Stage>,
    output: FinalActivation,
    slots: usize,
    max_level: Level,
}

/// The smallest window width that fits `model` (see the module docs).
pub fn min_width(model: &Model) -> Result<usize, HeError> {
    let (stages, _) = stages_of(model)?;
    let mut w = model.inputs + 1;
    for (i, (out, _)) in stages.iter().enumerate() {
        w = w.max(*out + usize::from(i + 1 < stages.len()));
    }
    Ok(w.next_power_of_two())
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
            Layer::Sigmoid if last && model.layers.len() > 1 => output = FinalActivation::Sigmoid,
            Layer::Softmax if last && model.layers.len() > 1 => output = FinalActivation::Softmax,
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
    if output == FinalActivation::Sigmoid && stages.last().map(|s| s.0) != Some(1) {
        return Err(unsupported("a final sigmoid needs one output"));
    }
    Ok((stages, output))
}

impl ModelShape {
    /// The shape of `model` under `params`, with windows of `width` slots (default: the
    /// smallest that fits, [`min_width`]).
    pub fn of_model(params: &Parameters, model: &Model, width: Option<usize>) -> Result<Self, HeError> {
        let (stages, output) = stages_of(model)?;
        let width = match width {
            Some(w) => w,
            None => min_width(model)?,
        };
        Self::build(params, width, model.inputs, stages, output)
    }

    fn build(params: &Parameters, width: usize, inputs: usize, specs: Vec<StageSpec>, output: FinalActivation) -> Result<Self, HeError> {
        let slots = params.slot_count();
        if !width.is_power_of_two() || width > slots {
            return Err(HeError::Packing { reason: format!("window width {width} is not a power of two dividing {slots} slots") });
        }
        if specs.is_empty() {
            return Err(unsupported("no dense layer"));
        }
        let max_level = params.max_level();
        let mut stages = Vec::with_capacity(specs.len());
        let (mut level, mut offset, mut d_in) = (max_level.0 as isize, 0usize, inputs);
        let n = specs.len();
        let mut needed = 0;
        for (i, (outputs, activation)) in specs.into_iter().enumerate() {
            let next_needs_bias = i + 1 < n;
            if d_in + 1 > width || outputs == 0 || outputs + usize::from(next_needs_bias) > width {
                return Err(HeError::Packing {
                    reason: format!("layer {i} ({d_in} → {outputs}) does not fit windows of {width} slots"),
                });
            }
            let stage = Stage { inputs: d_in, outputs, activation, level: Level(level.max(0) as usize), offset };
            needed += stage.levels();
            level -= stage.levels() as isize;
            offset = (offset + slots - (stage.span() - 1)) % slots;
            d_in = outputs;
            stages.push(stage);
        }
        if level < 0 {
            return Err(HeError::DepthExceeded { needed, available: max_level.0 });
        }
        if output == FinalActivation::Sigmoid && stages.last().map(|s| s.outputs) != Some(1) {
            return Err(unsupported("a final sigmoid needs one output"));
        }
        Ok(Self { width, inputs, stages, output, slots, max_level })
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
        self.stages.iter().map(Stage::levels).sum()
    }
    /// Level of the result ciphertext.
    pub fn output_level(&self) -> Level {
        Level(self.max_level.0 - self.depth())
    }
    /// Rotation steps the evaluator needs Galois keys for: `1, 2, …, w/2`.
    pub fn rotation_steps(&self) -> Vec<i64> {
        sum_slots_steps(self.width)
    }
    fn output_offset(&self) -> usize {
        self.stages.last().map_or(0, |s| (s.offset + self.slots - (s.span() - 1)) % self.slots)
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
        let (k, off) = (self.outputs(), self.output_offset());
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

    /// A slot vector with `value(r, p)` at position `p` of row `r`'s window of stage `offset`,
    /// for `r < rows` and `p` in `positions`.
    fn windows(&self, offset: usize, rows: usize, positions: std::ops::Range<usize>, value: impl Fn(usize) -> f64) -> Vec<f64> {
        let mut v = vec![0.0; self.slots];
        for r in 0..rows {
            for p in positions.clone() {
                v[(r * self.width + offset + p) % self.slots] = value(p);
            }
        }
        v
    }
}

/// A model whose weights and biases are ciphertexts, with its public [`ModelShape`].
#[derive(Clone, Debug)]
pub struct EncryptedModel {
    shape: ModelShape,
    /// Per stage, one ciphertext per output neuron.
    weights: Vec<Vec<Ciphertext>>,
}

impl EncryptedModel {
    /// The public shape.
    pub fn shape(&self) -> &ModelShape {
        &self.shape
    }
    /// Ciphertexts per stage (one per output neuron).
    pub fn weights(&self) -> &[Vec<Ciphertext>] {
        &self.weights
    }
}

/// Model owner: encrypts every dense layer of `model` (weights and bias of each output neuron,
/// replicated in every window) at the level its stage is evaluated at.
pub fn encrypt_model(params: &Arc<Parameters>, encryptor: &Encryptor<'_>, model: &Model, width: Option<usize>, rng: &mut Prng) -> Result<EncryptedModel, HeError> {
    let shape = ModelShape::of_model(params, model, width)?;
    let encoder = Encoder::new(params);
    let dense = model.layers.iter().filter_map(|l| match l {
        Layer::Dense { weight, bias } => Some((weight, bias)),
        _ => None,
    });
    let mut weights = Vec::with_capacity(shape.stages.len());
    for (stage, (w, b)) in shape.stages.iter().zip(dense) {
        let mut cts = Vec::with_capacity(stage.outputs);
        for (j, &bias) in b.iter().enumerate().take(stage.outputs) {
            let value = |p: usize| if p < stage.inputs { w.get(p, j) } else { bias };
            let v = shape.windows(stage.offset, shape.capacity(), 0..stage.inputs + 1, value);
            let pt = encoder.encode(&v, stage.level, params.default_scale())?;
            cts.push(encryptor.encrypt(&pt, rng)?);
        }
        weights.push(cts);
    }
    Ok(EncryptedModel { shape, weights })
}

/// Data owner: packs `rows` (exactly `shape.inputs()` features each, no bias column) into one
/// ciphertext at the top level, row `r` in slots `[r·w, r·w + inputs)`.
pub fn encrypt_rows(params: &Arc<Parameters>, encryptor: &Encryptor<'_>, shape: &ModelShape, rows: &Matrix, rng: &mut Prng) -> Result<Ciphertext, HeError> {
    shape.check_rows(rows.rows())?;
    if rows.cols() != shape.inputs {
        return Err(HeError::Packing { reason: format!("rows have {} features, the model takes {}", rows.cols(), shape.inputs) });
    }
    let mut v = vec![0.0; shape.slots];
    for r in 0..rows.rows() {
        v[r * shape.width..r * shape.width + shape.inputs].copy_from_slice(rows.row(r));
    }
    let pt = Encoder::new(params).encode(&v, params.max_level(), params.default_scale())?;
    Ok(encryptor.encrypt(&pt, rng)?)
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
    parts.pop().flatten().ok_or_else(|| unsupported("a layer without outputs"))
}

/// Evaluator: the outputs (logits) of the first `rows` rows of `x` under `model`, in one
/// ciphertext at [`ModelShape::output_level`]. Needs the relinearisation key and the Galois
/// keys of [`ModelShape::rotation_steps`]; holds no secret.
pub fn evaluate(eval: &Evaluator, model: &EncryptedModel, x: &Ciphertext, rows: usize, rlk: &RelinearizationKey, gks: &GaloisKeys) -> Result<Ciphertext, HeError> {
    let params = eval.params();
    let shape = &model.shape;
    shape.check_rows(rows)?;
    if shape.slots != params.slot_count() || shape.max_level != params.max_level() {
        return Err(HeError::Packing { reason: "the model was encrypted for other parameters".into() });
    }
    if x.level() != params.max_level() {
        return Err(veil_ckks::CkksError::LevelMismatch { left: x.level().0, right: params.max_level().0 }.into());
    }
    let encoder = Encoder::new(params);
    let mut x = x.clone();
    for (stage, weights) in shape.stages.iter().zip(&model.weights) {
        let bias = shape.windows(stage.offset, rows, stage.inputs..stage.inputs + 1, |_| 1.0);
        x = eval.add_plain(&x, &encoder.encode(&bias, x.level(), x.scale())?)?;
        let coeffs = stage.activation.clone().unwrap_or_else(|| vec![0.0, 1.0]);
        let c = |k: usize| coeffs.get(k).copied().unwrap_or(0.0);
        let mask_value = if stage.degree() == 2 { c(2).abs().sqrt() } else { c(1) };
        let span = stage.span();
        let mut parts: Vec<Option<Ciphertext>> = vec![None; span];
        for (j, w) in weights.iter().enumerate() {
            let z = eval.sum_slots(&eval.mul_relin_rescale(&x, w, rlk)?, shape.width, gks)?;
            let q = params.q()[z.level().0] as f64;
            let mask = shape.windows(stage.offset, rows, 0..1, |_| mask_value);
            let mask = encoder.encode(&mask, z.level(), Scale(q))?;
            parts[span - 1 - j] = Some(eval.rescale(&eval.mul_plain(&z, &mask)?)?);
        }
        let u = gather(eval, parts, gks)?;
        let mut y = if stage.degree() == 2 {
            let sq = eval.rescale(&eval.mul_relin(&u, &u, rlk)?)?;
            let sq = if c(2) < 0.0 { eval.negate(&sq) } else { sq };
            if c(1) == 0.0 {
                sq
            } else {
                let lin = eval.rescale(&eval.mul_const_at_scale(&u, c(1) / mask_value, u.scale())?)?;
                eval.add(&sq, &lin)?
            }
        } else {
            u
        };
        let out_offset = (stage.offset + shape.slots - (span - 1)) % shape.slots;
        if c(0) != 0.0 {
            let c0 = shape.windows(out_offset, rows, 0..stage.outputs, |_| c(0));
            y = eval.add_plain(&y, &encoder.encode(&c0, y.level(), y.scale())?)?;
        }
        x = y;
    }
    Ok(x)
}

pub use serial::MODEL_FORMAT_VERSION;

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
        let s = ModelShape::of_model(&params, &m, None).expect("shape");
        assert_eq!((s.width(), s.depth(), s.output_level(), s.capacity()), (32, 5, Level(1), 256));
        assert_eq!(s.stages()[1].level(), Level(3));
        assert_eq!(s.rotation_steps(), vec![1, 2, 4, 8, 16]);
        let linear = mlp(&[30, 8, 1], vec![0.0, 1.0], Some(Layer::Sigmoid));
        assert_eq!(ModelShape::of_model(&params, &linear, None).expect("shape").depth(), 4);
        let deep = mlp(&[30, 8, 8, 2], vec![0.0, 1.0, 1.0], None);
        assert!(matches!(ModelShape::of_model(&params, &deep, None), Err(HeError::DepthExceeded { needed: 8, available: 6 })));
        let cubic = mlp(&[4, 2, 1], vec![0.0, 1.0, 0.0, 1.0], None);
        assert!(matches!(ModelShape::of_model(&params, &cubic, None), Err(HeError::UnsupportedModel { .. })));
        let relu = Model::random_mlp(&[4, 2, 1], Layer::Relu, None, 1).expect("model");
        assert!(matches!(ModelShape::of_model(&params, &relu, None), Err(HeError::UnsupportedModel { .. })));
        assert!(matches!(ModelShape::of_model(&params, &m, Some(16)), Err(HeError::Packing { .. })));
    }

    #[test]
    fn decoding_reads_the_output_windows() {
        let params = Parameters::new(ParametersLiteral::insecure_n1024_l2()).expect("params");
        let m = Model::random_mlp(&[3, 2], Layer::Relu, None, 1).expect("model");
        let s = ModelShape::of_model(&params, &m, None).expect("shape");
        assert_eq!(s.width(), 4);
        let slots: Vec<f64> = (0..512).map(|i| i as f64).collect();
        // One stage with two outputs: offset 0 − (2 − 1) = −1.
        let y = s.decode(&slots, 2).expect("decode");
        assert_eq!(y.data(), &[511.0, 0.0, 3.0, 4.0]);
        assert!(s.decode(&slots, 129).is_err());
        assert!(s.decode(&slots[1..], 1).is_err());
    }
}
