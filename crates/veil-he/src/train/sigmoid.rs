//! The polynomial sigmoid of encrypted training.

/// The logistic sigmoid `1 / (1 + e^{−x})`.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// A degree-3 polynomial approximation `c_0 + c_1 x + c_2 x² + c_3 x³` of the logistic sigmoid
/// on `[−interval, interval]`.
#[derive(Clone, Debug, PartialEq)]
pub struct PolySigmoid {
    /// Half-width `R` of the interval the fit is made on.
    pub interval: f64,
    /// `c_0..c_3`.
    pub coefficients: [f64; 4],
}

impl PolySigmoid {
    /// The least-squares fit on `[−R, R]` (uniform weight): `σ − 1/2` is odd, so `c_0 = 1/2`,
    /// `c_2 = 0`, and `(c_1, c_3)` solve the 2×2 normal equations
    /// `[∫x², ∫x⁴; ∫x⁴, ∫x⁶]·(c_1, c_3) = (∫x·σ, ∫x³·σ)` (integrals over `[−R, R]`, the right-hand
    /// side by composite Simpson on 4096 intervals).
    ///
    /// | `R` | `c_1` | `c_3` | largest error on `[−R, R]` | |
    /// | --- | --- | --- | --- | --- |
    /// | 8 | 0.150120 | −0.00159302 | 0.114 (at `±8`; 0.098 at `|x| ≈ 1.6`) | `p(12) = −0.45` |
    /// | 16 (default) | 0.0842679 | −0.000247365 | 0.218 (at `|x| ≈ 2.3`) | `p(24) = −0.89` |
    ///
    /// Outside the interval the cubic term wins and `p` leaves `[0, 1]` fast, so the logits
    /// should stay near `±R`. Gradient descent on standardised breast-cancer features reaches
    /// logits of ±18 within 12 steps of size 0.2; on `[−8, 8]` it diverges from step 10 at
    /// that rate, hence the default `R = 16`. The plaintext reference uses the same polynomial.
    pub fn least_squares(interval: f64) -> Self {
        let r = interval;
        let moment = |k: i32| 2.0 * r.powi(k + 1) / f64::from(k + 1);
        let steps = 4096;
        let h = 2.0 * r / steps as f64;
        let simpson = |f: &dyn Fn(f64) -> f64| {
            let mut acc = f(-r) + f(r);
            for i in 1..steps {
                let x = -r + i as f64 * h;
                acc += if i % 2 == 1 { 4.0 } else { 2.0 } * f(x);
            }
            acc * h / 3.0
        };
        let b1 = simpson(&|x| x * sigmoid(x));
        let b3 = simpson(&|x| x.powi(3) * sigmoid(x));
        let (g11, g13, g33) = (moment(2), moment(4), moment(6));
        let det = g11 * g33 - g13 * g13;
        let c1 = (b1 * g33 - b3 * g13) / det;
        let c3 = (g11 * b3 - g13 * b1) / det;
        Self { interval, coefficients: [0.5, c1, 0.0, c3] }
    }

    /// `p(x)`.
    pub fn eval(&self, x: f64) -> f64 {
        let [c0, c1, c2, c3] = self.coefficients;
        c0 + x * (c1 + x * (c2 + x * c3))
    }

    /// The largest `|σ(x) − p(x)|` over `[−R, R]` (on a grid of 10 001 points).
    pub fn max_error(&self) -> f64 {
        (0..=10_000)
            .map(|i| -self.interval + 2.0 * self.interval * f64::from(i) / 10_000.0)
            .map(|x| (sigmoid(x) - self.eval(x)).abs())
            .fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_fit_on_eight_matches_the_documented_coefficients() {
        let p = PolySigmoid::least_squares(8.0);
        let [c0, c1, c2, c3] = p.coefficients;
        assert_eq!((c0, c2), (0.5, 0.0));
        assert!((c1 - 0.15012).abs() < 5e-5, "c1 = {c1}");
        assert!((c3 + 0.0015930).abs() < 5e-7, "c3 = {c3}");
        let e = p.max_error();
        assert!((0.11..0.12).contains(&e), "max error {e}");
        let wide = PolySigmoid::least_squares(16.0);
        assert!((wide.coefficients[1] - 0.0842679).abs() < 5e-7 && (wide.coefficients[3] + 0.000247365).abs() < 5e-9, "{wide:?}");
        assert!((0.21..0.225).contains(&wide.max_error()));
        // Any other cubic of the same form fits worse in the L2 sense.
        let l2 = |q: &PolySigmoid| {
            (0..=1000).map(|i| -8.0 + 16.0 * f64::from(i) / 1000.0).map(|x| (sigmoid(x) - q.eval(x)).powi(2)).sum::<f64>()
        };
        for (d1, d3) in [(1e-3, 0.0), (-1e-3, 0.0), (0.0, 1e-5), (0.0, -1e-5)] {
            let q = PolySigmoid { interval: 8.0, coefficients: [0.5, c1 + d1, 0.0, c3 + d3] };
            assert!(l2(&q) > l2(&p));
        }
    }
}
