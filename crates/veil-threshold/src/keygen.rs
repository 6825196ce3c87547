//! Collective key generation: public key, relinearisation key (two rounds), Galois keys.
//!
//! Every protocol is a set of local steps over common random polynomials `a` expanded from the
//! session's CRS: each party computes its share, anyone aggregates the shares (a sum), and the
//! aggregate is finalised into the `veil-ckks` key type the evaluator uses unchanged.
//! Notation: `s = Σ_i s_i`, errors `e` from the σ = 3.2 Gaussian, `g_j` the CRT gadget of
//! digit `j` and `P` the special modulus of hybrid key switching (see `veil_ckks::keys`).

use veil_ckks::{GaloisKey, PublicKey, RelinearizationKey, SecretKey, SwitchingKey};
use veil_math::sampler::{self, Prng};
use veil_math::{Ntt, RnsPoly};

use crate::round::{check_batch, sum_polys, GaloisRound, PublicKeyRound, RelinRound1, RelinRound2, Share};
use crate::session::Session;
use crate::share::SecretShare;
use crate::wire::{polys_digest, Digest, ShareHeader, ShareKind};
use crate::ThresholdError;

/// `b_j = e_j − a_j·t + P·g_j·f` for every gadget digit `j` (NTT form over `Q_L ∪ P`): one
/// party's share of a switching key from `f` to `t` on the common polynomials `a_j`, with the
/// CRT gadget of `veil_ckks::SwitchingKey` (`g_j ≡ 1` modulo the primes of digit `j`, `0`
/// modulo the others and modulo `P`).
fn gadget_shares(
    params: &veil_ckks::Parameters,
    f: &RnsPoly<Ntt>,
    t: &RnsPoly<Ntt>,
    a: &[RnsPoly<Ntt>],
    rng: &mut Prng,
) -> Result<Vec<RnsPoly<Ntt>>, ThresholdError> {
    let ring = params.ring();
    let basis = params.key_basis();
    let mut neg_t = zeroize::Zeroizing::new(t.clone());
    neg_t.neg_assign(ring);
    let p_mod: Vec<(u64, u64)> = (0..params.q().len())
        .map(|i| {
            let m = ring.modulus(i);
            let v = params.p().iter().fold(1u64, |acc, &p| m.mul(acc, m.reduce(p)));
            (v, m.shoup(v))
        })
        .collect();
    a.iter()
        .enumerate()
        .map(|(j, aj)| {
            let mut b = veil_ckks::keys::error_poly(params, &basis, rng)?;
            b.mul_add_assign(ring, aj, &neg_t)?;
            for i in params.digit_range(params.max_level(), j) {
                let m = ring.modulus(i);
                let (w, ws) = p_mod[i];
                for (d, &x) in b.limb_mut(i).iter_mut().zip(f.limb(i)) {
                    *d = m.add(*d, m.mul_shoup(x, w, ws));
                }
            }
            Ok(b)
        })
        .collect()
}

/// Collective public key: share `p_i = −a·s_i + e_i` over `Q_L ∪ P` (where `veil-ckks` keeps
/// public keys); `pk = (Σ_i p_i, a)`, an
/// encryption key for `s` with error `Σ_i e_i`.
#[derive(Debug)]
pub struct PublicKeyGen<'s> {
    session: &'s Session,
    crp: RnsPoly<Ntt>,
}

impl<'s> PublicKeyGen<'s> {
    /// Expands the common random polynomial `a` from the CRS.
    pub fn new(session: &'s Session) -> Result<Self, ThresholdError> {
        let params = session.params();
        let crp = session.common_poly("public-key", 0, &params.key_basis())?;
        Ok(Self { session, crp })
    }

