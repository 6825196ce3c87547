use super::*;
use crate::shamir::{self, ShamirSubShare, ThresholdShare};
use crate::share::SecretShare;
use crate::{merge, public_key_digest, DecryptionShare, PartyId, PublicKeyGen};
use proptest::prelude::*;
use veil_ckks::{Encoder, Encryptor, Evaluator, ParametersLiteral};
use veil_math::sampler::Seed;

struct Keys {
    session: Session,
    shares: Vec<SecretShare>,
    pk: veil_ckks::PublicKey,
    key: Digest,
}

fn keys(lit: ParametersLiteral, parties: u32, seed: u8) -> Keys {
    keys_with_threshold(lit, parties, parties as usize, seed)
}

fn keys_with_threshold(lit: ParametersLiteral, parties: u32, threshold: usize, seed: u8) -> Keys {
    let params = Parameters::new(lit).unwrap();
    let ids: Vec<PartyId> = (1..=parties).map(PartyId).collect();
    let session = Session::with_threshold(&params, Seed([seed; 32]), &ids, threshold).unwrap();
    let mut rng = Prng::from_seed(&Seed([seed ^ 0x5a; 32]));
    let mut shares: Vec<SecretShare> = ids.iter().map(|&p| SecretShare::generate(&session, p, &mut rng).unwrap()).collect();
    let ckg = PublicKeyGen::new(&session).unwrap();
    let pk = ckg.aggregate(&shares.iter().map(|s| ckg.share(s, &mut rng).unwrap()).collect::<Vec<_>>()).unwrap();
    for s in &mut shares {
        s.bind(&session, &pk);
    }
    let key = public_key_digest(&params, &pk);
    Keys { session, shares, pk, key }
}

/// Threshold decryption of `ct` by every party (all shares flooded).
fn decrypt(k: &Keys, ct: &Ciphertext) -> Vec<f64> {
    let mut rng = Prng::from_seed(&Seed([77; 32]));
    let smudging = Smudging::default_for(k.session.params());
    let ds: Vec<DecryptionShare> = k
        .shares
        .iter()
        .map(|s| s.decryption_key(&k.session).unwrap().partial_decrypt(&k.session, ct, &smudging, &mut rng).unwrap())
        .collect();
    Encoder::new(k.session.params()).decode(&merge(&k.session, k.key, ct, &ds, None).unwrap()).unwrap()
}

fn values(n: usize) -> Vec<f64> {
    (0..n).map(|i| ((i * 37 % 101) as f64 / 101.0 - 0.5) * 12.0).collect()
}

/// An encryption of `values` brought down to `level` by constant products (real noise growth).
fn ciphertext_at(k: &Keys, level: usize, rng: &mut Prng) -> Ciphertext {
    let params = k.session.params();
    let enc = Encoder::new(params);
    let pt = enc.encode(&values(params.slot_count()), params.max_level(), params.default_scale()).unwrap();
    let mut ct = Encryptor::with_public_key(params, &k.pk).encrypt(&pt, rng).unwrap();
    let eval = Evaluator::new(params);
    while ct.level().0 > level {
        ct = eval.rescale(&eval.mul_const(&ct, 1.0).unwrap()).unwrap();
    }
    ct
}

fn through_bytes(session: &Session, s: RefreshShare) -> RefreshShare {
    RefreshShare::from_bytes(session, &s.to_bytes(session)).unwrap()
}

fn shares_for(k: &Keys, r: &Refresh<'_>, rng: &mut Prng) -> Vec<RefreshShare> {
    let smudging = Smudging::default_for(k.session.params());
    k.shares.iter().map(|s| through_bytes(&k.session, r.share(&s.decryption_key(&k.session).unwrap(), &smudging, rng).unwrap())).collect()
}

#[test]
fn min_level_follows_the_documented_bound() {
    let p = Parameters::new(ParametersLiteral::n16384_l6_sec128()).unwrap();
    let sec = RefreshSecurity::with_bound(3).unwrap();
    let scale = p.default_scale();
    assert_eq!(sec.log2_mask_bound(p.n(), scale), 80 + 14 + 40 + 3);
    assert_eq!(sec.min_level(&p, 2, scale).unwrap(), Level(2));
    assert_eq!(sec.min_level(&p, 3, scale).unwrap(), Level(2));
    assert_eq!(sec.min_level(&p, 4, scale).unwrap(), Level(3));
    // A Lattigo-like margin (λ = 128 after the union bound) needs level 4 here.
    assert_eq!(RefreshSecurity::new(128, 3).unwrap().min_level(&p, 2, scale).unwrap(), Level(4));
    let small = Parameters::new(ParametersLiteral::n8192_l2_sec128()).unwrap();
    assert_eq!(sec.min_level(&small, 2, scale).unwrap(), Level(2));
    let too_much = RefreshSecurity::new(100, 3).unwrap().min_level(&small, 2, scale);
    assert!(matches!(too_much, Err(ThresholdError::RefreshLevelTooLow { min_level: None, .. })), "{too_much:?}");
    assert!(RefreshSecurity::new(39, 3).is_err() && RefreshSecurity::new(80, 41).is_err());
}

