//! Encryptor and Decryptor.
//!
//! Public-key encryption: `(⌊(v·b + e_0)/P⌉ + m, ⌊(v·a + e_1)/P⌉)` with ternary `v` and Gaussian
//! `e_i`, computed modulo `Q_l·P` and divided by `P` (as SEAL does), so the fresh noise is
//! the rounding noise of the division rather than `v·e + e_0 + e_1·s`.
//! Secret-key encryption: `(−a·s + e + m, a)` with `a` expanded from a fresh 32-byte seed, so
//! the ciphertext serialises at about half size. Decryption returns `Σ c_i s^i = m + e`: CKKS
//! decryption is approximate and reveals `e`, which depends on the secret; see the crate's
//! SECURITY notes before releasing decrypted values to anyone else.

use std::sync::Arc;

use veil_math::sampler::{self, Prng};
use veil_math::{Ntt, RnsPoly};

use crate::ciphertext::Ciphertext;
use crate::encoding::Plaintext;
use crate::keys::{error_poly, ternary_poly, PublicKey, SecretKey};
use crate::keyswitch::mod_down;
use crate::params::{Level, Parameters};
use crate::CkksError;

/// Encrypts under a public key or a secret key.
#[derive(Debug)]
pub enum Encryptor<'k> {
    /// Public-key encryption (anyone may encrypt).
    Public { params: Arc<Parameters>, key: &'k PublicKey },
    /// Secret-key encryption (compressible ciphertexts).
    Secret { key: &'k SecretKey },
}

impl<'k> Encryptor<'k> {
    /// Encryptor under `pk`.
    pub fn with_public_key(params: &Arc<Parameters>, key: &'k PublicKey) -> Self {
        Self::Public { params: params.clone(), key }
    }

    /// Encryptor under `sk`.
    pub fn with_secret_key(key: &'k SecretKey) -> Self {
        Self::Secret { key }
    }

    /// Encrypts `pt` at its level and scale.
    pub fn encrypt(&self, pt: &Plaintext, rng: &mut Prng) -> Result<Ciphertext, CkksError> {
        match self {
            Self::Public { params, key } => encrypt_pk(params, key, pt, rng),
            Self::Secret { key } => encrypt_sk(key, pt, rng),
        }
    }
}

fn encrypt_pk(params: &Parameters, pk: &PublicKey, pt: &Plaintext, rng: &mut Prng) -> Result<Ciphertext, CkksError> {
    params.check_level(pt.level)?;
    let ring = params.ring();
    let l = pt.level.0;
    let top = params.max_level().0;
    let basis = params.qp_basis(pt.level);
    let keep: Vec<usize> = (0..=l).chain(top + 1..top + 1 + params.p().len()).collect();
    let v = ternary_poly(params, &basis, rng)?;
    let mut c0 = pk.b.select_limbs(&keep)?;
    c0.mul_assign(ring, &v)?;
    c0.add_assign(ring, &error_poly(params, &basis, rng)?)?;
    let mut c0 = mod_down(params, &c0, pt.level)?;
    c0.add_assign(ring, &pt.poly)?;
    let mut c1 = pk.a.select_limbs(&keep)?;
    c1.mul_assign(ring, &v)?;
    c1.add_assign(ring, &error_poly(params, &basis, rng)?)?;
    let c1 = mod_down(params, &c1, pt.level)?;
    Ok(Ciphertext { parts: vec![c0, c1], level: pt.level, scale: pt.scale, seed: None })
}

fn encrypt_sk(sk: &SecretKey, pt: &Plaintext, rng: &mut Prng) -> Result<Ciphertext, CkksError> {
    let params = sk.params();
    params.check_level(pt.level)?;
    let ring = params.ring();
    let basis = params.q_basis(pt.level);
    let seed = rng.seed();
    let a: RnsPoly<Ntt> = sampler::uniform_poly(ring, &basis, &mut Prng::from_seed(&seed))?;
    let mut c0 = error_poly(params, &basis, rng)?;
    let mut as_ = a.clone();
    as_.mul_assign(ring, &sk.at_level(pt.level.0)?)?;
    c0.sub_assign(ring, &as_)?;
    c0.add_assign(ring, &pt.poly)?;
    Ok(Ciphertext { parts: vec![c0, a], level: pt.level, scale: pt.scale, seed: Some(seed) })
}

/// Decrypts with the secret key.
#[derive(Debug)]
pub struct Decryptor<'k> {
    key: &'k SecretKey,
}

impl<'k> Decryptor<'k> {
    /// Decryptor for `sk`.
    pub fn new(key: &'k SecretKey) -> Self {
        Self { key }
    }

    /// `Σ_i c_i·s^i` as a plaintext at the ciphertext's level and scale.
    pub fn decrypt(&self, ct: &Ciphertext) -> Result<Plaintext, CkksError> {
        let params = self.key.params();
        params.check_level(ct.level)?;
        let ring = params.ring();
        let s = self.key.at_level(ct.level.0)?;
        let mut acc = ct.parts[ct.parts.len() - 1].clone();
        for part in ct.parts[..ct.parts.len() - 1].iter().rev() {
            acc.mul_assign(ring, &s)?;
            acc.add_assign(ring, part)?;
        }
        Ok(Plaintext { poly: acc, level: ct.level, scale: ct.scale })
    }
}

/// Convenience: the top level of `params`.
pub fn top_level(params: &Parameters) -> Level {
    params.max_level()
}
