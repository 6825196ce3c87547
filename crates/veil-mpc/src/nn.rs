//! Secure evaluation and training of veil-ml models on either protocol.
//!
//! [`Engine`] is what a layer needs from a protocol; [`TwoPc`] and [`ThreePc`] implement it.
//! The model's architecture ([`Arch`]) is public; its weights are secret-shared by the model
//! owner. Sigmoid uses the piecewise-linear approximation of [`crate::approx::sigmoid`].

use veil_ml::{Layer, Matrix, Model};

use crate::approx;
use crate::threepc::{Rep, ThreePc};
use crate::twopc::{Masked, Piecewise, Role, Shared, TwoPc};
use crate::{FixedPoint, MpcError};

/// The operations a protocol offers to the layers. `T` is a shared tensor, `Op` a shared
/// tensor prepared for matrix products (2PC: opened against a mask; 3PC: the tensor itself).
pub trait Engine {
    type T: Clone + std::fmt::Debug;
    type Op: std::fmt::Debug;

    fn fp(&self) -> FixedPoint;
    /// True at a participant that holds no shares (the 2PC dealer).
    fn is_dealer(&self) -> bool {
        false
    }
    fn shape(t: &Self::T) -> (usize, usize);
    /// Shares a tensor held by party `owner` (values only at the owner).
    fn input(&mut self, owner: usize, rows: usize, cols: usize, values: Option<&[u64]>) -> Result<Self::T, MpcError>;
    /// A public tensor as a trivial sharing.
    fn public(&self, rows: usize, cols: usize, values: &[u64]) -> Self::T;
    /// Prepares operands for products (one round in 2PC, none in 3PC).
    fn prepare(&mut self, xs: &[&Self::T]) -> Result<Vec<Self::Op>, MpcError>;
    fn transpose_op(&self, x: &Self::Op) -> Self::Op;
    fn release(&mut self, x: Self::Op);
    /// `x · y` truncated once.
    fn matmul_trunc(&mut self, x: &Self::Op, y: &Self::Op) -> Result<Self::T, MpcError>;
    fn add(&self, x: &Self::T, y: &Self::T) -> Result<Self::T, MpcError>;
    fn sub(&self, x: &Self::T, y: &Self::T) -> Result<Self::T, MpcError>;
    fn add_row(&self, x: &Self::T, row: &Self::T) -> Result<Self::T, MpcError>;
    /// Rows `start..end`.
    fn slice_rows(&self, x: &Self::T, start: usize, end: usize) -> Self::T;
    /// Appends columns (entry-wise row concatenation) of two tensors with the same rows.
    fn hcat(&self, x: &Self::T, y: &Self::T) -> Result<Self::T, MpcError>;
    /// Multiplies by a public real and truncates.
    fn scale(&mut self, x: &Self::T, c: f64) -> Result<Self::T, MpcError>;
    fn relu(&mut self, x: &Self::T) -> Result<Self::T, MpcError>;
    fn piecewise(&mut self, x: &Self::T, f: &Piecewise) -> Result<Self::T, MpcError>;
    /// Reveals to every computing party.
    fn reveal(&mut self, x: &Self::T) -> Result<Vec<u64>, MpcError>;

    /// `(ReLU(x), [x ≥ 0])`: the activation and its derivative (for back-propagation).
    fn relu_bit(&mut self, x: &Self::T) -> Result<(Self::T, Self::T), MpcError>;
    /// Entry-wise product of shared tensors, truncated.
    fn mul_elem(&mut self, x: &Self::T, y: &Self::T) -> Result<Self::T, MpcError>;
    /// Row-wise softmax.
    fn softmax(&mut self, x: &Self::T) -> Result<Self::T, MpcError>;
    /// Column sums (`1 × cols`).
    fn col_sums(&self, x: &Self::T) -> Self::T;

