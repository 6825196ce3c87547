//! Three parties, replicated sharing (honest majority, semi-honest).
//!
//! `x = x₀ + x₁ + x₂ mod 2^64`; party *i* holds `(xᵢ, xᵢ₊₁)` (indices mod 3). Each pair of
//! neighbours shares a ChaCha20 key (party *i* samples `k_{i,i+1}` at set-up and sends it to
//! party *i+1*), from which the parties draw zero-sharings `αᵢ = F(k_{i,i+1}) − F(k_{i−1,i})`.
//!
//! * Multiplication: each party sums the products `xᵢyⱼ` it can form (a fixed split of the
//!   nine) plus `αᵢ`, a 3-out-of-3 sharing; party *i* sends `zᵢ` to party *i−1*: one round.
//! * Multiplication with truncation: party 2 sends `z₂` to party 1, which makes the 2-out-of-2
//!   sharing `(z₀, z₁ + z₂)` between parties 0 and 1; both truncate locally (SecureML, error
//!   and failure bound of [`FixedPoint::trunc_share`]) and re-share into replicated form (party
//!   0 sends `a + s − r` and party 1 sends `b − s` to party 2, with `r, s` from `k₀₁`): two
//!   rounds.
//! * Comparison: the replicated sharing is read as the 2-out-of-2 sharing `(x₀ + x₁, x₂)`
//!   between parties 0 and 1, which run the 2PC comparison of [`crate::twopc`] with party 2
//!   supplying its correlated randomness from the keys it shares with each of them; the
//!   result is re-shared into replicated form (one more round).

use veil_channel::{Channel, LinkStats};

use crate::prg::{Prg, Seed};
use crate::ring;
use crate::twopc::{Piecewise, Role, Seeds, TwoPc};
use crate::wire;
use crate::{FixedPoint, MpcError};

/// Party *i*'s replicated share `(xᵢ, xᵢ₊₁)` of a `rows × cols` tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rep {
    pub rows: usize,
    pub cols: usize,
    pub a: Vec<u64>,
    pub b: Vec<u64>,
}

impl Rep {
    pub fn len(&self) -> usize {
        self.a.len()
    }

    pub fn is_empty(&self) -> bool {
        self.a.is_empty()
    }

    fn check_same(&self, o: &Rep, op: &'static str) -> Result<(), MpcError> {
        if (self.rows, self.cols) != (o.rows, o.cols) {
            return Err(MpcError::Shape { op, expected: format!("{}×{}", self.rows, self.cols), got: format!("{}×{}", o.rows, o.cols) });
        }
        Ok(())
    }

    pub fn add(&self, o: &Rep) -> Result<Rep, MpcError> {
        self.check_same(o, "add")?;
        Ok(Rep { rows: self.rows, cols: self.cols, a: ring::add(&self.a, &o.a), b: ring::add(&self.b, &o.b) })
    }

    pub fn sub(&self, o: &Rep) -> Result<Rep, MpcError> {
        self.check_same(o, "sub")?;
        Ok(Rep { rows: self.rows, cols: self.cols, a: ring::sub(&self.a, &o.a), b: ring::sub(&self.b, &o.b) })
    }

    pub fn mul_public(&self, c: u64) -> Rep {
        let mut r = self.clone();
        ring::scale(&mut r.a, c);
        ring::scale(&mut r.b, c);
        r
    }

    /// Adds a shared row vector to every row.
    pub fn add_row(&self, row: &Rep) -> Result<Rep, MpcError> {
        if row.len() != self.cols {
            return Err(MpcError::Shape { op: "add_row", expected: format!("{} values", self.cols), got: format!("{}", row.len()) });
        }
        let mut r = self.clone();
        for (ca, cb) in r.a.chunks_mut(self.cols.max(1)).zip(r.b.chunks_mut(self.cols.max(1))) {
            ring::add_assign(ca, &row.a);
            ring::add_assign(cb, &row.b);
        }
        Ok(r)
    }

    pub fn sum_rows(&self) -> Rep {
        let mut a = vec![0u64; self.cols];
        let mut b = vec![0u64; self.cols];
        for (ra, rb) in self.a.chunks(self.cols.max(1)).zip(self.b.chunks(self.cols.max(1))) {
            ring::add_assign(&mut a, ra);
            ring::add_assign(&mut b, rb);
        }
        Rep { rows: 1, cols: self.cols, a, b }
    }

