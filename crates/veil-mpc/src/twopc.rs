//! Two parties with a dealer: additive sharing over Z_2^64.
//!
//! Every party (parties 0 and 1 and the dealer) runs the same sequence of calls on a
//! [`TwoPc`]; the dealer's calls produce the correlated randomness that the parties' calls
//! consume, in the same order. Masks come from two seeds the dealer hands out at set-up
//! (seed₀ to party 0, seed₁ to party 1); party 1 additionally receives *corrections* from the
//! dealer. The dealer never receives anything after set-up, so it learns nothing.

use std::collections::HashMap;

use veil_channel::Channel;

use crate::binary;
use crate::prg::{Prg, Seed};
use crate::ring;
use crate::wire;
use crate::{FixedPoint, MpcError};

/// Who runs a [`TwoPc`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Party 0 (in serving: the model owner's server).
    P0,
    /// Party 1.
    P1,
    /// The dealer: supplies correlated randomness, never sees a share.
    Dealer,
}

impl Role {
    fn index(self) -> usize {
        match self {
            Role::P0 => 0,
            Role::P1 => 1,
            Role::Dealer => 2,
        }
    }
}

/// An additively shared tensor (this party's share), `rows × cols`, row-major.
///
/// At the dealer the entries are zeros: it tracks shapes only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shared {
    pub rows: usize,
    pub cols: usize,
    pub v: Vec<u64>,
}

impl Shared {
    pub fn new(rows: usize, cols: usize, v: Vec<u64>) -> Result<Self, MpcError> {
        if v.len() != rows * cols {
            return Err(MpcError::Shape { op: "Shared::new", expected: format!("{rows}×{cols}"), got: format!("{} values", v.len()) });
        }
        Ok(Self { rows, cols, v })
    }

    pub fn len(&self) -> usize {
        self.v.len()
    }

    pub fn is_empty(&self) -> bool {
        self.v.is_empty()
    }

    fn check_same(&self, o: &Shared, op: &'static str) -> Result<(), MpcError> {
        if (self.rows, self.cols) != (o.rows, o.cols) {
            return Err(MpcError::Shape { op, expected: format!("{}×{}", self.rows, self.cols), got: format!("{}×{}", o.rows, o.cols) });
        }
        Ok(())
    }

    /// `self + o` (local).
    pub fn add(&self, o: &Shared) -> Result<Shared, MpcError> {
        self.check_same(o, "add")?;
        Ok(Shared { rows: self.rows, cols: self.cols, v: ring::add(&self.v, &o.v) })
    }

    /// `self − o` (local).
    pub fn sub(&self, o: &Shared) -> Result<Shared, MpcError> {
        self.check_same(o, "sub")?;
        Ok(Shared { rows: self.rows, cols: self.cols, v: ring::sub(&self.v, &o.v) })
    }

    /// Adds a shared row vector to every row (bias).
    pub fn add_row(&self, row: &Shared) -> Result<Shared, MpcError> {
        if row.len() != self.cols {
            return Err(MpcError::Shape { op: "add_row", expected: format!("{} values", self.cols), got: format!("{}", row.len()) });
        }
        let mut v = self.v.clone();
        for r in v.chunks_mut(self.cols.max(1)) {
            ring::add_assign(r, &row.v);
        }
        Ok(Shared { rows: self.rows, cols: self.cols, v })
    }

    /// Multiplies by a public ring element (no truncation).
    pub fn mul_public(&self, c: u64) -> Shared {
        let mut v = self.v.clone();
        ring::scale(&mut v, c);
        Shared { rows: self.rows, cols: self.cols, v }
    }

    /// Column sums as a `1 × cols` tensor (local).
    pub fn sum_rows(&self) -> Shared {
        let mut v = vec![0u64; self.cols];
        for r in self.v.chunks(self.cols.max(1)) {
            ring::add_assign(&mut v, r);
        }
        Shared { rows: 1, cols: self.cols, v }
    }
}

