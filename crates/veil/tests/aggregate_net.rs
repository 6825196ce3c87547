//! Secure aggregation and training across three `veil` processes over mutually authenticated
//! TLS (`task = "aggregate"`): parties A and B each hold part of the breast-cancer training
//! rows; the server computes the statistics and trains a logistic regression on the encrypted
//! rows; both parties receive the same results, equal to the plaintext reference.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::{await_stderr_line, finish, mesh_toml, p, signal, spawn, Child};

/// Statistics only: one level is enough.
const PRESET: &str = "insecure_n2048_l4_dnum3";
/// Training: an iteration takes four levels and the refresh needs room above them.
const TRAIN_PRESET: &str = "n16384_l6_sec128";
const FEATURES: usize = 30;
const WIDTH: usize = 64;
const TRAIN_ROWS: usize = 400;
const A_ROWS: usize = 230;

struct Net {
    dir: tempfile::TempDir,
    job: PathBuf,
    csv: [PathBuf; 2],
    rows: Vec<Vec<f64>>,
    labels: Vec<f64>,
    held_x: Vec<Vec<f64>>,
    held_y: Vec<f64>,
}

/// The job file (`train`: the `[train]` table, or empty for statistics only) and the parties'
/// CSV files (features, label).
fn setup(preset: &str, timeout_secs: u64, train: &str) -> Net {
    setup_with(preset, timeout_secs, train, false)
}

/// [`setup`], over a file mailbox instead of TLS links when `mailbox`.
fn setup_with(preset: &str, timeout_secs: u64, train: &str, mailbox: bool) -> Net {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/tabular/breast_cancer.csv");
    let (set, held) = veil_ml::data::breast_cancer_split(&data, TRAIN_ROWS, 17).unwrap();
    let take = |x: &veil_ml::Matrix, n: usize| -> Vec<Vec<f64>> { (0..n).map(|i| x.row(i)[..FEATURES].to_vec()).collect() };
    let rows = take(&set.x, TRAIN_ROWS);
    let labels: Vec<f64> = set.labels.iter().map(|&l| l as f64).collect();
    let held_x = take(&held.x, held.labels.len());
    let held_y = held.labels.iter().map(|&l| l as f64).collect();
    let dir = tempfile::tempdir().unwrap();
    let mesh = mesh_toml(dir.path(), mailbox, timeout_secs);
    let job = dir.path().join("job.toml");
    let text = format!("task = \"aggregate\"\npreset = \"{preset}\"\nwidth = {WIDTH}\n{}{train}\n{}", mesh.keys, mesh.members);
    std::fs::write(&job, text).unwrap();
    let csv = [dir.path().join("a.csv"), dir.path().join("b.csv")];
    for (path, range) in csv.iter().zip([0..A_ROWS, A_ROWS..TRAIN_ROWS]) {
        let lines: Vec<String> =
            range.map(|i| rows[i].iter().chain([&labels[i]]).map(|v| format!("{v:.17e}")).collect::<Vec<_>>().join(",")).collect();
        std::fs::write(path, lines.join("\n")).unwrap();
    }
    Net { dir, job, csv, rows, labels, held_x, held_y }
}

fn start(net: &Net) -> [Child; 3] {
    let job = p(&net.job);
    let server = spawn(&["threshold", "server", "--job", job]);
    let b = spawn(&["threshold", "party", "--job", job, "--party", "2", "--input", p(&net.csv[1])]);
    let a = spawn(&["threshold", "party", "--job", job, "--party", "1", "--input", p(&net.csv[0])]);
    [a, b, server]
}

fn check_statistics(v: &serde_json::Value, rows: &[Vec<f64>]) {
    let n = rows.len() as f64;
    let mean: Vec<f64> = (0..FEATURES).map(|f| rows.iter().map(|r| r[f]).sum::<f64>() / n).collect();
    let cov = |f: usize, g: usize| rows.iter().map(|r| r[f] * r[g]).sum::<f64>() / n - mean[f] * mean[g];
    let s = &v["statistics"];
    assert!((s["count"].as_f64().unwrap() - n).abs() < 1e-2, "count {}", s["count"]);
    for a in 0..FEATURES {
        assert!((s["mean"][a].as_f64().unwrap() - mean[a]).abs() < 1e-3, "mean {a}: {} vs {}", s["mean"][a], mean[a]);
        assert!((s["variance"][a].as_f64().unwrap() - cov(a, a)).abs() < 1e-3, "variance {a}");
        for b in 0..FEATURES {
            assert!((s["covariance"][a][b].as_f64().unwrap() - cov(a, b)).abs() < 1e-3, "covariance {a},{b}");
        }
    }
}

#[test]
fn networked_aggregation_statistics_reach_both_parties() {
    let net = setup(PRESET, 60, "");
    let [a, b, server] = start(&net);
    let (ok_a, out_a, err_a) = finish(a, Duration::from_secs(300));
    assert!(ok_a, "party A failed: {err_a}");
    let (ok_b, out_b, err_b) = finish(b, Duration::from_secs(60));
    assert!(ok_b, "party B failed: {err_b}");
    let (ok_s, out_s, err_s) = finish(server, Duration::from_secs(60));
    assert!(ok_s, "server failed: {err_s}");
    assert!(out_s.trim().is_empty(), "the server printed {out_s}");
    assert_eq!(out_a, out_b, "A and B print different results");
    let v: serde_json::Value = serde_json::from_str(out_a.trim()).unwrap();
    check_statistics(&v, &net.rows);
    assert!(v.get("weights").is_none());
    let _ = (&net.dir, &net.labels, &net.held_x, &net.held_y);
}