    pub fn transpose(&self) -> Rep {
        Rep {
            rows: self.cols,
            cols: self.rows,
            a: ring::transpose(&self.a, self.rows, self.cols),
            b: ring::transpose(&self.b, self.rows, self.cols),
        }
    }
}

/// One party's state in a 3PC replicated session.
pub struct ThreePc {
    me: usize,
    fp: FixedPoint,
    /// Party 0: link to party 2; party 2: link to party 0 (party 1's links both live in `two`).
    other: Option<Box<dyn Channel>>,
    k_next: Prg,
    k_prev: Prg,
    two: TwoPc,
    rounds: u64,
}

impl std::fmt::Debug for ThreePc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreePc").field("me", &self.me).field("fp", &self.fp).finish_non_exhaustive()
    }
}

fn seed_from(ch: &mut dyn Channel) -> Result<Seed, MpcError> {
    let m = ch.recv()?;
    let arr: [u8; 32] = m
        .as_slice()
        .try_into()
        .map_err(|_| MpcError::malformed(ch.peer(), "pairwise key", format!("expected 32 bytes, got {}", m.len())))?;
    Ok(Seed::from_bytes(arr))
}

impl ThreePc {
    /// Set-up over live links to the next (`me + 1`) and previous (`me − 1`) party: each
    /// party sends a fresh key to the next one (one round).
    pub fn setup(me: usize, fp: FixedPoint, mut next: Box<dyn Channel>, mut prev: Box<dyn Channel>) -> Result<Self, MpcError> {
        if me > 2 {
            return Err(MpcError::Config(format!("party index {me} out of range 0..3")));
        }
        let k_next = Seed::random();
        next.send(k_next.as_bytes())?;
        next.flush()?;
        let k_prev = seed_from(&mut *prev)?;
        // Seeds of the 2PC sub-session for comparisons: parties 0 and 1 compute, party 2 deals.
        // seed₀ = k₂₀ (party 0's prev, party 2's next), seed₁ = k₁₂ (party 1's next, party 2's prev),
        // common seed = k₀₁.
        let d = |s: &Seed| s.derive("veil-mpc/3pc/binary");
        let (two, other) = match me {
            0 => (
                TwoPc::from_seeds(Role::P0, fp, Some(next), None, Seeds { s0: Some(d(&k_prev)), s1: None, s01: Some(d(&k_next)) }),
                Some(prev),
            ),
            1 => (
                TwoPc::from_seeds(Role::P1, fp, Some(prev), Some(next), Seeds { s0: None, s1: Some(d(&k_next)), s01: Some(d(&k_prev)) }),
                None,
            ),
            _ => (
                TwoPc::from_seeds(Role::Dealer, fp, None, Some(prev), Seeds { s0: Some(d(&k_next)), s1: Some(d(&k_prev)), s01: None }),
                Some(next),
            ),
        };
        Ok(Self { me, fp, other, k_next: Prg::new(&k_next), k_prev: Prg::new(&k_prev), two, rounds: 0 })
    }

    pub fn party(&self) -> usize {
        self.me
    }

    pub fn fixed_point(&self) -> FixedPoint {
        self.fp
    }

    /// The link to party `to` (≠ me).
    fn link(&mut self, to: usize) -> Result<&mut (dyn Channel + 'static), MpcError> {
        let me = self.me;
        let l = match (me, to) {
            (0, 1) | (1, 0) => self.two.peer_link(),
            (1, 2) | (2, 1) => self.two.dealer_link(),
            (0, 2) | (2, 0) => self.other.as_deref_mut(),
            _ => None,
        };
        l.ok_or_else(|| MpcError::Config(format!("party {me} has no link to party {to}")))
    }

    /// Communication rounds on the critical path so far (including the comparison rounds
    /// run between parties 0 and 1).
    pub fn rounds(&self) -> u64 {
        self.rounds + self.two.rounds()
    }

    /// Traffic on this party's two links.
    pub fn stats(&self) -> Vec<LinkStats> {
        let (p, d) = self.two.stats();
        let o = self.other.as_ref().map(|c| c.stats()).unwrap_or_default();
        match self.me {
            0 => vec![p, o],
            1 => vec![p, d],
            _ => vec![d, o],
        }
    }

