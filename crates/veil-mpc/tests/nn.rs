//! Secure inference and training against the plaintext reference of veil-ml, on real data.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::SeedableRng;
use veil_ml::data::{breast_cancer_split, mnist};
use veil_ml::train::{sgd, SgdConfig};
use veil_ml::{Layer, Matrix, Model};
use veil_mpc::local::{run_2pc, run_3pc};
use veil_mpc::nn::{self, Arch, Engine, TrainConfig};
use veil_mpc::provider;
use veil_mpc::threepc::ThreePc;
use veil_mpc::twopc::{Shared, TwoPc};
use veil_mpc::{FixedPoint, MpcError};

const T: Duration = Duration::from_secs(60);

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data").join(rel)
}

/// Shares the model (party 0) and the batch (party 1), evaluates, reveals.
fn secure_infer<E: Engine>(e: &mut E, model: &Model, x: &Matrix) -> Result<Vec<u64>, MpcError> {
    let fp = e.fp();
    let arch = Arch::of(model)?;
    let owner_model = (!e.is_dealer()).then_some(model);
    let sm = nn::share_model(e, 0, owner_model, &arch)?;
    let xs = e.input(1, x.rows(), x.cols(), Some(&fp.encode_all(x.data())?))?;
    let y = nn::infer(e, &sm, &xs)?;
    let mut out = e.reveal(&y)?;
    out.extend(nn::infer_reveal(e, &sm, &xs)?);
    Ok(out)
}

fn check_inference(model: &Model, x: &Matrix, tol: f64) {
    let fp = FixedPoint::default();
    let want = model.forward(x).expect("plaintext");
    let r2 = run_2pc(fp, T, |e: &mut TwoPc| secure_infer(e, model, x));
    let r3 = run_3pc(fp, T, |e: &mut ThreePc| secure_infer(e, model, x));
    for (name, out) in [("2pc", r2[0].as_ref().expect("2pc party 0")), ("3pc", r3[0].as_ref().expect("3pc party 0"))] {
        let half = out.len() / 2;
        for (path, part) in [("infer", &out[..half]), ("infer_reveal", &out[half..])] {
            let got = nn::decode(fp, want.rows(), want.cols(), part).expect("decode");
            let err = got.max_abs_diff(&want).expect("shape");
            assert!(err < tol, "{name} {path}: max error {err}");
            // Only a row closer to another class than the error could flip.
            let margins = model.decision_margins(&want);
            for (r, ((g, w), m)) in model.classes(&got).iter().zip(model.classes(&want)).zip(&margins).enumerate() {
                assert!(*g == w || *m <= 2.0 * err, "{name} {path} row {r}: class {g}, plaintext {w} (margin {m})");
            }
        }
    }
    assert_eq!(r2[1].as_ref().expect("2pc party 1"), r2[0].as_ref().expect("2pc party 0"));
}

#[test]
fn logistic_regression_inference_on_breast_cancer() {
    let (train, held) = breast_cancer_split(&data("tabular/breast_cancer.csv"), 500, 0).expect("data");
    let mut m = Model::random_mlp(&[30, 1], Layer::Relu, Some(Layer::Sigmoid), 1).expect("model");
    sgd(&mut m, &train.x, &train.labels, &SgdConfig { lr: 0.5, batch: 50, epochs: 3 }).expect("sgd");
    // Sigmoid approximation 1.52e-3 plus fixed-point error.
    check_inference(&m, &held.x, 2.5e-3);
}

#[test]
fn mlp_inference_on_mnist() {
    let train = mnist(&data("mnist/train2k-images-idx3-ubyte.gz"), &data("mnist/train2k-labels-idx1-ubyte.gz"), 600).expect("train");
    let test = mnist(&data("mnist/t10k-images-idx3-ubyte.gz"), &data("mnist/t10k-labels-idx1-ubyte.gz"), 16).expect("test");
    let mut m = Model::random_mlp(&[784, 24, 16, 10], Layer::Relu, None, 2).expect("model");
    sgd(&mut m, &train.x, &train.labels, &SgdConfig { lr: 0.1, batch: 20, epochs: 4 }).expect("sgd");
    assert!(m.accuracy(&test.x, &test.labels).expect("acc") > 0.6);
    check_inference(&m, &test.x, 2e-3);
}

#[test]
fn benchmark_mlp_shape_with_random_weights() {
    let m = Model::random_mlp(&[784, 128, 128, 10], Layer::Relu, None, 3).expect("model");
    let x = Matrix::new(2, 784, (0..2 * 784).map(|i| ((i * 37) % 101) as f64 / 101.0).collect()).expect("x");
    check_inference(&m, &x, 2e-3);
}

