//! veil-ml: one model representation for every privacy backend.
//!
//! A [`Model`] is a sequence of [`Layer`]s (dense, flatten and activations: ReLU, sigmoid,
//! polynomial, softmax) applied to a batch of row vectors held in a [`Matrix`]. This crate
//! holds the plaintext reference ([`Model::forward`]), SGD training of logistic regression
//! and of multi-layer perceptrons ([`train`]), a JSON model file format with a version
//! ([`Model::to_json`], [`Model::from_json`]) and loaders for the data sets shipped in
//! `data/` ([`data`]). It contains no cryptography: the MPC, HE and FL backends evaluate the
//! same [`Model`] and check their results against [`Model::forward`].
#![forbid(unsafe_code)]

pub mod data;
mod error;
mod model;
mod tensor;
pub mod train;

pub use error::MlError;
pub use model::{accuracy, sigmoid, softmax_rows, Layer, Model, MODEL_FORMAT_VERSION};
pub use tensor::Matrix;
