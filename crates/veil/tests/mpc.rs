//! `veil mpc` across processes: every role is a child process linked by mutual TLS on
//! loopback. Each test bounds its children's run time and kills them on failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use veil_ml::data::{breast_cancer_split, mnist};
use veil_ml::train::{sgd, SgdConfig};
use veil_ml::{Layer, Matrix, Model};

const VEIL: &str = env!("CARGO_BIN_EXE_veil");

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data").join(rel)
}

/// Kills the child on drop unless it has finished.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Waits at most `limit`; returns whether the process succeeded, or `None` if it had to be
/// killed.
fn wait(g: &mut Guard, limit: Duration) -> Option<bool> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Ok(Some(st)) = g.0.try_wait() {
            return Some(st.success());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn veil(args: &[&str]) -> Guard {
    Guard(Command::new(VEIL).args(args).stdin(Stdio::null()).stdout(Stdio::null()).spawn().expect("start veil"))
}

/// `veil mpc --local` with `flags`, one provider per file in `files`, the result written to `out`.
fn veil_training(flags: &[&str], out: &Path, files: &[PathBuf]) -> Guard {
    let mut args: Vec<String> = ["mpc", "--local"].iter().chain(flags).map(|s| s.to_string()).collect();
    args.push("--output".into());
    args.push(out.display().to_string());
    for f in files {
        args.push("--data".into());
        args.push(f.display().to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    veil(&refs)
}

fn write_csv(path: &Path, m: &Matrix, labels: Option<&[usize]>) {
    let mut s = String::new();
    for i in 0..m.rows() {
        let mut r: Vec<String> = m.row(i).iter().map(|v| format!("{v}")).collect();
        if let Some(l) = labels {
            r.push(l[i].to_string());
        }
        s.push_str(&r.join(","));
        s.push('\n');
    }
    std::fs::write(path, s).expect("write csv");
}

#[test]
fn serving_logistic_regression_with_both_protocols() {
    let dir = tempfile::tempdir().expect("tmp");
    let (train, held) = breast_cancer_split(&data("tabular/breast_cancer.csv"), 500, 0).expect("data");
    let mut m = Model::random_mlp(&[30, 1], Layer::Relu, Some(Layer::Sigmoid), 1).expect("model");
    sgd(&mut m, &train.x, &train.labels, &SgdConfig { lr: 0.5, batch: 50, epochs: 2 }).expect("sgd");
    let model = dir.path().join("model.json");
    m.save(&model).expect("save");
    let input = dir.path().join("x.csv");
    write_csv(&input, &held.x, None);
    let want = m.forward(&held.x).expect("plain");
    for protocol in ["2pc-dealer", "3pc-replicated"] {
        let out = dir.path().join(format!("out-{protocol}.json"));
        let mut g = veil(&[
            "mpc",
            "--local",
            "--protocol",
            protocol,
            "--task",
            "infer",
            "--model",
            model.to_str().expect("utf8"),
            "--input",
            input.to_str().expect("utf8"),
            "--output",
            out.to_str().expect("utf8"),
            "--timeout",
            "20",
        ]);
        assert_eq!(wait(&mut g, Duration::from_secs(120)), Some(true), "{protocol} run");
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).expect("output")).expect("json");
        let outs: Vec<f64> = v["outputs"].as_array().expect("outputs").iter().map(|r| r[0].as_f64().expect("number")).collect();
        let classes: Vec<usize> = v["classes"].as_array().expect("classes").iter().map(|c| c.as_u64().expect("class") as usize).collect();
        let got = Matrix::new(outs.len(), 1, outs).expect("matrix");
        let err = got.max_abs_diff(&want).expect("shape");
        assert!(err < 2.5e-3, "{protocol}");
        assert_eq!(classes.len(), want.rows(), "{protocol}");
        // Only a row closer to another class than the error could flip.
        for (r, ((c, w), margin)) in classes.iter().zip(m.classes(&want)).zip(m.decision_margins(&want)).enumerate() {
            assert!(*c == w || margin <= 2.0 * err, "{protocol} row {r}: class {c}, plaintext {w} (margin {margin})");
        }
    }
}

#[test]
fn training_over_three_providers_matches_plaintext_sgd() {
    let dir = tempfile::tempdir().expect("tmp");
    let (train, held) = breast_cancer_split(&data("tabular/breast_cancer.csv"), 500, 0).expect("data");
    let mut files = Vec::new();
    for (k, (s, e)) in [(0, 170), (170, 340), (340, 500)].into_iter().enumerate() {
        let f = dir.path().join(format!("provider{k}.csv"));
        write_csv(&f, &train.x.slice_rows(s, e), Some(&train.labels[s..e]));
        files.push(f);
    }
    // Plaintext reference: same data order, zero initial weights, same hyper-parameters.
    let zero = Model::new(30, vec![Layer::Dense { weight: Matrix::zeros(30, 1), bias: vec![0.0] }, Layer::Sigmoid]).expect("model");
    let mut plain = zero.clone();
    sgd(&mut plain, &train.x, &train.labels, &SgdConfig { lr: 0.5, batch: 50, epochs: 1 }).expect("sgd");
    let out = dir.path().join("trained.json");
    let mut g = veil_training(
        &["--protocol", "2pc-dealer", "--task", "train-logreg", "--epochs", "1", "--batch", "50", "--lr", "0.5", "--timeout", "20"],
        &out,
        &files,
    );
    assert_eq!(wait(&mut g, Duration::from_secs(180)), Some(true), "training run");
    let m = Model::load(&out).expect("trained model");
    let (a, p) = (m.accuracy(&held.x, &held.labels).expect("acc"), plain.accuracy(&held.x, &held.labels).expect("acc"));
    let (at, pt) = (m.accuracy(&train.x, &train.labels).expect("acc"), plain.accuracy(&train.x, &train.labels).expect("acc"));
    assert!((at - pt).abs() <= 0.01, "train accuracy {at} vs plaintext {pt}");
    assert!((a - p).abs() <= 0.0146, "held-out accuracy {a} vs plaintext {p}");
}

#[test]
fn mismatched_input_fails_cleanly_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = Model::random_mlp(&[4, 3, 1], Layer::Relu, Some(Layer::Sigmoid), 2).expect("model");
    let model = dir.path().join("model.json");
    m.save(&model).expect("save");
    let input = dir.path().join("x.csv");
    write_csv(&input, &Matrix::zeros(2, 5), None);
    let out = dir.path().join("out.json");
    let mut g = veil(&[
        "mpc",
        "--local",
        "--task",
        "infer",
        "--model",
        model.to_str().expect("utf8"),
        "--input",
        input.to_str().expect("utf8"),
        "--output",
        out.to_str().expect("utf8"),
        "--timeout",
        "3",
    ]);
    assert_eq!(wait(&mut g, Duration::from_secs(60)), Some(false));
    assert!(!out.exists(), "no partial result");
}

