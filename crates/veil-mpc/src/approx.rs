//! Approximations of non-linear functions as piecewise-linear functions, which the
//! protocols evaluate with one batched comparison (8 rounds whatever the number of pieces).
//!
//! Each function is the chord of the exact function between breakpoints, shifted to centre
//! its error on the segment, and constant outside; its largest error on the whole real line is measured in the tests
//! against `f64` and stated on each constructor.

use crate::twopc::Piecewise;
use crate::{FixedPoint, MpcError};

/// Breakpoints of the sigmoid, placed greedily from −7 so that each centred chord stays
/// within 1.5·10⁻³ of the function (denser where the curvature is larger); symmetric.
fn sigmoid_breakpoints() -> Vec<f64> {
    let right = [0.5625, 1.0625, 1.5625, 2.0625, 2.625, 3.375, 4.5, 7.0];
    let mut t: Vec<f64> = right.iter().rev().map(|v| -v).collect();
    t.extend(right);
    t
}

/// `f(x) = Σ_k [x ≥ t_k]·(Δα_k x + Δβ_k)` for the interpolant of `g` through `points`,
/// 0 below the first breakpoint and `g(last)` above the last one.
fn interpolant(fp: FixedPoint, points: &[f64], g: impl Fn(f64) -> f64, right_value: f64) -> Result<Piecewise, MpcError> {
    let mut lines = Vec::with_capacity(points.len());
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        let slope = (g(b) - g(a)) / (b - a);
        let icpt = g(a) - slope * a;
        // Centre the chord on the function over the segment (halves the largest error).
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for i in 0..=64 {
            let x = a + (b - a) * f64::from(i) / 64.0;
            let d = g(x) - (slope * x + icpt);
            lo = lo.min(d);
            hi = hi.max(d);
        }
        lines.push((slope, icpt + (lo + hi) / 2.0));
    }
    lines.push((0.0, right_value));
    let (mut pa, mut pb) = (0.0, 0.0);
    let mut pw = Piecewise { thresholds: Vec::new(), slopes: Vec::new(), offsets: Vec::new(), fractional_slopes: true };
    for (t, (a, b)) in points.iter().zip(lines) {
        pw.thresholds.push(fp.encode(*t)?);
        pw.slopes.push(fp.encode(a - pa)?);
        pw.offsets.push(fp.encode(b - pb)?);
        (pa, pb) = (a, b);
    }
    Ok(pw)
}

/// The logistic function: 16 breakpoints; largest error 1.5·10⁻³ over the real line, plus
/// fixed-point error of a few 2^−f.
pub fn sigmoid(fp: FixedPoint) -> Result<Piecewise, MpcError> {
    interpolant(fp, &sigmoid_breakpoints(), veil_ml::sigmoid, 1.0)
}

/// `e^x` for `x ≤ 0` (used by softmax after subtracting the maximum): breakpoints every
/// 0.125 on [−2, 0], 0.25 on [−4, −2] and 1 on [−10, −4], 0 below −10; largest absolute
/// error 0.95·10⁻³.
pub fn exp_nonpositive(fp: FixedPoint) -> Result<Piecewise, MpcError> {
    let mut t: Vec<f64> = (-10..-4).map(f64::from).collect();
    t.extend((-16..-8).map(|i| f64::from(i) * 0.25));
    t.extend((-16..=0).map(|i| f64::from(i) * 0.125));
    interpolant(fp, &t, f64::exp, 1.0)
}

/// `1/x` on `[0.5, max]` (an initial guess for Newton's iteration): breakpoints in geometric
/// steps of 2^(1/4) from 0.5 to `max` (at most 64), `1/max` above; relative error below 3%
/// on `[1, max]`.
pub fn reciprocal_guess(fp: FixedPoint, max: f64) -> Result<Piecewise, MpcError> {
    if !(1.0..=64.0).contains(&max) {
        return Err(MpcError::Config(format!("reciprocal range [1, {max}] must end in 1..=64")));
    }
    let mut t = vec![0.5];
    while *t.last().unwrap_or(&max) < max {
        let next = (t[t.len() - 1] * 2f64.powf(0.25)).min(max);
        t.push(next);
    }
    interpolant(fp, &t, |x| 1.0 / x, 1.0 / max)
}

/// Evaluates a piecewise function in the clear on decoded values (the cleartext twin used by
/// the tests and by callers that want the reference of the approximation itself).
pub fn eval_plain(fp: FixedPoint, f: &Piecewise, x: f64) -> f64 {
    let mut acc = 0.0;
    for ((t, a), b) in f.thresholds.iter().zip(&f.slopes).zip(&f.offsets) {
        if x >= fp.decode(*t) {
            acc += fp.decode(*a) * x + fp.decode(*b);
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_err(f: &Piecewise, g: impl Fn(f64) -> f64, lo: f64, hi: f64) -> f64 {
        let fp = FixedPoint::default();
        (0..=40_000).map(|i| lo + (hi - lo) * f64::from(i) / 40_000.0).map(|x| (eval_plain(fp, f, x) - g(x)).abs()).fold(0.0, f64::max)
    }

    #[test]
    fn stated_accuracy_holds() {
        let fp = FixedPoint::default();
        let s = sigmoid(fp).expect("sigmoid");
        assert_eq!(s.thresholds.len(), 16);
        let e = max_err(&s, veil_ml::sigmoid, -20.0, 20.0);
        assert!(e < 1.55e-3, "sigmoid error {e}");
        eprintln!("sigmoid max error {e}");
        let x = exp_nonpositive(fp).expect("exp");
        let e = max_err(&x, f64::exp, -30.0, 0.0);
        assert!(e < 1.0e-3, "exp error {e}");
        eprintln!("exp max error {e}");
        let r = reciprocal_guess(fp, 10.0).expect("reciprocal");
        let rel = (0..=9000).map(|i| 1.0 + f64::from(i) / 1000.0).map(|x| (eval_plain(fp, &r, x) * x - 1.0).abs()).fold(0.0, f64::max);
        assert!(rel < 0.03, "reciprocal guess relative error {rel}");
    }
}
