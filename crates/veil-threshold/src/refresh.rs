//! Collective refresh ("interactive bootstrapping"): a ciphertext at a low level `l` becomes an
//! encryption of the same message at the top level `L`, without anybody decrypting it.
//!
//! The protocol of Mouchet, Troncoso-Pastoriza, Bossuat and Hubaux ("Multiparty homomorphic
//! encryption from ring-learning-with-errors", PETS 2021), as transport-free local steps. For a
//! ciphertext `(c_0, c_1)` over `Q_l` with `c_0 + c_1·s = Δ·m + e_ct`, and a common uniform `a`
//! over `Q_L` expanded from the session's CRS and bound to this ciphertext and a caller nonce
//! (so that `a` is never reused), party `i` draws a mask `M_i` with integer coefficients
//! uniform in `[−B, B)` and releases
//!
//! ```text
//! h0_i = c_1·s_i + M_i + e_i^smudge   (mod Q_l)
//! h1_i = −a·s_i − M_i + e_i           (mod Q_L)
//! ```
//!
//! (`e^smudge` from [`Smudging`], the same flooding as a partial decryption; `e_i` from the
//! σ = 3.2 Gaussian). The finaliser computes `x = [c_0 + Σ_i h0_i]_{Q_l} = Δ·m + e_ct + Σ_i
//! (M_i + e_i^smudge)`, lifts its centred representative to `Q_L`, and outputs
//! `(x + Σ_i h1_i, a)` at level `L` with the input's scale: `x + Σh1 + a·s = Δ·m + e_ct + Σ
//! e^smudge + Σ e_i`, the same message with a slightly larger error.
//!
//! # How large the masks are, and what they buy
//!
//! Write `N` for the ring degree, `Δ` for the ciphertext's scale, `2^k` for a declared bound on
//! the slot values (`|m_j| ≤ 2^k`), `n` for the number of parties and `λ` for the statistical
//! security parameter.
//!
//! * **What is hidden.** The finaliser (any party, or an outsider holding every share) sees
//!   `x = v + Σ_i M_i` with `v = Δ·m + e_ct + Σ e^smudge`. Every coefficient of the encoding of
//!   a slot vector is at most its largest slot (the inverse canonical embedding averages the
//!   slots), so `‖Δ·m‖_∞ ≤ 2^k·Δ`; the error terms (`e_ct`, and `n` flooding samples below
//!   `9σ = 2^{23.2}` each) are far below `Δ`, so `‖v‖_∞ ≤ V = 2^{k + ⌈log2 Δ⌉ + 1}`. One honest party's `M_h` uniform on `2B` integers
//!   shifts by `v_c` at statistical distance `|v_c|/(2B)` per coefficient; over the `N`
//!   coefficients (union bound) `SD ≤ N·V/(2B)`. With `B = 2^b`,
//!   **`b = λ + log2 N + k + ⌈log2 Δ⌉`** gives `SD ≤ 2^{−λ}`, whatever the other `n − 1`
//!   parties do with their masks (they may collude with the finaliser).
//! * **No wrap-around.** The centred lift is exact when `‖x‖_∞ < Q_l/2`, i.e.
//!   **`Q_l > 2·(V + n·B)`**; [`RefreshSecurity::min_level`] returns the lowest level where this
//!   holds and [`Refresh::new`] refuses a ciphertext below it
//!   ([`ThresholdError::RefreshLevelTooLow`]).
//! * **Choice of λ.** [`RefreshSecurity::DEFAULT_LAMBDA`] = 80 bits of statistical distance per
//!   refreshed ciphertext, *after* the union bound over the `N` coefficients; `R` refreshes
//!   under one key add up to `R·2^{−80}` (2^{−70} after a thousand). At `N = 2^14`, `Δ = 2^40`,
//!   `k = 3` that is `b = 137`, and `n16384_l6_sec128` (`Q_2 ≈ 2^{140}`) refreshes at level 2
//!   for up to 3 parties (level 3 for 4 to 64, the session maximum), so a training iteration
//!   of depth 4 needs one refresh.
//! * **Compared with Lattigo.** Lattigo's `GetMinimumLevelForRefresh(λ, Δ, n, Q)` takes masks
//!   of `λ + ⌈log2 Δ⌉` bits and its examples and tests use `λ = 128`: 128 bits per coefficient
//!   for messages `|m| ≤ 1`, with no union bound over coefficients, i.e. about
//!   `128 − 14 = 114` bits in the measure above (and fewer for `|m| > 1`). On this chain that
//!   is level 3 for two parties. veil's default gives up 34 bits of that margin to refresh
//!   one level lower (one refresh per gradient-descent iteration instead of two);
//!   `RefreshSecurity::new(114, 0)` has Lattigo's mask size (168 bits at `Δ = 2^40`, `N = 2^14`).
//! * **If the declared bound is wrong.** Slots beyond `2^k` weaken the hiding by the factor of
//!   the excess (the distance bound grows linearly with `‖v‖`); the result stays correct as
//!   long as the no-wrap condition holds. A finaliser that finds `‖x‖_∞` beyond
//!   `V + n·B` (a missing, wrong or tampered share, or a message far outside its bound) returns
//!   [`ThresholdError::RefreshOutOfBound`] instead of a ciphertext.
//!
//! # Security
//!
//! Semi-honest parties, any `n − 1` of them colluding with the finaliser and the evaluator. The
//! pair `(h0_i, h1_i)` is an RLWE pair in `s_i` with the large error `±M_i` (Mouchet et al.,
//! PETS 2021, §IV); the aggregate is statistically masked as above; the output ciphertext's
//! error contains the old error `e_ct` under the flooding `Σ e^smudge`, as after a partial
//! decryption. Each share is bound (header) to the parameters, session, party, collective key,
//! coalition, the ciphertext, the nonce and the mask size, and authenticated like every share
//! ([`crate::wire`]).
//!
//! # Who takes part
//!
//! The parties of a [`DecryptionKey`]'s coalition: every party with its additive share
//! (N-out-of-N), or any `t` or more parties of a t-out-of-N key, each with its Lagrange-weighted
//! Shamir share ([`crate::ThresholdShare::decryption_key`]). The coalition's keys sum to `s`, so
//! the protocol above is unchanged; absent parties contribute no mask. The masks are sized for
//! the session's `N` parties, which covers any smaller coalition, and the finaliser's bound
//! counts the shares it actually received.

