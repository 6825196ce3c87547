//! End-to-end checks of the multiparty protocols against the plaintext computation.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use veil_ckks::{
    Ciphertext, Decryptor, Encoder, Encryptor, Evaluator, GaloisKeys, Parameters, ParametersLiteral, Plaintext, PublicKey,
    RelinearizationKey, SecretKey,
};
use veil_math::sampler::{Prng, Seed};
use veil_threshold::round::{DecryptionRound, GaloisRound, PublicKeyRound, RelinRound1, RelinRound2};
use veil_threshold::shamir::{self, ShamirSubShare};
use veil_threshold::{
    key_switch, merge, public_key_digest, DecryptionShare, Digest, GaloisKeyGen, PartyId, PublicKeyGen, RelinKeyGen, SecretShare, Session,
    Share, Smudging, ThresholdError, ThresholdShare,
};

/// A keyed-up session: shares, collective keys (all shares passed through their byte form).
struct Setup {
    params: Arc<Parameters>,
    session: Session,
    shares: Vec<SecretShare>,
    pk: PublicKey,
    rlk: RelinearizationKey,
    gks: GaloisKeys,
    key: Digest,
}

fn through_bytes<R: veil_threshold::round::Round>(session: &Session, s: Share<R>) -> Share<R> {
    Share::<R>::from_bytes(session, &s.to_bytes(session)).expect("own share reads back")
}

fn setup(lit: ParametersLiteral, parties: u32, threshold: Option<usize>, seed: u8) -> Setup {
    let params = Parameters::new(lit).unwrap();
    let ids: Vec<PartyId> = (1..=parties).map(PartyId).collect();
    let session = match threshold {
        Some(t) => Session::with_threshold(&params, Seed([seed; 32]), &ids, t).unwrap(),
        None => Session::new(&params, Seed([seed; 32]), &ids).unwrap(),
    };
    let mut rng = Prng::from_seed(&Seed([seed.wrapping_add(100); 32]));
    let mut shares: Vec<SecretShare> = ids.iter().map(|&p| SecretShare::generate(&session, p, &mut rng).unwrap()).collect();
    let ckg = PublicKeyGen::new(&session).unwrap();
    let pk_shares: Vec<Share<PublicKeyRound>> = shares.iter().map(|s| through_bytes(&session, ckg.share(s, &mut rng).unwrap())).collect();
    let pk = ckg.aggregate(&pk_shares).unwrap();
    for s in &mut shares {
        s.bind(&session, &pk);
    }
    let key = public_key_digest(&params, &pk);
    let rkg = RelinKeyGen::new(&session).unwrap();
    let (ephs, r1): (Vec<_>, Vec<Share<RelinRound1>>) = shares.iter().map(|s| rkg.round1(s, &mut rng).unwrap()).unzip();
    let r1: Vec<_> = r1.into_iter().map(|s| through_bytes(&session, s)).collect();
    let agg = rkg.aggregate_round1(key, &r1).unwrap();
    let r2: Vec<Share<RelinRound2>> =
        shares.iter().zip(ephs).map(|(s, e)| through_bytes(&session, rkg.round2(s, e, &agg, &mut rng).unwrap())).collect();
    let rlk = rkg.finalize(key, &agg, &r2).unwrap();
    let mut gks = GaloisKeys::default();
    for step in [1i64, -3] {
        let gkg = GaloisKeyGen::new(&session, params.galois_element(step)).unwrap();
        let g: Vec<Share<GaloisRound>> = shares.iter().map(|s| through_bytes(&session, gkg.share(s, &mut rng).unwrap())).collect();
        gks.insert(gkg.aggregate(key, &g).unwrap());
    }
    Setup { params, session, shares, pk, rlk, gks, key }
}

fn inputs(slots: usize, salt: f64) -> Vec<f64> {
    (0..slots).map(|i| ((i as f64 * 0.731 + salt).sin() * 1.7).clamp(-1.0, 1.0)).collect()
}

fn encrypt(s: &Setup, values: &[f64], rng: &mut Prng) -> Ciphertext {
    let enc = Encoder::new(&s.params);
    let pt = enc.encode(values, s.params.max_level(), s.params.default_scale()).unwrap();
    Encryptor::with_public_key(&s.params, &s.pk).encrypt(&pt, rng).unwrap()
}

