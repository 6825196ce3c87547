//! Shares as typed messages: `Share<R>` where the marker `R` names the protocol round, so a
//! round-1 share can never be passed where a round-2 share is due.

use std::marker::PhantomData;

use veil_ckks::Parameters;
use veil_math::{Ntt, RnsPoly};
use zeroize::Zeroize;

use crate::session::{PartyId, Session};
use crate::wire::{self, put_poly, Reader, ShareHeader, ShareKind};
use crate::ThresholdError;

/// The shape of one protocol round's share.
pub trait Round {
    /// Its kind on the wire.
    const KIND: ShareKind;
    /// Whether the share is secret (sent to one party only, zeroised on drop).
    const SECRET: bool = false;
    /// The bases of its polynomials, given the header and the number of limbs of the first
    /// polynomial on the wire (for shares whose level follows the ciphertext's).
    fn bases(params: &Parameters, header: &ShareHeader, first_limbs: usize) -> Result<Vec<Vec<usize>>, ThresholdError>;
}

/// Collective public key generation (one round).
#[derive(Debug)]
pub enum PublicKeyRound {}
/// Relinearisation key generation, round 1.
#[derive(Debug)]
pub enum RelinRound1 {}
/// Relinearisation key generation, round 2.
#[derive(Debug)]
pub enum RelinRound2 {}
/// Galois key generation (one round).
#[derive(Debug)]
pub enum GaloisRound {}
/// Partial decryption.
#[derive(Debug)]
pub enum DecryptionRound {}
/// Collective key switching to a target public key.
#[derive(Debug)]
pub enum PublicKeySwitchRound {}
/// Shamir sub-share of a secret-key share.
#[derive(Debug)]
pub enum ShamirRound {}
/// Collective refresh of a ciphertext to the top level.
#[derive(Debug)]
pub enum RefreshRound {}

fn key_bases(params: &Parameters, count: usize) -> Vec<Vec<usize>> {
    vec![params.key_basis(); count]
}

fn q_prefix(params: &Parameters, limbs: usize, count: usize) -> Result<Vec<Vec<usize>>, ThresholdError> {
    if limbs == 0 || limbs > params.q().len() {
        return Err(ThresholdError::Malformed { what: "share", reason: format!("{limbs} limbs for a ciphertext-level share") });
    }
    Ok(vec![(0..limbs).collect(); count])
}

impl Round for PublicKeyRound {
    const KIND: ShareKind = ShareKind::PublicKey;
    fn bases(params: &Parameters, _: &ShareHeader, _: usize) -> Result<Vec<Vec<usize>>, ThresholdError> {
        Ok(key_bases(params, 1))
    }
}
impl Round for RelinRound1 {
    const KIND: ShareKind = ShareKind::RelinRound1;
    fn bases(params: &Parameters, _: &ShareHeader, _: usize) -> Result<Vec<Vec<usize>>, ThresholdError> {
        Ok(key_bases(params, 2 * params.dnum()))
    }
}
impl Round for RelinRound2 {
    const KIND: ShareKind = ShareKind::RelinRound2;
    fn bases(params: &Parameters, _: &ShareHeader, _: usize) -> Result<Vec<Vec<usize>>, ThresholdError> {
        Ok(key_bases(params, params.dnum()))
    }
}
impl Round for GaloisRound {
    const KIND: ShareKind = ShareKind::Galois;
    fn bases(params: &Parameters, _: &ShareHeader, _: usize) -> Result<Vec<Vec<usize>>, ThresholdError> {
        Ok(key_bases(params, params.dnum()))
    }
}
impl Round for DecryptionRound {
    const KIND: ShareKind = ShareKind::Decryption;
    fn bases(params: &Parameters, _: &ShareHeader, limbs: usize) -> Result<Vec<Vec<usize>>, ThresholdError> {
        q_prefix(params, limbs, 1)
    }
}
impl Round for PublicKeySwitchRound {
    const KIND: ShareKind = ShareKind::PublicKeySwitch;
    fn bases(params: &Parameters, _: &ShareHeader, limbs: usize) -> Result<Vec<Vec<usize>>, ThresholdError> {
        q_prefix(params, limbs, 2)
    }
}
impl Round for RefreshRound {
    const KIND: ShareKind = ShareKind::Refresh;
    fn bases(params: &Parameters, _: &ShareHeader, limbs: usize) -> Result<Vec<Vec<usize>>, ThresholdError> {
        let low = q_prefix(params, limbs, 1)?;
        Ok(low.into_iter().chain([params.q_basis(params.max_level())]).collect())
    }
}
impl Round for ShamirRound {
    const KIND: ShareKind = ShareKind::ShamirSubShare;
    const SECRET: bool = true;
    fn bases(params: &Parameters, _: &ShareHeader, _: usize) -> Result<Vec<Vec<usize>>, ThresholdError> {
        Ok(key_bases(params, 1))
    }
}

