//! Parameters: an unchecked, serialisable [`ParametersLiteral`] becomes an immutable
//! [`Parameters`] through one validating `TryFrom`; share it as `Arc<Parameters>`.
//!
//! The ring is `R = Z[X]/(X^N + 1)`. The ciphertext modulus `Q_L = q_0 ⋯ q_L` has a first prime
//! `q_0` (precision of the final result) and `L` scaling primes close to the scale; the special
//! modulus `P = p_0 ⋯ p_{K-1}` serves hybrid key switching with `dnum` gadget digits, each the
//! product of `α = ⌈(L+1)/dnum⌉` consecutive `q_i`. Security is checked on `log2(Q_L·P)` against
//! the Homomorphic Encryption Standard's table for 128-bit classical security with uniform
//! ternary secrets and σ = 3.2.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use veil_channel::Fingerprint;
use veil_math::rns::{BaseConverter, RnsBasis};
use veil_math::{prime, Modulus, RingContext};

use crate::encoding::SlotTables;
use crate::CkksError;

/// The HE standard's bound on `log2(Q·P)` for 128-bit classical security, ternary secrets.
pub const HE_STANDARD_128: [(usize, u32); 7] =
    [(1024, 27), (2048, 54), (4096, 109), (8192, 218), (16384, 438), (32768, 881), (65536, 1772)];

/// Security claim of a parameter literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Security {
    /// 128-bit classical security by the HE standard table (checked).
    Classical128,
    /// No security: for fast tests only; the literal's name must start with `insecure_`.
    InsecureTestOnly,
}

/// A level: the index of the top ciphertext prime (`Q_l = q_0 ⋯ q_l`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Level(pub usize);

/// A CKKS scale `Δ` (plaintext values are multiplied by `Δ` before rounding).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Scale(pub f64);

impl Scale {
    /// `2^bits`.
    pub fn from_log2(bits: f64) -> Self {
        Self(bits.exp2())
    }

    /// `log2(Δ)`.
    pub fn log2(self) -> f64 {
        self.0.log2()
    }

    /// Whether two scales agree up to floating-point rounding of their products.
    pub fn matches(self, other: Scale) -> bool {
        (self.0 / other.0 - 1.0).abs() < 1e-12
    }
}

/// Unchecked description of a parameter set (serialisable).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParametersLiteral {
    /// Preset name (insecure ones start with `insecure_`).
    pub name: String,
    /// `log2 N`.
    pub log_n: u32,
    /// Bit sizes of `q_0, …, q_L`.
    pub log_q: Vec<u32>,
    /// Bit sizes of the special primes `p_0, …, p_{K-1}`.
    pub log_p: Vec<u32>,
    /// Number of gadget digits (default: the smallest that keeps each digit within `P`).
    pub dnum: Option<usize>,
    /// `log2` of the default scale.
    pub log_scale: u32,
    /// Claimed security.
    pub security: Security,
}

impl ParametersLiteral {
    fn secure(name: &str, log_n: u32, log_q: Vec<u32>, log_p: Vec<u32>) -> Self {
        Self { name: name.into(), log_n, log_q, log_p, dnum: None, log_scale: 40, security: Security::Classical128 }
    }

    /// N = 8192, moduli 60,40,40 + special 60 (log QP = 200 <= 218), scale 2^40: two levels.
    /// This is BENCH.md's `N=8192,L=2,scale=2^40`.
    pub fn n8192_l2_sec128() -> Self {
        Self::secure("n8192_l2_sec128", 13, vec![60, 40, 40], vec![60])
    }

    /// N = 16384, moduli 60,40×6 + special 2×60 (log QP = 420 <= 438), scale 2^40: six levels.
    /// This is BENCH.md's `N=16384,L=6,scale=2^40`. Two special primes give digits of two primes
    /// (dnum = 4, as OpenFHE's default here): smaller switching keys and faster key switching
    /// and key generation than one special prime (dnum = 7).
    pub fn n16384_l6_sec128() -> Self {
        Self::secure("n16384_l6_sec128", 14, [vec![60], vec![40; 6]].concat(), vec![60; 2])
    }

