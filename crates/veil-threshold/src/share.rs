//! A party's additive share `s_i` of the collective secret key `s = Σ_i s_i`.

use veil_ckks::{PublicKey, SecretKey};
use veil_math::sampler::{self, Prng};
use veil_math::{Coeff, RnsPoly};
use zeroize::{Zeroize, Zeroizing};

use crate::session::{PartyId, Session};
use crate::wire::{public_key_digest, Digest, Reader};
use crate::ThresholdError;

const SECRET_MAGIC: &[u8; 4] = b"VTSK";
const SECRET_VERSION: u16 = 1;

/// Party `i`'s secret-key share: a uniform ternary `s_i` (zeroised on drop, never printed),
/// and, once the collective public key exists, the digest of that key (its identity).
pub struct SecretShare {
    party: PartyId,
    key: SecretKey,
    pub(crate) key_id: Option<Digest>,
}

impl std::fmt::Debug for SecretShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretShare").field("party", &self.party).field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl SecretShare {
    /// A fresh ternary share for `party` (a member of `session`), from `rng` (seed it from the
    /// operating system: [`Prng::from_os`]).
    pub fn generate(session: &Session, party: PartyId, rng: &mut Prng) -> Result<Self, ThresholdError> {
        session.check_member(party)?;
        let coeffs = sampler::ternary(session.params().n(), rng);
        let key = SecretKey::from_coefficients(session.params(), &coeffs)?;
        Ok(Self { party, key, key_id: None })
    }

    /// The party holding this share.
    pub fn party(&self) -> PartyId {
        self.party
    }

    /// Records the collective public key this share belongs to; decryption and the key
    /// generation after the public key need it.
    pub fn bind(&mut self, session: &Session, pk: &PublicKey) {
        self.key_id = Some(public_key_digest(session.params(), pk));
    }

    /// The identity of the collective key, if bound.
    pub fn key_id(&self) -> Option<Digest> {
        self.key_id
    }

    pub(crate) fn bound_key(&self) -> Result<Digest, ThresholdError> {
        self.key_id.ok_or(ThresholdError::UnboundKey { party: self.party })
    }

    /// The share as a CKKS secret key (NTT form over `Q_L ∪ P`).
    pub(crate) fn secret(&self) -> &SecretKey {
        &self.key
    }

    /// Serialises the share for owner-only storage:
    /// `"VTSK" | version u16 | party u32 | parameter fingerprint [16] | session id [16]
    /// | key id [32] (zero if unbound) | N coefficients as i8 | BLAKE3 checksum [32]`.
    /// The checksum detects corruption of the stored file.
    pub fn to_bytes(&self, session: &Session) -> Zeroizing<Vec<u8>> {
        let params = session.params();
        let n = params.n();
        let mut out = Zeroizing::new(Vec::with_capacity(4 + 2 + 4 + 16 + 16 + 32 + n + 32));
        out.extend_from_slice(SECRET_MAGIC);
        out.extend_from_slice(&SECRET_VERSION.to_le_bytes());
        out.extend_from_slice(&self.party.0.to_le_bytes());
        out.extend_from_slice(&params.fingerprint().0);
        out.extend_from_slice(&session.id().0);
        out.extend_from_slice(&self.key_id.unwrap_or(Digest::NONE).0);
        let mut coeff: RnsPoly<Coeff> = self.key.poly().clone().into_coeff(params.ring());
        let q0 = params.ring().modulus(0);
        for &v in coeff.limb(0) {
            out.push(q0.center(v) as i8 as u8);
        }
        coeff.zeroize();
        let sum = blake3::hash(&out);
        out.extend_from_slice(sum.as_bytes());
        out
    }

    /// Reads a share written by [`SecretShare::to_bytes`] for this session.
    pub fn from_bytes(session: &Session, bytes: &[u8]) -> Result<Self, ThresholdError> {
        let what = "secret-key share";
        let params = session.params();
        let n = params.n();
        let body = bytes.len().checked_sub(32).ok_or_else(|| ThresholdError::Truncated { what, needed: 32 - bytes.len() })?;
        let mut r = Reader::new(&bytes[..body], what);
        if r.take(4)? != SECRET_MAGIC {
            return Err(ThresholdError::Malformed { what, reason: "bad magic (not a veil secret-key share)".into() });
        }
        let version = r.u16()?;
        if version != SECRET_VERSION {
            return Err(ThresholdError::UnsupportedVersion { found: version, supported: SECRET_VERSION });
        }
        let party = PartyId(r.u32()?);
        let fp = r.take(16)?;
        let sid = r.take(16)?;
        let key_id = Digest(r.array32()?);
        let raw = r.take(n)?;
        r.finish()?;
        if blake3::hash(&bytes[..body]).as_bytes() != &bytes[body..] {
            return Err(ThresholdError::Malformed { what, reason: "checksum mismatch (corrupted file)".into() });
        }
        if fp != params.fingerprint().0 {
            return Err(ThresholdError::Malformed {
                what,
                reason: format!("made for other parameters (this session uses {})", params.fingerprint()),
            });
        }
        if sid != session.id().0 {
            return Err(ThresholdError::Malformed { what, reason: format!("made for another session (this one is {})", session.id()) });
        }
        session.check_member(party)?;
        let mut coeffs = Zeroizing::new(vec![0i64; n]);
        let mut bad = 0u8;
        for (c, &b) in coeffs.iter_mut().zip(raw) {
            let v = b as i8;
            bad |= ((v as i64 + 1) as u64 > 2) as u8;
            *c = v as i64;
        }
        if bad != 0 {
            return Err(ThresholdError::Malformed { what, reason: "coefficient outside {-1, 0, 1}".into() });
        }
        let key = SecretKey::from_coefficients(params, &coeffs)?;
        let key_id = (key_id != Digest::NONE).then_some(key_id);
        Ok(Self { party, key, key_id })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use veil_ckks::{Parameters, ParametersLiteral};
    use veil_math::sampler::Seed;

    #[test]
    fn secret_shares_round_trip_and_reject_corruption() {
        let p = Parameters::new(ParametersLiteral::insecure_n1024_l2()).unwrap();
        let s = Session::new(&p, Seed([3; 32]), &[PartyId(1), PartyId(2)]).unwrap();
        let share = SecretShare::generate(&s, PartyId(2), &mut Prng::from_seed(&Seed([1; 32]))).unwrap();
        let bytes = share.to_bytes(&s);
        let back = SecretShare::from_bytes(&s, &bytes).unwrap();
        assert_eq!(back.party(), PartyId(2));
        assert_eq!(back.secret().poly(), share.secret().poly());
        let mut t = bytes.to_vec();
        t[100] ^= 1;
        assert!(SecretShare::from_bytes(&s, &t).is_err());
        assert!(SecretShare::from_bytes(&s, &bytes[..bytes.len() - 1]).is_err());
        let other = Session::new(&p, Seed([4; 32]), &[PartyId(1), PartyId(2)]).unwrap();
        assert!(SecretShare::from_bytes(&other, &bytes).is_err());
        assert!(format!("{share:?}").contains("SecretShare") && !format!("{share:?}").contains("poly"));
        assert!(SecretShare::generate(&s, PartyId(3), &mut Prng::from_os()).is_err());
    }
}
