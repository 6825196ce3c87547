//! t-out-of-N decryption: Shamir re-sharing of the additive key shares, and the
//! Shamir-to-additive combiner.
//!
//! After the N-out-of-N key generation, party `i` deals its share `s_i` with a random
//! polynomial `f_i(X) = s_i + c_{i,1}·X + … + c_{i,t−1}·X^{t−1}` whose coefficients are
//! uniform ring elements over `Q_L ∪ P`, sending `f_i(x_j)` to party `j` (`x_j` = its id). Each
//! coefficient of each RNS limb is an independent Shamir sharing over the prime field
//! `Z_{q_k}`; the ids are distinct and smaller than every `q_k`, so their differences are
//! invertible. Party `j` keeps `t_j = Σ_i f_i(x_j) = F(x_j)`, a Shamir share of
//! `F(0) = Σ_i s_i = s`. Any coalition `T` with `|T| ≥ t` turns its shares into additive
//! ones, `s = Σ_{j∈T} λ_j^T·t_j` with `λ_j^T = Π_{k∈T, k≠j} x_k/(x_k − x_j)`, and decrypts
//! with them exactly as N parties do ([`crate::DecryptionKey`]). Fewer than `t` shares are
//! independent of `s` (perfect secrecy of Shamir sharing, limb by limb). Only the sub-shares are
//! secret messages (send each over its recipient's authenticated, encrypted channel).

use veil_ckks::SecretKey;
use veil_math::sampler::{self, Prng};
use veil_math::{Ntt, RnsPoly};
use zeroize::{Zeroize, Zeroizing};

use crate::decrypt::DecryptionKey;
use crate::round::{check_batch, sum_polys, ShamirRound, Share};
use crate::session::{mask_of, PartyId, Session};
use crate::share::SecretShare;
use crate::wire::{put_poly, Digest, Reader, ShareHeader, ShareKind};
use crate::ThresholdError;

/// A Shamir sub-share `f_i(x_j)` from dealer `i` to recipient `j` (secret; zeroised on drop).
pub type ShamirSubShare = Share<ShamirRound>;

/// Party `i`'s dealing: one sub-share for every party of the session (itself included), each
/// addressed (`aux`) to its recipient.
pub fn deal(session: &Session, sk: &SecretShare, rng: &mut Prng) -> Result<Vec<ShamirSubShare>, ThresholdError> {
    let params = session.params();
    let ring = params.ring();
    let basis = params.key_basis();
    let key = sk.bound_key()?;
    let mut coeffs: Vec<RnsPoly<Ntt>> =
        (1..session.threshold()).map(|_| sampler::uniform_poly(ring, &basis, rng)).collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(session.party_count());
    for &j in session.parties() {
        let x = vec![j.0 as u64; basis.len()];
        let mut acc = RnsPoly::<Ntt>::zero(ring, &basis)?;
        for c in coeffs.iter().rev() {
            acc.add_assign(ring, c)?;
            acc.mul_scalar_assign(ring, &x)?;
        }
        acc.add_assign(ring, sk.secret().poly())?;
        let header = ShareHeader::new(session, ShareKind::ShamirSubShare, sk.party(), key, Digest::NONE, j.0 as u64);
        out.push(Share::new(header, vec![acc]));
    }
    for c in &mut coeffs {
        c.zeroize();
    }
    Ok(out)
}

/// Party `j`'s Shamir share `t_j = F(x_j)` of the collective secret key (zeroised on drop).
pub struct ThresholdShare {
    party: PartyId,
    key_id: Digest,
    poly: RnsPoly<Ntt>,
}

impl std::fmt::Debug for ThresholdShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThresholdShare").field("party", &self.party).field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl Drop for ThresholdShare {
    fn drop(&mut self) {
        self.poly.zeroize();
    }
}

const THRESHOLD_MAGIC: &[u8; 4] = b"VTTS";
const THRESHOLD_VERSION: u16 = 1;

impl ThresholdShare {
    /// Sums the sub-shares addressed to `recipient`, one from every party, all for key `key`.
    pub fn combine(session: &Session, recipient: PartyId, key: Digest, sub_shares: &[ShamirSubShare]) -> Result<Self, ThresholdError> {
        session.check_member(recipient)?;
        check_batch(session, sub_shares, session.parties(), key, Digest::NONE, recipient.0 as u64)?;
        let poly = sum_polys(session.params(), sub_shares, 0)?;
        Ok(Self { party: recipient, key_id: key, poly })
    }

    /// The holder.
    pub fn party(&self) -> PartyId {
        self.party
    }