    /// Party `i`'s share `−a·s_i + e_i`.
    pub fn share(&self, sk: &SecretShare, rng: &mut Prng) -> Result<Share<PublicKeyRound>, ThresholdError> {
        let pk_i = PublicKey::generate_with_a(sk.secret(), self.crp.clone(), rng)?;
        let header = ShareHeader::new(self.session, ShareKind::PublicKey, sk.party(), Digest::NONE, Digest::NONE, 0);
        Ok(Share::new(header, vec![pk_i.b().clone()]))
    }

    /// Sums the shares of every party into the collective public key.
    pub fn aggregate(&self, shares: &[Share<PublicKeyRound>]) -> Result<PublicKey, ThresholdError> {
        check_batch(self.session, shares, self.session.parties(), Digest::NONE, Digest::NONE, 0)?;
        let b = sum_polys(self.session.params(), shares, 0)?;
        Ok(PublicKey::from_parts(self.session.params(), b, self.crp.clone())?)
    }
}

/// A party's ephemeral secret `u_i` of relinearisation round 1, consumed by round 2.
pub struct RelinEphemeral {
    party: crate::session::PartyId,
    u: SecretKey,
}

impl std::fmt::Debug for RelinEphemeral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelinEphemeral").field("party", &self.party).finish_non_exhaustive()
    }
}

impl RelinEphemeral {
    /// Owner-only storage form, for a party that runs the two rounds in separate processes:
    /// `"VTRE" | party u32 | session id [16] | veil-ckks secret-key bytes | BLAKE3 checksum [32]`.
    pub fn to_bytes(&self, session: &Session) -> zeroize::Zeroizing<Vec<u8>> {
        let mut out = zeroize::Zeroizing::new(Vec::new());
        out.extend_from_slice(b"VTRE");
        out.extend_from_slice(&self.party.0.to_le_bytes());
        out.extend_from_slice(&session.id().0);
        out.extend_from_slice(&self.u.to_bytes());
        let sum = blake3::hash(&out);
        out.extend_from_slice(sum.as_bytes());
        out
    }

    /// Reads [`RelinEphemeral::to_bytes`] output for this session.
    pub fn from_bytes(session: &Session, bytes: &[u8]) -> Result<Self, ThresholdError> {
        let what = "relinearisation ephemeral secret";
        if bytes.len() < 4 + 4 + 16 + 32 {
            return Err(ThresholdError::Truncated { what, needed: 56 - bytes.len() });
        }
        let body = bytes.len() - 32;
        if blake3::hash(&bytes[..body]).as_bytes() != &bytes[body..] {
            return Err(ThresholdError::Malformed { what, reason: "checksum mismatch (corrupted file)".into() });
        }
        if &bytes[..4] != b"VTRE" || bytes[8..24] != session.id().0 {
            return Err(ThresholdError::Malformed { what, reason: "not an ephemeral secret of this session".into() });
        }
        let party = crate::session::PartyId(u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]));
        session.check_member(party)?;
        let u = SecretKey::from_bytes(session.params(), &bytes[24..body])?;
        Ok(Self { party, u })
    }
}

/// The sum of the round-1 shares: `h_0[j] = −u·a_j + P·g_j·s + e`, `h_1[j] = s·a_j + e`
/// (`u = Σ_i u_i`), and its digest, to which every round-2 share is bound.
#[derive(Clone, Debug)]
pub struct RelinRound1Aggregate {
    h0: Vec<RnsPoly<Ntt>>,
    h1: Vec<RnsPoly<Ntt>>,
    digest: Digest,
}

impl RelinRound1Aggregate {
    /// The digest round-2 shares are bound to.
    pub fn digest(&self) -> Digest {
        self.digest
    }
}

