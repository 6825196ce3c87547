//! The byte format of every share, and what reading one guarantees.
//!
//! ```text
//! magic "VTHR" | version u16 | kind u8 | scheme u8 | party u32
//! | parameter fingerprint [16] | session id [16] | collective-key id [32] | context [32]
//! | aux u64 | payload length u64 | payload | tag [32]
//! ```
//! All integers little-endian. `context` is the digest the share is bound to: the ciphertext
//! (decryption and key-switching shares; with the nonce and mask size for refresh shares), the round-1 aggregate (relinearisation round 2), or
//! zero. `aux` carries the Galois element, or the coalition mask of a decryption,
//! key-switching or refresh share (a refresh's nonce is bound through its context).
//! Version 2 (this one) moved the refresh nonce from `aux` into the context.
//! `tag = BLAKE3-keyed(K, everything before it)` with `K` derived from the session (CRS seed,
//! parameters, parties, threshold).
//!
//! Guarantees of reading a share ([`crate::Share::from_bytes`]): the bytes have the expected
//! kind, the format version of this build, consistent lengths; they were made by someone holding
//! the session's CRS seed and were not modified since (a wrong tag is
//! [`ThresholdError::TagMismatch`]); they name these parameters, this session and a member of
//! it; the residues are reduced and the bases are the expected ones. Merging and aggregation
//! then check the key, ciphertext and round bindings and that every party contributed once. Not guaranteed: that the sender computed its share honestly (parties are
//! semi-honest), nor integrity against a party of the session, which knows `K` (the
//! authenticated channel names the sender).

use veil_channel::Fingerprint;
use veil_ckks::{Ciphertext, Parameters, PublicKey};
use veil_math::{Ntt, RnsPoly};

use crate::session::{PartyId, Session};
use crate::ThresholdError;

/// Version of the share format written by this build.
pub const SHARE_FORMAT_VERSION: u16 = 2;
const MAGIC: &[u8; 4] = b"VTHR";
const HEADER_BYTES: usize = 4 + 2 + 1 + 1 + 4 + 16 + 16 + 32 + 32 + 8 + 8;
const TAG_BYTES: usize = 32;

/// What a share is a share of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShareKind {
    /// Collective public key generation.
    PublicKey,
    /// Relinearisation key generation, round 1.
    RelinRound1,
    /// Relinearisation key generation, round 2.
    RelinRound2,
    /// Galois (rotation) key generation.
    Galois,
    /// Partial decryption.
    Decryption,
    /// Collective key switching to a target public key.
    PublicKeySwitch,
    /// A Shamir sub-share of a secret-key share (secret: sent to one party only).
    ShamirSubShare,
    /// Collective refresh of a ciphertext to the top level.
    Refresh,
}

impl ShareKind {
    fn code(self) -> u8 {
        match self {
            Self::PublicKey => 1,
            Self::RelinRound1 => 2,
            Self::RelinRound2 => 3,
            Self::Galois => 4,
            Self::Decryption => 5,
            Self::PublicKeySwitch => 6,
            Self::ShamirSubShare => 7,
            Self::Refresh => 8,
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            1 => Self::PublicKey,
            2 => Self::RelinRound1,
            3 => Self::RelinRound2,
            4 => Self::Galois,
            5 => Self::Decryption,
            6 => Self::PublicKeySwitch,
            7 => Self::ShamirSubShare,
            8 => Self::Refresh,
            _ => return None,
        })
    }
}

impl std::fmt::Display for ShareKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::PublicKey => "public-key share",
            Self::RelinRound1 => "relinearisation round-1 share",
            Self::RelinRound2 => "relinearisation round-2 share",
            Self::Galois => "Galois-key share",
            Self::Decryption => "decryption share",
            Self::PublicKeySwitch => "key-switching share",
            Self::ShamirSubShare => "Shamir sub-share",
            Self::Refresh => "refresh share",
        })
    }
}

/// How a decryption share's secret was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShareScheme {
    /// The party's own additive share of an N-out-of-N key.
    Additive,
    /// A Lagrange-weighted Shamir share of a t-out-of-N key, for one coalition.
    Shamir,
}

