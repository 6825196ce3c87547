//! Keys: secret, public, and key-switching keys (relinearisation, Galois).
//!
//! A [`SwitchingKey`] from `s'` to `s` is, for each gadget digit `j` (primes `Q_j ⊂ Q`),
//! `(b_j, a_j) ∈ R_{QP}^2` with `b_j = -a_j·s + e_j + P·g_j·s'`, where `g_j ≡ 1 (mod q_i)` for
//! `q_i ∈ Q_j` and `≡ 0` for the other `q_i` and mod `P` (the CRT gadget). Keys are kept in
//! NTT form over the full `Q_L ∪ P`; the uniform halves `a_j` are expanded from a 32-byte seed so
//! that a key travels at half size. Security: RLWE with ternary `s` and σ = 3.2 errors; a
//! relinearisation or Galois key also assumes circular security (as every CKKS library does).

use std::collections::BTreeMap;
use std::sync::Arc;

use veil_math::sampler::{self, Prng, Seed};
use veil_math::{Coeff, Ntt, RnsPoly};
use zeroize::{Zeroize, Zeroizing};

use crate::params::Parameters;
use crate::CkksError;

/// A secret key `s` (NTT form over `Q_L ∪ P`); zeroised on drop, never printed.
pub struct SecretKey {
    params: Arc<Parameters>,
    poly: RnsPoly<Ntt>,
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.poly.zeroize();
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// A fresh uniform ternary secret.
    pub fn generate(params: &Arc<Parameters>, rng: &mut Prng) -> Result<Self, CkksError> {
        let coeffs = sampler::ternary(params.n(), rng);
        Self::from_coefficients(params, &coeffs)
    }

    /// The secret with these (small, signed) coefficients, e.g. an additive share.
    pub fn from_coefficients(params: &Arc<Parameters>, coeffs: &[i64]) -> Result<Self, CkksError> {
        let ring = params.ring();
        let poly = RnsPoly::from_signed(ring, &params.key_basis(), coeffs)?.into_ntt(ring);
        Ok(Self { params: params.clone(), poly })
    }

    /// The secret given as a ring element over `Q_L ∪ P` in NTT form (e.g. a threshold share).
    pub fn from_poly(params: &Arc<Parameters>, poly: RnsPoly<Ntt>) -> Result<Self, CkksError> {
        if poly.basis() != params.key_basis().as_slice() {
            return Err(veil_math::MathError::BasisMismatch { left: poly.basis().to_vec(), right: params.key_basis() }.into());
        }
        Ok(Self { params: params.clone(), poly })
    }

    /// `s` in NTT form over `Q_L ∪ P`.
    pub fn poly(&self) -> &RnsPoly<Ntt> {
        &self.poly
    }

    /// The parameters.
    pub fn params(&self) -> &Arc<Parameters> {
        &self.params
    }

    /// `s` restricted to `Q_l`.
    pub(crate) fn at_level(&self, level: usize) -> Result<RnsPoly<Ntt>, CkksError> {
        Ok(self.poly.select_limbs(&(0..=level).collect::<Vec<_>>())?)
    }
}

/// Gaussian error polynomial over `basis`, NTT form.
pub fn error_poly(params: &Parameters, basis: &[usize], rng: &mut Prng) -> Result<RnsPoly<Ntt>, CkksError> {
    let e = sampler::gaussian(params.n(), rng);
    let ring = params.ring();
    Ok(RnsPoly::<Coeff>::from_signed(ring, basis, &e)?.into_ntt(ring))
}

/// Ternary polynomial over `basis`, NTT form (the encryption randomness `u`).
pub fn ternary_poly(params: &Parameters, basis: &[usize], rng: &mut Prng) -> Result<RnsPoly<Ntt>, CkksError> {
    let t: Zeroizing<Vec<i64>> = sampler::ternary(params.n(), rng);
    let ring = params.ring();
    Ok(RnsPoly::<Coeff>::from_signed(ring, basis, &t)?.into_ntt(ring))
}

/// A public key `(b, a) = (-a·s + e, a)` over `Q_L ∪ P`: encryption happens modulo `Q_l·P`
/// and is divided by `P`, which leaves a fresh ciphertext with only rounding noise.
#[derive(Clone, Debug)]
pub struct PublicKey {
    pub(crate) b: RnsPoly<Ntt>,
    pub(crate) a: RnsPoly<Ntt>,
    pub(crate) seed: Option<Seed>,
}