/// Rows of three providers, shared for the parties; returns each party's view of (x, y).
fn provider_rows(x: &Matrix, labels: &[usize], fp: FixedPoint) -> (Vec<u64>, Vec<u64>) {
    let xe = fp.encode_all(x.data()).expect("enc");
    let ye: Vec<u64> = labels.iter().map(|&l| fp.encode(l as f64).expect("enc")).collect();
    (xe, ye)
}

#[test]
fn logistic_regression_training_matches_plaintext_sgd() {
    let fp = FixedPoint::default();
    let (train, held) = breast_cancer_split(&data("tabular/breast_cancer.csv"), 500, 0).expect("data");
    let init = Model::random_mlp(&[30, 1], Layer::Relu, Some(Layer::Sigmoid), 4).expect("model");
    let cfg = TrainConfig { lr: 0.5, batch: 50, epochs: 2 };
    let mut plain = init.clone();
    sgd(&mut plain, &train.x, &train.labels, &SgdConfig { lr: cfg.lr, batch: cfg.batch, epochs: cfg.epochs }).expect("sgd");
    let Layer::Dense { weight, bias } = &init.layers[0] else { unreachable!("dense first") };
    let mut w0: Vec<f64> = weight.data().to_vec();
    w0.push(bias[0]);
    let w0 = fp.encode_all(&w0).expect("enc");

    // Three providers hold rows 0..170, 170..340, 340..500 and share them.
    let (xe, ye) = provider_rows(&train.x, &train.labels, fp);
    let bounds = [0usize, 170, 340, 500];
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(77);
    let mut x2 = [Vec::new(), Vec::new()];
    let mut y2 = [Vec::new(), Vec::new()];
    let mut x3: [(Vec<u64>, Vec<u64>); 3] = Default::default();
    let mut y3: [(Vec<u64>, Vec<u64>); 3] = Default::default();
    for p in 0..3 {
        let (s, e) = (bounds[p], bounds[p + 1]);
        let xs = provider::share_2pc(&xe[s * 30..e * 30], &mut rng);
        let ys = provider::share_2pc(&ye[s..e], &mut rng);
        for i in 0..2 {
            x2[i].extend_from_slice(&xs[i]);
            y2[i].extend_from_slice(&ys[i]);
        }
        let xs = provider::share_3pc(&xe[s * 30..e * 30], &mut rng);
        let ys = provider::share_3pc(&ye[s..e], &mut rng);
        for i in 0..3 {
            x3[i].0.extend_from_slice(&xs[i].0);
            x3[i].1.extend_from_slice(&xs[i].1);
            y3[i].0.extend_from_slice(&ys[i].0);
            y3[i].1.extend_from_slice(&ys[i].1);
        }
    }
    let r2 = run_2pc(fp, T, |e: &mut TwoPc| {
        let p = e.party();
        let (xv, yv) = if p < 2 { (x2[p].clone(), y2[p].clone()) } else { (vec![0; 500 * 30], vec![0; 500]) };
        let x = Shared::new(500, 30, xv)?;
        let y = Shared::new(500, 1, yv)?;
        let w = Engine::input(e, 0, 31, 1, (p == 0).then_some(&w0[..]))?;
        let w = nn::train_logreg(e, &x, &y, &w, &cfg)?;
        Engine::reveal(e, &w)
    });
    let r3 = run_3pc(fp, T, |e: &mut ThreePc| {
        let p = e.party();
        let x = e.from_shares(500, 30, x3[p].0.clone(), x3[p].1.clone())?;
        let y = e.from_shares(500, 1, y3[p].0.clone(), y3[p].1.clone())?;
        let w = Engine::input(e, 0, 31, 1, (p == 0).then_some(&w0[..]))?;
        let w = nn::train_logreg(e, &x, &y, &w, &cfg)?;
        Engine::reveal(e, &w)
    });
    let pa_train = plain.accuracy(&train.x, &train.labels).expect("acc");
    let pa_held = plain.accuracy(&held.x, &held.labels).expect("acc");
    for (name, w) in [("2pc", r2[0].as_ref().expect("2pc")), ("3pc", r3[0].as_ref().expect("3pc"))] {
        let m = nn::logreg_model(fp, w).expect("model");
        let a_train = m.accuracy(&train.x, &train.labels).expect("acc");
        let a_held = m.accuracy(&held.x, &held.labels).expect("acc");
        assert!((a_train - pa_train).abs() <= 0.01, "{name}: train accuracy {a_train} vs plaintext {pa_train}");
        assert!((a_held - pa_held).abs() <= 0.0146, "{name}: held-out accuracy {a_held} vs plaintext {pa_held}");
    }
}