    fn send(&mut self, to: usize, v: &[u64]) -> Result<(), MpcError> {
        let ch = self.link(to)?;
        wire::send(ch, v)?;
        ch.flush()?;
        Ok(())
    }

    fn recv(&mut self, from: usize, n: usize, step: &'static str) -> Result<Vec<u64>, MpcError> {
        wire::recv(self.link(from)?, n, step)
    }

    fn next(&self) -> usize {
        (self.me + 1) % 3
    }

    fn prev(&self) -> usize {
        (self.me + 2) % 3
    }

    /// Shares a tensor held by party `owner` with one message: `x_owner = r` from the key the
    /// owner shares with party `owner − 1`, `x_{owner+1} = x − r` sent to party `owner + 1`,
    /// and `x_{owner+2} = 0`. Party `owner + 1` sees `(x − r, 0)` and party `owner − 1` sees
    /// `(0, r)`: neither learns anything about `x`. One round.
    pub fn input(&mut self, owner: usize, rows: usize, cols: usize, values: Option<&[u64]>) -> Result<Rep, MpcError> {
        let n = rows * cols;
        if owner > 2 {
            return Err(MpcError::Config(format!("input owner {owner} out of range")));
        }
        self.rounds += 1;
        if owner == self.me {
            let x = values.ok_or_else(|| MpcError::Config("the input owner must pass its values".into()))?;
            if x.len() != n {
                return Err(MpcError::Shape { op: "input", expected: format!("{rows}×{cols}"), got: format!("{} values", x.len()) });
            }
            let a = self.k_prev.ring(n);
            let b = ring::sub(x, &a);
            let nx = self.next();
            self.send(nx, &b)?;
            Ok(Rep { rows, cols, a, b })
        } else if self.me == (owner + 1) % 3 {
            let a = self.recv(owner, n, "input share")?;
            Ok(Rep { rows, cols, a, b: vec![0; n] })
        } else {
            let b = self.k_next.ring(n);
            Ok(Rep { rows, cols, a: vec![0; n], b })
        }
    }

    /// Wraps shares received from an outside data provider.
    pub fn from_shares(&self, rows: usize, cols: usize, a: Vec<u64>, b: Vec<u64>) -> Result<Rep, MpcError> {
        if a.len() != rows * cols || b.len() != rows * cols {
            return Err(MpcError::Shape {
                op: "from_shares",
                expected: format!("{rows}×{cols}"),
                got: format!("{} and {} values", a.len(), b.len()),
            });
        }
        Ok(Rep { rows, cols, a, b })
    }

    fn zero_share(&mut self, n: usize) -> Vec<u64> {
        let a = self.k_next.ring(n);
        let b = self.k_prev.ring(n);
        ring::sub(&a, &b)
    }

    /// 3-out-of-3 → replicated: send zᵢ to party i−1 (one round).
    fn reshare(&mut self, rows: usize, cols: usize, z: Vec<u64>) -> Result<Rep, MpcError> {
        self.rounds += 1;
        let (pv, nx) = (self.prev(), self.next());
        self.send(pv, &z)?;
        let b = self.recv(nx, z.len(), "reshare")?;
        Ok(Rep { rows, cols, a: z, b })
    }

    /// 2-out-of-2 between parties 0 (`a`) and 1 (`b`) → replicated (one round).
    fn reshare_2of2(&mut self, rows: usize, cols: usize, v: Vec<u64>) -> Result<Rep, MpcError> {
        let n = rows * cols;
        self.rounds += 1;
        // Parties 0 and 1 first re-randomise their sharing with `s` (from k₀₁, unknown to party
        // 2): party 2 supplied the correlated randomness of the comparison and could otherwise
        // strip it from party 1's output share.
        match self.me {
            0 => {
                let r = self.k_next.ring(n);
                let s = self.k_next.ring(n);
                let y0: Vec<u64> = (0..n).map(|i| v[i].wrapping_add(s[i]).wrapping_sub(r[i])).collect();
                self.send(2, &y0)?;
                Ok(Rep { rows, cols, a: y0, b: r })
            }
            1 => {
                let r = self.k_prev.ring(n);
                let s = self.k_prev.ring(n);
                let y2 = ring::sub(&v, &s);
                self.send(2, &y2)?;
                Ok(Rep { rows, cols, a: r, b: y2 })
            }
            _ => {
                let y2 = self.recv(1, n, "re-share")?;
                let y0 = self.recv(0, n, "re-share")?;
                Ok(Rep { rows, cols, a: y2, b: y0 })
            }
        }
    }