    /// `act(x·w + b)`, truncated once; protocols may fuse the steps to save rounds.
    fn dense_act(&mut self, x: &Self::T, w: &Self::Op, b: &Self::T, act: Option<Act<'_>>) -> Result<Self::T, MpcError> {
        let xo = self.prepare(&[x])?.pop().ok_or_else(|| MpcError::Config("prepare returned nothing".into()))?;
        let z = self.matmul_trunc(&xo, w)?;
        self.release(xo);
        let z = self.add_row(&z, b)?;
        match act {
            None => Ok(z),
            Some(Act::Relu) => self.relu(&z),
            Some(Act::Piecewise(f)) => self.piecewise(&z, f),
        }
    }

    /// Reveals `act(x·w + b)` to every computing party.
    fn dense_act_reveal(&mut self, x: &Self::T, w: &Self::Op, b: &Self::T, act: Option<Act<'_>>) -> Result<Vec<u64>, MpcError> {
        let y = self.dense_act(x, w, b, act)?;
        self.reveal(&y)
    }
}

/// An activation fused into a dense layer.
#[derive(Clone, Copy, Debug)]
pub enum Act<'a> {
    Relu,
    Piecewise(&'a Piecewise),
}

fn slice(v: &[u64], cols: usize, start: usize, end: usize) -> Vec<u64> {
    v[start * cols..end * cols].to_vec()
}

fn hcat_vec(x: &[u64], xc: usize, y: &[u64], yc: usize, rows: usize) -> Vec<u64> {
    let mut out = Vec::with_capacity(rows * (xc + yc));
    for r in 0..rows {
        out.extend_from_slice(&x[r * xc..(r + 1) * xc]);
        out.extend_from_slice(&y[r * yc..(r + 1) * yc]);
    }
    out
}

impl Engine for TwoPc {
    type T = Shared;
    type Op = Masked;

    fn fp(&self) -> FixedPoint {
        self.fixed_point()
    }
    fn is_dealer(&self) -> bool {
        TwoPc::is_dealer(self)
    }
    fn shape(t: &Shared) -> (usize, usize) {
        (t.rows, t.cols)
    }
    fn input(&mut self, owner: usize, rows: usize, cols: usize, values: Option<&[u64]>) -> Result<Shared, MpcError> {
        let role = match owner {
            0 => Role::P0,
            1 => Role::P1,
            _ => return Err(MpcError::Config(format!("2PC input owner must be party 0 or 1, got {owner}"))),
        };
        TwoPc::input(self, role, rows, cols, values)
    }
    fn public(&self, rows: usize, cols: usize, values: &[u64]) -> Shared {
        let v = if self.party() == 0 { values.to_vec() } else { vec![0; rows * cols] };
        Shared { rows, cols, v }
    }
    fn prepare(&mut self, xs: &[&Shared]) -> Result<Vec<Masked>, MpcError> {
        self.open_masked(xs)
    }
    fn transpose_op(&self, x: &Masked) -> Masked {
        x.t()
    }
    fn release(&mut self, x: Masked) {
        TwoPc::release(self, x);
    }
    fn matmul_trunc(&mut self, x: &Masked, y: &Masked) -> Result<Shared, MpcError> {
        let mut z = self.matmul(x, y)?;
        self.trunc(&mut z);
        Ok(z)
    }
    fn add(&self, x: &Shared, y: &Shared) -> Result<Shared, MpcError> {
        x.add(y)
    }
    fn sub(&self, x: &Shared, y: &Shared) -> Result<Shared, MpcError> {
        x.sub(y)
    }
    fn add_row(&self, x: &Shared, row: &Shared) -> Result<Shared, MpcError> {
        x.add_row(row)
    }
    fn slice_rows(&self, x: &Shared, start: usize, end: usize) -> Shared {
        let end = end.min(x.rows);
        Shared { rows: end - start.min(end), cols: x.cols, v: slice(&x.v, x.cols, start.min(end), end) }
    }
    fn hcat(&self, x: &Shared, y: &Shared) -> Result<Shared, MpcError> {
        if x.rows != y.rows {
            return Err(MpcError::Shape { op: "hcat", expected: format!("{} rows", x.rows), got: format!("{} rows", y.rows) });
        }
        Ok(Shared { rows: x.rows, cols: x.cols + y.cols, v: hcat_vec(&x.v, x.cols, &y.v, y.cols, x.rows) })
    }
    fn scale(&mut self, x: &Shared, c: f64) -> Result<Shared, MpcError> {
        let mut y = x.mul_public(self.fixed_point().encode(c)?);
        self.trunc(&mut y);
        Ok(y)
    }
    fn relu(&mut self, x: &Shared) -> Result<Shared, MpcError> {
        TwoPc::relu(self, x)
    }
    fn piecewise(&mut self, x: &Shared, f: &Piecewise) -> Result<Shared, MpcError> {
        TwoPc::piecewise(self, x, f)
    }
    fn reveal(&mut self, x: &Shared) -> Result<Vec<u64>, MpcError> {
        TwoPc::reveal(self, x)
    }
    fn relu_bit(&mut self, x: &Shared) -> Result<(Shared, Shared), MpcError> {
        let (p, b) = self.compare_mul(x, &[0])?;
        let one = 1u64 << self.fixed_point().frac_bits();
        let b: Vec<u64> = b.iter().map(|v| v.wrapping_mul(one)).collect();
        Ok((Shared { rows: x.rows, cols: x.cols, v: p }, Shared { rows: x.rows, cols: x.cols, v: b }))
    }
    fn mul_elem(&mut self, x: &Shared, y: &Shared) -> Result<Shared, MpcError> {
        self.mul_shared(x, y)
    }
    fn softmax(&mut self, x: &Shared) -> Result<Shared, MpcError> {
        self.softmax_rows(x)
    }
    fn col_sums(&self, x: &Shared) -> Shared {
        x.sum_rows()
    }
}