use veil_ckks::{Ciphertext, Level, Parameters, Scale};
use veil_math::bigint;
use veil_math::sampler::Prng;
use veil_math::{Coeff, Modulus, Ntt, RnsBasis, RnsPoly};
use zeroize::Zeroize;

use crate::decrypt::{check_decryption_set, DecryptionKey};
use crate::round::{RefreshRound, Share};
use crate::session::Session;
use crate::smudging::Smudging;
use crate::wire::{ciphertext_digest, Digest, ShareHeader, ShareKind};
use crate::ThresholdError;

/// A refresh share `(h0_i over Q_l, h1_i over Q_L)`.
pub type RefreshShare = Share<RefreshRound>;

/// Largest mask size in bits (three 64-bit words per coefficient).
pub const MAX_MASK_BITS: u32 = 190;

/// The statistical parameter `λ` and the declared bound `|m_j| ≤ 2^k` on the slots of the
/// ciphertexts to refresh: together they size the masks (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshSecurity {
    lambda: u32,
    log2_message_bound: u32,
}

impl RefreshSecurity {
    /// veil's default statistical parameter: 80 bits after the union bound over coefficients.
    pub const DEFAULT_LAMBDA: u32 = 80;
    /// Smallest accepted `λ`.
    pub const MIN_LAMBDA: u32 = 40;

