//! Secure inference of a veil-ml MLP (`veil_he::infer`) for `veil threshold` on files and for
//! the networked `party`/`server` flow: the model owner encrypts its model, the data owner its
//! rows, the evaluator runs the encrypted model, the receiver decodes per-row outputs.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use serde::Deserialize;
use veil_ckks::{Ciphertext, Encryptor, Evaluator, GaloisKeys, Parameters, PublicKey, RelinearizationKey};
use veil_he::infer::{self, EncryptedModel, ModelShape, Packing};
use veil_math::sampler::Prng;
use veil_ml::{Matrix, Model};

/// Reads a veil-ml model file.
pub fn load_model(path: &Path) -> anyhow::Result<Model> {
    Model::load(path).with_context(|| format!("reading model {}", path.display()))
}

/// How the model owner lays out its encrypted weights (`veil_he::infer::Packing`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackingArg {
    /// One ciphertext per diagonal of each weight matrix: 1 level a layer, about 3× fewer key
    /// switches, about 4× more weight bytes, windows of d_in + d_out slots or more.
    #[default]
    Diagonal,
    /// One ciphertext per output neuron: 2 levels a layer, fewer weight bytes.
    RowSum,
}

impl From<PackingArg> for Packing {
    fn from(p: PackingArg) -> Self {
        match p {
            PackingArg::Diagonal => Packing::Diagonal,
            PackingArg::RowSum => Packing::RowSum,
        }
    }
}

/// Model owner: `model` encrypted under `pk` with `packing`, windows of `width` slots
/// (default: the smallest that fits).
pub fn encrypt_model(
    params: &Arc<Parameters>,
    pk: &PublicKey,
    model: &Model,
    packing: PackingArg,
    width: Option<usize>,
) -> anyhow::Result<EncryptedModel> {
    let shape = ModelShape::of_model(params, model, packing.into(), width)?;
    let enc = Encryptor::with_public_key(params, pk);
    let em = infer::encrypt_model(params, &enc, model, &shape, &mut Prng::from_os())?;
    eprintln!(
        "model encrypted ({packing:?}): {} → {} outputs in {} stages, {} ciphertexts, windows of {} slots (rotation keys --width {}), depth {} (result at level {})",
        shape.inputs(),
        shape.outputs(),
        shape.stages().len(),
        shape.weight_ciphertexts(),
        shape.width(),
        shape.width(),
        shape.depth(),
        shape.output_level().0
    );
    Ok(em)
}

/// Reads the public shape (header) of an encrypted model file.
pub fn read_shape(params: &Parameters, path: &Path) -> anyhow::Result<ModelShape> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ModelShape::from_bytes(params, &bytes).with_context(|| format!("reading the model shape in {}", path.display()))
}

/// Data owner: the first `count` (default: all) of `rows` packed for `shape` and encrypted.
pub fn encrypt_rows(
    params: &Arc<Parameters>,
    pk: &PublicKey,
    shape: &ModelShape,
    rows: &[Vec<f64>],
    count: Option<usize>,
) -> anyhow::Result<Ciphertext> {
    let count = count.unwrap_or(rows.len());
    if rows.len() < count {
        bail!("{count} rows asked for, the input has {}", rows.len());
    }
    let x = Matrix::from_rows(&rows[..count])?;
    let enc = Encryptor::with_public_key(params, pk);
    Ok(infer::encrypt_rows(params, &enc, shape, &x, &mut Prng::from_os())?)
}

/// Evaluator: the encrypted model on the first `count` rows of `rows`.
pub fn evaluate(
    params: &Arc<Parameters>,
    model: &[u8],
    rows: &Ciphertext,
    count: usize,
    rlk: &RelinearizationKey,
    gks: &GaloisKeys,
) -> anyhow::Result<Ciphertext> {
    let em = EncryptedModel::from_bytes(params, model).context("reading the encrypted model")?;
    Ok(infer::evaluate(&Evaluator::new(params), &em, rows, count, rlk, gks)?)
}

/// The receiver's view of decrypted slots: `{"outputs": [[…] per row], "predictions": […]}`,
/// outputs after the model's final sigmoid/softmax (applied here, in the clear).
pub fn outputs_json(shape: &ModelShape, slots: &[f64], count: usize) -> anyhow::Result<serde_json::Value> {
    let logits = shape.decode(slots, count)?;
    let out = shape.finish(&logits);
    let rows: Vec<&[f64]> = (0..out.rows()).map(|r| out.row(r)).collect();
    Ok(serde_json::json!({ "outputs": rows, "predictions": shape.classes(&logits) }))
}

/// Prints [`outputs_json`] (`json`) or one line per row: the predicted class, a tab, the
/// comma-separated outputs.
pub fn print_outputs(shape: &ModelShape, slots: &[f64], count: usize, json: bool) -> anyhow::Result<()> {
    let v = outputs_json(shape, slots, count)?;
    if json {
        println!("{v}");
        return Ok(());
    }
    let logits = shape.decode(slots, count)?;
    let out = shape.finish(&logits);
    for (r, class) in shape.classes(&logits).into_iter().enumerate() {
        let vals: Vec<String> = out.row(r).iter().map(f64::to_string).collect();
        println!("{class}\t{}", vals.join(","));
    }
    Ok(())
}

/// Keeps slot `r·width` of every block of a block-wise inner product and zeroes the rest (one
/// level): the other slots hold partial sums `Σ_{k≥t} x_k·w_k` that would let the receiver
/// solve for the model owner's weights.
pub fn keep_block_sums(params: &Arc<Parameters>, acc: &Ciphertext, width: usize) -> anyhow::Result<Ciphertext> {
    let eval = Evaluator::new(params);
    let mask: Vec<f64> = (0..params.slot_count()).map(|i| if i % width == 0 { 1.0 } else { 0.0 }).collect();
    let q = params.q()[acc.level().0] as f64;
    let mask = veil_ckks::Encoder::new(params).encode(&mask, acc.level(), veil_ckks::Scale(q))?;
    Ok(eval.rescale(&eval.mul_plain(acc, &mask)?)?)
}