    /// 3-out-of-3 → truncated replicated (two rounds).
    fn trunc_3of3(&mut self, rows: usize, cols: usize, z: Vec<u64>) -> Result<Rep, MpcError> {
        let n = z.len();
        self.rounds += 1;
        let mut v = match self.me {
            0 => z,
            1 => {
                let z2 = self.recv(2, n, "truncation")?;
                ring::add(&z, &z2)
            }
            _ => {
                self.send(1, &z)?;
                Vec::new()
            }
        };
        if self.me < 2 {
            self.fp.trunc_share(self.me, &mut v);
        }
        self.reshare_2of2(rows, cols, v)
    }

    /// Entry-wise product, truncated (two rounds) or not (one round).
    pub fn mul(&mut self, x: &Rep, y: &Rep, truncate: bool) -> Result<Rep, MpcError> {
        x.check_same(y, "mul")?;
        let n = x.len();
        let alpha = self.zero_share(n);
        let z: Vec<u64> = (0..n)
            .map(|i| {
                x.a[i]
                    .wrapping_mul(y.a[i])
                    .wrapping_add(x.a[i].wrapping_mul(y.b[i]))
                    .wrapping_add(x.b[i].wrapping_mul(y.a[i]))
                    .wrapping_add(alpha[i])
            })
            .collect();
        if truncate {
            self.trunc_3of3(x.rows, x.cols, z)
        } else {
            self.reshare(x.rows, x.cols, z)
        }
    }

    /// Matrix product `x · y`, truncated (two rounds) or not (one round).
    pub fn matmul(&mut self, x: &Rep, y: &Rep, truncate: bool) -> Result<Rep, MpcError> {
        let (m, k, n) = (x.rows, x.cols, y.cols);
        if y.rows != k {
            return Err(MpcError::Shape {
                op: "matmul",
                expected: format!("{k} rows on the right"),
                got: format!("{}×{}", y.rows, y.cols),
            });
        }
        let z = self.product_3of3(x, y, m, k, n);
        if truncate {
            self.trunc_3of3(m, n, z)
        } else {
            self.reshare(m, n, z)
        }
    }

    /// Local truncation is not available for replicated shares; this multiplies by a public
    /// fixed-point constant and truncates (two rounds).
    pub fn mul_public_fixed(&mut self, x: &Rep, c: f64) -> Result<Rep, MpcError> {
        let c = self.fp.encode(c)?;
        let s = x.mul_public(c);
        // As a 3-out-of-3 sharing: party i keeps its first component.
        self.trunc_3of3(x.rows, x.cols, s.a)
    }

    /// Division by a public value (two rounds).
    pub fn div_public(&mut self, x: &Rep, d: f64) -> Result<Rep, MpcError> {
        if !(d.is_finite() && d != 0.0) {
            return Err(MpcError::Config(format!("cannot divide by {d}")));
        }
        self.mul_public_fixed(x, 1.0 / d)
    }

    /// Adds a public tensor (party 0 adds it to x₀, party 2 to its copy of x₀).
    pub fn add_public(&self, x: &mut Rep, c: &[u64]) {
        match self.me {
            0 => ring::add_assign(&mut x.a, c),
            2 => ring::add_assign(&mut x.b, c),
            _ => {}
        }
    }

    /// Reveals to all three parties (one round).
    pub fn reveal(&mut self, x: &Rep) -> Result<Vec<u64>, MpcError> {
        self.rounds += 1;
        let (nx, pv) = (self.next(), self.prev());
        self.send(nx, &x.a)?;
        let c = self.recv(pv, x.len(), "reveal")?;
        Ok((0..x.len()).map(|i| x.a[i].wrapping_add(x.b[i]).wrapping_add(c[i])).collect())
    }

    /// The 2-out-of-2 sharing `(x₀ + x₁, x₂)` between parties 0 and 1 (local).
    fn as_2of2(&self, x: &Rep) -> crate::twopc::Shared {
        let v = match self.me {
            0 => ring::add(&x.a, &x.b),
            1 => x.b.clone(),
            _ => vec![0; x.len()],
        };
        crate::twopc::Shared { rows: x.rows, cols: x.cols, v }
    }