impl ShareScheme {
    fn code(self) -> u8 {
        match self {
            Self::Additive => 0,
            Self::Shamir => 1,
        }
    }
    fn from_code(c: u8) -> Option<Self> {
        match c {
            0 => Some(Self::Additive),
            1 => Some(Self::Shamir),
            _ => None,
        }
    }
}

/// A 32-byte digest (ciphertext, collective key, round aggregate).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The all-zero digest (no binding).
    pub const NONE: Self = Self([0; 32]);

    /// First 8 bytes in hexadecimal, for error messages.
    pub fn short_hex(&self) -> String {
        self.0[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digest({})", self.short_hex())
    }
}

/// The header fields of a share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareHeader {
    pub kind: ShareKind,
    pub scheme: ShareScheme,
    pub party: PartyId,
    pub params: Fingerprint,
    pub session: Fingerprint,
    pub key: Digest,
    pub context: Digest,
    pub aux: u64,
}

impl ShareHeader {
    pub(crate) fn new(session: &Session, kind: ShareKind, party: PartyId, key: Digest, context: Digest, aux: u64) -> Self {
        Self {
            kind,
            scheme: ShareScheme::Additive,
            party,
            params: session.params().fingerprint(),
            session: session.id(),
            key,
            context,
            aux,
        }
    }

    /// Checks the key binding.
    pub(crate) fn expect_key(&self, key: Digest) -> Result<(), ThresholdError> {
        if self.key != key {
            return Err(ThresholdError::KeyMismatch {
                kind: self.kind,
                party: self.party,
                expected: key.short_hex(),
                found: self.key.short_hex(),
            });
        }
        Ok(())
    }

    /// Checks the context binding (round aggregate, Galois element, ...).
    pub(crate) fn expect_context(&self, context: Digest, aux: u64) -> Result<(), ThresholdError> {
        if self.context != context || self.aux != aux {
            return Err(ThresholdError::ContextMismatch {
                kind: self.kind,
                party: self.party,
                expected: format!("{}/{aux}", context.short_hex()),
                found: format!("{}/{}", self.context.short_hex(), self.aux),
            });
        }
        Ok(())
    }
}

/// Serialises `header` and `payload` with the session's tag.
pub(crate) fn seal(session: &Session, header: &ShareHeader, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + payload.len() + TAG_BYTES);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&SHARE_FORMAT_VERSION.to_le_bytes());
    out.push(header.kind.code());
    out.push(header.scheme.code());
    out.extend_from_slice(&header.party.0.to_le_bytes());
    out.extend_from_slice(&header.params.0);
    out.extend_from_slice(&header.session.0);
    out.extend_from_slice(&header.key.0);
    out.extend_from_slice(&header.context.0);
    out.extend_from_slice(&header.aux.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    let tag = blake3::keyed_hash(session.tag_key(), &out);
    out.extend_from_slice(tag.as_bytes());
    out
}

