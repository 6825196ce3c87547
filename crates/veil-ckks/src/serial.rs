//! Binary serialisation of parameters, keys, ciphertexts and plaintexts.
//!
//! Every object starts with a 23-byte header: magic `b"VCKK"`, the format version (`u16` LE),
//! a kind byte and the 16-byte parameter [`Fingerprint`]. Integers are little-endian; residues
//! are 8 bytes each, in the limb-major order of the object's basis (which the level and the
//! parameters determine). Seeded objects (fresh secret-key ciphertexts, public and switching
//! keys) carry the 32-byte seed of their uniform half instead of the half itself.
//!
//! Decoding checks everything it reads: magic, version, kind, fingerprint, counts against the
//! parameters, residues reduced modulo their primes, Galois elements odd and below `2N`, no
//! trailing bytes. Sizes are bounded by the parameters, so a hostile length field cannot
//! trigger a large allocation. Errors are typed; no input makes a decoder panic.

use std::sync::Arc;

use veil_channel::Fingerprint;
use veil_math::sampler::{Prng, Seed};
use veil_math::{sampler, Ntt, RnsPoly};

use crate::ciphertext::Ciphertext;
use crate::encoding::Plaintext;
use crate::keys::{GaloisKey, GaloisKeys, PublicKey, RelinearizationKey, SecretKey, SwitchingKey};
use crate::params::{Level, Parameters, ParametersLiteral, Scale, Security};
use crate::CkksError;