/// Collective relinearisation key, the two-round protocol of Mouchet et al. (PETS 2021) adapted
/// to hybrid key switching: one pair per gadget digit `j < dnum`, over `Q_L ∪ P`.
///
/// * Round 1: party `i` draws a ternary `u_i` and sends `h_0,i[j] = −u_i·a_j + P·g_j·s_i + e`,
///   `h_1,i[j] = s_i·a_j + e`.
/// * Round 2: on the aggregate `(h_0, h_1)`, party `i` sends
///   `h'_i[j] = s_i·h_0[j] + (u_i − s_i)·h_1[j] + e`.
/// * Finalise: `b_j = Σ_i h'_i[j] = −s²·a_j + P·g_j·s² + e_j`, and the key is
///   `(b_j, h_1[j])`: indeed `b_j + h_1[j]·s = P·g_j·s² + s·e_0 + u·e_1 + e`, a switching key
///   from `s²` to `s` exactly as `veil_ckks::RelinearizationKey` expects.
#[derive(Debug)]
pub struct RelinKeyGen<'s> {
    session: &'s Session,
    crp: Vec<RnsPoly<Ntt>>,
}

impl<'s> RelinKeyGen<'s> {
    /// Expands the `dnum` common random polynomials `a_j` over `Q_L ∪ P` from the CRS.
    pub fn new(session: &'s Session) -> Result<Self, ThresholdError> {
        let params = session.params();
        let basis = params.key_basis();
        let crp = (0..params.dnum()).map(|j| session.common_poly("relinearisation", j as u64, &basis)).collect::<Result<_, _>>()?;
        Ok(Self { session, crp })
    }

    /// Round 1 of party `i`: its ephemeral secret (keep it for round 2) and its share.
    pub fn round1(&self, sk: &SecretShare, rng: &mut Prng) -> Result<(RelinEphemeral, Share<RelinRound1>), ThresholdError> {
        let params = self.session.params();
        let key = sk.bound_key()?;
        let u_coeffs = sampler::ternary(params.n(), rng);
        let u = SecretKey::from_coefficients(params, &u_coeffs)?;
        // b_j = −a_j·u_i + e + P·g_j·s_i: a switching-key share "from s_i to u_i".
        let mut polys = gadget_shares(params, sk.secret().poly(), u.poly(), &self.crp, rng)?;
        for a in &self.crp {
            let mut h1 = veil_ckks::keys::error_poly(params, &params.key_basis(), rng)?;
            h1.mul_add_assign(params.ring(), a, sk.secret().poly())?;
            polys.push(h1);
        }
        let header = ShareHeader::new(self.session, ShareKind::RelinRound1, sk.party(), key, Digest::NONE, 0);
        Ok((RelinEphemeral { party: sk.party(), u }, Share::new(header, polys)))
    }

    /// Sums the round-1 shares of every party (all bound to `key`).
    pub fn aggregate_round1(&self, key: Digest, shares: &[Share<RelinRound1>]) -> Result<RelinRound1Aggregate, ThresholdError> {
        check_batch(self.session, shares, self.session.parties(), key, Digest::NONE, 0)?;
        let params = self.session.params();
        let d = params.dnum();
        let sums = (0..2 * d).map(|k| sum_polys(params, shares, k)).collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&RnsPoly<Ntt>> = sums.iter().collect();
        let digest = polys_digest("veil-threshold/relin-round1-aggregate", &refs);
        let mut sums = sums;
        let h1 = sums.split_off(d);
        Ok(RelinRound1Aggregate { h0: sums, h1, digest })
    }