#[test]
fn masks_are_exact_integers_in_range() {
    let p = Parameters::new(ParametersLiteral::insecure_n2048_l4_dnum3()).unwrap();
    let ring = p.ring();
    let basis = p.q_basis(p.max_level());
    let mut rng = Prng::from_seed(&Seed([3; 32]));
    for bits in [20u32, 63, 64, 100, 137, 150] {
        let limbs = sample_mask(ring.moduli(), &basis, p.n(), bits, &mut rng);
        let moduli: Vec<Modulus> = basis.iter().map(|&i| *ring.modulus(i)).collect();
        let crt = RnsBasis::new(&moduli).unwrap();
        let mut half = crt.product().clone();
        half.shr1();
        let mut top = 0f64;
        let mut negatives = 0usize;
        for c in 0..p.n() {
            let r: Vec<u64> = limbs.iter().map(|l| l[c]).collect();
            let v = crt.reconstruct(&r);
            let neg = bigint::cmp_limbs(v.limbs(), half.limbs()) == std::cmp::Ordering::Greater;
            let mag = if neg {
                negatives += 1;
                let mut m = crt.product().clone();
                m.sub_assign(&v);
                m.log2()
            } else {
                v.log2()
            };
            assert!(mag <= bits as f64 + 1e-9, "bits {bits}: |M| = 2^{mag}");
            top = top.max(mag);
        }
        assert!(top > bits as f64 - 1.0, "bits {bits}: largest 2^{top}");
        assert!((negatives as f64 / p.n() as f64 - 0.5).abs() < 0.06, "bits {bits}: {negatives} negative");
    }
}

#[test]
fn refresh_restores_the_top_level_and_the_values() {
    let k = keys(ParametersLiteral::insecure_n2048_l4_dnum3(), 2, 11);
    let params = k.session.params().clone();
    let mut rng = Prng::from_seed(&Seed([12; 32]));
    let ct = ciphertext_at(&k, 2, &mut rng);
    let sec = RefreshSecurity::with_bound(3).unwrap();
    let r = Refresh::new(&k.session, k.key, &ct, 1, sec).unwrap();
    let fresh = r.finalize(&shares_for(&k, &r, &mut rng)).unwrap();
    assert_eq!(fresh.level(), params.max_level());
    assert_eq!(fresh.scale(), ct.scale());
    let want = values(params.slot_count());
    let got = decrypt(&k, &fresh);
    let err = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(err < 1e-3, "refresh error {err}");
    // The fresh levels are usable: two more products.
    let eval = Evaluator::new(&params);
    let mut y = fresh;
    for _ in 0..2 {
        y = eval.rescale(&eval.mul_const(&y, 0.5).unwrap()).unwrap();
    }
    let got = decrypt(&k, &y);
    let err = want.iter().zip(&got).map(|(a, b)| (a / 4.0 - b).abs()).fold(0.0, f64::max);
    assert!(err < 1e-3, "after refresh and two products: {err}");
}

