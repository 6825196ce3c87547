//! veil-threshold: multiparty (threshold) CKKS on top of `veil-ckks`.
//!
//! N parties hold additive shares `s_i` of a secret key `s = Σ_i s_i` that nobody knows. They
//! generate together the public key, the relinearisation key and the rotation keys that the
//! evaluator (a server holding no secret) uses unchanged with `veil_ckks::Evaluator`; then
//! they decrypt a result together, each releasing a *partial decryption* flooded with smudging
//! noise, or switch it to one party's own public key so that only that party can read it.
//! Any `t` of them can decrypt after a Shamir re-sharing ([`shamir`]).
//!
//! Every protocol is a set of transport-free local steps (the lattigo pattern): expand the
//! common random polynomials from the session's 32-byte CRS seed ([`Session`]); each party
//! makes its [`Share`]; anyone aggregates (sums) them; the aggregate is finalised into a key
//! or plaintext. Shares are typed by their round (`Share<RelinRound1>` vs
//! `Share<RelinRound2>`), carry a header binding them to the parameters, the session, the
//! party, the collective key and (for decryption) the ciphertext, and travel as authenticated
//! bytes ([`wire`]). A network layer only moves those bytes.
//!
//! | step | share of party `i` | aggregate / finalise |
//! | --- | --- | --- |
//! | public key ([`PublicKeyGen`]) | `−a·s_i + e_i` | `pk = (Σ, a)` |
//! | relinearisation, round 1 ([`RelinKeyGen`]) | `(−u_i·a_j + P·g_j·s_i + e, s_i·a_j + e)_j` | sums `(h_0, h_1)` |
//! | relinearisation, round 2 | `s_i·h_0[j] + (u_i − s_i)·h_1[j] + e` | `rlk_j = (Σ, h_1[j])` |
//! | rotation by `r` ([`GaloisKeyGen`]) | `−a_j·s_i + P·g_j·s_i(X^{5^r}) + e` | `(Σ, a_j)` |
//! | partial decryption ([`DecryptionKey::partial_decrypt`]) | `c_1·s_i + e_i^{smudge}` | `c_0 + Σ` ([`merge`]) |
//! | switch to a target key `(b', a')` ([`DecryptionKey::key_switch_share`]) | `(c_1·s_i + u_i·b' + e_i^{smudge}, u_i·a' + e)` | `(c_0 + Σ h_0, Σ h_1)` ([`key_switch`]) |
//! | refresh to level `L` ([`Refresh`]) | `(c_1·s_i + M_i + e_i^{smudge}, −a·s_i − M_i + e)` | `(lift([c_0 + Σ h_0]_{Q_l}) + Σ h_1, a)`; mask size in [`refresh`] |
//!
//! (`j` runs over the `dnum` digits of hybrid key switching with special modulus `P`, exactly as
//! `veil_ckks::SwitchingKey`.)
//!
//! Two parties, one product, threshold decryption (every step is local; in a deployment the
//! shares travel as `to_bytes` over an authenticated channel):
//!
//! ```
//! use veil_ckks::{Encoder, Encryptor, Evaluator, Parameters, ParametersLiteral};
//! use veil_math::sampler::{Prng, Seed};
//! use veil_threshold::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let params = Parameters::new(ParametersLiteral::insecure_n1024_l2())?;
//! let session = Session::new(&params, Seed::random(), &[PartyId(1), PartyId(2)])?;
//! let mut rng = Prng::from_os();
//! let mut a = SecretShare::generate(&session, PartyId(1), &mut rng)?;
//! let mut b = SecretShare::generate(&session, PartyId(2), &mut rng)?;
//!
//! let ckg = PublicKeyGen::new(&session)?;
//! let pk = ckg.aggregate(&[ckg.share(&a, &mut rng)?, ckg.share(&b, &mut rng)?])?;
//! a.bind(&session, &pk);
//! b.bind(&session, &pk);
//! let key = public_key_digest(&params, &pk);
//!
//! let rkg = RelinKeyGen::new(&session)?;
//! let (ea, ra) = rkg.round1(&a, &mut rng)?;
//! let (eb, rb) = rkg.round1(&b, &mut rng)?;
//! let agg = rkg.aggregate_round1(key, &[ra, rb])?;
//! let r2 = [rkg.round2(&a, ea, &agg, &mut rng)?, rkg.round2(&b, eb, &agg, &mut rng)?];
//! let rlk = rkg.finalize(key, &agg, &r2)?;
//!
//! let enc = Encoder::new(&params);
//! let x = enc.encode(&[0.5, -0.25], params.max_level(), params.default_scale())?;
//! let ct = Encryptor::with_public_key(&params, &pk).encrypt(&x, &mut rng)?;
//! let sq = Evaluator::new(&params).mul_relin_rescale(&ct, &ct, &rlk)?;
//!
//! // B releases a flooded share; A merges it with its own, unflooded one.
//! let smudging = Smudging::default_for(&params);
//! let from_b = b.decryption_key(&session)?.partial_decrypt(&session, &sq, &smudging, &mut rng)?;
//! let from_b = DecryptionShare::from_bytes(&session, &from_b.to_bytes(&session))?;
//! let own = a.decryption_key(&session)?.receiver_share(&session, &sq)?;
//! let out = enc.decode(&merge(&session, key, &sq, &[from_b], Some(&own))?)?;
//! assert!((out[0] - 0.25).abs() < 1e-3 && (out[1] - 0.0625).abs() < 1e-3);
//! # Ok(())
//! # }
//! ```
//!
//! # Smudging noise: how large, and what it buys
//!
//! A released share `d_i = c_1·s_i + e_i` is simulated from the output alone by
//! `m_out − c_0 − Σ_{j≠i} c_1·s_j + e'_i`. The two differ by the ciphertext's error `e_ct`,
//! which depends on the secret key (this is the Li–Micciancio IND-CPA-D attack: an
//! unflooded CKKS decryption reveals `e_ct` and with it linear equations in `s`). Write `B`
//! for `‖e_ct‖_∞`, `N` for the ring degree, `Q` for the number of released decryptions of
//! ciphertexts under one key, and `σ` for the smudging standard deviation per party.
//!
//! * **Statistical distance.** Real and simulated views are two Gaussians shifted by `e_ct`
//!   in `N·Q` coordinates. The Kullback–Leibler divergence is `Q·N·B²/(2σ²)`; by Pinsker,
//!   `SD ≤ B·sqrt(Q·N)/(2σ)`. `λ` bits of statistical security need
//!   `σ ≥ 2^{λ−1}·B·sqrt(Q·N)`: with `B = 2^12`, `N = 2^14`, `Q = 2^10`, `λ = 40`, that is
//!   `σ = 2^{63}` — far above the scale `2^40`, so no CKKS parameter set with a 40-bit scale
//!   can decrypt with statistical (simulation) security; it takes a scale around `2^{80}`.
//!   OpenFHE's provable mode for single-key CKKS (`NOISE_FLOODING_DECRYPT`) takes that route
//!   (about 30 bits of statistical security, bigger scaling moduli, less precision per bit of
//!   modulus).
//! * **Rényi divergence (what the default relies on).** The Rényi divergence of order `a`
//!   between the same two views is `R_a ≤ exp(a·Q·N·B²/(2σ²))`, and an attack that wins a
//!   *search* game (recovering `s` or an `s_i`) with probability `ε` against simulated shares
//!   wins with at most `(R_a·ε)^{1−1/a}` against real ones. If the scheme gives `κ = 128` bits
//!   against key recovery without decryptions, it keeps
//!   `max_a (1 − 1/a)·(κ − log2 R_a)` bits with them ([`Smudging::key_recovery_bits`]).
//!
//! veil's default ([`Smudging::default_for`]): `σ = max(2^20, 2·B·sqrt(N))` with
//! `B = 2^12` ([`smudging::DEFAULT_LOG2_CIPHERTEXT_ERROR`]: a ciphertext after one
//! multiplication, relinearisation and rescaling of values in `[-1, 1]` under a 2- to 5-party
//! key measures `‖e_ct‖_∞ ≈ 2^{7.8}` to `2^{8.5}` at `N = 2^14`, `veil bench threshold`, case
//! `ciphertext_error_log2`; `B` leaves a factor 2^3.5 of margin for deeper circuits and more
//! parties). At `N = 2^14` that is `σ = 2^20`, and against key recovery (κ = 128):
//!
//! | released decryptions `Q` | 1 | 16 | 64 | 256 |
//! | --- | --- | --- | --- | --- |
//! | bits left (Rényi) | ≈ 118 | ≈ 92 | ≈ 63 | ≈ 20 |
//! | `log2 SD` bound | −2 | 0 | 1 | 2 |
//!
//! So: the default protects the key against key-recovery attacks for a few dozen released
//! decryptions per key and then the parties must generate new keys; it gives **no statistical
//! indistinguishability** (the SD bound is trivial). Raise σ (`Smudging::with_log2_sigma`) to
//! buy decryptions at a precision cost of a factor 2 per bit: the error a merge adds to each
//! slot is about `sqrt(2 ln(N/2))·sqrt(k)·σ·sqrt(N/2)/Δ` for `k` flooded shares
//! ([`Smudging::expected_max_slot_error`]): `5.2·10^-4` for `k = 2` at `N = 2^14`,
//! `σ = 2^20`, `Δ = 2^40`. A party that merges its own share ([`DecryptionKey::receiver_share`])
//! does not flood it, as it never leaves the party: N parties then add `k = N − 1` flooded
//! shares.
//!
//! Measured (`veil bench threshold`, N = 2^14, Δ = 2^40, inputs in `[-1, 1]`, one
//! multiplication, every share flooded with the default σ = 2^20): `max_abs_err_after_mul` =
//! 4.5·10^-4, 5.6·10^-4, 7.3·10^-4 for 2, 3, 5 parties (3.3·10^-4, 4.9·10^-4, 6.9·10^-4 when
//! the receiver merges its own share unflooded); OpenFHE 1.6.1's default on the same work in the
//! same sitting: 6.5·10^-4 and 8.3·10^-4 for 2 and 3 parties.
//!
//! **Compared with the peers.** OpenFHE's threshold CKKS default (`FIXED_NOISE_MULTIPARTY`)
//! adds a fixed Gaussian of σ = 2^20 to every decryption share whatever `N`, and OpenFHE
//! documents threshold CKKS as IND-CPA only (not IND-CPA-D); veil's default equals it at
//! `N = 2^14` and grows with `N`, and states the query budget. Lattigo's multiparty package
//! takes the flooding distribution from the caller (`NewKeySwitchProtocol(params,
//! ring.DiscreteGaussian{Sigma: 1 << 30, ...})` in its examples, σ = 2^30, combined with the
//! fresh-encryption noise) and its SECURITY notes say the countermeasures against the
//! Li–Micciancio attack for CKKS are left to the application. σ = 2^30 in veil is
//! `Smudging::with_log2_sigma(30.0)`: about 2^10 times the default's query budget, at a
//! precision of about `5·10^-1` after one multiplication at `Δ = 2^40` — useful only at larger
//! scales.
//!
//! # Security
//!
//! * **Model.** Semi-honest (passive) parties, any N − 1 of them colluding (any `t − 1` for the
//!   t-out-of-N variant), and a semi-honest evaluator that sees public keys, evaluation keys
//!   and ciphertexts. Nobody proves that its share was computed honestly: a malicious party can
//!   make decryption wrong (but learns no more than its share of the view gives it).
//! * **Keys.** RLWE with ternary share secrets and σ = 3.2 errors; the collective secret is a
//!   sum of N ternary vectors (larger norm than one ternary secret, which does not weaken the
//!   lattice estimate of the HE standard the parameters are checked against). The evaluation
//!   keys also assume circular security, as in every CKKS library.
//! * **Decryption (IND-CPA-D).** Releasing a CKKS decryption releases its error; each released
//!   share is flooded per the section above. The output receiver learns `m + e_ct + Σ e_i`;
//!   the guarantee against key recovery holds for the stated number of released decryptions
//!   per key; it is not an IND-CPA-D proof.
//! * **Refresh.** A collective refresh releases only masked values: the aggregate
//!   `Δ·m + e + Σ M_i` is within statistical distance `2^{−λ}` (λ = 80 by default, after a
//!   union bound over the coefficients) of one independent of `m` as long as one party's mask is
//!   honest and the slots respect the declared bound; see [`refresh`].
//! * **Shares in transit.** Every share is bound (header) to parameters, session, party,
//!   collective key and ciphertext, and tagged with BLAKE3 keyed by the session (CRS seed):
//!   modified bytes, shares for another ciphertext, key, session or parameters, a share of the
//!   wrong round, duplicated or missing parties are rejected with a typed error. The tag
//!   authenticates the session, not the individual party: use the mutually authenticated
//!   channel to know who sent what.
//! * **Secrets at rest.** Secret shares, ephemeral secrets and Shamir (sub-)shares are zeroised
//!   on drop and never printed by `Debug`; their byte forms are for owner-only files.
#![forbid(unsafe_code)]

mod decrypt;
mod error;
mod keygen;
pub mod refresh;
pub mod round;
pub mod session;
pub mod shamir;
mod share;
pub mod smudging;
pub mod wire;

pub use decrypt::{key_switch, merge, DecryptionKey, DecryptionShare, KeySwitchShare, ReceiverShare};
pub use error::ThresholdError;
pub use keygen::{GaloisKeyGen, PublicKeyGen, RelinEphemeral, RelinKeyGen, RelinRound1Aggregate};
pub use refresh::{Refresh, RefreshSecurity, RefreshShare};
pub use round::Share;
pub use session::{PartyId, Session, MAX_PARTIES};
pub use shamir::{ShamirSubShare, ThresholdShare};
pub use share::SecretShare;
pub use smudging::Smudging;
pub use wire::{ciphertext_digest, public_key_digest, Digest};