fn max_err(got: &[f64], want: &[f64]) -> f64 {
    got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
}

fn decrypt_all(s: &Setup, ct: &Ciphertext, rng: &mut Prng) -> Vec<f64> {
    let smudging = Smudging::default_for(&s.params);
    let released: Vec<DecryptionShare> = s
        .shares
        .iter()
        .map(|sh| {
            let d = sh.decryption_key(&s.session).unwrap().partial_decrypt(&s.session, ct, &smudging, rng).unwrap();
            Share::<DecryptionRound>::from_bytes(&s.session, &d.to_bytes(&s.session)).unwrap()
        })
        .collect();
    let pt = merge(&s.session, s.key, ct, &released, None).unwrap();
    Encoder::new(&s.params).decode(&pt).unwrap()
}

#[test]
fn collective_keys_evaluate_and_threshold_decrypt_like_plaintext() {
    for (lit, parties) in [(ParametersLiteral::insecure_n1024_l2(), 3), (ParametersLiteral::insecure_n2048_l4_dnum3(), 2)] {
        let s = setup(lit, parties, None, 11);
        let mut rng = Prng::from_seed(&Seed([1; 32]));
        let slots = s.params.slot_count();
        let (x, y) = (inputs(slots, 0.0), inputs(slots, 2.0));
        let (cx, cy) = (encrypt(&s, &x, &mut rng), encrypt(&s, &y, &mut rng));
        let ev = Evaluator::new(&s.params);
        let prod = ev.mul_relin_rescale(&cx, &cy, &s.rlk).unwrap();
        let want: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a * b).collect();
        let err = max_err(&decrypt_all(&s, &prod, &mut rng), &want);
        assert!(err < 2e-3, "N={} mul err {err}", s.params.n());
        for step in [1i64, -3] {
            let rot = ev.rotate(&prod, step, &s.gks).unwrap();
            let want_r: Vec<f64> = (0..slots).map(|i| want[(i as i64 + step).rem_euclid(slots as i64) as usize]).collect();
            let err = max_err(&decrypt_all(&s, &rot, &mut rng), &want_r);
            assert!(err < 2e-3, "rotate {step}: err {err}");
        }
    }
}

#[test]
fn merging_without_a_share_is_refused_and_would_not_decrypt() {
    let s = setup(ParametersLiteral::insecure_n1024_l2(), 3, None, 12);
    let mut rng = Prng::from_seed(&Seed([2; 32]));
    let x = inputs(s.params.slot_count(), 0.5);
    let ct = encrypt(&s, &x, &mut rng);
    let sm = Smudging::default_for(&s.params);
    let shares: Vec<DecryptionShare> =
        s.shares.iter().map(|sh| sh.decryption_key(&s.session).unwrap().partial_decrypt(&s.session, &ct, &sm, &mut rng).unwrap()).collect();
    let err = merge(&s.session, s.key, &ct, &shares[..2], None).unwrap_err();
    assert!(matches!(err, ThresholdError::MissingShares { ref missing, .. } if missing == &[PartyId(3)]), "{err}");
    // What N-1 shares would give if summed anyway: c_0 + c_1·(s_1 + s_2), noise of size Q.
    let ring = s.params.ring();
    let mut acc = ct.c0().clone();
    for sh in &shares[..2] {
        acc.add_assign(ring, &sh.polys()[0]).unwrap();
    }
    let pt = Plaintext::from_parts(&s.params, acc, ct.level(), ct.scale()).unwrap();
    let garbage = Encoder::new(&s.params).decode(&pt).unwrap();
    assert!(max_err(&garbage, &x) > 1e6, "N-1 shares decrypted: {}", max_err(&garbage, &x));
    let dup = vec![shares[0].clone(), shares[0].clone(), shares[1].clone(), shares[2].clone()];
    assert!(matches!(merge(&s.session, s.key, &ct, &dup, None), Err(ThresholdError::DuplicateShare { .. })));
    let good = merge(&s.session, s.key, &ct, &shares, None).unwrap();
    assert!(max_err(&Encoder::new(&s.params).decode(&good).unwrap(), &x) < 1e-3);
}