    /// N = 32768, moduli 60,40×14 + special 3×60 (log QP = 800 <= 881).
    pub fn n32768_l14_sec128() -> Self {
        Self::secure("n32768_l14_sec128", 15, [vec![60], vec![40; 14]].concat(), vec![60; 3])
    }

    /// N = 65536, moduli 60,40×30 + special 4×60 (log QP = 1500 <= 1772).
    pub fn n65536_l30_sec128() -> Self {
        Self::secure("n65536_l30_sec128", 16, [vec![60], vec![40; 30]].concat(), vec![60; 4])
    }

    /// Insecure small ring (N = 1024) with the shape of the N=8192 preset, for fast tests.
    pub fn insecure_n1024_l2() -> Self {
        Self { security: Security::InsecureTestOnly, ..Self::secure("insecure_n1024_l2", 10, vec![60, 40, 40], vec![60]) }
    }

    /// Insecure small ring (N = 2048) with four levels and two digits of two primes, for tests
    /// of multi-prime digits.
    pub fn insecure_n2048_l4_dnum3() -> Self {
        Self {
            security: Security::InsecureTestOnly,
            dnum: Some(3),
            ..Self::secure("insecure_n2048_l4_dnum3", 11, vec![58, 40, 40, 40, 40], vec![61, 61])
        }
    }

    /// Every named preset.
    pub fn presets() -> Vec<Self> {
        vec![
            Self::n8192_l2_sec128(),
            Self::n16384_l6_sec128(),
            Self::n32768_l14_sec128(),
            Self::n65536_l30_sec128(),
            Self::insecure_n1024_l2(),
            Self::insecure_n2048_l4_dnum3(),
        ]
    }

    /// The preset of that name.
    pub fn preset(name: &str) -> Option<Self> {
        Self::presets().into_iter().find(|p| p.name == name)
    }
}

/// Validated, immutable parameters with every precomputed table.
#[derive(Debug)]
pub struct Parameters {
    literal: ParametersLiteral,
    ring: Arc<RingContext>,
    q: Vec<u64>,
    p: Vec<u64>,
    dnum: usize,
    alpha: usize,
    log_qp: u32,
    fingerprint: Fingerprint,
    pub(crate) slots: SlotTables,
    /// `[l][i] = (q_l^{-1} mod q_i, Shoup)` for `i < l`.
    pub(crate) rescale_inv: Vec<Vec<(u64, u64)>>,
    /// `(P^{-1} mod q_i, Shoup)`.
    pub(crate) p_inv: Vec<(u64, u64)>,
    /// `⌊P/2⌋ mod p_k` and `⌊P/2⌋ mod q_i` (centred ModDown).
    pub(crate) half_p_mod_p: Vec<u64>,
    pub(crate) half_p_mod_q: Vec<u64>,
    /// `[l][j]`: converter from digit `j`'s primes (at level `l`) to the rest of `Q_l ∪ P`.
    pub(crate) mod_up: Vec<Vec<BaseConverter>>,
    /// `[l][j]`: `⌊Q_j/2⌋` modulo the digit's primes and modulo the converter's targets
    /// (centred digits).
    pub(crate) mod_up_half: Vec<Vec<(Vec<u64>, Vec<u64>)>>,
    /// `[l]`: converter from `P` to `Q_l`.
    pub(crate) mod_down: Vec<BaseConverter>,
    /// `[l]`: CRT basis of `Q_l`.
    pub(crate) crt: Vec<RnsBasis>,
}

impl TryFrom<ParametersLiteral> for Parameters {
    type Error = CkksError;

