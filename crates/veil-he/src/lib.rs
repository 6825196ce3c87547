//! veil-he: veil-ml models evaluated and trained on CKKS ciphertexts.
//!
//! The evaluator side of the Encryptor / Evaluator / Decryptor / Merge platform for machine
//! learning: it holds only public evaluation keys and works the same under a single-key or a
//! collective (threshold) public key. Every result is checked in tests against the plaintext
//! reference of `veil-ml`.
//!
//! * [`infer`]: encrypted inference of logistic regression and of small MLPs whose activations
//!   are polynomials (`veil_ml::Layer::Polynomial`).
//! * [`train`]: logistic regression trained by encrypted gradient descent with a polynomial
//!   sigmoid; when the ciphertexts run out of levels the trainer asks a [`train::Refresher`]
//!   (the parties' collective refresh, `veil_threshold::refresh`) for fresh ones.
#![forbid(unsafe_code)]

pub mod error;
pub mod infer;
pub mod train;

pub use error::HeError;