impl Engine for ThreePc {
    type T = Rep;
    type Op = Rep;

    fn fp(&self) -> FixedPoint {
        self.fixed_point()
    }
    fn shape(t: &Rep) -> (usize, usize) {
        (t.rows, t.cols)
    }
    fn input(&mut self, owner: usize, rows: usize, cols: usize, values: Option<&[u64]>) -> Result<Rep, MpcError> {
        ThreePc::input(self, owner, rows, cols, values)
    }
    fn public(&self, rows: usize, cols: usize, values: &[u64]) -> Rep {
        let z = vec![0; rows * cols];
        match self.party() {
            0 => Rep { rows, cols, a: values.to_vec(), b: z },
            2 => Rep { rows, cols, a: z, b: values.to_vec() },
            _ => Rep { rows, cols, a: z.clone(), b: z },
        }
    }
    fn prepare(&mut self, xs: &[&Rep]) -> Result<Vec<Rep>, MpcError> {
        Ok(xs.iter().map(|x| (*x).clone()).collect())
    }
    fn transpose_op(&self, x: &Rep) -> Rep {
        x.transpose()
    }
    fn release(&mut self, _x: Rep) {}
    fn matmul_trunc(&mut self, x: &Rep, y: &Rep) -> Result<Rep, MpcError> {
        self.matmul(x, y, true)
    }
    fn add(&self, x: &Rep, y: &Rep) -> Result<Rep, MpcError> {
        x.add(y)
    }
    fn sub(&self, x: &Rep, y: &Rep) -> Result<Rep, MpcError> {
        x.sub(y)
    }
    fn add_row(&self, x: &Rep, row: &Rep) -> Result<Rep, MpcError> {
        x.add_row(row)
    }
    fn slice_rows(&self, x: &Rep, start: usize, end: usize) -> Rep {
        let end = end.min(x.rows);
        let s = start.min(end);
        Rep { rows: end - s, cols: x.cols, a: slice(&x.a, x.cols, s, end), b: slice(&x.b, x.cols, s, end) }
    }
    fn hcat(&self, x: &Rep, y: &Rep) -> Result<Rep, MpcError> {
        if x.rows != y.rows {
            return Err(MpcError::Shape { op: "hcat", expected: format!("{} rows", x.rows), got: format!("{} rows", y.rows) });
        }
        Ok(Rep {
            rows: x.rows,
            cols: x.cols + y.cols,
            a: hcat_vec(&x.a, x.cols, &y.a, y.cols, x.rows),
            b: hcat_vec(&x.b, x.cols, &y.b, y.cols, x.rows),
        })
    }
    fn scale(&mut self, x: &Rep, c: f64) -> Result<Rep, MpcError> {
        self.mul_public_fixed(x, c)
    }
    fn relu(&mut self, x: &Rep) -> Result<Rep, MpcError> {
        ThreePc::relu(self, x)
    }
    fn piecewise(&mut self, x: &Rep, f: &Piecewise) -> Result<Rep, MpcError> {
        ThreePc::piecewise(self, x, f)
    }
    fn reveal(&mut self, x: &Rep) -> Result<Vec<u64>, MpcError> {
        ThreePc::reveal(self, x)
    }
    fn dense_act(&mut self, x: &Rep, w: &Rep, b: &Rep, act: Option<Act<'_>>) -> Result<Rep, MpcError> {
        ThreePc::dense_act(self, x, w, b, act)
    }
    fn relu_bit(&mut self, x: &Rep) -> Result<(Rep, Rep), MpcError> {
        ThreePc::relu_bit(self, x)
    }
    fn mul_elem(&mut self, x: &Rep, y: &Rep) -> Result<Rep, MpcError> {
        self.mul(x, y, true)
    }
    fn softmax(&mut self, x: &Rep) -> Result<Rep, MpcError> {
        self.softmax_rows(x)
    }
    fn col_sums(&self, x: &Rep) -> Rep {
        x.sum_rows()
    }
    fn dense_act_reveal(&mut self, x: &Rep, w: &Rep, b: &Rep, act: Option<Act<'_>>) -> Result<Vec<u64>, MpcError> {
        ThreePc::dense_act_reveal(self, x, w, b, act)
    }
}

