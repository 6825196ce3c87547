//! The collective refresh run by one process holding every party's key share.

use std::time::{Duration, Instant};

use veil_ckks::{Ciphertext, Level, Scale};
use veil_math::sampler::Prng;
use veil_threshold::{DecryptionKey, Digest, PartyId, Refresh, RefreshSecurity, RefreshShare, SecretShare, Session, Smudging};

use super::Refresher;
use crate::HeError;

/// The refresh protocol run in one process for all members of a coalition: for tests, and for
/// the trusted single-process case (whoever runs it holds every key it uses). Every share goes
/// through its authenticated byte form, as it would on the network. Nonces count up from a
/// random start drawn from `rng`.
pub struct LocalRefresher<'a> {
    session: &'a Session,
    key: Digest,
    keys: Vec<DecryptionKey<'a>>,
    smudging: Smudging,
    lambda: u32,
    nonce: u64,
    rng: Prng,
    refreshes: usize,
    elapsed: Duration,
}

impl std::fmt::Debug for LocalRefresher<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRefresher")
            .field("parties", &self.keys.len())
            .field("lambda", &self.lambda)
            .field("refreshes", &self.refreshes)
            .finish_non_exhaustive()
    }
}

impl<'a> LocalRefresher<'a> {
    /// Refreshes under the collective key `key` with every party's additive share (`shares`,
    /// bound to `key`), veil's default smudging and `λ` ([`RefreshSecurity::DEFAULT_LAMBDA`]).
    pub fn new(session: &'a Session, key: Digest, shares: &'a [SecretShare], rng: Prng) -> Result<Self, HeError> {
        if shares.len() != session.party_count() {
            return Err(HeError::InvalidConfig { reason: format!("{} key shares for {} parties", shares.len(), session.party_count()) });
        }
        let keys = shares.iter().map(|s| s.decryption_key(session)).collect::<Result<Vec<_>, _>>()?;
        Self::with_keys(session, key, keys, rng)
    }

    /// Refreshes with the decryption keys of one coalition: every party's additive share, or
    /// `t` or more Lagrange-weighted Shamir shares of a t-out-of-N key
    /// (`veil_threshold::ThresholdShare::decryption_key`), one per member.
    pub fn with_keys(session: &'a Session, key: Digest, keys: Vec<DecryptionKey<'a>>, mut rng: Prng) -> Result<Self, HeError> {
        let mut holders: Vec<PartyId> = keys.iter().map(DecryptionKey::party).collect();
        holders.sort();
        let coalition = keys.first().map(DecryptionKey::coalition).unwrap_or_default();
        if keys.is_empty() || holders != coalition || keys.iter().any(|k| k.coalition() != coalition) {
            return Err(HeError::InvalidConfig {
                reason: format!("keys of parties {holders:?} are not one coalition's (it needs {coalition:?})"),
            });
        }
        let nonce = rng.next_u64() >> 1;
        Ok(Self {
            session,
            key,
            keys,
            smudging: Smudging::default_for(session.params()),
            lambda: RefreshSecurity::DEFAULT_LAMBDA,
            nonce,
            rng,
            refreshes: 0,
            elapsed: Duration::ZERO,
        })
    }

    /// Another statistical parameter `λ` (see `veil_threshold::refresh`).
    pub fn with_lambda(mut self, lambda: u32) -> Self {
        self.lambda = lambda;
        self
    }

    /// Ciphertexts refreshed so far.
    pub fn refreshes(&self) -> usize {
        self.refreshes
    }

    /// Time spent refreshing (all parties' shares, their byte forms, and the finalisation).
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }
}

impl Refresher for LocalRefresher<'_> {
    fn min_level(&self, scale: Scale, log2_bound: u32) -> Result<Level, HeError> {
        let sec = RefreshSecurity::new(self.lambda, log2_bound)?;
        Ok(sec.min_level(self.session.params(), self.session.party_count(), scale)?)
    }

    fn refresh(&mut self, ct: &Ciphertext, log2_bound: u32) -> Result<Ciphertext, HeError> {
        let start = Instant::now();
        let sec = RefreshSecurity::new(self.lambda, log2_bound)?;
        let protocol = Refresh::new(self.session, self.key, ct, self.nonce, sec)?;
        self.nonce = self.nonce.wrapping_add(1);
        let mut shares = Vec::with_capacity(self.keys.len());
        for k in &self.keys {
            let share = protocol.share(k, &self.smudging, &mut self.rng)?;
            shares.push(RefreshShare::from_bytes(self.session, &share.to_bytes(self.session))?);
        }
        let out = protocol.finalize(&shares)?;
        self.refreshes += 1;
        self.elapsed += start.elapsed();
        Ok(out)
    }
}