    /// A 3-out-of-3 sharing of `x·y` (local): the nine products `xᵢyⱼ` split as party 0
    /// `(x₀+x₁)(y₀+y₁)`, party 1 `x₂(y₁+y₂) + x₁y₂`, party 2 `x₀y₂ + x₂y₀` (five matrix
    /// products in all instead of six), plus a zero-sharing.
    fn product_3of3(&mut self, x: &Rep, y: &Rep, m: usize, k: usize, n: usize) -> Vec<u64> {
        let mut z = self.zero_share(m * n);
        // Products with a share that is zero (inputs carry one, see `input`) are skipped.
        let mm = |z: &mut Vec<u64>, a: &[u64], b: &[u64]| {
            if a.iter().any(|&v| v != 0) && b.iter().any(|&v| v != 0) {
                ring::matmul_acc(z, a, b, m, k, n);
            }
        };
        match self.me {
            0 => mm(&mut z, &ring::add(&x.a, &x.b), &ring::add(&y.a, &y.b)),
            1 => {
                mm(&mut z, &x.b, &ring::add(&y.a, &y.b));
                mm(&mut z, &x.a, &y.b);
            }
            _ => {
                mm(&mut z, &x.b, &y.a);
                mm(&mut z, &x.a, &y.b);
            }
        }
        z
    }

    /// The 3-out-of-3 sharing of `x·w` (local), plus `b·2^f` when `bias` is given.
    fn matmul_3of3(&mut self, x: &Rep, w: &Rep, bias: Option<&Rep>) -> Result<Vec<u64>, MpcError> {
        let (m, k, n) = (x.rows, x.cols, w.cols);
        if w.rows != k {
            return Err(MpcError::Shape {
                op: "dense layer",
                expected: format!("{k} rows of weights"),
                got: format!("{}×{}", w.rows, w.cols),
            });
        }
        let mut z = self.product_3of3(x, w, m, k, n);
        if let Some(b) = bias {
            if b.len() != n {
                return Err(MpcError::Shape { op: "dense bias", expected: format!("{n} values"), got: format!("{}", b.len()) });
            }
            let f = self.fp.frac_bits();
            for row in z.chunks_mut(n.max(1)) {
                for (v, bi) in row.iter_mut().zip(&b.a) {
                    *v = v.wrapping_add(bi << f);
                }
            }
        }
        Ok(z)
    }

    /// `act(x·w + b)`: the product goes to 2-out-of-2 form between parties 0 and 1 (one
    /// round), is truncated there, passes the activation in that form, and is re-shared (one
    /// round): 2 rounds plus the activation's 8.
    pub fn dense_act(&mut self, x: &Rep, w: &Rep, b: &Rep, act: Option<crate::nn::Act<'_>>) -> Result<Rep, MpcError> {
        let y = self.dense_act_2of2(x, w, b, act)?;
        self.reshare_2of2(x.rows, w.cols, y)
    }

    fn dense_act_2of2(&mut self, x: &Rep, w: &Rep, b: &Rep, act: Option<crate::nn::Act<'_>>) -> Result<Vec<u64>, MpcError> {
        let z = self.matmul_3of3(x, w, None)?;
        let n = z.len();
        self.rounds += 1;
        let mut v = match self.me {
            0 => z,
            1 => {
                let z2 = self.recv(2, n, "dense layer")?;
                ring::add(&z, &z2)
            }
            _ => {
                self.send(1, &z)?;
                vec![0; n]
            }
        };
        if self.me < 2 {
            self.fp.trunc_share(self.me, &mut v);
            let bias = self.as_2of2(b);
            for row in v.chunks_mut(w.cols.max(1)) {
                ring::add_assign(row, &bias.v);
            }
        }
        let s = crate::twopc::Shared { rows: x.rows, cols: w.cols, v };
        Ok(match act {
            None => s.v,
            Some(crate::nn::Act::Relu) => self.two.relu(&s)?.v,
            Some(crate::nn::Act::Piecewise(f)) => self.two.piecewise(&s, f)?.v,
        })
    }

