#![allow(clippy::unwrap_used)]
//! Every evaluator operation against the plaintext computation, on small insecure rings.

mod common;

use common::*;
use veil_ckks::*;

const TOL: f64 = 1e-6;

fn check_all_ops(lit: ParametersLiteral) {
    let mut c = setup(lit, &[1, 2, 3, 5, -1, -7, 8, 16, 24, 32, 40, 48, 56, 4, 6, 7]);
    let (x, y) = (c.random(1.0), c.random(1.0));
    let (cx, cy) = (c.encrypt(&x), c.encrypt(&y));
    assert!(max_err(&c.decrypt(&cx), &x) < TOL);
    let ev = c.eval.clone();
    let sum: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a + b).collect();
    assert!(max_err(&c.decrypt(&ev.add(&cx, &cy).unwrap()), &sum) < TOL);
    let diff: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a - b).collect();
    assert!(max_err(&c.decrypt(&ev.sub(&cx, &cy).unwrap()), &diff) < TOL);
    let neg: Vec<f64> = x.iter().map(|a| -a).collect();
    assert!(max_err(&c.decrypt(&ev.negate(&cx)), &neg) < TOL);
    let top = c.params.max_level();
    let py = c.enc.encode(&y, top, c.params.default_scale()).unwrap();
    assert!(max_err(&c.decrypt(&ev.add_plain(&cx, &py).unwrap()), &sum) < TOL);
    assert!(max_err(&c.decrypt(&ev.sub_plain(&cx, &py).unwrap()), &diff) < TOL);
    let prod: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a * b).collect();
    let mp = ev.rescale(&ev.mul_plain(&cx, &py).unwrap()).unwrap();
    assert!(max_err(&c.decrypt(&mp), &prod) < TOL);
    let plus: Vec<f64> = x.iter().map(|a| a + 0.625).collect();
    assert!(max_err(&c.decrypt(&ev.add_const(&cx, 0.625).unwrap()), &plus) < TOL);
    let times = ev.rescale(&ev.mul_const(&cx, -1.75).unwrap()).unwrap();
    assert!(times.scale().matches(cx.scale()));
    let want: Vec<f64> = x.iter().map(|a| a * -1.75).collect();
    assert!(max_err(&c.decrypt(&times), &want) < TOL);
    // Multiplication: degree 2 decrypts too; relinearised and rescaled.
    let d2 = ev.multiply(&cx, &cy).unwrap();
    assert_eq!(d2.degree(), 2);
    assert!(max_err(&c.decrypt(&ev.rescale(&d2).unwrap()), &prod) < TOL);
    let m = ev.mul_relin_rescale(&cx, &cy, &c.rlk).unwrap();
    assert_eq!((m.degree(), m.level().0), (1, top.0 - 1));
    assert!(max_err(&c.decrypt(&m), &prod) < TOL);
    // Square again down the chain.
    let m2 = ev.mul_relin_rescale(&m, &m, &c.rlk).unwrap();
    let sq: Vec<f64> = prod.iter().map(|a| a * a).collect();
    assert!(max_err(&c.decrypt(&m2), &sq) < 1e-5);
    // Rotations, conjugation, hoisting.
    for k in [1i64, 3, -1, -7, 8] {
        let r = ev.rotate(&cx, k, &c.gks).unwrap();
        assert!(max_err(&c.decrypt(&r), &rot(&x, k)) < TOL, "rotate {k}");
    }
    let hoisted = ev.rotate_hoisted(&cx, &[0, 1, 2, 5, -1], &c.gks).unwrap();
    for (k, r) in [0i64, 1, 2, 5, -1].iter().zip(&hoisted) {
        assert!(max_err(&c.decrypt(r), &rot(&x, *k)) < TOL, "hoisted {k}");
    }
    let r_low = ev.rotate(&m, 2, &c.gks).unwrap();
    assert!(max_err(&c.decrypt(&r_low), &rot(&prod, 2)) < TOL);
    let z: Vec<Complex64> = x.iter().zip(&y).map(|(&a, &b)| Complex64::new(a, b)).collect();
    let pz = c.enc.encode_complex(&z, top, c.params.default_scale()).unwrap();
    let cz = Encryptor::with_public_key(&c.params, &c.pk).encrypt(&pz, &mut c.rng).unwrap();
    let conj = c.decrypt_complex(&ev.conjugate(&cz, &c.gks).unwrap());
    assert!(z.iter().zip(&conj).all(|(a, b)| (a.conj().re - b.re).abs() < TOL && (a.conj().im - b.im).abs() < TOL));
    // Sum of slots over windows of 8.
    let s8 = ev.sum_slots(&cx, 8, &c.gks).unwrap();
    let want: Vec<f64> = (0..x.len()).map(|i| (0..8).map(|k| x[(i + k) % x.len()]).sum()).collect();
    assert!(max_err(&c.decrypt(&s8), &want) < TOL);
    // Drop to level.
    let dropped = ev.drop_to_level(&cx, Level(0)).unwrap();
    assert!(max_err(&c.decrypt(&dropped), &x) < TOL);
    // Mismatches are typed errors.
    assert!(matches!(ev.add(&cx, &m), Err(CkksError::LevelMismatch { .. })));
    let mut other_scale = cy.clone();
    other_scale.set_scale(Scale::from_log2(41.0));
    assert!(matches!(ev.add(&cx, &other_scale), Err(CkksError::ScaleMismatch { .. })));
    assert!(matches!(ev.rotate(&d2, 1, &c.gks), Err(CkksError::CiphertextDegree { .. })));
    assert!(matches!(ev.rotate(&cx, 9, &c.gks), Err(CkksError::MissingGaloisKey { .. })));
    let bottom = ev.drop_to_level(&cx, Level(0)).unwrap();
    assert!(matches!(ev.rescale(&bottom), Err(CkksError::LevelTooLow { .. })));
    assert!(matches!(ev.multiply(&cx, &bottom), Err(CkksError::LevelMismatch { .. })));
}