/// One party's share of round `R`: a header binding it to the session, the party, the
/// collective key and its context, and its polynomials (NTT form).
pub struct Share<R: Round> {
    pub(crate) header: ShareHeader,
    pub(crate) polys: Vec<RnsPoly<Ntt>>,
    _round: PhantomData<R>,
}

impl<R: Round> Clone for Share<R> {
    fn clone(&self) -> Self {
        Self { header: self.header.clone(), polys: self.polys.clone(), _round: PhantomData }
    }
}

impl<R: Round> std::fmt::Debug for Share<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Share").field("kind", &R::KIND).field("party", &self.header.party).finish_non_exhaustive()
    }
}

impl<R: Round> Drop for Share<R> {
    fn drop(&mut self) {
        if R::SECRET {
            for p in &mut self.polys {
                p.zeroize();
            }
        }
    }
}

impl<R: Round> Share<R> {
    pub(crate) fn new(header: ShareHeader, polys: Vec<RnsPoly<Ntt>>) -> Self {
        Self { header, polys, _round: PhantomData }
    }

    /// The contributing party.
    pub fn party(&self) -> PartyId {
        self.header.party
    }

    /// The polynomials (NTT form). Public information: shares are released to the aggregator.
    pub fn polys(&self) -> &[RnsPoly<Ntt>] {
        &self.polys
    }

    /// The header (bindings).
    pub fn header(&self) -> &ShareHeader {
        &self.header
    }

    /// The authenticated wire bytes (see [`crate::wire`]).
    pub fn to_bytes(&self, session: &Session) -> Vec<u8> {
        let mut payload = Vec::new();
        payload.extend_from_slice(&(self.polys.len() as u32).to_le_bytes());
        for p in &self.polys {
            put_poly(&mut payload, p);
        }
        let out = wire::seal(session, &self.header, &payload);
        if R::SECRET {
            payload.zeroize();
        }
        out
    }

    /// Reads and authenticates a share of this round (kind, version, tag, parameters, session,
    /// membership, bases and reduced residues are checked; key and context bindings are checked
    /// where the share is used).
    pub fn from_bytes(session: &Session, bytes: &[u8]) -> Result<Self, ThresholdError> {
        let (header, payload) = wire::open(session, bytes, R::KIND)?;
        let params = session.params();
        let mut r = Reader::new(payload, "share payload");
        let count = r.u32()? as usize;
        let first_limbs = payload.get(4..8).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize).unwrap_or(0);
        let bases = R::bases(params, &header, first_limbs)?;
        if count != bases.len() {
            return Err(ThresholdError::Malformed {
                what: "share payload",
                reason: format!("{count} polynomials, expected {}", bases.len()),
            });
        }
        let polys = bases.iter().map(|b| r.poly(params, b)).collect::<Result<Vec<_>, _>>()?;
        r.finish()?;
        Ok(Self::new(header, polys))
    }
}

/// Checks a batch of shares of one round: every party of `required` exactly once, the same
/// key binding, and the expected context.
pub(crate) fn check_batch<R: Round>(
    session: &Session,
    shares: &[Share<R>],
    required: &[PartyId],
    key: crate::wire::Digest,
    context: crate::wire::Digest,
    aux: u64,
) -> Result<(), ThresholdError> {
    let from: Vec<PartyId> = shares.iter().map(|s| s.header.party).collect();
    session.check_complete(&from, required)?;
    for s in shares {
        s.header.expect_key(key)?;
        s.header.expect_context(context, aux)?;
    }
    Ok(())
}

/// `Σ` of the `k`-th polynomial of every share.
pub(crate) fn sum_polys<R: Round>(params: &Parameters, shares: &[Share<R>], k: usize) -> Result<RnsPoly<Ntt>, ThresholdError> {
    let first = shares.first().ok_or(ThresholdError::MissingShares { missing: vec![], have: 0, need: 1 })?;
    let mut acc = first.polys[k].clone();
    for s in &shares[1..] {
        acc.add_assign(params.ring(), &s.polys[k])?;
    }
    Ok(acc)
}
