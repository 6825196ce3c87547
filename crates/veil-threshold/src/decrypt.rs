//! Threshold decryption (partial decryption with smudging, merge) and collective key switching
//! to a target party's public key.

use veil_ckks::{Ciphertext, Plaintext, PublicKey, SecretKey};
use veil_math::sampler::Prng;
use veil_math::{Coeff, Ntt, RnsPoly};

use crate::round::{DecryptionRound, PublicKeySwitchRound, Share};
use crate::session::{parties_of, PartyId, Session};
use crate::smudging::Smudging;
use crate::wire::{ciphertext_digest, public_key_digest, Digest, ShareHeader, ShareKind, ShareScheme};
use crate::ThresholdError;

/// A decryption share: `c_1·s_i + e_i` over the ciphertext's level, `e_i` the smudging noise.
pub type DecryptionShare = Share<DecryptionRound>;
/// A key-switching share: `(c_1·s_i + u_i·b' + e_i, u_i·a' + e'_i)` for a target key `(b', a')`.
pub type KeySwitchShare = Share<PublicKeySwitchRound>;

enum KeyPoly<'a> {
    Borrowed(&'a SecretKey),
    Owned(SecretKey),
}

/// The secret a party decrypts with: its additive share of an N-out-of-N key, or its
/// Lagrange-weighted Shamir share for one coalition of a t-out-of-N key. Either way the
/// coalition's keys sum to `s`.
pub struct DecryptionKey<'a> {
    party: PartyId,
    key_id: Digest,
    scheme: ShareScheme,
    coalition: u64,
    poly: KeyPoly<'a>,
}

impl std::fmt::Debug for DecryptionKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptionKey")
            .field("party", &self.party)
            .field("scheme", &self.scheme)
            .field("coalition", &parties_of(self.coalition))
            .finish_non_exhaustive()
    }
}

impl crate::share::SecretShare {
    /// The N-out-of-N decryption key of this party (the share must be bound to the key).
    pub fn decryption_key(&self, session: &Session) -> Result<DecryptionKey<'_>, ThresholdError> {
        Ok(DecryptionKey {
            party: self.party(),
            key_id: self.bound_key()?,
            scheme: ShareScheme::Additive,
            coalition: session.all_mask(),
            poly: KeyPoly::Borrowed(self.secret()),
        })
    }
}

impl<'a> DecryptionKey<'a> {
    pub(crate) fn shamir(party: PartyId, key_id: Digest, coalition: u64, key: SecretKey) -> Self {
        Self { party, key_id, scheme: ShareScheme::Shamir, coalition, poly: KeyPoly::Owned(key) }
    }

    pub(crate) fn secret(&self) -> &SecretKey {
        match &self.poly {
            KeyPoly::Borrowed(k) => k,
            KeyPoly::Owned(k) => k,
        }
    }

    #[cfg(test)]
    pub(crate) fn secret_poly(&self) -> &RnsPoly<Ntt> {
        self.secret().poly()
    }

    /// The party.
    pub fn party(&self) -> PartyId {
        self.party
    }

    /// The parties whose shares the merge will need.
    pub fn coalition(&self) -> Vec<PartyId> {
        parties_of(self.coalition)
    }

    /// The collective key this secret belongs to.
    pub(crate) fn key_id(&self) -> Digest {
        self.key_id
    }

    pub(crate) fn header(&self, session: &Session, kind: ShareKind, context: Digest) -> ShareHeader {
        let mut h = ShareHeader::new(session, kind, self.party, self.key_id, context, self.coalition);
        h.scheme = self.scheme;
        h
    }

    /// `c_1·s_i` over the ciphertext's level (NTT form).
    fn c1_times_key(&self, session: &Session, ct: &Ciphertext) -> Result<RnsPoly<Ntt>, ThresholdError> {
        if ct.degree() != 1 {
            return Err(ThresholdError::CiphertextDegree { degree: ct.degree() });
        }
        let params = session.params();
        let level = ct.level().0;
        let mut out = self.secret().poly().select_limbs(&(0..=level).collect::<Vec<_>>())?;
        out.mul_assign(params.ring(), ct.c1())?;
        Ok(out)
    }