/// Writes a session file for a 2PC training session with explicit members.
fn session(dir: &Path, rows: &[usize], timeout_s: u64) -> PathBuf {
    let names = ["party-0", "party-1", "dealer", "provider-0", "receiver"];
    let pki = dir.join("pki");
    veil_transport::pki::create_local(&pki, &names).expect("pki");
    // All bound at once, so that no two members get the same port.
    let probes: Vec<std::net::TcpListener> = names.iter().map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("port")).collect();
    let ports: Vec<u16> = probes.iter().map(|l| l.local_addr().expect("addr").port()).collect();
    drop(probes);
    let mut s = format!(
        "protocol = \"2pc-dealer\"\ntask = \"train-logreg\"\nfrac_bits = 16\ntimeout_s = {timeout_s}\npki = {:?}\narch = \"30:dense1,sigmoid\"\nrows = {rows:?}\nlr = 0.5\nbatch = 10\nepochs = 100000\n",
        pki.display().to_string()
    );
    let roles = ["party", "party", "dealer", "provider", "receiver"];
    for (i, n) in names.iter().enumerate() {
        s.push_str(&format!("[[members]]\nid = {i}\nname = \"{n}\"\nrole = \"{}\"\naddr = \"127.0.0.1:{}\"\n", roles[i], ports[i]));
    }
    let f = dir.join("session.toml");
    std::fs::write(&f, s).expect("session");
    f
}