#[test]
fn shares_for_another_ciphertext_key_session_or_with_tampered_bytes_are_rejected() {
    let s = setup(ParametersLiteral::insecure_n1024_l2(), 2, None, 13);
    let other = setup(ParametersLiteral::insecure_n1024_l2(), 2, None, 14);
    let mut rng = Prng::from_seed(&Seed([3; 32]));
    let x = inputs(s.params.slot_count(), 1.0);
    let (ct, ct2) = (encrypt(&s, &x, &mut rng), encrypt(&s, &x, &mut rng));
    let sm = Smudging::default_for(&s.params);
    let share = |sess: &Session, sh: &SecretShare, c: &Ciphertext, rng: &mut Prng| {
        sh.decryption_key(sess).unwrap().partial_decrypt(sess, c, &sm, rng).unwrap()
    };
    let good: Vec<_> = s.shares.iter().map(|sh| share(&s.session, sh, &ct, &mut rng)).collect();
    // Another ciphertext.
    let wrong_ct = vec![good[0].clone(), share(&s.session, &s.shares[1], &ct2, &mut rng)];
    let e = merge(&s.session, s.key, &ct, &wrong_ct, None).unwrap_err();
    assert!(matches!(e, ThresholdError::CiphertextMismatch { party: PartyId(2), .. }), "{e}");
    // A share bound to another collective key (same session parameters, other key shares).
    let mut stranger = SecretShare::generate(&s.session, PartyId(2), &mut rng).unwrap();
    stranger.bind(&s.session, &other.pk);
    let wrong_key = vec![good[0].clone(), share(&s.session, &stranger, &ct, &mut rng)];
    let e = merge(&s.session, s.key, &ct, &wrong_key, None).unwrap_err();
    assert!(matches!(e, ThresholdError::KeyMismatch { party: PartyId(2), .. }), "{e}");
    // Bytes from another session.
    let foreign = share(&other.session, &other.shares[1], &ct, &mut rng).to_bytes(&other.session);
    let e = DecryptionShare::from_bytes(&s.session, &foreign).unwrap_err();
    assert!(matches!(e, ThresholdError::SessionMismatch { .. }), "{e}");
    // Tampered bytes: payload, header field, tag; truncated; wrong round.
    let bytes = good[1].to_bytes(&s.session);
    for pos in [bytes.len() / 2, 9, bytes.len() - 1] {
        let mut t = bytes.clone();
        t[pos] ^= 0x01;
        let e = DecryptionShare::from_bytes(&s.session, &t).unwrap_err();
        assert!(matches!(e, ThresholdError::TagMismatch { .. } | ThresholdError::UnknownParty { .. }), "byte {pos}: {e}");
    }
    assert!(matches!(DecryptionShare::from_bytes(&s.session, &bytes[..bytes.len() - 40]), Err(ThresholdError::Truncated { .. })));
    let e = Share::<PublicKeyRound>::from_bytes(&s.session, &bytes).unwrap_err();
    assert!(matches!(e, ThresholdError::WrongKind { .. }), "{e}");
    // A relinearisation round-2 share on another round-1 aggregate is refused.
    let rkg = RelinKeyGen::new(&s.session).unwrap();
    let (e1, a1): (Vec<_>, Vec<_>) = s.shares.iter().map(|sh| rkg.round1(sh, &mut rng).unwrap()).unzip();
    let (_e2, a2): (Vec<_>, Vec<_>) = s.shares.iter().map(|sh| rkg.round1(sh, &mut rng).unwrap()).unzip();
    let agg1 = rkg.aggregate_round1(s.key, &a1).unwrap();
    let agg2 = rkg.aggregate_round1(s.key, &a2).unwrap();
    let mut e1 = e1.into_iter();
    let r2a = rkg.round2(&s.shares[0], e1.next().unwrap(), &agg1, &mut rng).unwrap();
    let r2b = rkg.round2(&s.shares[1], e1.next().unwrap(), &agg2, &mut rng).unwrap();
    let e = rkg.finalize(s.key, &agg1, &[r2a, r2b]).unwrap_err();
    assert!(matches!(e, ThresholdError::ContextMismatch { party: PartyId(2), .. }), "{e}");
    // Unbound shares cannot join key generation after the public key or decrypt.
    let unbound = SecretShare::generate(&s.session, PartyId(1), &mut rng).unwrap();
    assert!(matches!(unbound.decryption_key(&s.session), Err(ThresholdError::UnboundKey { .. })));
}