    /// A partial decryption to release: `c_1·s_i + e_i` with `e_i` drawn per [`Smudging`].
    pub fn partial_decrypt(
        &self,
        session: &Session,
        ct: &Ciphertext,
        smudging: &Smudging,
        rng: &mut Prng,
    ) -> Result<DecryptionShare, ThresholdError> {
        let params = session.params();
        let mut d = self.c1_times_key(session, ct)?;
        let e = smudging.sample(params.n(), rng);
        let e = RnsPoly::<Coeff>::from_signed(params.ring(), d.basis(), &e)?.into_ntt(params.ring());
        d.add_assign(params.ring(), &e)?;
        let context = ciphertext_digest(params, ct);
        Ok(Share::new(self.header(session, ShareKind::Decryption, context), vec![d]))
    }

    /// The receiver's own contribution `c_1·s_i`, without smudging noise: it never leaves the
    /// receiver's process (it has no byte form), so it needs none.
    pub fn receiver_share(&self, session: &Session, ct: &Ciphertext) -> Result<ReceiverShare, ThresholdError> {
        let d = self.c1_times_key(session, ct)?;
        let context = ciphertext_digest(session.params(), ct);
        Ok(ReceiverShare { header: self.header(session, ShareKind::Decryption, context), poly: d })
    }

    /// A share of the collective switch of `ct` to `target` (e.g. one party's own public key):
    /// `(c_1·s_i + u_i·b' + e_i, u_i·a' + e'_i)`, `u_i` ternary, `e_i` smudging noise, `e'_i`
    /// from the σ = 3.2 Gaussian.
    pub fn key_switch_share(
        &self,
        session: &Session,
        ct: &Ciphertext,
        target: &PublicKey,
        smudging: &Smudging,
        rng: &mut Prng,
    ) -> Result<KeySwitchShare, ThresholdError> {
        let params = session.params();
        let ring = params.ring();
        let mut h0 = self.c1_times_key(session, ct)?;
        let basis = h0.basis().to_vec();
        let keep: Vec<usize> = (0..basis.len()).collect();
        let u = veil_ckks::keys::ternary_poly(params, &basis, rng)?;
        h0.mul_add_assign(ring, &u, &target.b().select_limbs(&keep)?)?;
        let e = smudging.sample(params.n(), rng);
        h0.add_assign(ring, &RnsPoly::<Coeff>::from_signed(ring, &basis, &e)?.into_ntt(ring))?;
        let mut h1 = veil_ckks::keys::error_poly(params, &basis, rng)?;
        h1.mul_add_assign(ring, &u, &target.a().select_limbs(&keep)?)?;
        let context = switch_context(params, ct, target);
        Ok(Share::new(self.header(session, ShareKind::PublicKeySwitch, context), vec![h0, h1]))
    }
}

fn switch_context(params: &veil_ckks::Parameters, ct: &Ciphertext, target: &PublicKey) -> Digest {
    let mut h = blake3::Hasher::new_derive_key("veil-threshold/key-switch-context");
    h.update(&ciphertext_digest(params, ct).0);
    h.update(&public_key_digest(params, target).0);
    Digest(*h.finalize().as_bytes())
}

/// The receiver's own, unflooded contribution to a merge (no byte form on purpose).
pub struct ReceiverShare {
    header: ShareHeader,
    poly: RnsPoly<Ntt>,
}

impl std::fmt::Debug for ReceiverShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverShare").field("party", &self.header.party).finish_non_exhaustive()
    }
}

impl Drop for ReceiverShare {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.poly);
    }
}