/// Magic bytes of every veil-ckks object.
pub const MAGIC: [u8; 4] = *b"VCKK";
/// Current format version.
pub const FORMAT_VERSION: u16 = 1;
/// Header length in bytes.
pub const HEADER_BYTES: usize = 4 + 2 + 1 + 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    Parameters = 1,
    SecretKey = 2,
    PublicKey = 3,
    RelinearizationKey = 4,
    GaloisKey = 5,
    GaloisKeys = 6,
    Ciphertext = 7,
    Plaintext = 8,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Parameters => "parameter set",
            Kind::SecretKey => "secret key",
            Kind::PublicKey => "public key",
            Kind::RelinearizationKey => "relinearisation key",
            Kind::GaloisKey => "Galois key",
            Kind::GaloisKeys => "Galois key set",
            Kind::Ciphertext => "ciphertext",
            Kind::Plaintext => "plaintext",
        }
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn new(kind: Kind, fp: Fingerprint) -> Self {
        let mut v = Vec::new();
        v.extend_from_slice(&MAGIC);
        v.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        v.push(kind as u8);
        v.extend_from_slice(&fp.0);
        Self(v)
    }
    fn u8(&mut self, x: u8) {
        self.0.push(x);
    }
    fn u32(&mut self, x: u32) {
        self.0.extend_from_slice(&x.to_le_bytes());
    }
    fn u64(&mut self, x: u64) {
        self.0.extend_from_slice(&x.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    fn poly(&mut self, p: &RnsPoly<Ntt>) {
        self.0.reserve(p.data().len() * 8);
        for &x in p.data() {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn open(bytes: &'a [u8], kind: Kind) -> Result<(Self, Fingerprint), CkksError> {
        let mut r = Reader { buf: bytes, what: kind.name() };
        if r.take(4)? != MAGIC {
            return Err(CkksError::Malformed { expected: kind.name(), reason: "bad magic".into() });
        }
        let version = u16::from_le_bytes([r.u8()?, r.u8()?]);
        if version != FORMAT_VERSION {
            return Err(CkksError::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
        }
        let k = r.u8()?;
        if k != kind as u8 {
            return Err(CkksError::Malformed { expected: kind.name(), reason: format!("object kind {k}") });
        }
        let mut fp = [0u8; 16];
        fp.copy_from_slice(r.take(16)?);
        Ok((r, Fingerprint(fp)))
    }

    fn open_for(bytes: &'a [u8], kind: Kind, params: &Parameters) -> Result<Self, CkksError> {
        let (r, fp) = Self::open(bytes, kind)?;
        if fp != params.fingerprint() {
            return Err(CkksError::ParameterMismatch { expected: params.fingerprint(), found: fp });
        }
        Ok(r)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CkksError> {
        if self.buf.len() < n {
            return Err(CkksError::Truncated { expected: self.what, needed: n - self.buf.len() });
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, CkksError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, CkksError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, CkksError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn seed(&mut self) -> Result<Seed, CkksError> {
        let mut s = [0u8; 32];
        s.copy_from_slice(self.take(32)?);
        Ok(Seed(s))
    }
    fn poly(&mut self, params: &Parameters, basis: &[usize]) -> Result<RnsPoly<Ntt>, CkksError> {
        let len = basis.len() * params.n();
        let bytes = self.take(len * 8)?;
        let data: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                u64::from_le_bytes(a)
            })
            .collect();
        Ok(RnsPoly::from_residues(params.ring(), basis, data)?)
    }
    fn level(&mut self, params: &Parameters) -> Result<Level, CkksError> {
        let l = Level(self.u32()? as usize);
        params.check_level(l)?;
        Ok(l)
    }
    fn scale(&mut self) -> Result<Scale, CkksError> {
        let s = f64::from_bits(self.u64()?);
        if !s.is_finite() || s <= 0.0 {
            return Err(CkksError::Malformed { expected: self.what, reason: "scale not positive and finite".into() });
        }
        Ok(Scale(s))
    }
    fn flag(&mut self) -> Result<bool, CkksError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            f => Err(CkksError::Malformed { expected: self.what, reason: format!("flag byte {f}") }),
        }
    }
    fn finish(self) -> Result<(), CkksError> {
        if !self.buf.is_empty() {
            return Err(CkksError::Malformed { expected: self.what, reason: format!("{} trailing bytes", self.buf.len()) });
        }
        Ok(())
    }
}

impl Parameters {
    /// Serialises the literal (the parameters are rebuilt and re-validated when read).
    pub fn to_bytes(&self) -> Vec<u8> {
        let lit = self.literal();
        let mut w = Writer::new(Kind::Parameters, self.fingerprint());
        w.u32(lit.name.len() as u32);
        w.bytes(lit.name.as_bytes());
        w.u32(lit.log_n);
        w.u32(lit.log_q.len() as u32);
        lit.log_q.iter().for_each(|&b| w.u32(b));
        w.u32(lit.log_p.len() as u32);
        lit.log_p.iter().for_each(|&b| w.u32(b));
        w.u32(lit.dnum.unwrap_or(0) as u32);
        w.u32(lit.log_scale);
        w.u8(matches!(lit.security, Security::InsecureTestOnly) as u8);
        w.0
    }

    /// Reads, validates and rebuilds parameters; the fingerprint must match the header.
    pub fn from_bytes(bytes: &[u8]) -> Result<Arc<Self>, CkksError> {
        let (mut r, fp) = Reader::open(bytes, Kind::Parameters)?;
        let name_len = r.u32()? as usize;
        if name_len > 256 {
            return Err(CkksError::Malformed { expected: r.what, reason: "name longer than 256 bytes".into() });
        }
        let name = String::from_utf8(r.take(name_len)?.to_vec())
            .map_err(|_| CkksError::Malformed { expected: "parameter set", reason: "name not UTF-8".into() })?;
        let log_n = r.u32()?;
        let list = |r: &mut Reader<'_>| -> Result<Vec<u32>, CkksError> {
            let k = r.u32()? as usize;
            if k > 64 {
                return Err(CkksError::Malformed { expected: "parameter set", reason: format!("{k} moduli") });
            }
            (0..k).map(|_| r.u32()).collect()
        };
        let log_q = list(&mut r)?;
        let log_p = list(&mut r)?;
        let dnum = match r.u32()? {
            0 => None,
            d => Some(d as usize),
        };
        let log_scale = r.u32()?;
        let security = if r.flag()? { Security::InsecureTestOnly } else { Security::Classical128 };
        r.finish()?;
        let params = Parameters::new(ParametersLiteral { name, log_n, log_q, log_p, dnum, log_scale, security })?;
        if params.fingerprint() != fp {
            return Err(CkksError::ParameterMismatch { expected: params.fingerprint(), found: fp });
        }
        Ok(params)
    }
}

impl Ciphertext {
    /// Serialises the ciphertext (fresh secret-key ciphertexts carry `c_1` as its seed).
    pub fn to_bytes(&self, params: &Parameters) -> Vec<u8> {
        let mut w = Writer::new(Kind::Ciphertext, params.fingerprint());
        w.u32(self.level.0 as u32);
        w.u64(self.scale.0.to_bits());
        w.u8(self.degree() as u8);
        w.u8(self.seed.is_some() as u8);
        w.poly(&self.parts[0]);
        match &self.seed {
            Some(s) => w.bytes(&s.0),
            None => w.poly(&self.parts[1]),
        }
        for p in &self.parts[2..] {
            w.poly(p);
        }
        w.0
    }

    /// Reads a ciphertext made under `params`.
    pub fn from_bytes(params: &Parameters, bytes: &[u8]) -> Result<Self, CkksError> {
        let mut r = Reader::open_for(bytes, Kind::Ciphertext, params)?;
        let level = r.level(params)?;
        let scale = r.scale()?;
        let degree = r.u8()? as usize;
        if !(1..=2).contains(&degree) {
            return Err(CkksError::CiphertextDegree { expected: 1, actual: degree });
        }
        let seeded = r.flag()?;
        let basis = params.q_basis(level);
        let mut parts = vec![r.poly(params, &basis)?];
        let seed = if seeded {
            let s = r.seed()?;
            parts.push(sampler::uniform_poly(params.ring(), &basis, &mut Prng::from_seed(&s))?);
            Some(s)
        } else {
            parts.push(r.poly(params, &basis)?);
            None
        };
        if degree == 2 {
            parts.push(r.poly(params, &basis)?);
        }
        r.finish()?;
        Ok(Self { parts, level, scale, seed })
    }
}

impl Plaintext {
    /// Serialises the plaintext.
    pub fn to_bytes(&self, params: &Parameters) -> Vec<u8> {
        let mut w = Writer::new(Kind::Plaintext, params.fingerprint());
        w.u32(self.level.0 as u32);
        w.u64(self.scale.0.to_bits());
        w.poly(&self.poly);
        w.0
    }

    /// Reads a plaintext made under `params`.
    pub fn from_bytes(params: &Parameters, bytes: &[u8]) -> Result<Self, CkksError> {
        let mut r = Reader::open_for(bytes, Kind::Plaintext, params)?;
        let level = r.level(params)?;
        let scale = r.scale()?;
        let poly = r.poly(params, &params.q_basis(level))?;
        r.finish()?;
        Ok(Self { poly, level, scale })
    }
}

impl SecretKey {
    /// Serialises the secret key. Handle the bytes as a secret (owner-only files).
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut w = Writer::new(Kind::SecretKey, self.params().fingerprint());
        w.poly(self.poly());
        zeroize::Zeroizing::new(w.0)
    }

    /// Reads a secret key made under `params`.
    pub fn from_bytes(params: &Arc<Parameters>, bytes: &[u8]) -> Result<Self, CkksError> {
        let mut r = Reader::open_for(bytes, Kind::SecretKey, params)?;
        let poly = r.poly(params, &params.key_basis())?;
        r.finish()?;
        SecretKey::from_poly(params, poly)
    }
}

impl PublicKey {
    /// Serialises the public key (`a` as its seed when known).
    pub fn to_bytes(&self, params: &Parameters) -> Vec<u8> {
        let mut w = Writer::new(Kind::PublicKey, params.fingerprint());
        w.u8(self.seed.is_some() as u8);
        w.poly(&self.b);
        match &self.seed {
            Some(s) => w.bytes(&s.0),
            None => w.poly(&self.a),
        }
        w.0
    }

    /// Reads a public key made under `params`.
    pub fn from_bytes(params: &Parameters, bytes: &[u8]) -> Result<Self, CkksError> {
        let mut r = Reader::open_for(bytes, Kind::PublicKey, params)?;
        let seeded = r.flag()?;
        let basis = params.key_basis();
        let b = r.poly(params, &basis)?;
        let (a, seed) = if seeded {
            let s = r.seed()?;
            (sampler::uniform_poly(params.ring(), &basis, &mut Prng::from_seed(&s))?, Some(s))
        } else {
            (r.poly(params, &basis)?, None)
        };
        r.finish()?;
        Ok(Self { b, a, seed })
    }
}

fn write_switching_key(w: &mut Writer, k: &SwitchingKey) {
    w.u32(k.b.len() as u32);
    w.u8(k.seed.is_some() as u8);
    for b in &k.b {
        w.poly(b);
    }
    match &k.seed {
        Some(s) => w.bytes(&s.0),
        None => k.a.iter().for_each(|a| w.poly(a)),
    }
}

fn read_switching_key(r: &mut Reader<'_>, params: &Parameters) -> Result<SwitchingKey, CkksError> {
    let dnum = r.u32()? as usize;
    if dnum != params.dnum() {
        return Err(CkksError::InvalidDnum { dnum, q_count: params.q().len() });
    }
    let seeded = r.flag()?;
    let basis = params.key_basis();
    let b = (0..dnum).map(|_| r.poly(params, &basis)).collect::<Result<Vec<_>, _>>()?;
    let (a, seed) = if seeded {
        let s = r.seed()?;
        (SwitchingKey::expand_a(params, &s)?, Some(s))
    } else {
        ((0..dnum).map(|_| r.poly(params, &basis)).collect::<Result<Vec<_>, _>>()?, None)
    };
    Ok(SwitchingKey { b, a, seed })
}

impl RelinearizationKey {
    /// Serialises the key (the `a_j` as their seed when known).
    pub fn to_bytes(&self, params: &Parameters) -> Vec<u8> {
        let mut w = Writer::new(Kind::RelinearizationKey, params.fingerprint());
        write_switching_key(&mut w, &self.0);
        w.0
    }

    /// Reads a relinearisation key made under `params`.
    pub fn from_bytes(params: &Parameters, bytes: &[u8]) -> Result<Self, CkksError> {
        let mut r = Reader::open_for(bytes, Kind::RelinearizationKey, params)?;
        let k = read_switching_key(&mut r, params)?;
        r.finish()?;
        Ok(Self(k))
    }
}

fn read_galois_element(r: &mut Reader<'_>, params: &Parameters) -> Result<usize, CkksError> {
    let g = r.u64()?;
    if g % 2 == 0 || g >= 2 * params.n() as u64 {
        return Err(CkksError::Malformed { expected: r.what, reason: format!("Galois element {g} is not odd and below 2N") });
    }
    Ok(g as usize)
}

impl GaloisKey {
    /// Serialises the key.
    pub fn to_bytes(&self, params: &Parameters) -> Vec<u8> {
        let mut w = Writer::new(Kind::GaloisKey, params.fingerprint());
        w.u64(self.galois_element as u64);
        write_switching_key(&mut w, &self.key);
        w.0
    }

    /// Reads a Galois key made under `params`.
    pub fn from_bytes(params: &Parameters, bytes: &[u8]) -> Result<Self, CkksError> {
        let mut r = Reader::open_for(bytes, Kind::GaloisKey, params)?;
        let g = read_galois_element(&mut r, params)?;
        let k = read_switching_key(&mut r, params)?;
        r.finish()?;
        Ok(GaloisKey::from_switching_key(params, g, k))
    }
}

impl GaloisKeys {
    /// Serialises the set.
    pub fn to_bytes(&self, params: &Parameters) -> Vec<u8> {
        let mut w = Writer::new(Kind::GaloisKeys, params.fingerprint());
        w.u32(self.keys.len() as u32);
        for k in self.keys.values() {
            w.u64(k.galois_element as u64);
            write_switching_key(&mut w, &k.key);
        }
        w.0
    }

    /// Reads a set made under `params` (at most N/2 + 1 keys).
    pub fn from_bytes(params: &Parameters, bytes: &[u8]) -> Result<Self, CkksError> {
        let mut r = Reader::open_for(bytes, Kind::GaloisKeys, params)?;
        let count = r.u32()? as usize;
        if count > params.slot_count() + 1 {
            return Err(CkksError::Malformed { expected: r.what, reason: format!("{count} keys") });
        }
        let mut set = GaloisKeys::default();
        for _ in 0..count {
            let g = read_galois_element(&mut r, params)?;
            let k = read_switching_key(&mut r, params)?;
            set.insert(GaloisKey::from_switching_key(params, g, k));
        }
        r.finish()?;
        Ok(set)
    }
}