    /// Round 2 of party `i` (consumes its ephemeral secret).
    pub fn round2(
        &self,
        sk: &SecretShare,
        eph: RelinEphemeral,
        agg: &RelinRound1Aggregate,
        rng: &mut Prng,
    ) -> Result<Share<RelinRound2>, ThresholdError> {
        if eph.party != sk.party() {
            return Err(ThresholdError::InvalidParties { reason: format!("ephemeral of {} used by {}", eph.party, sk.party()) });
        }
        let key = sk.bound_key()?;
        let params = self.session.params();
        let ring = params.ring();
        let mut u_minus_s = eph.u.poly().clone();
        u_minus_s.sub_assign(ring, sk.secret().poly())?;
        let u_minus_s = SecretKey::from_poly(params, u_minus_s)?;
        let mut polys = Vec::with_capacity(params.dnum());
        for (h0, h1) in agg.h0.iter().zip(&agg.h1) {
            let mut out = veil_ckks::keys::error_poly(params, &params.key_basis(), rng)?;
            out.mul_add_assign(ring, h0, sk.secret().poly())?;
            out.mul_add_assign(ring, h1, u_minus_s.poly())?;
            polys.push(out);
        }
        let header = ShareHeader::new(self.session, ShareKind::RelinRound2, sk.party(), key, agg.digest, 0);
        Ok(Share::new(header, polys))
    }

    /// Sums the round-2 shares into the relinearisation key.
    pub fn finalize(
        &self,
        key: Digest,
        agg: &RelinRound1Aggregate,
        shares: &[Share<RelinRound2>],
    ) -> Result<RelinearizationKey, ThresholdError> {
        check_batch(self.session, shares, self.session.parties(), key, agg.digest, 0)?;
        let params = self.session.params();
        let b = (0..params.dnum()).map(|k| sum_polys(params, shares, k)).collect::<Result<Vec<_>, _>>()?;
        Ok(RelinearizationKey(SwitchingKey::from_parts(params, b, agg.h1.clone())?))
    }
}

/// Collective Galois key for `X -> X^g` (one round): share
/// `b_i[j] = −a_j·s_i + P·g_j·s_i(X^g) + e`; the sum with the common `a_j` switches `s(X^g)`
/// to `s`.
#[derive(Debug)]
pub struct GaloisKeyGen<'s> {
    session: &'s Session,
    galois_element: usize,
    crp: Vec<RnsPoly<Ntt>>,
}

impl<'s> GaloisKeyGen<'s> {
    /// For the Galois element `g` (odd, below 2N); see
    /// `Parameters::galois_element` for rotations.
    pub fn new(session: &'s Session, galois_element: usize) -> Result<Self, ThresholdError> {
        let params = session.params();
        if galois_element % 2 == 0 || galois_element >= 2 * params.n() {
            return Err(ThresholdError::Malformed { what: "Galois element", reason: format!("{galois_element} is not odd below 2N") });
        }
        let basis = params.key_basis();
        let crp = (0..params.dnum())
            .map(|j| session.common_poly("galois", (galois_element as u64) << 8 | j as u64, &basis))
            .collect::<Result<_, _>>()?;
        Ok(Self { session, galois_element, crp })
    }

    /// Party `i`'s share.
    pub fn share(&self, sk: &SecretShare, rng: &mut Prng) -> Result<Share<GaloisRound>, ThresholdError> {
        let key = sk.bound_key()?;
        let params = self.session.params();
        let perm = params.ring().automorphism_permutation(self.galois_element);
        let s_g = zeroize::Zeroizing::new(sk.secret().poly().permute(&perm)?);
        let b = gadget_shares(params, &s_g, sk.secret().poly(), &self.crp, rng)?;
        let header = ShareHeader::new(self.session, ShareKind::Galois, sk.party(), key, Digest::NONE, self.galois_element as u64);
        Ok(Share::new(header, b))
    }

    /// Sums the shares of every party into the Galois key.
    pub fn aggregate(&self, key: Digest, shares: &[Share<GaloisRound>]) -> Result<GaloisKey, ThresholdError> {
        check_batch(self.session, shares, self.session.parties(), key, Digest::NONE, self.galois_element as u64)?;
        let params = self.session.params();
        let b = (0..params.dnum()).map(|k| sum_polys(params, shares, k)).collect::<Result<Vec<_>, _>>()?;
        let sk = SwitchingKey::from_parts(params, b, self.crp.clone())?;
        Ok(GaloisKey::from_switching_key(params, self.galois_element, sk))
    }
}