    /// The additive decryption key of this party within `coalition` (`|coalition| ≥ t`, this
    /// party a member): `λ_j^T·t_j`.
    pub fn decryption_key(&self, session: &Session, coalition: &[PartyId]) -> Result<DecryptionKey<'static>, ThresholdError> {
        let mut members = coalition.to_vec();
        members.sort();
        members.dedup();
        let reason = if members.len() != coalition.len() {
            Some("a party is listed twice".to_string())
        } else if members.len() < session.threshold() {
            Some(format!("{} members, threshold is {}", members.len(), session.threshold()))
        } else if !members.contains(&self.party) {
            Some(format!("does not contain the share holder {}", self.party))
        } else {
            members.iter().find(|p| !session.contains(**p)).map(|p| format!("{p} is not in the session"))
        };
        if let Some(reason) = reason {
            return Err(ThresholdError::InvalidCoalition { coalition: coalition.to_vec(), reason });
        }
        let params = session.params();
        let ring = params.ring();
        let basis = params.key_basis();
        let xj = self.party.0 as u64;
        let lambdas = basis
            .iter()
            .map(|&i| {
                let m = ring.modulus(i);
                let (mut num, mut den) = (1u64, 1u64);
                for k in members.iter().filter(|&&k| k != self.party) {
                    num = m.mul(num, k.0 as u64);
                    den = m.mul(den, m.sub(k.0 as u64, xj));
                }
                Ok(m.mul(num, m.inv(den)?))
            })
            .collect::<Result<Vec<u64>, ThresholdError>>()?;
        let mut poly = self.poly.clone();
        poly.mul_scalar_assign(ring, &lambdas)?;
        let key = SecretKey::from_poly(params, poly)?;
        Ok(DecryptionKey::shamir(self.party, self.key_id, mask_of(&members), key))
    }

    /// Owner-only storage form: `"VTTS" | version u16 | party u32 | parameter fingerprint [16]
    /// | session id [16] | key id [32] | polynomial | BLAKE3 checksum [32]`.
    pub fn to_bytes(&self, session: &Session) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::new());
        out.extend_from_slice(THRESHOLD_MAGIC);
        out.extend_from_slice(&THRESHOLD_VERSION.to_le_bytes());
        out.extend_from_slice(&self.party.0.to_le_bytes());
        out.extend_from_slice(&session.params().fingerprint().0);
        out.extend_from_slice(&session.id().0);
        out.extend_from_slice(&self.key_id.0);
        put_poly(&mut out, &self.poly);
        let sum = blake3::hash(&out);
        out.extend_from_slice(sum.as_bytes());
        out
    }

    /// Reads [`ThresholdShare::to_bytes`] output for this session.
    pub fn from_bytes(session: &Session, bytes: &[u8]) -> Result<Self, ThresholdError> {
        let what = "threshold key share";
        let body = bytes.len().checked_sub(32).ok_or_else(|| ThresholdError::Truncated { what, needed: 32 - bytes.len() })?;
        if blake3::hash(&bytes[..body]).as_bytes() != &bytes[body..] {
            return Err(ThresholdError::Malformed { what, reason: "checksum mismatch (corrupted file)".into() });
        }
        let mut r = Reader::new(&bytes[..body], what);
        if r.take(4)? != THRESHOLD_MAGIC {
            return Err(ThresholdError::Malformed { what, reason: "bad magic".into() });
        }
        let version = r.u16()?;
        if version != THRESHOLD_VERSION {
            return Err(ThresholdError::UnsupportedVersion { found: version, supported: THRESHOLD_VERSION });
        }
        let party = PartyId(r.u32()?);
        if r.take(16)? != session.params().fingerprint().0 || r.take(16)? != session.id().0 {
            return Err(ThresholdError::Malformed { what, reason: "made for other parameters or another session".into() });
        }
        session.check_member(party)?;
        let key_id = Digest(r.array32()?);
        let poly = r.poly(session.params(), &session.params().key_basis())?;
        r.finish()?;
        Ok(Self { party, key_id, poly })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use veil_ckks::{Parameters, ParametersLiteral};
    use veil_math::sampler::Seed;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        /// Lagrange recombination: for every coalition of at least t of the N parties,
        /// Σ_{j∈T} λ_j^T·t_j equals Σ_i s_i, the collective secret.
        #[test]
        fn every_large_enough_coalition_recombines_the_secret(n in 2u32..6, t_off in 0usize..4, pick in any::<u64>(), seed in any::<u8>()) {
            let params = Parameters::new(ParametersLiteral::insecure_n1024_l2()).unwrap();
            let ids: Vec<PartyId> = (1..=n).map(PartyId).collect();
            let t = 1 + t_off % n as usize;
            let session = Session::with_threshold(&params, Seed([seed; 32]), &ids, t).unwrap();
            let mut rng = Prng::from_seed(&Seed([seed ^ 0x5a; 32]));
            let mut shares: Vec<SecretShare> = ids.iter().map(|&p| SecretShare::generate(&session, p, &mut rng).unwrap()).collect();
            let key = Digest([seed; 32]);
            for s in &mut shares {
                s.key_id = Some(key);
            }
            let dealt: Vec<Vec<ShamirSubShare>> = shares.iter().map(|s| deal(&session, s, &mut rng).unwrap()).collect();
            let held: Vec<ThresholdShare> = ids
                .iter()
                .enumerate()
                .map(|(j, &p)| ThresholdShare::combine(&session, p, key, &dealt.iter().map(|d| d[j].clone()).collect::<Vec<_>>()).unwrap())
                .collect();
            let mut coalition: Vec<PartyId> = ids.iter().copied().filter(|p| pick >> p.0 & 1 == 1).collect();
            for &p in &ids {
                if coalition.len() < t && !coalition.contains(&p) {
                    coalition.push(p);
                }
            }
            let ring = params.ring();
            let mut want = shares[0].secret().poly().clone();
            for s in &shares[1..] {
                want.add_assign(ring, s.secret().poly()).unwrap();
            }
            let mut got = RnsPoly::<Ntt>::zero(ring, &params.key_basis()).unwrap();
            for h in held.iter().filter(|h| coalition.contains(&h.party())) {
                let dk = h.decryption_key(&session, &coalition).unwrap();
                got.add_assign(ring, dk.secret_poly()).unwrap();
            }
            prop_assert!(got == want);
        }
    }
}
