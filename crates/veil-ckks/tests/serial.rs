#![allow(clippy::unwrap_used)]
//! Serialisation round trips, and every decoder fed random and mutated bytes (a brief fuzz run:
//! decoding must return a typed error or a valid object, never panic).

mod common;

use common::*;
use veil_ckks::*;

#[test]
fn round_trips_preserve_objects() {
    let mut c = setup(ParametersLiteral::insecure_n1024_l2(), &[1, -3]);
    let p = c.params.clone();
    let back = Parameters::from_bytes(&p.to_bytes()).unwrap();
    assert_eq!(back.fingerprint(), p.fingerprint());
    assert_eq!(back.q(), p.q());

    let x = c.random(1.0);
    let ct = c.encrypt(&x);
    let ct2 = Ciphertext::from_bytes(&p, &ct.to_bytes(&p)).unwrap();
    assert_eq!(ct2, ct);
    let pt = c.enc.encode(&x, Level(1), p.default_scale()).unwrap();
    assert_eq!(Plaintext::from_bytes(&p, &pt.to_bytes(&p)).unwrap(), pt);

    // Seeded secret-key ciphertexts are about half the size and decrypt the same.
    let sk_ct = Encryptor::with_secret_key(&c.sk).encrypt(&pt, &mut c.rng).unwrap();
    let bytes = sk_ct.to_bytes(&p);
    assert!(bytes.len() < ct.to_bytes(&p).len() * 2 / 3);
    let sk_ct2 = Ciphertext::from_bytes(&p, &bytes).unwrap();
    assert!(max_err(&c.decrypt(&sk_ct2), &x) < 1e-6);

    let sk2 = SecretKey::from_bytes(&p, &c.sk.to_bytes()).unwrap();
    assert_eq!(sk2.poly(), c.sk.poly());
    let pk2 = PublicKey::from_bytes(&p, &c.pk.to_bytes(&p)).unwrap();
    assert_eq!((pk2.a(), pk2.b()), (c.pk.a(), c.pk.b()));
    let rlk2 = RelinearizationKey::from_bytes(&p, &c.rlk.to_bytes(&p)).unwrap();
    assert_eq!(rlk2.0.b(), c.rlk.0.b());
    assert_eq!(rlk2.0.a(), c.rlk.0.a());
    let gks2 = GaloisKeys::from_bytes(&p, &c.gks.to_bytes(&p)).unwrap();
    let r = c.eval.rotate(&ct, 1, &gks2).unwrap();
    assert!(max_err(&c.decrypt(&r), &rot(&x, 1)) < 1e-6);
    let g = c.gks.iter().next().unwrap();
    let g2 = GaloisKey::from_bytes(&p, &g.to_bytes(&p)).unwrap();
    assert_eq!(g2.galois_element(), g.galois_element());
}

#[test]
fn mismatched_and_damaged_bytes_are_typed_errors() {
    let mut c = setup(ParametersLiteral::insecure_n1024_l2(), &[]);
    let p = c.params.clone();
    let other = Parameters::new(ParametersLiteral::insecure_n2048_l4_dnum3()).unwrap();
    let x = c.random(1.0);
    let ct = c.encrypt(&x).to_bytes(&p);
    assert!(matches!(Ciphertext::from_bytes(&other, &ct), Err(CkksError::ParameterMismatch { .. })));
    assert!(matches!(Ciphertext::from_bytes(&p, &ct[..ct.len() - 1]), Err(CkksError::Truncated { .. })));
    let mut extra = ct.clone();
    extra.push(0);
    assert!(matches!(Ciphertext::from_bytes(&p, &extra), Err(CkksError::Malformed { .. })));
    let mut bad_version = ct.clone();
    bad_version[4] = 9;
    assert!(matches!(Ciphertext::from_bytes(&p, &bad_version), Err(CkksError::UnsupportedVersion { .. })));
    // A residue equal to its modulus is rejected.
    let mut unreduced = ct.clone();
    let off = veil_ckks::serial::HEADER_BYTES + 4 + 8 + 2;
    unreduced[off..off + 8].copy_from_slice(&p.q()[0].to_le_bytes());
    assert!(matches!(Ciphertext::from_bytes(&p, &unreduced), Err(CkksError::Math(_))));
    assert!(matches!(PublicKey::from_bytes(&p, &ct), Err(CkksError::Malformed { .. })));
    let mut params_bytes = p.to_bytes();
    let last = params_bytes.len() - 2;
    params_bytes[last] ^= 1; // log_scale changes: fingerprint no longer matches
    assert!(Parameters::from_bytes(&params_bytes).is_err());
}

fn decode_all(p: &std::sync::Arc<Parameters>, bytes: &[u8]) {
    let _ = Parameters::from_bytes(bytes);
    let _ = Ciphertext::from_bytes(p, bytes);
    let _ = Plaintext::from_bytes(p, bytes);
    let _ = SecretKey::from_bytes(p, bytes);
    let _ = PublicKey::from_bytes(p, bytes);
    let _ = RelinearizationKey::from_bytes(p, bytes);
    let _ = GaloisKey::from_bytes(p, bytes);
    let _ = GaloisKeys::from_bytes(p, bytes);
}

#[test]
fn decoders_survive_random_and_mutated_input() {
    let mut c = setup(ParametersLiteral::insecure_n1024_l2(), &[1]);
    let p = c.params.clone();
    let x = c.random(1.0);
    let pt = c.enc.encode(&x, Level(0), p.default_scale()).unwrap();
    let sk_ct = Encryptor::with_secret_key(&c.sk).encrypt(&pt, &mut c.rng).unwrap();
    let seeds: Vec<Vec<u8>> = vec![
        p.to_bytes(),
        c.encrypt(&x).to_bytes(&p),
        sk_ct.to_bytes(&p),
        pt.to_bytes(&p),
        c.pk.to_bytes(&p),
        c.gks.to_bytes(&p),
        c.gks.iter().next().unwrap().to_bytes(&p),
    ];
    let mut rng = Prng::from_seed(&Seed([9; 32]));
    // Pure random strings, with and without a valid header prefix.
    for i in 0..300 {
        let len = (rng.next_u64() % 200) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if i % 2 == 0 {
            let s = &seeds[i % seeds.len()];
            b.splice(0..0, s[..veil_ckks::serial::HEADER_BYTES.min(s.len())].iter().copied());
        }
        decode_all(&p, &b);
    }
    // Mutations of valid objects: bit flips, truncations, insertions, header fields.
    for i in 0..600 {
        let mut b = seeds[i % seeds.len()].clone();
        match rng.next_u64() % 4 {
            0 => {
                for _ in 0..1 + rng.next_u64() % 4 {
                    let window = b.len().min(64 + (i % 2) * b.len());
                    let at = (rng.next_u64() as usize) % window;
                    b[at] ^= 1 << (rng.next_u64() % 8);
                }
            }
            1 => b.truncate((rng.next_u64() as usize) % b.len()),
            2 => {
                let at = (rng.next_u64() as usize) % b.len();
                b.insert(at, rng.next_u64() as u8);
            }
            _ => {
                let at = (rng.next_u64() as usize) % 48.min(b.len());
                b[at] = rng.next_u64() as u8;
            }
        }
        decode_all(&p, &b);
    }
}
