#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod ciphertext;
pub mod encoding;
pub mod encrypt;
mod error;
pub mod eval;
pub mod keys;
pub mod keyswitch;
pub mod linalg;
pub mod params;
pub mod serial;

pub use ciphertext::Ciphertext;
pub use encoding::{Complex64, Encoder, Plaintext};
pub use encrypt::{Decryptor, Encryptor};
pub use error::CkksError;
pub use eval::Evaluator;
pub use keys::{GaloisKey, GaloisKeys, PublicKey, RelinearizationKey, SecretKey, SwitchingKey};
pub use linalg::MatVecPlan;
pub use params::{Level, Parameters, ParametersLiteral, Scale, Security};
pub use veil_math::sampler::{Prng, Seed};