/// A shared tensor opened against a dealer mask: `X = E + M`, with `E` public to both
/// parties and `M` shared. Products of masked tensors need no communication.
#[derive(Clone, Debug)]
pub struct Masked {
    id: u64,
    transposed: bool,
    pub rows: usize,
    pub cols: usize,
    e: Vec<u64>,
    m: Vec<u64>,
}

impl Masked {
    /// The transpose (same mask, viewed transposed).
    pub fn t(&self) -> Masked {
        Masked {
            id: self.id,
            transposed: !self.transposed,
            rows: self.cols,
            cols: self.rows,
            e: transpose_if_full(&self.e, self.rows, self.cols),
            m: transpose_if_full(&self.m, self.rows, self.cols),
        }
    }

    /// The opened value `E = X − M` (public to both parties).
    pub fn opened(&self) -> &[u64] {
        &self.e
    }

    /// This party's share of the underlying value.
    pub fn share(&self, party: usize) -> Vec<u64> {
        if party == 0 {
            ring::add(&self.e, &self.m)
        } else {
            self.m.clone()
        }
    }
}

/// The transpose, or the vector unchanged where it is empty (the dealer holds no shares).
fn transpose_if_full(v: &[u64], rows: usize, cols: usize) -> Vec<u64> {
    if v.len() == rows * cols {
        ring::transpose(v, rows, cols)
    } else {
        v.to_vec()
    }
}

/// Seeds of a 2PC session: `s0` (party 0 and dealer), `s1` (party 1 and dealer), `s01`
/// (parties 0 and 1: input sharing without communication).
#[derive(Debug)]
pub struct Seeds {
    pub s0: Option<Seed>,
    pub s1: Option<Seed>,
    pub s01: Option<Seed>,
}

/// One participant's state in a 2PC-with-dealer session.
pub struct TwoPc {
    role: Role,
    fp: FixedPoint,
    peer: Option<Box<dyn Channel>>,
    dealer: Option<Box<dyn Channel>>,
    prg0: Option<Prg>,
    prg1: Option<Prg>,
    prg01: Option<Prg>,
    masks: HashMap<u64, (usize, usize, Vec<u64>)>,
    next_id: u64,
    rounds: u64,
}

impl std::fmt::Debug for TwoPc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoPc").field("role", &self.role).field("fp", &self.fp).finish_non_exhaustive()
    }
}

/// A piecewise-linear function `f(x) = Σ_k [x ≥ t_k] · (α_k x + β_k)` (fixed-point
/// encoded thresholds, slopes and offsets).
#[derive(Clone, Debug)]
pub struct Piecewise {
    pub thresholds: Vec<u64>,
    pub slopes: Vec<u64>,
    pub offsets: Vec<u64>,
    /// True when the slopes are fixed-point (then the result is truncated once); false when
    /// they are plain integers (ReLU: slope 1).
    pub fractional_slopes: bool,
}

impl TwoPc {
    /// Party set-up over live links: the dealer samples seed₀ and seed₁ from the OS CSPRNG
    /// and sends them; party 0 samples the parties' common seed and sends it to party 1.
    ///
    /// Links: party 0 `(peer = party 1, dealer)`, party 1 `(peer = party 0, dealer)`, dealer
    /// `(to party 0, to party 1)` passed as `(peer, dealer)`.
    pub fn setup(role: Role, fp: FixedPoint, mut a: Box<dyn Channel>, mut b: Box<dyn Channel>) -> Result<Self, MpcError> {
        let recv_seed = |ch: &mut dyn Channel| -> Result<Seed, MpcError> {
            let m = ch.recv()?;
            let arr: [u8; 32] = m
                .as_slice()
                .try_into()
                .map_err(|_| MpcError::malformed(ch.peer(), "seed", format!("expected 32 bytes, got {}", m.len())))?;
            Ok(Seed::from_bytes(arr))
        };
        match role {
            Role::Dealer => {
                let (s0, s1) = (Seed::random(), Seed::random());
                a.send(s0.as_bytes())?;
                a.flush()?;
                b.send(s1.as_bytes())?;
                b.flush()?;
                Ok(Self::from_seeds(role, fp, None, Some(b), Seeds { s0: Some(s0), s1: Some(s1), s01: None }))
            }
            Role::P0 => {
                let s0 = recv_seed(&mut *b)?;
                let s01 = Seed::random();
                a.send(s01.as_bytes())?;
                a.flush()?;
                Ok(Self::from_seeds(role, fp, Some(a), None, Seeds { s0: Some(s0), s1: None, s01: Some(s01) }))
            }
            Role::P1 => {
                let s1 = recv_seed(&mut *b)?;
                let s01 = recv_seed(&mut *a)?;
                Ok(Self::from_seeds(role, fp, Some(a), Some(b), Seeds { s0: None, s1: Some(s1), s01: Some(s01) }))
            }
        }
    }

