#![allow(clippy::unwrap_used)]
//! Precision at the N = 16384 preset: one multiply + relinearise + rescale at scale 2^40 on
//! inputs in [-1, 1] must be accurate to 2^-25 in every slot (issue requirement).

mod common;

use common::*;
use veil_ckks::*;

#[test]
fn mul_relin_rescale_precision_n16384() {
    let mut c = setup(ParametersLiteral::n16384_l6_sec128(), &[]);
    let (x, y) = (c.random(1.0), c.random(1.0));
    let (cx, cy) = (c.encrypt(&x), c.encrypt(&y));
    let out = c.eval.mul_relin_rescale(&cx, &cy, &c.rlk).unwrap();
    let want: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a * b).collect();
    let err = max_err(&c.decrypt(&out), &want);
    let bits = -err.log2();
    eprintln!("max error after mul+relin+rescale: 2^-{bits:.2}");
    assert!(err <= 2f64.powi(-25), "error 2^-{bits:.2} exceeds 2^-25");
}