#[test]
fn receiver_merges_with_its_own_unflooded_share() {
    let s = setup(ParametersLiteral::insecure_n1024_l2(), 2, None, 15);
    let mut rng = Prng::from_seed(&Seed([4; 32]));
    let x = inputs(s.params.slot_count(), 3.0);
    let ct = encrypt(&s, &x, &mut rng);
    let sm = Smudging::default_for(&s.params);
    let from_b = s.shares[1].decryption_key(&s.session).unwrap().partial_decrypt(&s.session, &ct, &sm, &mut rng).unwrap();
    let own = s.shares[0].decryption_key(&s.session).unwrap().receiver_share(&s.session, &ct).unwrap();
    let pt = merge(&s.session, s.key, &ct, std::slice::from_ref(&from_b), Some(&own)).unwrap();
    assert!(max_err(&Encoder::new(&s.params).decode(&pt).unwrap(), &x) < 1e-3);
    // The receiver's share counts as its party: adding its flooded share too is a duplicate.
    let a_flooded = s.shares[0].decryption_key(&s.session).unwrap().partial_decrypt(&s.session, &ct, &sm, &mut rng).unwrap();
    assert!(matches!(merge(&s.session, s.key, &ct, &[from_b, a_flooded], Some(&own)), Err(ThresholdError::DuplicateShare { .. })));
}

#[test]
fn collective_key_switch_delivers_to_one_party_only() {
    let s = setup(ParametersLiteral::insecure_n1024_l2(), 3, None, 16);
    let mut rng = Prng::from_seed(&Seed([5; 32]));
    let x = inputs(s.params.slot_count(), 4.0);
    let ct = encrypt(&s, &x, &mut rng);
    let target_sk = SecretKey::generate(&s.params, &mut rng).unwrap();
    let target_pk = PublicKey::generate(&target_sk, &mut rng).unwrap();
    let sm = Smudging::default_for(&s.params);
    let ks: Vec<_> = s
        .shares
        .iter()
        .map(|sh| {
            let k = sh.decryption_key(&s.session).unwrap().key_switch_share(&s.session, &ct, &target_pk, &sm, &mut rng).unwrap();
            veil_threshold::KeySwitchShare::from_bytes(&s.session, &k.to_bytes(&s.session)).unwrap()
        })
        .collect();
    let switched = key_switch(&s.session, s.key, &ct, &target_pk, &ks).unwrap();
    let pt = Decryptor::new(&target_sk).decrypt(&switched).unwrap();
    assert!(max_err(&Encoder::new(&s.params).decode(&pt).unwrap(), &x) < 1e-3);
    // Shares made for another target are refused.
    let other_pk = PublicKey::generate(&SecretKey::generate(&s.params, &mut rng).unwrap(), &mut rng).unwrap();
    assert!(matches!(key_switch(&s.session, s.key, &ct, &other_pk, &ks), Err(ThresholdError::CiphertextMismatch { .. })));
    // The collective key's holders cannot read the switched ciphertext with their shares.
    let shares: Vec<DecryptionShare> = s
        .shares
        .iter()
        .map(|sh| sh.decryption_key(&s.session).unwrap().partial_decrypt(&s.session, &switched, &sm, &mut rng).unwrap())
        .collect();
    let pt = merge(&s.session, s.key, &switched, &shares, None).unwrap();
    assert!(max_err(&Encoder::new(&s.params).decode(&pt).unwrap(), &x) > 1e6);
}