/// Parses and authenticates a share of kind `expected` (see the module docs for what holds
/// afterwards); returns the header and the payload.
pub(crate) fn open<'a>(session: &Session, bytes: &'a [u8], expected: ShareKind) -> Result<(ShareHeader, &'a [u8]), ThresholdError> {
    let what = "veil-threshold share";
    if bytes.len() < HEADER_BYTES + TAG_BYTES {
        return Err(ThresholdError::Truncated { what, needed: HEADER_BYTES + TAG_BYTES - bytes.len() });
    }
    let mut r = Reader { bytes, pos: 0, what };
    if r.take(4)? != MAGIC {
        return Err(ThresholdError::Malformed { what, reason: "bad magic (not a veil-threshold share)".into() });
    }
    let version = r.u16()?;
    if version != SHARE_FORMAT_VERSION {
        return Err(ThresholdError::UnsupportedVersion { found: version, supported: SHARE_FORMAT_VERSION });
    }
    let code = r.u8()?;
    let kind =
        ShareKind::from_code(code).ok_or_else(|| ThresholdError::Malformed { what, reason: format!("unknown share kind {code}") })?;
    if kind != expected {
        return Err(ThresholdError::WrongKind { expected, found: kind });
    }
    let sc = r.u8()?;
    let scheme =
        ShareScheme::from_code(sc).ok_or_else(|| ThresholdError::Malformed { what, reason: format!("unknown share scheme {sc}") })?;
    let party = PartyId(r.u32()?);
    let params = Fingerprint(r.array16()?);
    let sid = Fingerprint(r.array16()?);
    let key = Digest(r.array32()?);
    let context = Digest(r.array32()?);
    let aux = r.u64()?;
    let len = r.u64()?;
    let body_end = (HEADER_BYTES as u64).checked_add(len).filter(|&e| e <= (bytes.len() - TAG_BYTES) as u64);
    let Some(body_end) = body_end else {
        return Err(ThresholdError::Truncated { what, needed: (len as usize).saturating_sub(bytes.len() - HEADER_BYTES - TAG_BYTES) });
    };
    let body_end = body_end as usize;
    if body_end + TAG_BYTES != bytes.len() {
        return Err(ThresholdError::Malformed { what, reason: format!("{} trailing bytes", bytes.len() - body_end - TAG_BYTES) });
    }
    if params != session.params().fingerprint() {
        return Err(ThresholdError::ParameterMismatch { kind, party, expected: session.params().fingerprint(), found: params });
    }
    if sid != session.id() {
        return Err(ThresholdError::SessionMismatch { kind, party, expected: session.id(), found: sid });
    }
    let tag = blake3::keyed_hash(session.tag_key(), &bytes[..body_end]);
    let given: &[u8; 32] = bytes[body_end..].try_into().map_err(|_| ThresholdError::Malformed { what, reason: "tag".into() })?;
    if !bool::from(subtle::ConstantTimeEq::ct_eq(&tag.as_bytes()[..], &given[..])) {
        return Err(ThresholdError::TagMismatch { kind, party });
    }
    session.check_member(party)?;
    let header = ShareHeader { kind, scheme, party, params, session: sid, key, context, aux };
    Ok((header, &bytes[HEADER_BYTES..body_end]))
}

/// Little-endian cursor over untrusted bytes.
pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Self { bytes, pos: 0, what }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ThresholdError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(ThresholdError::Truncated { what: self.what, needed: n.saturating_sub(self.bytes.len() - self.pos) });
        };
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const K: usize>(&mut self) -> Result<[u8; K], ThresholdError> {
        let mut a = [0u8; K];
        a.copy_from_slice(self.take(K)?);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ThresholdError> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, ThresholdError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, ThresholdError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, ThresholdError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn array16(&mut self) -> Result<[u8; 16], ThresholdError> {
        self.array()
    }
    pub(crate) fn array32(&mut self) -> Result<[u8; 32], ThresholdError> {
        self.array()
    }

    pub(crate) fn finish(&self) -> Result<(), ThresholdError> {
        if self.pos != self.bytes.len() {
            return Err(ThresholdError::Malformed { what: self.what, reason: format!("{} trailing bytes", self.bytes.len() - self.pos) });
        }
        Ok(())
    }

    /// A polynomial over exactly `basis` (residues checked reduced).
    pub(crate) fn poly(&mut self, params: &Parameters, basis: &[usize]) -> Result<RnsPoly<Ntt>, ThresholdError> {
        let limbs = self.u32()? as usize;
        if limbs != basis.len() {
            return Err(ThresholdError::Malformed {
                what: self.what,
                reason: format!("polynomial with {limbs} limbs, expected {}", basis.len()),
            });
        }
        for &want in basis {
            let got = self.u32()? as usize;
            if got != want {
                return Err(ThresholdError::Malformed { what: self.what, reason: format!("limb modulus index {got}, expected {want}") });
            }
        }
        let n = params.n();
        let raw = self.take(limbs * n * 8)?;
        let data: Vec<u64> = raw.chunks_exact(8).map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect();
        RnsPoly::from_residues(params.ring(), basis, data).map_err(|e| ThresholdError::Malformed { what: self.what, reason: e.to_string() })
    }
}