    /// `λ` bits of statistical hiding for slots within `±2^log2_message_bound`
    /// (`40 ≤ λ ≤ 160`, `k ≤ 40`).
    pub fn new(lambda: u32, log2_message_bound: u32) -> Result<Self, ThresholdError> {
        if !(Self::MIN_LAMBDA..=160).contains(&lambda) {
            return Err(ThresholdError::InvalidRefreshSecurity {
                lambda,
                log2_message_bound,
                reason: format!("λ must lie in [{}, 160]", Self::MIN_LAMBDA),
            });
        }
        if log2_message_bound > 40 {
            return Err(ThresholdError::InvalidRefreshSecurity {
                lambda,
                log2_message_bound,
                reason: "the message bound exponent must be at most 40".into(),
            });
        }
        Ok(Self { lambda, log2_message_bound })
    }

    /// The default `λ` ([`Self::DEFAULT_LAMBDA`]) for slots within `±2^log2_message_bound`.
    pub fn with_bound(log2_message_bound: u32) -> Result<Self, ThresholdError> {
        Self::new(Self::DEFAULT_LAMBDA, log2_message_bound)
    }

    /// `λ`.
    pub fn lambda(&self) -> u32 {
        self.lambda
    }

    /// `k` of the declared bound `2^k`.
    pub fn log2_message_bound(&self) -> u32 {
        self.log2_message_bound
    }

    /// `⌈log2 Δ⌉ + k + 1`: `log2` of the bound `V` on the masked value's coefficients.
    fn log2_value_bound(&self, scale: Scale) -> u32 {
        scale.log2().ceil().max(0.0) as u32 + self.log2_message_bound + 1
    }

    /// `b = λ + log2 N + k + ⌈log2 Δ⌉`: masks are uniform in `[−2^b, 2^b)`.
    pub fn log2_mask_bound(&self, n: usize, scale: Scale) -> u32 {
        self.lambda + n.trailing_zeros() + self.log2_value_bound(scale) - 1
    }

    /// `log2(2·(V + parties·B))`: the modulus a refreshed ciphertext's level must exceed.
    pub fn log2_modulus_needed(&self, n: usize, scale: Scale, parties: usize) -> f64 {
        let masks = self.log2_mask_bound(n, scale) as f64 + (parties.max(1) as f64).log2();
        let value = self.log2_value_bound(scale) as f64;
        let (big, small) = if masks >= value { (masks, value) } else { (value, masks) };
        1.0 + big + (small - big).exp2().ln_1p() / std::f64::consts::LN_2
    }

    /// The lowest level `l` with `Q_l > 2·(V + parties·B)` for ciphertexts at `scale`.
    pub fn min_level(&self, params: &Parameters, parties: usize, scale: Scale) -> Result<Level, ThresholdError> {
        let needed = self.log2_modulus_needed(params.n(), scale, parties);
        let mut log2_q = 0.0;
        for (l, &q) in params.q().iter().enumerate() {
            log2_q += (q as f64).log2();
            // Slack against the rounding of the sum of logarithms.
            if log2_q > needed + 1e-6 {
                return Ok(Level(l));
            }
        }
        Err(ThresholdError::RefreshLevelTooLow {
            level: params.max_level().0,
            min_level: None,
            lambda: self.lambda,
            log2_message_bound: self.log2_message_bound,
            log2_modulus_needed: needed,
        })
    }
}

/// One refresh of one ciphertext: the common polynomial `a`, the bindings and the mask size.
/// Every party and the finaliser build it from the same ciphertext, nonce and
/// [`RefreshSecurity`].
pub struct Refresh<'a> {
    session: &'a Session,
    key: Digest,
    ct: &'a Ciphertext,
    nonce: u64,
    mask_bits: u32,
    security: RefreshSecurity,
    context: Digest,
    crp: RnsPoly<Ntt>,
}

impl std::fmt::Debug for Refresh<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refresh")
            .field("level", &self.ct.level())
            .field("nonce", &self.nonce)
            .field("mask_bits", &self.mask_bits)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

fn refresh_context(params: &Parameters, ct: &Ciphertext, nonce: u64, mask_bits: u32) -> Digest {
    let mut h = blake3::Hasher::new_derive_key("veil-threshold/refresh-context");
    h.update(&ciphertext_digest(params, ct).0);
    h.update(&nonce.to_le_bytes());
    h.update(&mask_bits.to_le_bytes());
    h.update(&(params.max_level().0 as u32).to_le_bytes());
    Digest(*h.finalize().as_bytes())
}