fn threshold_shares(s: &Setup, rng: &mut Prng) -> Vec<ThresholdShare> {
    let dealt: Vec<Vec<ShamirSubShare>> = s.shares.iter().map(|sh| shamir::deal(&s.session, sh, rng).unwrap()).collect();
    s.session
        .parties()
        .iter()
        .enumerate()
        .map(|(j, &p)| {
            let mine: Vec<ShamirSubShare> =
                dealt.iter().map(|d| ShamirSubShare::from_bytes(&s.session, &d[j].to_bytes(&s.session)).unwrap()).collect();
            let t = ThresholdShare::combine(&s.session, p, s.key, &mine).unwrap();
            ThresholdShare::from_bytes(&s.session, &t.to_bytes(&s.session)).unwrap()
        })
        .collect()
}

#[test]
fn any_t_of_n_parties_decrypt_and_fewer_cannot() {
    let s = setup(ParametersLiteral::insecure_n1024_l2(), 4, Some(2), 17);
    let mut rng = Prng::from_seed(&Seed([6; 32]));
    let x = inputs(s.params.slot_count(), 5.0);
    let ct = encrypt(&s, &x, &mut rng);
    let sm = Smudging::default_for(&s.params);
    let ts = threshold_shares(&s, &mut rng);
    let ids = s.session.parties().to_vec();
    for coalition in [vec![ids[0], ids[1]], vec![ids[1], ids[3]], vec![ids[2], ids[3]], vec![ids[0], ids[2], ids[3]]] {
        let shares: Vec<DecryptionShare> = ts
            .iter()
            .filter(|t| coalition.contains(&t.party()))
            .map(|t| t.decryption_key(&s.session, &coalition).unwrap().partial_decrypt(&s.session, &ct, &sm, &mut rng).unwrap())
            .collect();
        let pt = merge(&s.session, s.key, &ct, &shares, None).unwrap();
        let err = max_err(&Encoder::new(&s.params).decode(&pt).unwrap(), &x);
        assert!(err < 1e-3, "coalition {coalition:?}: {err}");
        // One member's share alone is refused.
        assert!(matches!(merge(&s.session, s.key, &ct, &shares[..1], None), Err(ThresholdError::MissingShares { .. })));
    }
    let e = ts[0].decryption_key(&s.session, &[ids[0]]).unwrap_err();
    assert!(matches!(e, ThresholdError::InvalidCoalition { .. }), "{e}");
    let e = ts[0].decryption_key(&s.session, &[ids[1], ids[2]]).unwrap_err();
    assert!(matches!(e, ThresholdError::InvalidCoalition { .. }), "{e}");
    // Shares computed for different coalitions do not mix.
    let a = ts[0].decryption_key(&s.session, &[ids[0], ids[1]]).unwrap().partial_decrypt(&s.session, &ct, &sm, &mut rng).unwrap();
    let b = ts[1].decryption_key(&s.session, &[ids[1], ids[2]]).unwrap().partial_decrypt(&s.session, &ct, &sm, &mut rng).unwrap();
    assert!(matches!(merge(&s.session, s.key, &ct, &[a, b], None), Err(ThresholdError::ContextMismatch { .. })));
}

#[test]
fn three_of_five_threshold_decryption() {
    let s = setup(ParametersLiteral::insecure_n1024_l2(), 5, Some(3), 18);
    let mut rng = Prng::from_seed(&Seed([7; 32]));
    let x = inputs(s.params.slot_count(), 6.0);
    let ct = encrypt(&s, &x, &mut rng);
    let sm = Smudging::default_for(&s.params);
    let ts = threshold_shares(&s, &mut rng);
    let coalition = vec![PartyId(2), PartyId(4), PartyId(5)];
    let shares: Vec<DecryptionShare> = ts
        .iter()
        .filter(|t| coalition.contains(&t.party()))
        .map(|t| t.decryption_key(&s.session, &coalition).unwrap().partial_decrypt(&s.session, &ct, &sm, &mut rng).unwrap())
        .collect();
    let pt = merge(&s.session, s.key, &ct, &shares, None).unwrap();
    assert!(max_err(&Encoder::new(&s.params).decode(&pt).unwrap(), &x) < 1e-3);
    // Two of five is below the threshold.
    assert!(ts[1].decryption_key(&s.session, &coalition[..2]).is_err());
}