/// A model's public architecture: what every party must agree on before the weights are shared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArchLayer {
    Dense { inputs: usize, outputs: usize },
    Relu,
    Sigmoid,
    Flatten,
}

/// The public part of a [`Model`]: input width and layer shapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arch {
    pub inputs: usize,
    pub layers: Vec<ArchLayer>,
}

impl Arch {
    /// The architecture of a model, or an error naming a layer the MPC backend cannot run.
    pub fn of(model: &Model) -> Result<Self, MpcError> {
        model.validate()?;
        let mut layers = Vec::new();
        for l in &model.layers {
            layers.push(match l {
                Layer::Dense { weight, .. } => ArchLayer::Dense { inputs: weight.rows(), outputs: weight.cols() },
                Layer::Relu => ArchLayer::Relu,
                Layer::Sigmoid => ArchLayer::Sigmoid,
                Layer::Flatten { .. } => ArchLayer::Flatten,
                other => return Err(MpcError::Unsupported(format!("{other:?}").chars().take(60).collect())),
            });
        }
        Ok(Self { inputs: model.inputs, layers })
    }

    /// Compact text form, e.g. `30:dense1,sigmoid` or `784:dense128,relu,dense128,relu,dense10`.
    pub fn to_text(&self) -> String {
        let mut w = self.inputs;
        let parts: Vec<String> = self
            .layers
            .iter()
            .map(|l| match l {
                ArchLayer::Dense { outputs, .. } => {
                    w = *outputs;
                    format!("dense{outputs}")
                }
                ArchLayer::Relu => "relu".into(),
                ArchLayer::Sigmoid => "sigmoid".into(),
                ArchLayer::Flatten => "flatten".into(),
            })
            .collect();
        let _ = w;
        format!("{}:{}", self.inputs, parts.join(","))
    }