/// Model from revealed `(weight, bias)` pairs of an MLP with ReLU between dense layers.
fn mlp_from(fp: FixedPoint, shapes: &[(usize, usize)], vals: &[Vec<u64>]) -> Model {
    let mut layers = Vec::new();
    for (i, &(a, b)) in shapes.iter().enumerate() {
        let w = fp.decode_all(&vals[2 * i]);
        let bias = fp.decode_all(&vals[2 * i + 1]);
        layers.push(Layer::Dense { weight: Matrix::new(a, b, w).expect("w"), bias });
        if i + 1 < shapes.len() {
            layers.push(Layer::Relu);
        }
    }
    Model::new(shapes[0].0, layers).expect("model")
}

/// What `mlp_training_on_mnist_matches_plaintext_sgd` trains on, encoded in fixed point:
/// 400 MNIST rows and one-hot labels held by party 1, initial weights held by party 0.
struct MlpTrainingData<'a> {
    x: &'a [u64],
    onehot: &'a [u64],
    shapes: &'a [(usize, usize)],
    init: &'a [Vec<u64>],
    cfg: &'a TrainConfig,
}

/// Shares the data and weights, trains by secure SGD and reveals every weight and bias, in
/// either protocol.
fn train_shared<E: Engine>(e: &mut E, party: usize, d: &MlpTrainingData<'_>) -> Result<Vec<Vec<u64>>, MpcError> {
    let x = e.input(1, 400, 784, (party == 1).then_some(d.x))?;
    let y = e.input(1, 400, 10, (party == 1).then_some(d.onehot))?;
    let mut layers = Vec::new();
    for (i, &(a, b)) in d.shapes.iter().enumerate() {
        let w = e.input(0, a, b, (party == 0).then_some(&d.init[2 * i][..]))?;
        let bb = e.input(0, 1, b, (party == 0).then_some(&d.init[2 * i + 1][..]))?;
        layers.push((w, bb));
    }
    let trained = nn::train_mlp(e, &x, &y, layers, d.cfg)?;
    let mut out = Vec::new();
    for (w, b) in &trained {
        out.push(e.reveal(w)?);
        out.push(e.reveal(b)?);
    }
    Ok(out)
}

#[test]
fn mlp_training_on_mnist_matches_plaintext_sgd() {
    let fp = FixedPoint::default();
    let train = mnist(&data("mnist/train2k-images-idx3-ubyte.gz"), &data("mnist/train2k-labels-idx1-ubyte.gz"), 400).expect("train");
    let test = mnist(&data("mnist/t10k-images-idx3-ubyte.gz"), &data("mnist/t10k-labels-idx1-ubyte.gz"), 500).expect("test");
    let init = Model::random_mlp(&[784, 16, 10], Layer::Relu, None, 21).expect("model");
    let cfg = TrainConfig { lr: 0.1, batch: 20, epochs: 3 };
    let mut plain = init.clone();
    sgd(&mut plain, &train.x, &train.labels, &SgdConfig { lr: cfg.lr, batch: cfg.batch, epochs: cfg.epochs }).expect("sgd");
    let shapes = [(784usize, 16usize), (16, 10)];
    let init_vals: Vec<Vec<u64>> = init
        .layers
        .iter()
        .filter_map(|l| match l {
            Layer::Dense { weight, bias } => Some([fp.encode_all(weight.data()).expect("enc"), fp.encode_all(bias).expect("enc")]),
            _ => None,
        })
        .flatten()
        .collect();
    let xe = fp.encode_all(train.x.data()).expect("enc");
    let mut onehot = vec![0u64; 400 * 10];
    for (i, &l) in train.labels.iter().enumerate() {
        onehot[i * 10 + l] = fp.encode(1.0).expect("enc");
    }
    let data = MlpTrainingData { x: &xe, onehot: &onehot, shapes: &shapes, init: &init_vals, cfg: &cfg };
    let r2 = run_2pc(fp, T, |e: &mut TwoPc| {
        let party = e.party();
        train_shared(e, party, &data)
    });
    let r3 = run_3pc(fp, T, |e: &mut ThreePc| {
        let party = e.party();
        train_shared(e, party, &data)
    });
    let p = plain.accuracy(&test.x, &test.labels).expect("acc");
    for (name, r) in [("2pc", r2[0].as_ref().expect("2pc party 0")), ("3pc", r3[0].as_ref().expect("3pc party 0"))] {
        let got = mlp_from(fp, &shapes, r);
        let a = got.accuracy(&test.x, &test.labels).expect("acc");
        eprintln!("{name} MLP test accuracy: secure {a}, plaintext {p}");
        assert!((a - p).abs() <= 0.01, "{name}: secure {a} vs plaintext {p}");
    }
}