impl PublicKey {
    /// Generates `(−a·s + e, a)` with `a` expanded from a fresh seed.
    pub fn generate(sk: &SecretKey, rng: &mut Prng) -> Result<Self, CkksError> {
        let params = sk.params();
        let seed = rng.seed();
        let basis = params.key_basis();
        let a: RnsPoly<Ntt> = sampler::uniform_poly(params.ring(), &basis, &mut Prng::from_seed(&seed))?;
        let mut pk = Self::generate_with_a(sk, a, rng)?;
        pk.seed = Some(seed);
        Ok(pk)
    }

    /// `(−a·s + e, a)` for a given uniform `a` over `Q_L ∪ P` (e.g. a common reference
    /// polynomial).
    pub fn generate_with_a(sk: &SecretKey, a: RnsPoly<Ntt>, rng: &mut Prng) -> Result<Self, CkksError> {
        let params = sk.params();
        let ring = params.ring();
        let basis = params.key_basis();
        let mut b = error_poly(params, &basis, rng)?;
        let mut as_ = a.clone();
        as_.mul_assign(ring, sk.poly())?;
        b.sub_assign(ring, &as_)?;
        Ok(Self { b, a, seed: None })
    }

    /// Assembles a public key from its two halves (e.g. after collective generation).
    pub fn from_parts(params: &Parameters, b: RnsPoly<Ntt>, a: RnsPoly<Ntt>) -> Result<Self, CkksError> {
        let basis = params.key_basis();
        for p in [&b, &a] {
            if p.basis() != basis.as_slice() {
                return Err(veil_math::MathError::BasisMismatch { left: p.basis().to_vec(), right: basis }.into());
            }
        }
        Ok(Self { b, a, seed: None })
    }

    /// `b = -a·s + e`.
    pub fn b(&self) -> &RnsPoly<Ntt> {
        &self.b
    }

    /// The uniform half `a`.
    pub fn a(&self) -> &RnsPoly<Ntt> {
        &self.a
    }
}

/// A key-switching key: `dnum` pairs `(b_j, a_j)` over `Q_L ∪ P`, NTT form.
#[derive(Clone, Debug)]
pub struct SwitchingKey {
    pub(crate) b: Vec<RnsPoly<Ntt>>,
    pub(crate) a: Vec<RnsPoly<Ntt>>,
    pub(crate) seed: Option<Seed>,
}

impl SwitchingKey {
    /// The uniform halves `a_j` expanded from `seed` (digit after digit, one ChaCha20 stream).
    pub fn expand_a(params: &Parameters, seed: &Seed) -> Result<Vec<RnsPoly<Ntt>>, CkksError> {
        let mut prng = Prng::from_seed(seed);
        let basis = params.key_basis();
        (0..params.dnum()).map(|_| Ok(sampler::uniform_poly(params.ring(), &basis, &mut prng)?)).collect()
    }

    /// A key switching `from` (over `Q_L ∪ P`, NTT) to `to`, with `a_j` from a fresh seed.
    pub fn generate(from: &RnsPoly<Ntt>, to: &SecretKey, rng: &mut Prng) -> Result<Self, CkksError> {
        let seed = rng.seed();
        let a = Self::expand_a(to.params(), &seed)?;
        let mut k = Self::generate_with_a(from, to, a, rng)?;
        k.seed = Some(seed);
        Ok(k)
    }

    /// `b_j = -a_j·s + e_j + P·g_j·s'` for given uniform `a_j` (one per digit, over `Q_L ∪ P`):
    /// the building block of collective (threshold) key generation.
    pub fn generate_with_a(from: &RnsPoly<Ntt>, to: &SecretKey, a: Vec<RnsPoly<Ntt>>, rng: &mut Prng) -> Result<Self, CkksError> {
        let params = to.params();
        let ring = params.ring();
        let basis = params.key_basis();
        if a.len() != params.dnum() {
            return Err(CkksError::InvalidDnum { dnum: a.len(), q_count: params.q().len() });
        }
        if from.basis() != basis.as_slice() {
            return Err(veil_math::MathError::BasisMismatch { left: from.basis().to_vec(), right: basis }.into());
        }
        let n = params.n();
        let p_mod: Vec<u64> = (0..params.q().len())
            .map(|i| {
                let m = ring.modulus(i);
                params.p().iter().fold(1u64, |acc, &p| m.mul(acc, m.reduce(p)))
            })
            .collect();
        let mut b = Vec::with_capacity(a.len());
        for (j, aj) in a.iter().enumerate() {
            let mut bj = error_poly(params, &basis, rng)?;
            let mut as_ = aj.clone();
            as_.mul_assign(ring, to.poly())?;
            bj.sub_assign(ring, &as_)?;
            for i in params.digit_range(params.max_level(), j) {
                let m = ring.modulus(i);
                let (w, ws) = (p_mod[i], m.shoup(p_mod[i]));
                let src = &from.limb(i)[..n];
                for (d, &s) in bj.limb_mut(i).iter_mut().zip(src) {
                    *d = m.add(*d, m.mul_shoup(s, w, ws));
                }
            }
            b.push(bj);
        }
        Ok(Self { b, a, seed: None })
    }