/// Appends `p` (basis then residues) to `out`.
pub(crate) fn put_poly(out: &mut Vec<u8>, p: &RnsPoly<Ntt>) {
    out.extend_from_slice(&(p.num_limbs() as u32).to_le_bytes());
    for &i in p.basis() {
        out.extend_from_slice(&(i as u32).to_le_bytes());
    }
    out.reserve(p.data().len() * 8);
    for &v in p.data() {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn hash_poly(h: &mut blake3::Hasher, p: &RnsPoly<Ntt>) {
    h.update(&(p.num_limbs() as u32).to_le_bytes());
    for &i in p.basis() {
        h.update(&(i as u32).to_le_bytes());
    }
    let mut buf = vec![0u8; 4096 * 8];
    for chunk in p.data().chunks(4096) {
        for (d, v) in buf.chunks_exact_mut(8).zip(chunk) {
            d.copy_from_slice(&v.to_le_bytes());
        }
        h.update(&buf[..chunk.len() * 8]);
    }
}

/// The digest a decryption or key-switching share is bound to: parameters, level, scale and
/// every residue of the ciphertext.
pub fn ciphertext_digest(params: &Parameters, ct: &Ciphertext) -> Digest {
    let mut h = blake3::Hasher::new_derive_key("veil-threshold/ciphertext-digest");
    h.update(&params.fingerprint().0);
    h.update(&(ct.level().0 as u32).to_le_bytes());
    h.update(&ct.scale().0.to_bits().to_le_bytes());
    h.update(&(ct.parts().len() as u32).to_le_bytes());
    for p in ct.parts() {
        hash_poly(&mut h, p);
    }
    Digest(*h.finalize().as_bytes())
}

/// The identity of a collective public key (to which every secret share gets bound).
pub fn public_key_digest(params: &Parameters, pk: &PublicKey) -> Digest {
    let mut h = blake3::Hasher::new_derive_key("veil-threshold/public-key-digest");
    h.update(&params.fingerprint().0);
    hash_poly(&mut h, pk.b());
    hash_poly(&mut h, pk.a());
    Digest(*h.finalize().as_bytes())
}

pub(crate) fn polys_digest(label: &str, polys: &[&RnsPoly<Ntt>]) -> Digest {
    let mut h = blake3::Hasher::new_derive_key(label);
    for p in polys {
        hash_poly(&mut h, p);
    }
    Digest(*h.finalize().as_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use veil_ckks::ParametersLiteral;
    use veil_math::sampler::Seed;

    #[test]
    fn sealed_bytes_round_trip_and_every_flipped_byte_is_rejected() {
        let p = Parameters::new(ParametersLiteral::insecure_n1024_l2()).unwrap();
        let s = Session::new(&p, Seed([9; 32]), &[PartyId(1), PartyId(2)]).unwrap();
        let h = ShareHeader::new(&s, ShareKind::Decryption, PartyId(2), Digest([1; 32]), Digest([2; 32]), 3);
        let bytes = seal(&s, &h, b"payload");
        let (h2, payload) = open(&s, &bytes, ShareKind::Decryption).unwrap();
        assert_eq!((h2, payload), (h, &b"payload"[..]));
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 0x40;
            assert!(open(&s, &t, ShareKind::Decryption).is_err(), "flip at {i} accepted");
        }
        for cut in [0, 10, HEADER_BYTES, bytes.len() - 1] {
            assert!(open(&s, &bytes[..cut], ShareKind::Decryption).is_err());
        }
        assert!(matches!(open(&s, &bytes, ShareKind::Galois), Err(ThresholdError::WrongKind { .. })));
        let other = Session::new(&p, Seed([8; 32]), &[PartyId(1), PartyId(2)]).unwrap();
        assert!(matches!(open(&other, &bytes, ShareKind::Decryption), Err(ThresholdError::SessionMismatch { .. })));
    }
}