    /// Parses [`Arch::to_text`].
    pub fn parse(s: &str) -> Result<Self, MpcError> {
        let bad = |why: &str| MpcError::Config(format!("architecture {s:?}: {why}"));
        let (inp, rest) = s.split_once(':').ok_or_else(|| bad("expected INPUTS:LAYER,..."))?;
        let inputs: usize = inp.trim().parse().map_err(|_| bad("input width is not a number"))?;
        let mut w = inputs;
        let mut layers = Vec::new();
        for p in rest.split(',') {
            let p = p.trim();
            layers.push(match p {
                "relu" => ArchLayer::Relu,
                "sigmoid" => ArchLayer::Sigmoid,
                "flatten" => ArchLayer::Flatten,
                d if d.starts_with("dense") => {
                    let o: usize = d[5..].parse().map_err(|_| bad("dense width is not a number"))?;
                    if o == 0 || o > 1 << 20 {
                        return Err(bad("dense width out of range"));
                    }
                    let l = ArchLayer::Dense { inputs: w, outputs: o };
                    w = o;
                    l
                }
                _ => return Err(bad(&format!("unknown layer {p:?}"))),
            });
        }
        if inputs == 0 || inputs > 1 << 24 || layers.is_empty() {
            return Err(bad("empty or oversized"));
        }
        Ok(Self { inputs, layers })
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.layers.iter().fold(self.inputs, |w, l| match l {
            ArchLayer::Dense { outputs, .. } => *outputs,
            _ => w,
        })
    }
}

/// A secret-shared model, ready for queries.
#[derive(Debug)]
pub enum SharedLayer<E: Engine> {
    Dense { w: E::Op, b: E::T },
    Relu,
    Sigmoid(Piecewise),
}

/// A secret-shared model.
#[derive(Debug)]
pub struct SharedModel<E: Engine> {
    pub arch: Arch,
    pub layers: Vec<SharedLayer<E>>,
}

/// The `(weight, bias)` shapes of the dense layers of `arch`, in order.
pub fn dense_shapes(arch: &Arch) -> Vec<(usize, usize)> {
    arch.layers
        .iter()
        .filter_map(|l| match l {
            ArchLayer::Dense { inputs, outputs } => Some((*inputs, *outputs)),
            _ => None,
        })
        .collect()
}