#[test]
fn a_party_that_dies_stops_every_other_member_within_the_timeout() {
    let dir = tempfile::tempdir().expect("tmp");
    let (train, _) = breast_cancer_split(&data("tabular/breast_cancer.csv"), 200, 0).expect("data");
    let file = dir.path().join("p0.csv");
    write_csv(&file, &train.x, Some(&train.labels));
    let sess = session(dir.path(), &[200], 3);
    let out = dir.path().join("w.json");
    let sf = sess.to_str().expect("utf8");
    let mut kids: Vec<Guard> = vec![
        veil(&["mpc", "--role", "party", "--id", "0", "--session", sf]),
        veil(&["mpc", "--role", "party", "--id", "1", "--session", sf]),
        veil(&["mpc", "--role", "dealer", "--id", "2", "--session", sf]),
        veil(&["mpc", "--role", "provider", "--id", "3", "--session", sf, "--data", file.to_str().expect("utf8")]),
        veil(&["mpc", "--role", "receiver", "--id", "4", "--session", sf, "--output", out.to_str().expect("utf8")]),
    ];
    // Let the session start training (100,000 epochs take minutes), then kill party 1.
    std::thread::sleep(Duration::from_millis(1500));
    let _ = kids[1].0.kill();
    let start = Instant::now();
    for (i, k) in kids.iter_mut().enumerate() {
        if i == 1 {
            continue;
        }
        let r = wait(k, Duration::from_secs(30));
        assert_eq!(r, Some(false), "member {i} must stop with an error, not hang or succeed");
    }
    assert!(start.elapsed() < Duration::from_secs(30));
    assert!(!out.exists(), "no partial result");
}

#[test]
fn mlp_training_over_three_providers_matches_plaintext_sgd_with_both_protocols() {
    let dir = tempfile::tempdir().expect("tmp");
    let train = mnist(&data("mnist/train2k-images-idx3-ubyte.gz"), &data("mnist/train2k-labels-idx1-ubyte.gz"), 600).expect("train");
    let test = mnist(&data("mnist/t10k-images-idx3-ubyte.gz"), &data("mnist/t10k-labels-idx1-ubyte.gz"), 500).expect("test");
    let mut files = Vec::new();
    for (k, (s, e)) in [(0, 200), (200, 400), (400, 600)].into_iter().enumerate() {
        let f = dir.path().join(format!("provider{k}.csv"));
        write_csv(&f, &train.x.slice_rows(s, e), Some(&train.labels[s..e]));
        files.push(f);
    }
    // Plaintext reference: same rows in the same order, the same initial weights (seed 21)
    // and hyper-parameters.
    let mut plain = Model::random_mlp(&[784, 16, 10], Layer::Relu, None, 21).expect("model");
    sgd(&mut plain, &train.x, &train.labels, &SgdConfig { lr: 0.5, batch: 20, epochs: 1 }).expect("sgd");
    let p = plain.accuracy(&test.x, &test.labels).expect("acc");
    for protocol in ["2pc-dealer", "3pc-replicated"] {
        let out = dir.path().join(format!("mlp-{protocol}.json"));
        let mut g = veil_training(
            &[
                "--protocol", protocol, "--task", "train-mlp", "--hidden", "16", "--init-seed", "21", "--epochs", "1", "--batch", "20",
                "--lr", "0.5", "--timeout", "20",
            ],
            &out,
            &files,
        );
        assert_eq!(wait(&mut g, Duration::from_secs(180)), Some(true), "{protocol} training run");
        let m = Model::load(&out).expect("trained model");
        assert_eq!(m.inputs, 784);
        assert_eq!(m.layers.len(), 3, "{protocol}: dense, relu, dense");
        let a = m.accuracy(&test.x, &test.labels).expect("acc");
        eprintln!("{protocol} MLP held-out accuracy: secure {a}, plaintext {p}");
        assert!((a - p).abs() <= 0.01, "{protocol}: held-out accuracy {a} vs plaintext {p}");
        assert!(p > 0.4, "the plaintext reference learnt something: {p}");
    }
}

#[test]
fn mlp_training_rejects_a_label_that_is_not_a_class() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("p.csv");
    std::fs::write(&f, "0.1,0.2,0\n0.3,0.4,1.5\n").expect("write");
    let out = dir.path().join("m.json");
    let mut g = veil(&[
        "mpc",
        "--local",
        "--task",
        "train-mlp",
        "--hidden",
        "4",
        "--data",
        f.to_str().expect("utf8"),
        "--output",
        out.to_str().expect("utf8"),
        "--timeout",
        "3",
    ]);
    assert_eq!(wait(&mut g, Duration::from_secs(60)), Some(false));
    assert!(!out.exists(), "no model written");
}