    fn try_from(lit: ParametersLiteral) -> Result<Self, CkksError> {
        if !(10..=17).contains(&lit.log_n) {
            return Err(CkksError::UnsupportedDegree { log_n: lit.log_n });
        }
        let n = 1usize << lit.log_n;
        if lit.log_q.is_empty() || lit.log_p.is_empty() {
            return Err(CkksError::InvalidModuli { reason: "need at least one q and one special prime".into() });
        }
        if let Some(b) = lit.log_q.iter().chain(&lit.log_p).find(|b| !(20..=61).contains(*b)) {
            return Err(CkksError::InvalidModuli { reason: format!("prime size {b} bits outside [20, 61]") });
        }
        let log_qp: u32 = lit.log_q.iter().chain(&lit.log_p).sum();
        match lit.security {
            Security::Classical128 => {
                let max_bits = HE_STANDARD_128.iter().find(|(nn, _)| *nn == n).map(|(_, b)| *b).ok_or(CkksError::NoSecurityEntry { n })?;
                if log_qp > max_bits {
                    return Err(CkksError::Insecure { n, log_qp, max_bits });
                }
            }
            Security::InsecureTestOnly => {
                if !lit.name.starts_with("insecure_") {
                    return Err(CkksError::UnnamedInsecure { name: lit.name.clone() });
                }
            }
        }
        // Largest primes of each size, distinct over the whole chain.
        let mut used: Vec<u64> = Vec::new();
        for &bits in lit.log_q.iter().chain(&lit.log_p) {
            let p = prime::ntt_primes(bits, n, 1, &used)?[0];
            used.push(p);
        }
        let (q, p) = (used[..lit.log_q.len()].to_vec(), used[lit.log_q.len()..].to_vec());
        let q_count = q.len();
        let p_bits: u32 = p.iter().map(|v| 64 - v.leading_zeros()).sum();
        let dnum = match lit.dnum {
            Some(d) => d,
            None => (1..=q_count).find(|&d| max_digit_bits(&q, q_count.div_ceil(d)) <= p_bits).unwrap_or(q_count),
        };
        if dnum == 0 || dnum > q_count {
            return Err(CkksError::InvalidDnum { dnum, q_count });
        }
        let alpha = q_count.div_ceil(dnum);
        let dnum = q_count.div_ceil(alpha);
        let digit_bits = max_digit_bits(&q, alpha);
        if digit_bits > p_bits {
            return Err(CkksError::DigitTooLarge { digit_bits, p_bits, dnum });
        }
        if lit.log_scale < 10 || lit.log_scale >= 62 || lit.log_scale as f64 >= log2(q[0]) {
            return Err(CkksError::InvalidScale { log_scale: lit.log_scale as f64, reason: "must be in [10, 62) and below q_0" });
        }
        let ring = RingContext::new(n, &used)?;
        let qm: Vec<Modulus> = q.iter().map(|&v| Modulus::new(v)).collect::<Result<_, _>>()?;
        let pm: Vec<Modulus> = p.iter().map(|&v| Modulus::new(v)).collect::<Result<_, _>>()?;
        let rescale_inv = (0..q_count)
            .map(|l| {
                (0..l)
                    .map(|i| {
                        let inv = qm[i].inv(qm[l].value())?;
                        Ok((inv, qm[i].shoup(inv)))
                    })
                    .collect::<Result<Vec<_>, CkksError>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let p_inv = qm
            .iter()
            .map(|m| {
                let prod = p.iter().fold(1u64, |acc, &pv| m.mul(acc, m.reduce(pv)));
                let inv = m.inv(prod)?;
                Ok((inv, m.shoup(inv)))
            })
            .collect::<Result<Vec<_>, CkksError>>()?;
        let mut half_p = veil_math::bigint::BigUint::product(&p);
        half_p.shr1();
        let half_p_mod_p = p.iter().map(|&v| half_p.rem_u64(v)).collect();
        let half_p_mod_q = q.iter().map(|&v| half_p.rem_u64(v)).collect();
        let mut mod_up = Vec::with_capacity(q_count);
        let mut mod_up_half = Vec::with_capacity(q_count);
        let mut mod_down = Vec::with_capacity(q_count);
        let mut crt = Vec::with_capacity(q_count);
        for l in 0..q_count {
            let mut convs = Vec::new();
            let mut halves = Vec::new();
            for j in 0..(l + 1).div_ceil(alpha) {
                let digit = j * alpha..((j + 1) * alpha).min(l + 1);
                let src: Vec<Modulus> = qm[digit.clone()].to_vec();
                let dst: Vec<Modulus> = (0..=l).filter(|i| !digit.contains(i)).map(|i| qm[i]).chain(pm.iter().copied()).collect();
                let mut half = veil_math::bigint::BigUint::product(&q[digit.clone()]);
                half.shr1();
                halves.push((src.iter().map(|m| half.rem_u64(m.value())).collect(), dst.iter().map(|m| half.rem_u64(m.value())).collect()));
                convs.push(BaseConverter::new(&src, &dst)?);
            }
            mod_up.push(convs);
            mod_up_half.push(halves);
            mod_down.push(BaseConverter::new(&pm, &qm[..=l])?);
            crt.push(RnsBasis::new(&qm[..=l])?);
        }
        let slots = SlotTables::new(n);
        let mut canonical = Vec::new();
        canonical.extend_from_slice(&(n as u64).to_le_bytes());
        canonical.extend_from_slice(&(q.len() as u32).to_le_bytes());
        for v in &q {
            canonical.extend_from_slice(&v.to_le_bytes());
        }
        canonical.extend_from_slice(&(p.len() as u32).to_le_bytes());
        for v in &p {
            canonical.extend_from_slice(&v.to_le_bytes());
        }
        canonical.extend_from_slice(&(dnum as u32).to_le_bytes());
        canonical.extend_from_slice(&lit.log_scale.to_le_bytes());
        let fingerprint = Fingerprint::derive("veil-ckks/parameters", &canonical);
        Ok(Self {
            literal: lit,
            ring,
            q,
            p,
            dnum,
            alpha,
            log_qp,
            fingerprint,
            slots,
            rescale_inv,
            p_inv,
            half_p_mod_p,
            half_p_mod_q,
            mod_up,
            mod_up_half,
            mod_down,
            crt,
        })
    }
}

fn log2(v: u64) -> f64 {
    (v as f64).log2()
}

fn max_digit_bits(q: &[u64], alpha: usize) -> u32 {
    q.chunks(alpha).map(|c| c.iter().map(|v| 64 - v.leading_zeros()).sum::<u32>()).max().unwrap_or(0)
}

impl Parameters {
    /// Validates a literal and wraps it for sharing.
    pub fn new(literal: ParametersLiteral) -> Result<Arc<Self>, CkksError> {
        Ok(Arc::new(Self::try_from(literal)?))
    }

    /// The literal these parameters came from.
    pub fn literal(&self) -> &ParametersLiteral {
        &self.literal
    }

    /// The ring context; moduli `0..=L` are `q_0..q_L`, then the special primes.
    pub fn ring(&self) -> &Arc<RingContext> {
        &self.ring
    }

    /// Ring degree N.
    pub fn n(&self) -> usize {
        self.ring.n()
    }

    /// Number of slots, N/2.
    pub fn slot_count(&self) -> usize {
        self.ring.n() / 2
    }

    /// Ciphertext primes `q_0..q_L`.
    pub fn q(&self) -> &[u64] {
        &self.q
    }

    /// Special primes.
    pub fn p(&self) -> &[u64] {
        &self.p
    }

    /// Top level `L`.
    pub fn max_level(&self) -> Level {
        Level(self.q.len() - 1)
    }

    /// Number of gadget digits at the top level.
    pub fn dnum(&self) -> usize {
        self.dnum
    }

    /// Primes per digit.
    pub fn alpha(&self) -> usize {
        self.alpha
    }

    /// Number of digits at level `l`.
    pub fn digits_at(&self, level: Level) -> usize {
        (level.0 + 1).div_ceil(self.alpha)
    }

    /// Positions (in the `Q_l` basis) of digit `j`'s primes at level `l`.
    pub fn digit_range(&self, level: Level, j: usize) -> std::ops::Range<usize> {
        j * self.alpha..((j + 1) * self.alpha).min(level.0 + 1)
    }

    /// `log2(Q_L·P)` in bits (sum of prime bit sizes).
    pub fn log_qp(&self) -> u32 {
        self.log_qp
    }

    /// The default scale `2^log_scale`.
    pub fn default_scale(&self) -> Scale {
        Scale::from_log2(self.literal.log_scale as f64)
    }

    /// The 16-byte digest of the resolved parameters, carried by every serialised object.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Basis (context indices) of `Q_l`.
    pub fn q_basis(&self, level: Level) -> Vec<usize> {
        (0..=level.0).collect()
    }

    /// Basis of `Q_l ∪ P`.
    pub fn qp_basis(&self, level: Level) -> Vec<usize> {
        (0..=level.0).chain(self.q.len()..self.q.len() + self.p.len()).collect()
    }

    /// Basis of the full `Q_L ∪ P` (where keys live).
    pub fn key_basis(&self) -> Vec<usize> {
        self.qp_basis(self.max_level())
    }

    /// Checks that `level` exists.
    pub fn check_level(&self, level: Level) -> Result<(), CkksError> {
        if level.0 >= self.q.len() {
            return Err(CkksError::LevelOutOfRange { level: level.0, max: self.q.len() - 1 });
        }
        Ok(())
    }

    /// Galois element of a left rotation by `step` slots: `5^step mod 2N`.
    pub fn galois_element(&self, step: i64) -> usize {
        let slots = self.slot_count() as i64;
        let r = step.rem_euclid(slots) as u64;
        let two_n = 2 * self.n() as u64;
        let mut acc = 1u64;
        let mut base = 5u64;
        let mut e = r;
        while e > 0 {
            if e & 1 == 1 {
                acc = acc * base % two_n;
            }
            base = base * base % two_n;
            e >>= 1;
        }
        acc as usize
    }

    /// Galois element of complex conjugation: `2N - 1`.
    pub fn conjugation_element(&self) -> usize {
        2 * self.n() - 1
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_and_are_secure() {
        for lit in ParametersLiteral::presets().into_iter().filter(|p| p.log_n <= 14) {
            let p = Parameters::new(lit.clone()).unwrap();
            assert_eq!(p.q().len(), lit.log_q.len());
            for (&q, &b) in p.q().iter().zip(&lit.log_q) {
                assert_eq!(64 - q.leading_zeros(), b);
                assert_eq!(q % (2 * p.n() as u64), 1);
            }
        }
        let p = Parameters::new(ParametersLiteral::n16384_l6_sec128()).unwrap();
        assert_eq!((p.dnum(), p.alpha(), p.log_qp()), (4, 2, 420));
        let p = Parameters::new(ParametersLiteral::insecure_n2048_l4_dnum3()).unwrap();
        assert_eq!((p.dnum(), p.alpha()), (3, 2));
    }

    #[test]
    fn large_presets_pass_the_security_table() {
        // Checked without building the (large) tables: the bound is on the literal's sizes.
        for lit in [ParametersLiteral::n32768_l14_sec128(), ParametersLiteral::n65536_l30_sec128()] {
            let n = 1usize << lit.log_n;
            let bound = HE_STANDARD_128.iter().find(|(m, _)| *m == n).unwrap().1;
            let total: u32 = lit.log_q.iter().chain(&lit.log_p).sum();
            assert!(total <= bound, "{}", lit.name);
        }
    }

    #[test]
    fn insecure_and_invalid_literals_are_refused() {
        let mut lit = ParametersLiteral::n8192_l2_sec128();
        lit.log_q.push(40);
        assert!(matches!(Parameters::new(lit), Err(CkksError::Insecure { max_bits: 218, log_qp: 240, .. })));
        let mut lit = ParametersLiteral::insecure_n1024_l2();
        lit.name = "fast".into();
        assert!(matches!(Parameters::new(lit), Err(CkksError::UnnamedInsecure { .. })));
        let mut lit = ParametersLiteral::insecure_n1024_l2();
        lit.security = Security::Classical128;
        assert!(matches!(Parameters::new(lit), Err(CkksError::Insecure { .. })));
        let mut lit = ParametersLiteral::n8192_l2_sec128();
        lit.log_n = 9;
        assert!(matches!(Parameters::new(lit), Err(CkksError::UnsupportedDegree { .. })));
        let mut lit = ParametersLiteral::insecure_n2048_l4_dnum3();
        lit.dnum = Some(1);
        assert!(matches!(Parameters::new(lit), Err(CkksError::DigitTooLarge { .. })));
        let mut lit = ParametersLiteral::insecure_n1024_l2();
        lit.log_scale = 61;
        assert!(matches!(Parameters::new(lit), Err(CkksError::InvalidScale { .. })));
    }

    #[test]
    fn fingerprints_separate_parameter_sets() {
        let a = Parameters::new(ParametersLiteral::insecure_n1024_l2()).unwrap();
        let b = Parameters::new(ParametersLiteral::insecure_n2048_l4_dnum3()).unwrap();
        let a2 = Parameters::new(ParametersLiteral::insecure_n1024_l2()).unwrap();
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), a2.fingerprint());
    }
}