/// Shares a model: `owner` passes its model (the others pass `None` and the public `arch`).
/// Weights are prepared for products once, so queries only open their activations.
pub fn share_model<E: Engine>(eng: &mut E, owner: usize, model: Option<&Model>, arch: &Arch) -> Result<SharedModel<E>, MpcError> {
    let fp = eng.fp();
    if let Some(m) = model {
        if &Arch::of(m)? != arch {
            return Err(MpcError::Config("the model does not match the announced architecture".into()));
        }
    }
    let dense: Vec<(&Matrix, &Vec<f64>)> = model
        .map(|m| {
            m.layers
                .iter()
                .filter_map(|l| match l {
                    Layer::Dense { weight, bias } => Some((weight, bias)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut wb = Vec::new();
    for (i, (inputs, outputs)) in dense_shapes(arch).into_iter().enumerate() {
        let (wv, bv) = match dense.get(i) {
            Some((w, b)) => (Some(fp.encode_all(w.data())?), Some(fp.encode_all(b)?)),
            None => (None, None),
        };
        let w = eng.input(owner, inputs, outputs, wv.as_deref())?;
        let b = eng.input(owner, 1, outputs, bv.as_deref())?;
        wb.push((w, b));
    }
    prepare_model(eng, arch, wb)
}

/// A shared model from shared `(weight, bias)` pairs (e.g. received from the model owner's
/// provider), one per dense layer of `arch`, checked against the architecture.
pub fn prepare_model<E: Engine>(eng: &mut E, arch: &Arch, wb: Vec<(E::T, E::T)>) -> Result<SharedModel<E>, MpcError> {
    let shapes = dense_shapes(arch);
    if shapes.len() != wb.len() {
        return Err(MpcError::Shape {
            op: "model weights",
            expected: format!("{} dense layers", shapes.len()),
            got: format!("{}", wb.len()),
        });
    }
    for ((i, o), (w, b)) in shapes.iter().zip(&wb) {
        if E::shape(w) != (*i, *o) || E::shape(b) != (1, *o) {
            return Err(MpcError::Shape {
                op: "model weights",
                expected: format!("{i}×{o} and 1×{o}"),
                got: format!("{:?} and {:?}", E::shape(w), E::shape(b)),
            });
        }
    }
    let (ws, bs): (Vec<E::T>, Vec<E::T>) = wb.into_iter().unzip();
    let refs: Vec<&E::T> = ws.iter().collect();
    let mut ops = eng.prepare(&refs)?.into_iter().zip(bs);
    let sig = approx::sigmoid(eng.fp())?;
    let mut out = Vec::new();
    for l in &arch.layers {
        match l {
            ArchLayer::Dense { .. } => {
                let (w, b) = ops.next().ok_or_else(|| MpcError::Config("missing dense layer".into()))?;
                out.push(SharedLayer::Dense { w, b });
            }
            ArchLayer::Relu => out.push(SharedLayer::Relu),
            ArchLayer::Sigmoid => out.push(SharedLayer::Sigmoid(sig.clone())),
            ArchLayer::Flatten => {}
        }
    }
    Ok(SharedModel { arch: arch.clone(), layers: out })
}

/// Secure inference on a shared batch (one example per row).
pub fn infer<E: Engine>(eng: &mut E, model: &SharedModel<E>, x: &E::T) -> Result<E::T, MpcError> {
    let (_, cols) = E::shape(x);
    if cols != model.arch.inputs {
        return Err(MpcError::Shape {
            op: "secure inference",
            expected: format!("{} features", model.arch.inputs),
            got: format!("{cols} features"),
        });
    }
    let mut h = x.clone();
    for l in &model.layers {
        h = match l {
            SharedLayer::Dense { w, b } => {
                let mut ops = eng.prepare(&[&h])?;
                let xo = ops.pop().ok_or_else(|| MpcError::Config("prepare returned nothing".into()))?;
                let z = eng.matmul_trunc(&xo, w)?;
                eng.release(xo);
                eng.add_row(&z, b)?
            }
            SharedLayer::Relu => eng.relu(&h)?,
            SharedLayer::Sigmoid(f) => eng.piecewise(&h, f)?,
        };
    }
    Ok(h)
}

/// Secure inference revealed to every computing party, with each dense layer fused with the
/// activation that follows it (fewer rounds in 3PC: the truncated product stays in 2-out-of-2
/// form for the comparison, and the last layer is revealed before truncation).
pub fn infer_reveal<E: Engine>(eng: &mut E, model: &SharedModel<E>, x: &E::T) -> Result<Vec<u64>, MpcError> {
    let (_, cols) = E::shape(x);
    if cols != model.arch.inputs {
        return Err(MpcError::Shape {
            op: "secure inference",
            expected: format!("{} features", model.arch.inputs),
            got: format!("{cols} features"),
        });
    }
    let mut h = x.clone();
    let mut i = 0;
    let n = model.layers.len();
    while i < n {
        match &model.layers[i] {
            SharedLayer::Dense { w, b } => {
                let act = match model.layers.get(i + 1) {
                    Some(SharedLayer::Relu) => Some(Act::Relu),
                    Some(SharedLayer::Sigmoid(f)) => Some(Act::Piecewise(f)),
                    _ => None,
                };
                let used = 1 + usize::from(act.is_some());
                if i + used == n {
                    return eng.dense_act_reveal(&h, w, b, act);
                }
                h = eng.dense_act(&h, w, b, act)?;
                i += used;
            }
            SharedLayer::Relu => {
                h = eng.relu(&h)?;
                i += 1;
            }
            SharedLayer::Sigmoid(f) => {
                h = eng.piecewise(&h, f)?;
                i += 1;
            }
        }
    }
    eng.reveal(&h)
}

/// Decodes a revealed result into a matrix.
pub fn decode(fp: FixedPoint, rows: usize, cols: usize, v: &[u64]) -> Result<Matrix, MpcError> {
    Ok(Matrix::new(rows, cols, fp.decode_all(v))?)
}

/// Hyper-parameters of secure logistic-regression training (same meaning as
/// [`veil_ml::train::SgdConfig`]).
#[derive(Clone, Copy, Debug)]
pub struct TrainConfig {
    pub lr: f64,
    pub batch: usize,
    pub epochs: usize,
}

/// Mini-batch SGD of logistic regression (binary cross-entropy on the logit) on shared data
/// `x` (`n × f`) and labels `y` (`n × 1`, 0/1 in fixed point), from shared initial weights
/// `w` (`(f + 1) × 1`, the bias last). Returns the shared trained weights.
///
/// Per step: `p = σ(X'w)`, `w ← w − lr/|B| · X'ᵀ(p − y)` with `X' = [X | 1]`.
pub fn train_logreg<E: Engine>(eng: &mut E, x: &E::T, y: &E::T, w0: &E::T, cfg: &TrainConfig) -> Result<E::T, MpcError> {
    let (n, f) = E::shape(x);
    let fp = eng.fp();
    if E::shape(y) != (n, 1) || E::shape(w0) != (f + 1, 1) {
        return Err(MpcError::Shape {
            op: "train_logreg",
            expected: format!("labels {n}×1 and weights {}×1", f + 1),
            got: format!("labels {:?}, weights {:?}", E::shape(y), E::shape(w0)),
        });
    }
    if cfg.batch == 0 {
        return Err(MpcError::Config("batch size 0".into()));
    }
    let ones = eng.public(n, 1, &vec![fp.encode(1.0)?; n]);
    let xa = eng.hcat(x, &ones)?;
    let sig = approx::sigmoid(fp)?;
    let mut w = w0.clone();
    for _ in 0..cfg.epochs {
        let mut start = 0;
        while start < n {
            let end = (start + cfg.batch).min(n);
            let xb = eng.slice_rows(&xa, start, end);
            let yb = eng.slice_rows(y, start, end);
            let mut ops = eng.prepare(&[&xb, &w])?;
            let wo = ops.pop().ok_or_else(|| MpcError::Config("prepare returned nothing".into()))?;
            let xo = ops.pop().ok_or_else(|| MpcError::Config("prepare returned nothing".into()))?;
            let z = eng.matmul_trunc(&xo, &wo)?;
            eng.release(wo);
            let p = eng.piecewise(&z, &sig)?;
            let g = eng.sub(&p, &yb)?;
            let go = eng.prepare(&[&g])?.pop().ok_or_else(|| MpcError::Config("prepare returned nothing".into()))?;
            let xt = eng.transpose_op(&xo);
            let grad = eng.matmul_trunc(&xt, &go)?;
            eng.release(go);
            eng.release(xo);
            let step = eng.scale(&grad, cfg.lr / (end - start) as f64)?;
            w = eng.sub(&w, &step)?;
            start = end;
        }
    }
    Ok(w)
}

/// Shared `(weight, bias)` of each dense layer.
pub type DenseParams<E> = Vec<(<E as Engine>::T, <E as Engine>::T)>;

/// Mini-batch SGD of an MLP (dense layers with ReLU between them, softmax cross-entropy on
/// the last layer's logits) on shared data `x` (`n × f`) and one-hot labels `y` (`n × k`),
/// from shared initial `(weight, bias)` pairs. Same update as [`veil_ml::train::step`]:
/// `δ_L = (softmax(z_L) − y)/|B|`, `δ_{l−1} = (δ_l W_lᵀ) ⊙ [z_{l−1} ≥ 0]`,
/// `W_l ← W_l − lr·h_{l−1}ᵀ δ_l`, `b_l ← b_l − lr·Σ δ_l`.
pub fn train_mlp<E: Engine>(
    eng: &mut E,
    x: &E::T,
    y: &E::T,
    mut layers: DenseParams<E>,
    cfg: &TrainConfig,
) -> Result<DenseParams<E>, MpcError> {
    let (n, _) = E::shape(x);
    if E::shape(y).0 != n || cfg.batch == 0 || layers.is_empty() {
        return Err(MpcError::Shape {
            op: "train_mlp",
            expected: format!("{n} label rows, a batch, layers"),
            got: format!("{:?}", E::shape(y)),
        });
    }
    for _ in 0..cfg.epochs {
        let mut start = 0;
        while start < n {
            let end = (start + cfg.batch).min(n);
            let scale = cfg.lr / (end - start) as f64;
            let mut h = eng.slice_rows(x, start, end);
            let yb = eng.slice_rows(y, start, end);
            // Forward: keep each layer's prepared input and weights, and each ReLU's derivative.
            let mut saved: Vec<(E::Op, E::Op)> = Vec::new();
            let mut bits: Vec<E::T> = Vec::new();
            let last = layers.len() - 1;
            for (l, (w, b)) in layers.iter().enumerate() {
                let mut ops = eng.prepare(&[&h, w])?;
                let wo = ops.pop().ok_or_else(|| MpcError::Config("prepare returned nothing".into()))?;
                let ho = ops.pop().ok_or_else(|| MpcError::Config("prepare returned nothing".into()))?;
                let z = eng.matmul_trunc(&ho, &wo)?;
                let z = eng.add_row(&z, b)?;
                saved.push((ho, wo));
                if l < last {
                    let (r, bit) = eng.relu_bit(&z)?;
                    bits.push(bit);
                    h = r;
                } else {
                    h = z;
                }
            }
            let p = eng.softmax(&h)?;
            let mut delta = eng.sub(&p, &yb)?;
            for l in (0..layers.len()).rev() {
                let (ho, wo) = saved.pop().ok_or_else(|| MpcError::Config("missing saved layer".into()))?;
                let dop = eng.prepare(&[&delta])?.pop().ok_or_else(|| MpcError::Config("prepare returned nothing".into()))?;
                let gw = eng.matmul_trunc(&eng.transpose_op(&ho), &dop)?;
                let gb = eng.col_sums(&delta);
                if l > 0 {
                    let back = eng.matmul_trunc(&dop, &eng.transpose_op(&wo))?;
                    let bit = bits.pop().ok_or_else(|| MpcError::Config("missing ReLU derivative".into()))?;
                    delta = eng.mul_elem(&back, &bit)?;
                }
                eng.release(dop);
                eng.release(ho);
                eng.release(wo);
                let (w, b) = &layers[l];
                let step_w = eng.scale(&gw, scale)?;
                let step_b = eng.scale(&gb, scale)?;
                layers[l] = (eng.sub(w, &step_w)?, eng.sub(b, &step_b)?);
            }
            start = end;
        }
    }
    Ok(layers)
}

/// A logistic-regression [`Model`] from revealed weights (`f` weights, then the bias).
pub fn logreg_model(fp: FixedPoint, w: &[u64]) -> Result<Model, MpcError> {
    let f = w.len().checked_sub(1).ok_or_else(|| MpcError::Config("no weights".into()))?;
    let vals = fp.decode_all(w);
    let weight = Matrix::new(f, 1, vals[..f].to_vec())?;
    Ok(Model::new(f, vec![Layer::Dense { weight, bias: vec![vals[f]] }, Layer::Sigmoid])?)
}
