//! Every operation of both protocols against the plaintext computation.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use veil_mpc::local::{run_2pc, run_3pc};
use veil_mpc::nn::Engine;
use veil_mpc::threepc::ThreePc;
use veil_mpc::twopc::{Role, TwoPc};
use veil_mpc::{approx, FixedPoint};

const T: Duration = Duration::from_secs(20);

fn rng(seed: u64) -> rand_chacha::ChaCha20Rng {
    rand_chacha::ChaCha20Rng::seed_from_u64(seed)
}

fn vals(seed: u64, n: usize, range: f64) -> Vec<f64> {
    let mut r = rng(seed);
    (0..n).map(|_| r.gen_range(-range..range)).collect()
}

fn max_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// Runs a computation on both engines: inputs x (party 0) and y (party 1), result revealed.
fn both<F2, F3>(f2: F2, f3: F3) -> (Vec<f64>, Vec<f64>)
where
    F2: Fn(&mut TwoPc, FixedPoint) -> Result<Vec<u64>, veil_mpc::MpcError> + Sync,
    F3: Fn(&mut ThreePc, FixedPoint) -> Result<Vec<u64>, veil_mpc::MpcError> + Sync,
{
    let fp = FixedPoint::default();
    let r2 = run_2pc(fp, T, |e| f2(e, fp));
    let r3 = run_3pc(fp, T, |e| f3(e, fp));
    let out2: Vec<Vec<u64>> = r2.into_iter().map(|r| r.expect("2pc participant")).collect();
    let out3: Vec<Vec<u64>> = r3.into_iter().map(|r| r.expect("3pc participant")).collect();
    assert_eq!(out2[0], out2[1], "2PC parties disagree");
    assert_eq!(out3[0], out3[1], "3PC parties disagree");
    assert_eq!(out3[0], out3[2], "3PC parties disagree");
    (fp.decode_all(&out2[0]), fp.decode_all(&out3[0]))
}

fn inputs<E: Engine>(e: &mut E, fp: FixedPoint, x: &[f64], y: &[f64], rows: usize) -> (E::T, E::T) {
    let xe = fp.encode_all(x).expect("enc");
    let ye = fp.encode_all(y).expect("enc");
    let a = e.input(0, rows, x.len() / rows, Some(&xe)).expect("input x");
    let b = e.input(1, rows, y.len() / rows, Some(&ye)).expect("input y");
    (a, b)
}

#[test]
fn add_mul_matmul_and_scaling() {
    let x = vals(1, 12, 10.0);
    let y = vals(2, 12, 10.0);
    // x as 3×4, y as 4×3.
    let mut want_mm = vec![0.0; 9];
    for i in 0..3 {
        for j in 0..3 {
            want_mm[i * 3 + j] = (0..4).map(|k| x[i * 4 + k] * y[k * 3 + j]).sum();
        }
    }
    let want_mul: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a * b).collect();
    let want_add: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a + b).collect();
    let want_div: Vec<f64> = x.iter().map(|a| a / 3.0).collect();
    let (x2, y2) = (x.clone(), y.clone());
    let (g2, g3) = both(
        |e, fp| {
            let (a, b) = inputs(e, fp, &x2, &y2, 3);
            let b43 = veil_mpc::twopc::Shared { rows: 4, cols: 3, v: b.v.clone() };
            let ops = e.open_masked(&[&a, &b43, &b])?;
            let mm = e.matmul_trunc(&ops[0], &ops[1])?;
            let mut ml = e.mul(&ops[0], &ops[2])?;
            e.trunc(&mut ml);
            let ad = a.add(&b)?;
            let dv = e.div_public(&a, 3.0)?;
            let mut out = e.reveal(&mm)?;
            out.extend(e.reveal(&ml)?);
            out.extend(e.reveal(&ad)?);
            out.extend(e.reveal(&dv)?);
            Ok(out)
        },
        |e, fp| {
            let (a, b) = inputs(e, fp, &x2, &y2, 3);
            let b43 = veil_mpc::threepc::Rep { rows: 4, cols: 3, a: b.a.clone(), b: b.b.clone() };
            let mm = e.matmul(&a, &b43, true)?;
            let ml = e.mul(&a, &b, true)?;
            let ad = a.add(&b)?;
            let dv = e.div_public(&a, 3.0)?;
            let mut out = e.reveal(&mm)?;
            out.extend(e.reveal(&ml)?);
            out.extend(e.reveal(&ad)?);
            out.extend(e.reveal(&dv)?);
            Ok(out)
        },
    );
    for g in [g2, g3] {
        assert!(max_err(&g[..9], &want_mm) < 1e-3, "matmul");
        assert!(max_err(&g[9..21], &want_mul) < 1e-3, "mul");
        assert!(max_err(&g[21..33], &want_add) < 1e-4, "add");
        assert!(max_err(&g[33..45], &want_div) < 1e-3, "div");
    }
}

#[test]
fn relu_and_comparisons_including_edge_values() {
    let mut x = vals(3, 300, 1000.0);
    x.extend([0.0, -0.0000152587890625, 0.0000152587890625, 30000.0, -30000.0]);
    let fp = FixedPoint::default();
    let want: Vec<f64> = x.iter().map(|v| fp.decode(fp.encode(*v).expect("enc")).max(0.0)).collect();
    let x2 = x.clone();
    let (g2, g3) = both(
        |e, fp| {
            let xe = fp.encode_all(&x2)?;
            let a = e.input(Role::P1, 1, x2.len(), Some(&xe))?;
            let r = e.relu(&a)?;
            e.reveal(&r)
        },
        |e, fp| {
            let xe = fp.encode_all(&x2)?;
            let a = ThreePc::input(e, 1, 1, x2.len(), Some(&xe))?;
            let r = e.relu(&a)?;
            e.reveal(&r)
        },
    );
    assert_eq!(max_err(&g2, &want), 0.0);
    assert_eq!(max_err(&g3, &want), 0.0);
}

