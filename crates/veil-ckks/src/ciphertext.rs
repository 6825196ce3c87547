//! Ciphertexts: `(c_0, c_1[, c_2])` in NTT form over `Q_l`, with level and scale.

use veil_math::sampler::Seed;
use veil_math::{Ntt, RnsPoly};

use crate::params::{Level, Parameters, Scale};
use crate::CkksError;

/// A CKKS ciphertext: `Σ_i c_i·s^i ≈ Δ·m` over `Q_l`. Degree 1 after relinearisation.
#[derive(Clone, Debug, PartialEq)]
pub struct Ciphertext {
    pub(crate) parts: Vec<RnsPoly<Ntt>>,
    pub(crate) level: Level,
    pub(crate) scale: Scale,
    /// Seed of `c_1` for fresh secret-key ciphertexts (serialised instead of `c_1`).
    pub(crate) seed: Option<Seed>,
}

impl Ciphertext {
    /// Assembles a ciphertext from its components (each NTT form over `Q_level`).
    pub fn from_parts(params: &Parameters, parts: Vec<RnsPoly<Ntt>>, level: Level, scale: Scale) -> Result<Self, CkksError> {
        params.check_level(level)?;
        if !(2..=3).contains(&parts.len()) {
            return Err(CkksError::CiphertextDegree { expected: 1, actual: parts.len().saturating_sub(1) });
        }
        let basis = params.q_basis(level);
        for p in &parts {
            if p.basis() != basis.as_slice() {
                return Err(veil_math::MathError::BasisMismatch { left: p.basis().to_vec(), right: basis }.into());
            }
        }
        Ok(Self { parts, level, scale, seed: None })
    }

    /// `c_0`.
    pub fn c0(&self) -> &RnsPoly<Ntt> {
        &self.parts[0]
    }

    /// `c_1`.
    pub fn c1(&self) -> &RnsPoly<Ntt> {
        &self.parts[1]
    }

    /// All components.
    pub fn parts(&self) -> &[RnsPoly<Ntt>] {
        &self.parts
    }

    /// Degree (number of components minus one).
    pub fn degree(&self) -> usize {
        self.parts.len() - 1
    }

    /// Level.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Scale.
    pub fn scale(&self) -> Scale {
        self.scale
    }

    /// Overrides the scale bookkeeping (for callers that know better, e.g. after an exact
    /// multiplication by an integer).
    pub fn set_scale(&mut self, scale: Scale) {
        self.scale = scale;
    }

    pub(crate) fn invalidate_seed(&mut self) {
        self.seed = None;
    }
}