    /// Reveals `act(x·w + b)` to all parties. Without an activation the product is revealed
    /// before truncation and truncated in the clear (exact, one round); with one, the
    /// 2-out-of-2 result is revealed directly (one round after the activation).
    pub fn dense_act_reveal(&mut self, x: &Rep, w: &Rep, b: &Rep, act: Option<crate::nn::Act<'_>>) -> Result<Vec<u64>, MpcError> {
        self.rounds += 1;
        let (nx, pv) = (self.next(), self.prev());
        if act.is_none() {
            let z = self.matmul_3of3(x, w, Some(b))?;
            self.send(nx, &z)?;
            self.send(pv, &z)?;
            let a = self.recv(nx, z.len(), "reveal")?;
            let c = self.recv(pv, z.len(), "reveal")?;
            let f = self.fp.frac_bits();
            return Ok((0..z.len()).map(|i| ((z[i].wrapping_add(a[i]).wrapping_add(c[i]) as i64) >> f) as u64).collect());
        }
        let y = self.dense_act_2of2(x, w, b, act)?;
        let n = y.len();
        match self.me {
            0 | 1 => {
                let other = 1 - self.me;
                self.send(other, &y)?;
                self.send(2, &y)?;
                let t = self.recv(other, n, "reveal")?;
                Ok(ring::add(&y, &t))
            }
            _ => {
                let a = self.recv(0, n, "reveal")?;
                let c = self.recv(1, n, "reveal")?;
                Ok(ring::add(&a, &c))
            }
        }
    }

    /// `max(x, 0)` (nine rounds).
    pub fn relu(&mut self, x: &Rep) -> Result<Rep, MpcError> {
        let s = self.as_2of2(x);
        let y = self.two.relu(&s)?;
        self.reshare_2of2(x.rows, x.cols, y.v)
    }

    /// A piecewise-linear function (nine rounds).
    pub fn piecewise(&mut self, x: &Rep, f: &Piecewise) -> Result<Rep, MpcError> {
        let s = self.as_2of2(x);
        let y = self.two.piecewise(&s, f)?;
        self.reshare_2of2(x.rows, x.cols, y.v)
    }

    /// Row-wise maximum (see [`TwoPc::max_rows`]; one more round to re-share).
    pub fn max_rows(&mut self, x: &Rep) -> Result<Rep, MpcError> {
        let s = self.as_2of2(x);
        let y = self.two.max_rows(&s)?;
        self.reshare_2of2(x.rows, 1, y.v)
    }

    /// Row-wise argmax (see [`TwoPc::argmax_rows`]).
    pub fn argmax_rows(&mut self, x: &Rep) -> Result<Rep, MpcError> {
        let s = self.as_2of2(x);
        let y = self.two.argmax_rows(&s)?;
        self.reshare_2of2(x.rows, 1, y.v)
    }

    /// Row-wise softmax (see [`TwoPc::softmax_rows`]).
    pub fn softmax_rows(&mut self, x: &Rep) -> Result<Rep, MpcError> {
        let s = self.as_2of2(x);
        let y = self.two.softmax_rows(&s)?;
        self.reshare_2of2(x.rows, x.cols, y.v)
    }

    /// `1/x` for `x` in `[1, max]` (see [`TwoPc::reciprocal`]).
    pub fn reciprocal(&mut self, x: &Rep, max: f64) -> Result<Rep, MpcError> {
        let s = self.as_2of2(x);
        let y = self.two.reciprocal(&s, max)?;
        self.reshare_2of2(x.rows, x.cols, y.v)
    }

    /// `(ReLU(x), [x ≥ 0])` in fixed point (nine rounds).
    pub fn relu_bit(&mut self, x: &Rep) -> Result<(Rep, Rep), MpcError> {
        let s = self.as_2of2(x);
        let (p, b) = self.two.compare_mul(&s, &[0])?;
        let one = 1u64 << self.fp.frac_bits();
        let mut both = p;
        both.extend(b.iter().map(|v| v.wrapping_mul(one)));
        let r = self.reshare_2of2(1, both.len(), both)?;
        let n = x.len();
        Ok((
            Rep { rows: x.rows, cols: x.cols, a: r.a[..n].to_vec(), b: r.b[..n].to_vec() },
            Rep { rows: x.rows, cols: x.cols, a: r.a[n..].to_vec(), b: r.b[n..].to_vec() },
        ))
    }
}