    /// A session from explicit seeds and links: `peer` is the other party (none at the
    /// dealer), `dealer` is party 1's link from the dealer or the dealer's link to party 1.
    pub fn from_seeds(role: Role, fp: FixedPoint, peer: Option<Box<dyn Channel>>, dealer: Option<Box<dyn Channel>>, seeds: Seeds) -> Self {
        Self {
            role,
            fp,
            peer,
            dealer,
            prg0: seeds.s0.as_ref().map(Prg::new),
            prg1: seeds.s1.as_ref().map(Prg::new),
            prg01: seeds.s01.as_ref().map(Prg::new),
            masks: HashMap::new(),
            next_id: 0,
            rounds: 0,
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn fixed_point(&self) -> FixedPoint {
        self.fp
    }

    /// This party's index (0, 1; 2 for the dealer).
    pub fn party(&self) -> usize {
        self.role.index()
    }

    pub fn is_dealer(&self) -> bool {
        self.role == Role::Dealer
    }

    /// The link to the other party (parties only).
    pub fn peer_link(&mut self) -> Option<&mut (dyn Channel + 'static)> {
        self.peer.as_deref_mut()
    }

    /// Party 1's link from the dealer, or the dealer's link to party 1.
    pub fn dealer_link(&mut self) -> Option<&mut (dyn Channel + 'static)> {
        self.dealer.as_deref_mut()
    }

    /// Communication rounds between the parties so far (each [`TwoPc::exchange`] is one;
    /// the dealer's messages travel ahead of time and are not counted here).
    pub fn rounds(&self) -> u64 {
        self.rounds
    }

    /// Traffic of this participant's links `(peer, dealer)`.
    pub fn stats(&self) -> (veil_channel::LinkStats, veil_channel::LinkStats) {
        (self.peer.as_ref().map(|c| c.stats()).unwrap_or_default(), self.dealer.as_ref().map(|c| c.stats()).unwrap_or_default())
    }

    fn config_err(role: Role, what: &str) -> MpcError {
        MpcError::Config(format!("{what} is not available to {role:?}"))
    }

    fn peer(&mut self) -> Result<&mut (dyn Channel + 'static), MpcError> {
        let role = self.role;
        self.peer.as_deref_mut().ok_or_else(|| MpcError::Config(format!("{role:?} has no link to the other party")))
    }

    /// Sends `mine` to the other party and receives its vector of the same length: one
    /// round. Every opened value of the protocol passes here.
    pub fn exchange(&mut self, mine: &[u64], step: &'static str) -> Result<Vec<u64>, MpcError> {
        self.rounds += 1;
        let ch = self.peer()?;
        wire::send(ch, mine)?;
        ch.flush()?;
        wire::recv(ch, mine.len(), step)
    }

    /// Draws `n` mask elements: this party's share (parties) or the full mask (dealer).
    fn draw(&mut self, n: usize, xor: bool) -> Result<Vec<u64>, MpcError> {
        let role = self.role;
        match role {
            Role::P0 => Ok(self.prg0.as_mut().ok_or_else(|| Self::config_err(role, "seed 0"))?.ring(n)),
            Role::P1 => Ok(self.prg1.as_mut().ok_or_else(|| Self::config_err(role, "seed 1"))?.ring(n)),
            Role::Dealer => {
                let (Some(p0), Some(p1)) = (self.prg0.as_mut(), self.prg1.as_mut()) else {
                    return Err(Self::config_err(role, "dealer seeds"));
                };
                let a = p0.ring(n);
                let b = p1.ring(n);
                Ok(if xor { a.iter().zip(&b).map(|(x, y)| x ^ y).collect() } else { ring::add(&a, &b) })
            }
        }
    }

    /// A correlated value: the dealer passes the full value `full()` (computed only at the
    /// dealer); party 0 gets a pseudo-random share from seed₀, party 1 the correction.
    fn correlated(&mut self, n: usize, xor: bool, full: impl FnOnce(&Self) -> Vec<u64>, step: &'static str) -> Result<Vec<u64>, MpcError> {
        let role = self.role;
        match role {
            Role::P0 => Ok(self.prg0.as_mut().ok_or_else(|| Self::config_err(role, "seed 0"))?.ring(n)),
            Role::P1 => {
                let ch = self.dealer.as_deref_mut().ok_or_else(|| MpcError::Config(format!("{role:?} has no dealer link")))?;
                wire::recv(ch, n, step)
            }
            Role::Dealer => {
                let v = full(self);
                let c0 = self.prg0.as_mut().ok_or_else(|| Self::config_err(role, "seed 0"))?.ring(n);
                let c1: Vec<u64> = if xor { v.iter().zip(&c0).map(|(a, b)| a ^ b).collect() } else { ring::sub(&v, &c0) };
                let ch = self.dealer.as_deref_mut().ok_or_else(|| MpcError::Config("the dealer has no link to party 1".into()))?;
                wire::send(ch, &c1)?;
                ch.flush()?;
                Ok(Vec::new())
            }
        }
    }

    /// Shares a tensor held by `owner` (party 0 or 1) without communication: the parties
    /// draw a common pseudo-random share `r`; the owner keeps `x − r`.
    pub fn input(&mut self, owner: Role, rows: usize, cols: usize, values: Option<&[u64]>) -> Result<Shared, MpcError> {
        let n = rows * cols;
        if self.is_dealer() {
            return Ok(Shared { rows, cols, v: vec![0; n] });
        }
        if owner == Role::Dealer {
            return Err(MpcError::Config("the dealer holds no inputs".into()));
        }
        let r = self.prg01.as_mut().ok_or_else(|| MpcError::Config("no common seed".into()))?.ring(n);
        if owner == self.role {
            let x = values.ok_or_else(|| MpcError::Config("the input owner must pass its values".into()))?;
            if x.len() != n {
                return Err(MpcError::Shape { op: "input", expected: format!("{rows}×{cols}"), got: format!("{} values", x.len()) });
            }
            Ok(Shared { rows, cols, v: ring::sub(x, &r) })
        } else {
            Ok(Shared { rows, cols, v: r })
        }
    }

    /// Opens each tensor against a fresh dealer mask, all in one round.
    pub fn open_masked(&mut self, xs: &[&Shared]) -> Result<Vec<Masked>, MpcError> {
        let mut out = Vec::with_capacity(xs.len());
        let mut mine = Vec::new();
        for x in xs {
            let id = self.next_id;
            self.next_id += 1;
            let m = self.draw(x.len(), false)?;
            if self.is_dealer() {
                self.masks.insert(id, (x.rows, x.cols, m));
                out.push(Masked { id, transposed: false, rows: x.rows, cols: x.cols, e: vec![0; x.len()], m: Vec::new() });
            } else {
                mine.extend(ring::sub(&x.v, &m));
                out.push(Masked { id, transposed: false, rows: x.rows, cols: x.cols, e: Vec::new(), m });
            }
        }
        if !self.is_dealer() {
            let theirs = self.exchange(&mine, "open masked")?;
            let e = ring::add(&mine, &theirs);
            let mut at = 0;
            for o in out.iter_mut() {
                let n = o.rows * o.cols;
                o.e = e[at..at + n].to_vec();
                at += n;
            }
        }
        Ok(out)
    }

    /// Forgets a mask (the dealer frees it; parties drop their copy).
    pub fn release(&mut self, m: Masked) {
        self.masks.remove(&m.id);
    }

    fn dealer_mask(&self, m: &Masked) -> Result<Vec<u64>, MpcError> {
        let (r, c, v) = self.masks.get(&m.id).ok_or_else(|| MpcError::Config(format!("mask {} was released", m.id)))?;
        Ok(if m.transposed { ring::transpose(v, *r, *c) } else { v.clone() })
    }

    /// `x · y` for masked `x` (`m × k`) and `y` (`k × n`), without communication (party 1
    /// reads the dealer's correction `C₁ = M_x·M_y − C₀`). Not truncated.
    pub fn matmul(&mut self, x: &Masked, y: &Masked) -> Result<Shared, MpcError> {
        let (m, k, n) = (x.rows, x.cols, y.cols);
        if y.rows != k {
            return Err(MpcError::Shape {
                op: "matmul",
                expected: format!("{k} rows on the right"),
                got: format!("{}×{}", y.rows, y.cols),
            });
        }
        let c = self.correlated(
            m * n,
            false,
            |s| match (s.dealer_mask(x), s.dealer_mask(y)) {
                (Ok(mx), Ok(my)) => ring::matmul(&mx, &my, m, k, n),
                _ => vec![0; m * n],
            },
            "matrix triple",
        )?;
        if self.is_dealer() {
            return Ok(Shared { rows: m, cols: n, v: vec![0; m * n] });
        }
        let yi = y.share(self.party());
        let mut z = c;
        ring::matmul_acc(&mut z, &x.e, &yi, m, k, n);
        ring::matmul_acc(&mut z, &x.m, &y.e, m, k, n);
        Ok(Shared { rows: m, cols: n, v: z })
    }

    /// Entry-wise `x ⊙ y` of masked tensors of equal shape (no communication, not truncated).
    pub fn mul(&mut self, x: &Masked, y: &Masked) -> Result<Shared, MpcError> {
        if (x.rows, x.cols) != (y.rows, y.cols) {
            return Err(MpcError::Shape { op: "mul", expected: format!("{}×{}", x.rows, x.cols), got: format!("{}×{}", y.rows, y.cols) });
        }
        let n = x.rows * x.cols;
        let c = self.correlated(
            n,
            false,
            |s| match (s.dealer_mask(x), s.dealer_mask(y)) {
                (Ok(mx), Ok(my)) => ring::mul(&mx, &my),
                _ => vec![0; n],
            },
            "Beaver triple",
        )?;
        if self.is_dealer() {
            return Ok(Shared { rows: x.rows, cols: x.cols, v: vec![0; n] });
        }
        let yi = y.share(self.party());
        let mut z = c;
        ring::add_assign(&mut z, &ring::mul(&x.e, &yi));
        ring::add_assign(&mut z, &ring::mul(&x.m, &y.e));
        Ok(Shared { rows: x.rows, cols: x.cols, v: z })
    }

    /// Truncates a product by the fractional bits (local; see [`FixedPoint::trunc_share`]).
    pub fn trunc(&self, x: &mut Shared) {
        if !self.is_dealer() {
            self.fp.trunc_share(self.party(), &mut x.v);
        }
    }

    /// Adds a public tensor (party 0 adds it).
    pub fn add_public(&self, x: &mut Shared, c: &[u64]) {
        if self.party() == 0 {
            ring::add_assign(&mut x.v, c);
        }
    }

    /// Divides by a public positive integer `d`: multiplies by the fixed-point encoding of
    /// `1/d` and truncates (error ≤ |x|·2^−f/d plus one unit in the last place).
    pub fn div_public(&self, x: &Shared, d: f64) -> Result<Shared, MpcError> {
        if !(d.is_finite() && d != 0.0) {
            return Err(MpcError::Config(format!("cannot divide by {d}")));
        }
        let mut y = x.mul_public(self.fp.encode(1.0 / d)?);
        self.trunc(&mut y);
        Ok(y)
    }

    /// Reveals to both parties (one round). The dealer gets zeros.
    pub fn reveal(&mut self, x: &Shared) -> Result<Vec<u64>, MpcError> {
        if self.is_dealer() {
            return Ok(vec![0; x.len()]);
        }
        let theirs = self.exchange(&x.v, "reveal")?;
        Ok(ring::add(&x.v, &theirs))
    }

    /// One AND round on XOR shares with a dealer Beaver triple; `extra` rides along in the
    /// same message (its counterpart is returned).
    fn and_round(&mut self, x: &[u64], y: &[u64], extra: &[u64]) -> Result<(Vec<u64>, Vec<u64>), MpcError> {
        let n = x.len();
        let u = self.draw(n, true)?;
        let v = self.draw(n, true)?;
        let w = self.correlated(n, true, |_| u.iter().zip(&v).map(|(a, b)| a & b).collect(), "AND triple")?;
        if self.is_dealer() {
            return Ok((vec![0; n], vec![0; extra.len()]));
        }
        let mut mine = Vec::with_capacity(2 * n + extra.len());
        mine.extend(x.iter().zip(&u).map(|(a, b)| a ^ b));
        mine.extend(y.iter().zip(&v).map(|(a, b)| a ^ b));
        mine.extend_from_slice(extra);
        let theirs = self.exchange(&mine, "AND round")?;
        let p0 = self.party() == 0;
        let z = (0..n)
            .map(|i| {
                let d = mine[i] ^ theirs[i];
                let e = mine[n + i] ^ theirs[n + i];
                let de = if p0 { d & e } else { 0 };
                de ^ (d & v[i]) ^ (e & u[i]) ^ w[i]
            })
            .collect();
        Ok((z, theirs[2 * n..].to_vec()))
    }

    /// `[x ≥ t_k]·x` and `[x ≥ t_k]` for every element `x` of `x` and every threshold, as
    /// arithmetic shares of length `n·K` (element-major). Eight rounds: the seven of the
    /// carry circuit (the first also opens `x` against a mask) and one that opens the
    /// comparison bits masked by dealer bits `r` (given in both Boolean and arithmetic form,
    /// with `M_x ⊙ r`), which turns them into multipliers.
    pub fn compare_mul(&mut self, x: &Shared, thresholds: &[u64]) -> Result<(Vec<u64>, Vec<u64>), MpcError> {
        let n = x.len();
        let kk = thresholds.len();
        let l = n * kk;
        let p = self.party();
        // Mask for x, opened in the first round.
        let id = self.next_id;
        self.next_id += 1;
        let mx = self.draw(n, false)?;
        let my_e = if self.is_dealer() { Vec::new() } else { ring::sub(&x.v, &mx) };
        let mut z = Vec::with_capacity(l);
        for &xv in &x.v {
            for &t in thresholds {
                z.push(if p == 0 { xv.wrapping_sub(t) } else { xv });
            }
        }
        let mut first = true;
        let mut e_theirs = Vec::new();
        let msb = binary::msb(p.min(1), &z, |a, b| {
            let extra: &[u64] = if first { &my_e } else { &[] };
            let (r, ex) = self.and_round(a, b, extra)?;
            if first {
                e_theirs = ex;
                first = false;
            }
            Ok::<_, MpcError>(r)
        })?;
        // Dealer bits: Boolean shares drawn, arithmetic shares and M_x ⊙ r as corrections.
        let rb: Vec<u64> = self.draw(l, true)?.iter().map(|v| v & 1).collect();
        let ra = self.correlated(l, false, |_| rb.clone(), "dealer bit")?;
        let mxr = self.correlated(l, false, |_| (0..l).map(|i| mx[i / kk.max(1)].wrapping_mul(rb[i])).collect(), "masked dealer bit")?;
        if self.is_dealer() {
            self.masks.remove(&id);
            return Ok((vec![0; l], vec![0; l]));
        }
        let e: Vec<u64> = ring::add(&my_e, &e_theirs);
        // bit = 1 − msb (x ≥ t); party 0 flips its share.
        let c_mine: Vec<u64> = msb.iter().zip(&rb).map(|(m, r)| (m ^ r ^ u64::from(p == 0)) & 1).collect();
        let packed = binary::pack_bits(&c_mine);
        let theirs = self.exchange(&packed, "masked comparison bits")?;
        let c_all: Vec<u64> = packed.iter().zip(&theirs).map(|(a, b)| a ^ b).collect();
        let c = binary::unpack_bits(&c_all, l);
        let one = u64::from(p == 0);
        let mut prod = Vec::with_capacity(l);
        let mut bit = Vec::with_capacity(l);
        for i in 0..l {
            let j = i / kk.max(1);
            let xr = e[j].wrapping_mul(ra[i]).wrapping_add(mxr[i]);
            // c public: b = c ⊕ r, so b·x = x − x·r when c = 1 and x·r when c = 0.
            if c[i] == 1 {
                prod.push(x.v[j].wrapping_sub(xr));
                bit.push(one.wrapping_sub(ra[i]));
            } else {
                prod.push(xr);
                bit.push(ra[i]);
            }
        }
        Ok((prod, bit))
    }

    /// `max(x, 0)` entry-wise (8 rounds).
    pub fn relu(&mut self, x: &Shared) -> Result<Shared, MpcError> {
        let (prod, _) = self.compare_mul(x, &[0])?;
        Ok(Shared { rows: x.rows, cols: x.cols, v: prod })
    }

    /// Evaluates a piecewise-linear function entry-wise (8 rounds, whatever the number of
    /// pieces).
    pub fn piecewise(&mut self, x: &Shared, f: &Piecewise) -> Result<Shared, MpcError> {
        let kk = f.thresholds.len();
        if f.slopes.len() != kk || f.offsets.len() != kk || kk == 0 {
            return Err(MpcError::Config("piecewise function needs as many slopes and offsets as thresholds".into()));
        }
        let (prod, bit) = self.compare_mul(x, &f.thresholds)?;
        let n = x.len();
        let mut lin = vec![0u64; n];
        let mut off = vec![0u64; n];
        for j in 0..n {
            for k in 0..kk {
                let i = j * kk + k;
                lin[j] = lin[j].wrapping_add(prod[i].wrapping_mul(f.slopes[k]));
                off[j] = off[j].wrapping_add(bit[i].wrapping_mul(f.offsets[k]));
            }
        }
        let mut out = Shared { rows: x.rows, cols: x.cols, v: lin };
        if f.fractional_slopes {
            self.trunc(&mut out);
        }
        ring::add_assign(&mut out.v, &off);
        Ok(out)
    }

    /// Row-wise maximum, `rows × 1`: a tree of `max(a, b) = b + ReLU(a − b)`, 8 rounds per
    /// level, ⌈log₂ cols⌉ levels. Exact (no approximation).
    pub fn max_rows(&mut self, x: &Shared) -> Result<Shared, MpcError> {
        if x.cols == 0 {
            return Err(MpcError::Shape { op: "max_rows", expected: "at least one column".into(), got: "0".into() });
        }
        let rows = x.rows;
        let mut cur: Vec<Vec<u64>> = (0..rows).map(|r| x.v[r * x.cols..(r + 1) * x.cols].to_vec()).collect();
        let mut c = x.cols;
        while c > 1 {
            let h = c / 2;
            let mut d = Vec::with_capacity(rows * h);
            for row in &cur {
                for j in 0..h {
                    d.push(row[j].wrapping_sub(row[h + j]));
                }
            }
            let r = self.relu(&Shared { rows: 1, cols: d.len(), v: d })?;
            for (ri, row) in cur.iter_mut().enumerate() {
                let mut next: Vec<u64> = (0..h).map(|j| row[h + j].wrapping_add(r.v[ri * h + j])).collect();
                if c % 2 == 1 {
                    next.push(row[c - 1]);
                }
                *row = next;
            }
            c = c.div_ceil(2);
        }
        Ok(Shared { rows, cols: 1, v: cur.into_iter().map(|r| r[0]).collect() })
    }

    /// Row-wise index of the maximum, as a fixed-point shared integer (`rows × 1`): the
    /// maximum, then one batched comparison `[x_j ≥ max]` giving a one-hot row, then
    /// `Σ j·e_j`. Assumes a unique maximum per row (ties return the sum of the tied indices).
    pub fn argmax_rows(&mut self, x: &Shared) -> Result<Shared, MpcError> {
        let m = self.max_rows(x)?;
        let mut d = Vec::with_capacity(x.len());
        for r in 0..x.rows {
            for j in 0..x.cols {
                d.push(x.v[r * x.cols + j].wrapping_sub(m.v[r]));
            }
        }
        let (_, bit) = self.compare_mul(&Shared { rows: 1, cols: d.len(), v: d }, &[0])?;
        let one = 1u64 << self.fp.frac_bits();
        let v = (0..x.rows)
            .map(|r| (0..x.cols).fold(0u64, |acc, j| acc.wrapping_add(bit[r * x.cols + j].wrapping_mul(one.wrapping_mul(j as u64)))))
            .collect();
        Ok(Shared { rows: x.rows, cols: 1, v })
    }

    /// `x ⊙ y` for shared tensors of equal shape, truncated: both are opened against fresh
    /// masks in one round.
    pub fn mul_shared(&mut self, x: &Shared, y: &Shared) -> Result<Shared, MpcError> {
        let mut ops = self.open_masked(&[x, y])?;
        let (yo, xo) = (ops.pop(), ops.pop());
        let (Some(xo), Some(yo)) = (xo, yo) else { return Err(MpcError::Config("open_masked returned too few".into())) };
        let mut z = self.mul(&xo, &yo)?;
        self.trunc(&mut z);
        self.release(xo);
        self.release(yo);
        Ok(z)
    }

    /// `1/x` for `x` in `[1, max]` (`max ≤ 64`): a piecewise-linear guess (8 rounds, relative
    /// error < 3%), then two Newton steps `y ← y·(2 − x·y)` (2 rounds each), which square the
    /// relative error twice: below 10⁻⁶ plus fixed-point error.
    pub fn reciprocal(&mut self, x: &Shared, max: f64) -> Result<Shared, MpcError> {
        let mut y = self.piecewise(x, &crate::approx::reciprocal_guess(self.fp, max)?)?;
        let two = self.fp.encode(2.0)?;
        for _ in 0..2 {
            let xy = self.mul_shared(x, &y)?;
            let mut t = xy.mul_public(u64::MAX); // −x·y
            let twos = vec![two; t.len()];
            self.add_public(&mut t, &twos);
            y = self.mul_shared(&y, &t)?;
        }
        Ok(y)
    }

    /// Row-wise softmax: `e^(x − max)` with the piecewise exponential, divided by the row sum
    /// through [`TwoPc::reciprocal`] (the sum lies in `[1, cols]`). Absolute error below
    /// 3·10⁻³ (tested); rows of at most 64 entries.
    pub fn softmax_rows(&mut self, x: &Shared) -> Result<Shared, MpcError> {
        let (rows, cols) = (x.rows, x.cols);
        let m = self.max_rows(x)?;
        let mut d = x.v.clone();
        for r in 0..rows {
            for j in 0..cols {
                d[r * cols + j] = d[r * cols + j].wrapping_sub(m.v[r]);
            }
        }
        let e = self.piecewise(&Shared { rows, cols, v: d }, &crate::approx::exp_nonpositive(self.fp)?)?;
        let sums: Vec<u64> = (0..rows).map(|r| e.v[r * cols..(r + 1) * cols].iter().fold(0u64, |a, b| a.wrapping_add(*b))).collect();
        let inv = self.reciprocal(&Shared { rows, cols: 1, v: sums }, cols.max(1) as f64)?;
        let wide: Vec<u64> = (0..rows * cols).map(|i| inv.v[i / cols.max(1)]).collect();
        self.mul_shared(&e, &Shared { rows, cols, v: wide })
    }
}