#[test]
fn sigmoid_within_stated_accuracy() {
    let x = vals(4, 400, 12.0);
    let want: Vec<f64> = x.iter().map(|&v| veil_ml::sigmoid(v)).collect();
    let x2 = x.clone();
    let (g2, g3) = both(
        |e, fp| {
            let a = e.input(Role::P0, 1, x2.len(), Some(&fp.encode_all(&x2)?))?;
            let s = e.piecewise(&a, &approx::sigmoid(fp)?)?;
            e.reveal(&s)
        },
        |e, fp| {
            let a = ThreePc::input(e, 0, 1, x2.len(), Some(&fp.encode_all(&x2)?))?;
            let s = e.piecewise(&a, &approx::sigmoid(fp)?)?;
            e.reveal(&s)
        },
    );
    assert!(max_err(&g2, &want) < 1.7e-3, "2pc {}", max_err(&g2, &want));
    assert!(max_err(&g3, &want) < 1.7e-3, "3pc {}", max_err(&g3, &want));
}

#[test]
fn exp_within_stated_accuracy() {
    let x: Vec<f64> = vals(5, 200, 6.0).iter().map(|v| -v.abs()).collect();
    let want: Vec<f64> = x.iter().map(|v| v.exp()).collect();
    let x2 = x.clone();
    let (g2, _) = both(
        |e, fp| {
            let a = e.input(Role::P0, 1, x2.len(), Some(&fp.encode_all(&x2)?))?;
            let s = e.piecewise(&a, &approx::exp_nonpositive(fp)?)?;
            e.reveal(&s)
        },
        |e, fp| {
            let a = ThreePc::input(e, 0, 1, x2.len(), Some(&fp.encode_all(&x2)?))?;
            let s = e.piecewise(&a, &approx::exp_nonpositive(fp)?)?;
            e.reveal(&s)
        },
    );
    assert!(max_err(&g2, &want) < 1.2e-3);
}

#[test]
fn max_and_argmax_of_rows() {
    let rows = 7;
    let cols = 10;
    let x = vals(6, rows * cols, 50.0);
    let fp = FixedPoint::default();
    let q: Vec<f64> = x.iter().map(|v| fp.decode(fp.encode(*v).expect("enc"))).collect();
    let mut want = Vec::new();
    for r in 0..rows {
        let row = &q[r * cols..(r + 1) * cols];
        want.push(row.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    }
    for r in 0..rows {
        let row = &q[r * cols..(r + 1) * cols];
        let (i, _) = row.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (i, v)| if *v > b.1 { (i, *v) } else { b });
        want.push(i as f64);
    }
    let x2 = x.clone();
    let (g2, g3) = both(
        |e, fp| {
            let a = e.input(Role::P0, rows, cols, Some(&fp.encode_all(&x2)?))?;
            let m = e.max_rows(&a)?;
            let i = e.argmax_rows(&a)?;
            let mut out = e.reveal(&m)?;
            out.extend(e.reveal(&i)?);
            Ok(out)
        },
        |e, fp| {
            let a = ThreePc::input(e, 0, rows, cols, Some(&fp.encode_all(&x2)?))?;
            let m = e.max_rows(&a)?;
            let i = e.argmax_rows(&a)?;
            let mut out = e.reveal(&m)?;
            out.extend(e.reveal(&i)?);
            Ok(out)
        },
    );
    assert_eq!(g2, want);
    assert_eq!(g3, want);
}

#[test]
fn reciprocal_and_softmax() {
    let (rows, cols) = (6, 10);
    let x = vals(7, rows * cols, 4.0);
    let r: Vec<f64> = vals(8, 20, 1.0).iter().map(|v| 1.0 + (v + 1.0) * 4.5).collect();
    let fp = FixedPoint::default();
    let sm = veil_ml::softmax_rows(&veil_ml::Matrix::new(rows, cols, x.clone()).expect("m"));
    let mut want: Vec<f64> = r.iter().map(|v| 1.0 / v).collect();
    want.extend_from_slice(sm.data());
    let (x2, r2) = (x.clone(), r.clone());
    let (g2, g3) = both(
        |e, fp| {
            let a = e.input(Role::P0, 1, r2.len(), Some(&fp.encode_all(&r2)?))?;
            let inv = e.reciprocal(&a, 10.0)?;
            let b = e.input(Role::P1, rows, cols, Some(&fp.encode_all(&x2)?))?;
            let s = e.softmax_rows(&b)?;
            let mut out = e.reveal(&inv)?;
            out.extend(e.reveal(&s)?);
            Ok(out)
        },
        |e, fp| {
            let a = ThreePc::input(e, 0, 1, r2.len(), Some(&fp.encode_all(&r2)?))?;
            let inv = e.reciprocal(&a, 10.0)?;
            let b = ThreePc::input(e, 1, rows, cols, Some(&fp.encode_all(&x2)?))?;
            let s = e.softmax_rows(&b)?;
            let mut out = e.reveal(&inv)?;
            out.extend(e.reveal(&s)?);
            Ok(out)
        },
    );
    let _ = fp;
    for g in [g2, g3] {
        assert!(max_err(&g[..20], &want[..20]) < 2e-4, "reciprocal {}", max_err(&g[..20], &want[..20]));
        assert!(max_err(&g[20..], &want[20..]) < 3e-3, "softmax {}", max_err(&g[20..], &want[20..]));
    }
}