    /// Assembles a key from its halves.
    pub fn from_parts(params: &Parameters, b: Vec<RnsPoly<Ntt>>, a: Vec<RnsPoly<Ntt>>) -> Result<Self, CkksError> {
        if b.len() != params.dnum() || a.len() != params.dnum() {
            return Err(CkksError::InvalidDnum { dnum: b.len().min(a.len()), q_count: params.q().len() });
        }
        let basis = params.key_basis();
        for p in b.iter().chain(&a) {
            if p.basis() != basis.as_slice() {
                return Err(veil_math::MathError::BasisMismatch { left: p.basis().to_vec(), right: basis }.into());
            }
        }
        Ok(Self { b, a, seed: None })
    }

    /// The `b_j`.
    pub fn b(&self) -> &[RnsPoly<Ntt>] {
        &self.b
    }

    /// The `a_j`.
    pub fn a(&self) -> &[RnsPoly<Ntt>] {
        &self.a
    }
}

/// Relinearisation key: switches `s^2` to `s`.
#[derive(Clone, Debug)]
pub struct RelinearizationKey(pub SwitchingKey);

impl RelinearizationKey {
    /// Generates the key for `sk`.
    pub fn generate(sk: &SecretKey, rng: &mut Prng) -> Result<Self, CkksError> {
        let mut s2 = sk.poly().clone();
        s2.mul_assign(sk.params().ring(), sk.poly())?;
        let k = SwitchingKey::generate(&s2, sk, rng);
        s2.zeroize();
        Ok(Self(k?))
    }
}

/// Galois key for the automorphism `X -> X^g`: switches `s(X^g)` to `s`.
#[derive(Clone, Debug)]
pub struct GaloisKey {
    pub(crate) galois_element: usize,
    pub(crate) key: SwitchingKey,
    pub(crate) perm: Vec<u32>,
}

impl GaloisKey {
    /// Generates the key for element `g` (odd, below 2N).
    pub fn generate(sk: &SecretKey, galois_element: usize, rng: &mut Prng) -> Result<Self, CkksError> {
        let params = sk.params();
        let perm = params.ring().automorphism_permutation(galois_element);
        let mut sg = sk.poly().permute(&perm)?;
        let key = SwitchingKey::generate(&sg, sk, rng);
        sg.zeroize();
        Ok(Self { galois_element, key: key?, perm })
    }

    /// Assembles a Galois key from a switching key (`s(X^g)` to `s`).
    pub fn from_switching_key(params: &Parameters, galois_element: usize, key: SwitchingKey) -> Self {
        Self { galois_element, perm: params.ring().automorphism_permutation(galois_element), key }
    }

    /// The Galois element `g`.
    pub fn galois_element(&self) -> usize {
        self.galois_element
    }

    /// The switching key.
    pub fn key(&self) -> &SwitchingKey {
        &self.key
    }
}

/// A set of Galois keys indexed by Galois element.
#[derive(Clone, Debug, Default)]
pub struct GaloisKeys {
    pub(crate) keys: BTreeMap<usize, GaloisKey>,
}

impl GaloisKeys {
    /// Keys for left rotations by each of `steps` (negative: right) and, if asked, conjugation.
    pub fn generate(sk: &SecretKey, steps: &[i64], conjugation: bool, rng: &mut Prng) -> Result<Self, CkksError> {
        let params = sk.params();
        let mut keys = BTreeMap::new();
        let elements =
            steps.iter().map(|&s| params.galois_element(s)).chain(conjugation.then(|| params.conjugation_element())).filter(|&g| g != 1);
        for g in elements {
            if let std::collections::btree_map::Entry::Vacant(v) = keys.entry(g) {
                v.insert(GaloisKey::generate(sk, g, rng)?);
            }
        }
        Ok(Self { keys })
    }

    /// Adds a key.
    pub fn insert(&mut self, key: GaloisKey) {
        self.keys.insert(key.galois_element, key);
    }

    /// The key of element `g`.
    pub fn get(&self, galois_element: usize) -> Option<&GaloisKey> {
        self.keys.get(&galois_element)
    }

    /// All keys.
    pub fn iter(&self) -> impl Iterator<Item = &GaloisKey> {
        self.keys.values()
    }
}