#[test]
fn all_operations_match_plaintext_n1024() {
    check_all_ops(ParametersLiteral::insecure_n1024_l2());
}

#[test]
fn all_operations_match_plaintext_multi_prime_digits() {
    check_all_ops(ParametersLiteral::insecure_n2048_l4_dnum3());
}

#[test]
fn matvec_64_matches_plaintext() {
    let lit = ParametersLiteral::insecure_n1024_l2();
    let params = Parameters::new(lit.clone()).unwrap();
    let enc = Encoder::new(&params);
    let d = 64;
    let matrix: Vec<Vec<f64>> = (0..d).map(|i| (0..d).map(|j| ((i * 31 + j * 17) % 23) as f64 / 11.5 - 1.0).collect()).collect();
    let plan = MatVecPlan::new(&enc, &params, &matrix, params.max_level()).unwrap();
    let mut c = setup(lit, &plan.rotation_steps());
    let v: Vec<f64> = (0..d).map(|i| (i as f64 * 0.3).cos()).collect();
    let rep: Vec<f64> = (0..c.params.slot_count()).map(|j| v[j % d]).collect();
    let cv = c.encrypt(&rep);
    let out = c.eval.rescale(&c.eval.matvec(&cv, &plan, &c.gks).unwrap()).unwrap();
    assert!(out.scale().matches(cv.scale()));
    let got = c.decrypt(&out);
    let want: Vec<f64> = (0..d).map(|i| (0..d).map(|j| matrix[i][j] * v[j]).sum()).collect();
    assert!(max_err(&got[..d], &want) < 1e-5, "{}", max_err(&got[..d], &want));
    assert!(max_err(&got[d..2 * d], &want) < 1e-5);
    let bad = vec![vec![0.0; 3]; 3];
    assert!(matches!(MatVecPlan::new(&enc, &params, &bad, params.max_level()), Err(CkksError::MatrixShape { .. })));
}

#[test]
fn secret_key_encryption_round_trips() {
    let mut c = setup(ParametersLiteral::insecure_n1024_l2(), &[]);
    let x = c.random(10.0);
    let pt = c.enc.encode(&x, Level(1), c.params.default_scale()).unwrap();
    let ct = Encryptor::with_secret_key(&c.sk).encrypt(&pt, &mut c.rng).unwrap();
    assert_eq!(ct.level(), Level(1));
    assert!(max_err(&c.decrypt(&ct), &x) < 1e-5);
}