#[test]
fn shares_for_another_ciphertext_key_or_nonce_or_tampered_are_rejected() {
    let k = keys(ParametersLiteral::insecure_n2048_l4_dnum3(), 2, 21);
    let mut rng = Prng::from_seed(&Seed([22; 32]));
    let sec = RefreshSecurity::with_bound(3).unwrap();
    let ct = ciphertext_at(&k, 2, &mut rng);
    let other_ct = ciphertext_at(&k, 2, &mut rng);
    let r = Refresh::new(&k.session, k.key, &ct, 7, sec).unwrap();
    let good = shares_for(&k, &r, &mut rng);

    let r_other = Refresh::new(&k.session, k.key, &other_ct, 7, sec).unwrap();
    let foreign = shares_for(&k, &r_other, &mut rng);
    let mixed = vec![good[0].clone(), foreign[1].clone()];
    assert!(matches!(r.finalize(&mixed), Err(ThresholdError::ContextMismatch { .. })));

    let r_nonce = Refresh::new(&k.session, k.key, &ct, 8, sec).unwrap();
    assert_ne!(r_nonce.context(), r.context());
    let replay = shares_for(&k, &r_nonce, &mut rng);
    assert!(matches!(r.finalize(&[good[0].clone(), replay[1].clone()]), Err(ThresholdError::ContextMismatch { .. })));

    let wrong_key = Digest([9; 32]);
    let r_key = Refresh::new(&k.session, wrong_key, &ct, 7, sec).unwrap();
    let smudging = Smudging::default_for(k.session.params());
    assert!(matches!(
        r_key.share(&k.shares[0].decryption_key(&k.session).unwrap(), &smudging, &mut rng),
        Err(ThresholdError::KeyMismatch { .. })
    ));
    let other = keys(ParametersLiteral::insecure_n2048_l4_dnum3(), 2, 21 ^ 1);
    let other_session_share = {
        let r2 = Refresh::new(&other.session, other.key, &ct, 7, sec).unwrap();
        r2.share(&other.shares[1].decryption_key(&other.session).unwrap(), &smudging, &mut rng).unwrap().to_bytes(&other.session)
    };
    assert!(matches!(RefreshShare::from_bytes(&k.session, &other_session_share), Err(ThresholdError::SessionMismatch { .. })));

    let bytes = good[1].to_bytes(&k.session);
    for at in [3usize, 20, 100, bytes.len() / 2, bytes.len() - 40] {
        let mut t = bytes.clone();
        t[at] ^= 0x10;
        assert!(RefreshShare::from_bytes(&k.session, &t).is_err(), "flip at {at} accepted");
    }
    let mut t = bytes.clone();
    t[bytes.len() / 2] ^= 1;
    assert!(matches!(RefreshShare::from_bytes(&k.session, &t), Err(ThresholdError::TagMismatch { .. })));
    assert!(RefreshShare::from_bytes(&k.session, &bytes[..bytes.len() - 1]).is_err());
    assert!(matches!(DecryptionShare::from_bytes(&k.session, &bytes), Err(ThresholdError::WrongKind { .. })));
    assert!(r.finalize(&good).is_ok());
}

#[test]
fn a_level_too_low_for_the_masks_is_refused() {
    let k = keys(ParametersLiteral::insecure_n2048_l4_dnum3(), 2, 31);
    let mut rng = Prng::from_seed(&Seed([32; 32]));
    let ct = ciphertext_at(&k, 1, &mut rng);
    let sec = RefreshSecurity::with_bound(3).unwrap();
    match Refresh::new(&k.session, k.key, &ct, 0, sec) {
        Err(ThresholdError::RefreshLevelTooLow { level: 1, min_level: Some(2), .. }) => {}
        other => panic!("expected RefreshLevelTooLow, got {other:?}"),
    }
    // A smaller λ fits level 1 (Q_1 ≈ 2^98): 40 + 11 + 3 + 40 = 94-bit masks.
    assert!(Refresh::new(&k.session, k.key, &ct, 0, RefreshSecurity::new(40, 3).unwrap()).is_ok());
}

#[test]
fn missing_shares_do_not_refresh() {
    let k = keys(ParametersLiteral::insecure_n2048_l4_dnum3(), 3, 41);
    let params = k.session.params().clone();
    let mut rng = Prng::from_seed(&Seed([42; 32]));
    let ct = ciphertext_at(&k, 2, &mut rng);
    let sec = RefreshSecurity::with_bound(3).unwrap();
    let r = Refresh::new(&k.session, k.key, &ct, 3, sec).unwrap();
    let shares = shares_for(&k, &r, &mut rng);
    let partial = &shares[..2];
    assert!(matches!(r.finalize(partial), Err(ThresholdError::MissingShares { .. })));
    // Forced through without the checks, N − 1 shares leave c_1·s_3 unmasked: the aggregate is
    // uniform modulo Q_l (far beyond the honest bound) and the result decrypts to garbage.
    let (garbage, log2_found) = r.assemble(partial).unwrap();
    assert!(log2_found > r.log2_aggregate_bound(2) + 1.0, "aggregate 2^{log2_found}");
    let want = values(params.slot_count());
    let got = decrypt(&k, &garbage);
    let close = want.iter().zip(&got).filter(|(a, b)| (*a - *b).abs() < 0.1).count();
    assert!(close < want.len() / 100, "{close} of {} slots still close", want.len());
    let err = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(err > 1e6, "error only {err}");
    assert!(r.finalize(&shares).is_ok());
}