/// Checks that `headers` are a complete, consistent set for `ct` under key `key`: same scheme
/// and coalition, the coalition valid for the session, every member exactly once.
pub(crate) fn check_decryption_set(
    session: &Session,
    key: Digest,
    context: Digest,
    headers: &[&ShareHeader],
) -> Result<(), ThresholdError> {
    let first =
        headers.first().ok_or(ThresholdError::MissingShares { missing: session.parties().to_vec(), have: 0, need: session.threshold() })?;
    let (scheme, mask) = (first.scheme, first.aux);
    let coalition = parties_of(mask);
    let valid = match scheme {
        ShareScheme::Additive => mask == session.all_mask(),
        ShareScheme::Shamir => mask & !session.all_mask() == 0 && coalition.len() >= session.threshold(),
    };
    if !valid {
        return Err(ThresholdError::InvalidCoalition {
            coalition,
            reason: format!("not a decrypting set for threshold {} of {}", session.threshold(), session.party_count()),
        });
    }
    for h in headers {
        if h.context != context {
            return Err(ThresholdError::CiphertextMismatch {
                kind: h.kind,
                party: h.party,
                expected: context.short_hex(),
                found: h.context.short_hex(),
            });
        }
        h.expect_key(key)?;
        if h.scheme != scheme || h.aux != mask {
            return Err(ThresholdError::ContextMismatch {
                kind: h.kind,
                party: h.party,
                expected: format!("{scheme:?} coalition {coalition:?}"),
                found: format!("{:?} coalition {:?}", h.scheme, parties_of(h.aux)),
            });
        }
    }
    let from: Vec<PartyId> = headers.iter().map(|h| h.party).collect();
    session.check_complete(&from, &coalition)
}

/// Merges the released shares (and the receiver's own, if the receiver is a party) of a
/// coalition into the plaintext `c_0 + Σ_i d_i = Δ·m + e_ct + Σ e_i`, at the ciphertext's
/// level and scale. `key` is the collective key's identity
/// ([`crate::wire::public_key_digest`]). Fails, and yields nothing, unless every member of the
/// coalition contributed exactly once with a share for this ciphertext and key.
pub fn merge(
    session: &Session,
    key: Digest,
    ct: &Ciphertext,
    shares: &[DecryptionShare],
    own: Option<&ReceiverShare>,
) -> Result<Plaintext, ThresholdError> {
    if ct.degree() != 1 {
        return Err(ThresholdError::CiphertextDegree { degree: ct.degree() });
    }
    let params = session.params();
    let context = ciphertext_digest(params, ct);
    let mut headers: Vec<&ShareHeader> = shares.iter().map(|s| &s.header).collect();
    headers.extend(own.map(|o| &o.header));
    check_decryption_set(session, key, context, &headers)?;
    let ring = params.ring();
    let mut acc = ct.c0().clone();
    for s in shares {
        acc.add_assign(ring, &s.polys[0])?;
    }
    if let Some(o) = own {
        acc.add_assign(ring, &o.poly)?;
    }
    Ok(Plaintext::from_parts(params, acc, ct.level(), ct.scale())?)
}

/// Combines the key-switching shares of a coalition into `(c_0 + Σ h_0,i, Σ h_1,i)`, a
/// ciphertext of the same message under the target's secret key (no one decrypted it).
pub fn key_switch(
    session: &Session,
    key: Digest,
    ct: &Ciphertext,
    target: &PublicKey,
    shares: &[KeySwitchShare],
) -> Result<Ciphertext, ThresholdError> {
    if ct.degree() != 1 {
        return Err(ThresholdError::CiphertextDegree { degree: ct.degree() });
    }
    let params = session.params();
    let context = switch_context(params, ct, target);
    let headers: Vec<&ShareHeader> = shares.iter().map(|s| &s.header).collect();
    check_decryption_set(session, key, context, &headers)?;
    let ring = params.ring();
    let mut c0 = ct.c0().clone();
    let mut c1 = RnsPoly::<Ntt>::zero(ring, ct.c0().basis())?;
    for s in shares {
        c0.add_assign(ring, &s.polys[0])?;
        c1.add_assign(ring, &s.polys[1])?;
    }
    Ok(Ciphertext::from_parts(params, vec![c0, c1], ct.level(), ct.scale())?)
}
