//! Trains the MLP of `data/models/breast_cancer_mlp.json` in the clear (deterministic):
//! `cargo run -p veil-he --release --example train_breast_cancer_mlp [OUT.json]`.
//!
//! Breast cancer (`data/tabular/breast_cancer.csv`), rows shuffled with seed 1, the first 400
//! for training (standardised with their own statistics), the other 169 held out; a
//! 30 → 8 → 2 MLP with the activation `0.5 + 0.5·z + 0.125·z^2` (`(z + 2)^2 / 8`) and a final
//! softmax, initial weights `Model::random_mlp(…, seed 42)`, SGD with lr 0.05, batches of 20,
//! 40 epochs. Prints the held-out accuracy of this model and of a logistic regression and a
//! ReLU MLP trained the same way, for comparison.

use std::path::{Path, PathBuf};

use veil_ml::train::{sgd, SgdConfig};
use veil_ml::{Layer, Model};

/// Rows for training, held out, split seed.
pub const SPLIT: (usize, u64) = (400, 1);
/// The activation `(z + 2)^2 / 8`.
pub const ACTIVATION: [f64; 3] = [0.5, 0.5, 0.125];
const INIT_SEED: u64 = 42;
const CONFIG: SgdConfig = SgdConfig { lr: 0.05, batch: 20, epochs: 40 };

/// Trains the 30 → 8 → 2 model with activation `hidden` (`None`: logistic regression
/// with two outputs); returns it with its held-out accuracy.
pub fn train(hidden: Option<Layer>) -> Result<(Model, f64), Box<dyn std::error::Error>> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/tabular/breast_cancer.csv");
    let (train, held) = veil_ml::data::breast_cancer_split(&data, SPLIT.0, SPLIT.1)?;
    let mut model = match hidden {
        Some(h) => Model::random_mlp(&[30, 8, 2], h, Some(Layer::Softmax), INIT_SEED)?,
        None => Model::random_mlp(&[30, 2], Layer::Relu, Some(Layer::Softmax), INIT_SEED)?,
    };
    sgd(&mut model, &train.x, &train.labels, &CONFIG)?;
    let acc = model.accuracy(&held.x, &held.labels)?;
    Ok((model, acc))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).map(PathBuf::from);
    let (model, acc) = train(Some(Layer::Polynomial { coeffs: ACTIVATION.to_vec() }))?;
    let (_, lr) = train(None)?;
    let (_, relu) = train(Some(Layer::Relu))?;
    println!("held-out accuracy: polynomial MLP {acc:.4}, ReLU MLP {relu:.4}, logistic regression {lr:.4}");
    if let Some(path) = out {
        model.save(&path)?;
        println!("written to {}", path.display());
    }
    Ok(())
}