/// Every party's Shamir share of the collective key (each party deals, each combines).
fn threshold_shares(k: &Keys, rng: &mut Prng) -> Vec<ThresholdShare> {
    let dealt: Vec<Vec<ShamirSubShare>> = k.shares.iter().map(|s| shamir::deal(&k.session, s, rng).unwrap()).collect();
    let parties = k.session.parties().to_vec();
    parties
        .iter()
        .enumerate()
        .map(|(j, &p)| ThresholdShare::combine(&k.session, p, k.key, &dealt.iter().map(|d| d[j].clone()).collect::<Vec<_>>()).unwrap())
        .collect()
}

#[test]
fn a_t_of_n_coalition_refreshes_without_the_absent_party() {
    let k = keys_with_threshold(ParametersLiteral::insecure_n2048_l4_dnum3(), 3, 2, 61);
    let params = k.session.params().clone();
    let mut rng = Prng::from_seed(&Seed([62; 32]));
    let ts = threshold_shares(&k, &mut rng);
    let ids = k.session.parties().to_vec();
    let ct = ciphertext_at(&k, 2, &mut rng);
    let r = Refresh::new(&k.session, k.key, &ct, 5, RefreshSecurity::with_bound(3).unwrap()).unwrap();
    let smudging = Smudging::default_for(&params);
    // Parties 1 and 3 refresh; party 2 is away.
    let coalition = [ids[0], ids[2]];
    let shares: Vec<RefreshShare> = [&ts[0], &ts[2]]
        .iter()
        .map(|t| through_bytes(&k.session, r.share(&t.decryption_key(&k.session, &coalition).unwrap(), &smudging, &mut rng).unwrap()))
        .collect();
    let fresh = r.finalize(&shares).unwrap();
    assert_eq!(fresh.level(), params.max_level());
    // Another coalition (2 and 3) decrypts the result: it is under the same collective key.
    let other = [ids[1], ids[2]];
    let ds: Vec<DecryptionShare> = [&ts[1], &ts[2]]
        .iter()
        .map(|t| t.decryption_key(&k.session, &other).unwrap().partial_decrypt(&k.session, &fresh, &smudging, &mut rng).unwrap())
        .collect();
    let got = Encoder::new(&params).decode(&merge(&k.session, k.key, &fresh, &ds, None).unwrap()).unwrap();
    let err = values(params.slot_count()).iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(err < 1e-3, "t-of-N refresh error {err}");

    // One member alone does not refresh; a share made for another coalition does not mix in;
    // the additive shares' coalition (everyone) is another coalition too.
    assert!(matches!(r.finalize(&shares[..1]), Err(ThresholdError::MissingShares { .. })));
    let stranger = r.share(&ts[1].decryption_key(&k.session, &[ids[0], ids[1]]).unwrap(), &smudging, &mut rng).unwrap();
    assert!(matches!(r.finalize(&[shares[0].clone(), stranger]), Err(ThresholdError::ContextMismatch { .. })));
    let additive = r.share(&k.shares[2].decryption_key(&k.session).unwrap(), &smudging, &mut rng).unwrap();
    assert!(r.finalize(&[shares[0].clone(), additive]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any modification or truncation of a share's bytes gives a typed error, never a panic
    /// and never a different share.
    #[test]
    fn modified_share_bytes_never_decode(at in any::<prop::sample::Index>(), xor in 1u8.., cut in any::<prop::sample::Index>()) {
        let (k, bytes) = &*SHARE_BYTES;
        let mut t = bytes.clone();
        let i = at.index(t.len());
        t[i] ^= xor;
        prop_assert!(RefreshShare::from_bytes(&k.session, &t).is_err());
        let c = cut.index(bytes.len());
        prop_assert!(RefreshShare::from_bytes(&k.session, &bytes[..c]).is_err());
    }
}

static SHARE_BYTES: std::sync::LazyLock<(Keys, Vec<u8>)> = std::sync::LazyLock::new(|| {
    let k = keys(ParametersLiteral::insecure_n1024_l2(), 2, 51);
    let mut rng = Prng::from_seed(&Seed([52; 32]));
    let params = k.session.params().clone();
    let pt = Encoder::new(&params).encode(&[0.5, -1.5], params.max_level(), params.default_scale()).unwrap();
    let ct = Encryptor::with_public_key(&params, &k.pk).encrypt(&pt, &mut rng).unwrap();
    let bytes = {
        let r = Refresh::new(&k.session, k.key, &ct, 0, RefreshSecurity::new(40, 0).unwrap()).unwrap();
        r.share(&k.shares[0].decryption_key(&k.session).unwrap(), &Smudging::default_for(&params), &mut rng).unwrap().to_bytes(&k.session)
    };
    (k, bytes)
});