const ITERATIONS: usize = 6;
const LEARNING_RATE: f64 = 0.5;

fn accuracy(w: &[f64], rows: &[Vec<f64>], labels: &[f64]) -> f64 {
    let bias = w[w.len() - 1];
    let right =
        rows.iter().zip(labels).filter(|(x, &y)| ((x.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() + bias) >= 0.0) == (y == 1.0)).count();
    100.0 * right as f64 / rows.len() as f64
}

fn train_table() -> String {
    format!("[train]\niterations = {ITERATIONS}\nlearning_rate = {LEARNING_RATE}\n")
}

#[test]
fn networked_training_gives_both_parties_the_plaintext_model() {
    training_gives_both_parties_the_plaintext_model(false);
}

#[test]
fn training_over_a_file_mailbox_gives_both_parties_the_plaintext_model() {
    training_gives_both_parties_the_plaintext_model(true);
}

fn training_gives_both_parties_the_plaintext_model(mailbox: bool) {
    let net = setup_with(TRAIN_PRESET, 120, &train_table(), mailbox);
    let t = Instant::now();
    let [a, b, server] = start(&net);
    let (ok_a, out_a, err_a) = finish(a, Duration::from_secs(600));
    assert!(ok_a, "party A failed: {err_a}");
    let (ok_b, out_b, err_b) = finish(b, Duration::from_secs(60));
    assert!(ok_b, "party B failed: {err_b}");
    let (ok_s, _, err_s) = finish(server, Duration::from_secs(60));
    assert!(ok_s, "server failed: {err_s}");
    eprintln!("three processes done in {:.1} s; server log:\n{err_s}", t.elapsed().as_secs_f64());
    assert_eq!(out_a, out_b, "A and B print different results");
    if mailbox {
        let files = std::fs::read_dir(net.dir.path().join("mailbox")).unwrap().count();
        assert!(files > 50, "only {files} files in the mailbox");
    }
    let v: serde_json::Value = serde_json::from_str(out_a.trim()).unwrap();
    check_statistics(&v, &net.rows);
    let w: Vec<f64> = v["weights"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(w.len(), FEATURES + 1);
    let cfg = veil_he::train::LogRegTrainConfig::new(FEATURES, TRAIN_ROWS, ITERATIONS, LEARNING_RATE);
    let poly = cfg.sigmoid.clone();
    let w_ref = veil_he::train::plaintext_reference(&net.rows, &net.labels, &cfg, &|z| poly.eval(z)).unwrap();
    let err = w.iter().zip(&w_ref).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let (acc, acc_ref) = (accuracy(&w, &net.held_x, &net.held_y), accuracy(&w_ref, &net.held_x, &net.held_y));
    eprintln!("held-out accuracy: encrypted {acc:.2}%, plaintext same steps {acc_ref:.2}%; max weight error {err:.2e}");
    assert!((acc - acc_ref).abs() <= 1.0, "accuracy {acc} vs plaintext {acc_ref}");
    assert!(acc_ref > 85.0, "the reference itself did not learn ({acc_ref}%)");
    assert!(err < 1e-2, "weights differ from the plaintext reference by {err}");
}

/// Starts a training job, waits for B to answer its first refresh request, then applies `sig`
/// to B: A and the server must stop with an error within the timeout and print nothing.
/// Returns (A's, the server's) standard error.
#[cfg(unix)]
fn party_lost_mid_training(sig: &str) -> (String, String) {
    // Long enough for every step of a loaded 2-core machine before B is stopped; the test
    // then takes about this long, as A and the server wait it out.
    const TIMEOUT: u64 = 30;
    let net = setup(TRAIN_PRESET, TIMEOUT, &train_table());
    let [a, mut b, server] = start(&net);
    let _rest = await_stderr_line(&mut b, "refresh 1 answered", Duration::from_secs(300), "B's first refresh");
    signal(&b, sig);
    let t = Instant::now();
    let (ok_s, out_s, err_s) = finish(server, Duration::from_secs(120));
    let (ok_a, out_a, err_a) = finish(a, Duration::from_secs(120));
    assert!(!ok_s && !ok_a, "A or the server succeeded without B");
    assert!(out_a.trim().is_empty() && out_s.trim().is_empty(), "a result was printed: {out_a} {out_s}");
    assert!(t.elapsed() < Duration::from_secs(2 * TIMEOUT + 15), "A and the server took {:?} to give up", t.elapsed());
    signal(&b, "-KILL");
    (err_a, err_s)
}

#[cfg(unix)]
#[test]
fn a_party_killed_mid_training_stops_the_others() {
    let (err_a, err_s) = party_lost_mid_training("-KILL");
    eprintln!("A: {err_a}\nserver: {err_s}");
    assert!(err_s.contains("party-b") && err_s.contains("training stopped"), "server: {err_s}");
    assert!(err_a.contains("server") || err_a.contains("party-b"), "A: {err_a}");
}

#[cfg(unix)]
#[test]
fn a_party_stalled_mid_training_stops_the_others_within_the_timeout() {
    let (err_a, err_s) = party_lost_mid_training("-STOP");
    eprintln!("A: {err_a}\nserver: {err_s}");
    assert!(err_s.contains("party-b") && err_s.contains("timed out"), "server: {err_s}");
    assert!(!err_a.is_empty(), "A stopped without a message");
}