impl<'a> Refresh<'a> {
    /// Prepares the refresh of `ct` (degree 1) under the collective key `key`
    /// ([`crate::public_key_digest`]). `nonce` must differ between two refreshes of the same
    /// ciphertext (a counter kept by the caller): with the ciphertext it selects the common
    /// polynomial `a`. Fails with [`ThresholdError::RefreshLevelTooLow`] when `ct`'s level
    /// cannot hold the masks of `security` for this session's number of parties.
    pub fn new(
        session: &'a Session,
        key: Digest,
        ct: &'a Ciphertext,
        nonce: u64,
        security: RefreshSecurity,
    ) -> Result<Self, ThresholdError> {
        if ct.degree() != 1 {
            return Err(ThresholdError::CiphertextDegree { degree: ct.degree() });
        }
        let params = session.params();
        let parties = session.party_count();
        let min = security.min_level(params, parties, ct.scale())?;
        if ct.level() < min {
            return Err(ThresholdError::RefreshLevelTooLow {
                level: ct.level().0,
                min_level: Some(min.0),
                lambda: security.lambda,
                log2_message_bound: security.log2_message_bound,
                log2_modulus_needed: security.log2_modulus_needed(params.n(), ct.scale(), parties),
            });
        }
        let mask_bits = security.log2_mask_bound(params.n(), ct.scale());
        if mask_bits > MAX_MASK_BITS {
            return Err(ThresholdError::InvalidRefreshSecurity {
                lambda: security.lambda,
                log2_message_bound: security.log2_message_bound,
                reason: format!("masks of {mask_bits} bits exceed {MAX_MASK_BITS}"),
            });
        }
        let context = refresh_context(params, ct, nonce, mask_bits);
        let label = format!("refresh/{}", context.0.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let crp = session.common_poly(&label, nonce, &params.q_basis(params.max_level()))?;
        Ok(Self { session, key, ct, nonce, mask_bits, security, context, crp })
    }

    /// `b`: the masks are uniform in `[−2^b, 2^b)`.
    pub fn mask_bits(&self) -> u32 {
        self.mask_bits
    }

    /// The digest the shares are bound to (ciphertext, nonce, mask size, target level).
    pub fn context(&self) -> Digest {
        self.context
    }

    /// Party `i`'s share `(c_1·s_i + M_i + e^smudge, −a·s_i − M_i + e)`, with `s_i` the
    /// party's [`DecryptionKey`] (its additive share, or its Lagrange-weighted Shamir share for
    /// one coalition), which must belong to the collective key of this refresh.
    pub fn share(&self, sk: &DecryptionKey<'_>, smudging: &Smudging, rng: &mut Prng) -> Result<RefreshShare, ThresholdError> {
        let key = sk.key_id();
        if key != self.key {
            return Err(ThresholdError::KeyMismatch {
                kind: ShareKind::Refresh,
                party: sk.party(),
                expected: self.key.short_hex(),
                found: key.short_hex(),
            });
        }
        let params = self.session.params();
        let ring = params.ring();
        let n = params.n();
        let level = self.ct.level().0;
        let top = params.max_level().0;
        let top_basis = params.q_basis(params.max_level());

        let mut mask = sample_mask(ring.moduli(), &top_basis, n, self.mask_bits, rng);
        // h0 = c1·s_i + M_i + e^smudge over Q_l.
        let mut h0_coeff = mask.clone();
        h0_coeff.truncate(level + 1);
        let smudge = smudging.sample(n, rng);
        for (k, limb) in h0_coeff.iter_mut().enumerate() {
            let m = ring.modulus(k);
            for (x, &e) in limb.iter_mut().zip(smudge.iter()) {
                *x = m.add(*x, m.from_i64(e));
            }
        }
        let h0_poly = RnsPoly::<Coeff>::from_residues(ring, &params.q_basis(self.ct.level()), h0_coeff.concat())?;
        zeroize_limbs(&mut h0_coeff);
        let mut h0 = h0_poly.into_ntt(ring);
        let mut s_l = sk.secret().poly().select_limbs(&(0..=level).collect::<Vec<_>>())?;
        s_l.mul_assign(ring, self.ct.c1())?;
        h0.add_assign(ring, &s_l)?;
        s_l.zeroize();

        // h1 = −a·s_i − M_i + e over Q_L.
        let e = veil_math::sampler::gaussian(n, rng);
        for (k, limb) in mask.iter_mut().enumerate() {
            let m = ring.modulus(k);
            for (x, &ei) in limb.iter_mut().zip(e.iter()) {
                *x = m.sub(m.from_i64(ei), *x);
            }
        }
        let h1_poly = RnsPoly::<Coeff>::from_residues(ring, &top_basis, mask.concat())?;
        zeroize_limbs(&mut mask);
        let mut h1 = h1_poly.into_ntt(ring);
        let mut s_top = sk.secret().poly().select_limbs(&(0..=top).collect::<Vec<_>>())?;
        s_top.neg_assign(ring);
        h1.mul_add_assign(ring, &self.crp, &s_top)?;
        s_top.zeroize();

        Ok(Share::new(sk.header(self.session, ShareKind::Refresh, self.context), vec![h0, h1]))
    }

    /// Combines the shares of one coalition (every party of an N-out-of-N key, or the
    /// coalition the shares of a t-out-of-N key name) into the refreshed ciphertext (level `L`,
    /// the input's scale). Fails, and yields nothing, unless every member contributed exactly
    /// once with a share for this ciphertext, nonce, mask size, key and coalition, and the
    /// masked aggregate lies within the bound honest shares give.
    pub fn finalize(&self, shares: &[RefreshShare]) -> Result<Ciphertext, ThresholdError> {
        for s in shares {
            if s.header.context != self.context {
                return Err(ThresholdError::ContextMismatch {
                    kind: ShareKind::Refresh,
                    party: s.header.party,
                    expected: format!("refresh {} (nonce {})", self.context.short_hex(), self.nonce),
                    found: format!("refresh {}", s.header.context.short_hex()),
                });
            }
        }
        let headers: Vec<&ShareHeader> = shares.iter().map(|s| &s.header).collect();
        check_decryption_set(self.session, self.key, self.context, &headers)?;
        let (ct, log2_found) = self.assemble(shares)?;
        let log2_bound = self.log2_aggregate_bound(shares.len());
        if log2_found > log2_bound {
            return Err(ThresholdError::RefreshOutOfBound { log2_found, log2_bound });
        }
        Ok(ct)
    }

    /// `log2(V + shares·B)`: the largest coefficient honest shares can give the aggregate.
    fn log2_aggregate_bound(&self, shares: usize) -> f64 {
        self.security.log2_modulus_needed(self.session.params().n(), self.ct.scale(), shares) - 1.0
    }

    /// The combination, without any check, and `log2 ‖x‖_∞` of the masked aggregate.
    fn assemble(&self, shares: &[RefreshShare]) -> Result<(Ciphertext, f64), ThresholdError> {
        let params = self.session.params();
        let ring = params.ring();
        let level = self.ct.level();
        let top = params.max_level();
        let (low_basis, top_basis) = (params.q_basis(level), params.q_basis(top));
        for s in shares {
            if s.polys.len() != 2 || s.polys[0].basis() != low_basis.as_slice() || s.polys[1].basis() != top_basis.as_slice() {
                return Err(ThresholdError::Malformed {
                    what: "refresh share",
                    reason: format!("from party {}: polynomials not over Q_{} and Q_{}", s.header.party, level.0, top.0),
                });
            }
        }
        let mut x = self.ct.c0().clone();
        let mut c0 = RnsPoly::<Ntt>::zero(ring, &top_basis)?;
        for s in shares {
            x.add_assign(ring, &s.polys[0])?;
            c0.add_assign(ring, &s.polys[1])?;
        }
        let (lifted, log2_found) = self.centred_lift(&x.into_coeff(ring))?;
        c0.add_assign(ring, &lifted.into_ntt(ring))?;
        let ct = Ciphertext::from_parts(params, vec![c0, self.crp.clone()], top, self.ct.scale())?;
        Ok((ct, log2_found))
    }

    /// The centred representative of `x mod Q_l`, reduced modulo every prime of `Q_L`, and
    /// `log2 ‖x‖_∞`. (Public data: the aggregate is what the finaliser sees.)
    fn centred_lift(&self, x: &RnsPoly<Coeff>) -> Result<(RnsPoly<Coeff>, f64), ThresholdError> {
        let params = self.session.params();
        let ring = params.ring();
        let n = params.n();
        let l = self.ct.level().0;
        let top = params.max_level().0;
        let moduli: Vec<Modulus> = (0..=l).map(|k| *ring.modulus(k)).collect();
        let basis = RnsBasis::new(&moduli)?;
        let q = basis.product().clone();
        let mut half = q.clone();
        half.shr1();
        let q_mod: Vec<u64> = (l + 1..=top).map(|j| q.rem_u64(ring.modulus(j).value())).collect();
        let mut out = vec![0u64; (top + 1) * n];
        out[..(l + 1) * n].copy_from_slice(x.data());
        let mut residues = vec![0u64; l + 1];
        let mut worst = 0f64;
        for c in 0..n {
            for (k, r) in residues.iter_mut().enumerate() {
                *r = x.limb(k)[c];
            }
            let v = basis.reconstruct(&residues);
            let negative = bigint::cmp_limbs(v.limbs(), half.limbs()) == std::cmp::Ordering::Greater;
            let magnitude = if negative {
                let mut m = q.clone();
                m.sub_assign(&v);
                m.log2()
            } else {
                v.log2()
            };
            worst = worst.max(magnitude);
            for (t, j) in (l + 1..=top).enumerate() {
                let m = ring.modulus(j);
                let r = v.rem_u64(m.value());
                out[j * n + c] = if negative { m.sub(r, q_mod[t]) } else { r };
            }
        }
        Ok((RnsPoly::from_residues(ring, &params.q_basis(Level(top)), out)?, worst))
    }
}

fn zeroize_limbs(limbs: &mut [Vec<u64>]) {
    for l in limbs {
        l.zeroize();
    }
}

/// `n` integers uniform in `[−2^bits, 2^bits)`, as residues modulo `moduli[basis[k]]` (one
/// limb per basis entry). Each is `w_0 + w_1·2^64 + w_2·2^128 − 2^bits` with `bits + 1` random
/// bits in the words `w_i`; the reduction is branch-free.
fn sample_mask(moduli: &[Modulus], basis: &[usize], n: usize, bits: u32, rng: &mut Prng) -> Vec<Vec<u64>> {
    let total = bits + 1;
    let word_mask = |w: u32| -> u64 {
        let lo = 64 * w;
        match total.saturating_sub(lo) {
            0 => 0,
            r if r >= 64 => u64::MAX,
            r => (1u64 << r) - 1,
        }
    };
    let masks = [word_mask(0), word_mask(1), word_mask(2)];
    let mut words = vec![[0u64; 3]; n];
    for w in words.iter_mut() {
        for (x, &m) in w.iter_mut().zip(&masks) {
            if m != 0 {
                *x = rng.next_u64() & m;
            }
        }
    }
    let out = basis
        .iter()
        .map(|&i| {
            let m = moduli[i];
            let r64 = m.reduce_u128(1u128 << 64);
            let r128 = m.mul(r64, r64);
            let offset = pow2_mod(&m, bits);
            words
                .iter()
                .map(|w| {
                    let mut acc = m.reduce(w[0]);
                    acc = m.add(acc, m.mul(m.reduce(w[1]), r64));
                    acc = m.add(acc, m.mul(m.reduce(w[2]), r128));
                    m.sub(acc, offset)
                })
                .collect()
        })
        .collect();
    for w in words.iter_mut() {
        w.zeroize();
    }
    out
}

fn pow2_mod(m: &Modulus, e: u32) -> u64 {
    m.pow(2 % m.value(), e as u64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
