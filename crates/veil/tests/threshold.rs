//! Secure inference across separate `veil` processes on files: party A's breast-cancer rows
//! and party B's logistic-regression model, both encrypted under the collective key of A and B;
//! the server evaluates; B partially decrypts; A merges and alone learns the predictions.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::*;

const PRESET: &str = "insecure_n2048_l4_dnum3";
const WIDTH: usize = 32;
const ROWS: usize = 32;

fn ok(args: &[&str]) -> String {
    let out = veil(args, Duration::from_secs(300));
    assert!(out.status.success(), "veil {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// B's model: logistic regression trained in the clear on B's side (full-batch gradient
/// descent), weights then bias.
fn train_model(x: &veil_ml::Matrix, y: &[usize]) -> Vec<f64> {
    let (n, d) = x.shape();
    let mut w = vec![0.0; d + 1];
    for _ in 0..300 {
        let mut g = vec![0.0; d + 1];
        for (i, &label) in y.iter().enumerate().take(n) {
            let row = x.row(i);
            let z = w[d] + row.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>();
            let err = 1.0 / (1.0 + (-z).exp()) - label as f64;
            for k in 0..d {
                g[k] += err * row[k];
            }
            g[d] += err;
        }
        for k in 0..=d {
            w[k] -= 0.5 * g[k] / n as f64;
        }
    }
    w
}

#[test]
fn secure_inference_across_processes_matches_plaintext() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/tabular/breast_cancer.csv");
    let (train, held) = veil_ml::data::breast_cancer_split(&data, 400, 7).unwrap();
    let w = train_model(&train.x, &train.labels);
    // A's rows carry a trailing 1.0 that meets B's bias.
    let rows: Vec<Vec<f64>> = (0..ROWS).map(|i| held.x.row(i).iter().copied().chain([1.0]).collect()).collect();
    let want: Vec<f64> = rows.iter().map(|r| r.iter().zip(&w).map(|(a, b)| a * b).sum()).collect();

    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("exchange");
    std::fs::create_dir(&job).unwrap();
    let (key_a, key_b) = (dir.path().join("a-keys"), dir.path().join("b-keys"));
    std::fs::create_dir(&key_a).unwrap();
    std::fs::create_dir(&key_b).unwrap();
    let session = dir.path().join("session.toml");
    ok(&["threshold", "init", "--parties", "2", "--preset", PRESET, "--out", p(&session)]);
    let width = WIDTH.to_string();
    let common = |keys: &Path| -> Vec<String> {
        ["--session", p(&session), "--dir", p(&job), "--key-dir", p(keys)].iter().map(|s| s.to_string()).collect()
    };
    let run_party = |step: &str, party: &str, keys: &Path, extra: &[&str]| {
        let mut args: Vec<String> = vec!["threshold".into(), step.into()];
        args.extend(common(keys));
        args.extend(["--party".to_string(), party.to_string()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        ok(&refs)
    };
    for (party, keys) in [("1", &key_a), ("2", &key_b)] {
        run_party("keygen-share", party, keys, &[]);
    }
    let mut agg: Vec<String> = vec!["threshold".into(), "aggregate-pk".into()];
    agg.extend(common(&key_a));
    ok(&agg.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    for step in ["relin-round1", "relin-round2"] {
        for (party, keys) in [("1", &key_a), ("2", &key_b)] {
            run_party(step, party, keys, &[]);
        }
    }
    for (party, keys) in [("1", &key_a), ("2", &key_b)] {
        run_party("rotation-share", party, keys, &["--width", &width]);
    }
    let mut eval_keys: Vec<String> = vec!["threshold".into(), "aggregate-eval-keys".into()];
    eval_keys.extend(common(&key_a));
    eval_keys.extend(["--width".to_string(), width.clone()]);
    ok(&eval_keys.iter().map(|s| s.as_str()).collect::<Vec<_>>());

    #[cfg(unix)]
    {
        assert_eq!(mode(&session), 0o600);
        assert_eq!(mode(&key_a.join("party-1.secret")), 0o600);
        assert_eq!(mode(&key_b.join("party-2.secret")), 0o600);
        assert!(!key_a.join("party-1.relin-ephemeral").exists(), "ephemeral secret left behind");
    }

    let (a_csv, b_csv) = (dir.path().join("a.csv"), dir.path().join("w.csv"));
    write_csv(&a_csv, &rows);
    write_csv(&b_csv, std::slice::from_ref(&w));
    let (a_ct, b_ct, score) = (job.join("a.ct"), job.join("b.ct"), job.join("score.ct"));
    let sess = p(&session).to_string();
    let jobs = p(&job).to_string();
    ok(&["threshold", "encrypt", "--session", &sess, "--dir", &jobs, "--input", p(&a_csv), "--width", &width, "--out", p(&a_ct)]);
    ok(&[
        "threshold",
        "encrypt",
        "--session",
        &sess,
        "--dir",
        &jobs,
        "--input",
        p(&b_csv),
        "--width",
        &width,
        "--replicate",
        "--out",
        p(&b_ct),
    ]);
    ok(&[
        "threshold",
        "evaluate",
        "--session",
        &sess,
        "--dir",
        &jobs,
        "--a",
        p(&a_ct),
        "--b",
        p(&b_ct),
        "--width",
        &width,
        "--out",
        p(&score),
    ]);
    let b_share = job.join("b.share");
    run_party("partial-decrypt", "2", &key_b, &["--ct", p(&score), "--out", p(&b_share)]);
    let count = ROWS.to_string();
    let out =
        run_party("merge", "1", &key_a, &["--ct", p(&score), "--shares", p(&b_share), "--width", &width, "--count", &count, "--json"]);
    let got: Vec<f64> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(got.len(), ROWS);
    for (i, (g, e)) in got.iter().zip(&want).enumerate() {
        assert!((g - e).abs() < 1e-2, "row {i}: encrypted score {g}, plaintext {e}");
        if e.abs() > 0.05 {
            assert_eq!(*g > 0.0, *e > 0.0, "row {i}: class differs");
        }
    }

    // Without B's share, A cannot merge; a tampered share is rejected by name.
    let mut merge_args: Vec<String> = vec!["threshold".into(), "merge".into()];
    merge_args.extend(common(&key_a));
    merge_args.extend(["--party", "1", "--ct", p(&score), "--shares"].iter().map(|s| s.to_string()));
    let mut alone = merge_args.clone();
    alone.push(p(&a_ct).to_string());
    let out = veil(&alone.iter().map(|s| s.as_str()).collect::<Vec<_>>(), Duration::from_secs(120));
    assert!(!out.status.success());
    let mut bytes = std::fs::read(&b_share).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    let tampered = job.join("tampered.share");
    std::fs::write(&tampered, &bytes).unwrap();
    let mut t = merge_args.clone();
    t.push(p(&tampered).to_string());
    let out = veil(&t.iter().map(|s| s.as_str()).collect::<Vec<_>>(), Duration::from_secs(120));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("authentication tag mismatch"), "{err}");
    let mut none = merge_args;
    none.pop();
    let out = veil(&none.iter().map(|s| s.as_str()).collect::<Vec<_>>(), Duration::from_secs(120));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("missing from parties [PartyId(2)]"), "{err}");
    // The secret share never appears in any output.
    assert!(!String::from_utf8_lossy(&out.stderr).contains("secret-key share bytes"));
}

struct Net {
    _dir: tempfile::TempDir,
    job: PathBuf,
    a_csv: PathBuf,
    b_csv: PathBuf,
    want: Vec<f64>,
}

fn network_job(timeout_secs: u64) -> Net {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/tabular/breast_cancer.csv");
    let (train, held) = veil_ml::data::breast_cancer_split(&data, 400, 11).unwrap();
    let w = train_model(&train.x, &train.labels);
    let rows: Vec<Vec<f64>> = (0..ROWS).map(|i| held.x.row(i).iter().copied().chain([1.0]).collect()).collect();
    let want: Vec<f64> = rows.iter().map(|r| r.iter().zip(&w).map(|(a, b)| a * b).sum()).collect();
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.toml");
    for (path, mailbox) in [(job.clone(), false), (dir.path().join("mailbox-job.toml"), true)] {
        let mesh = mesh_toml(dir.path(), mailbox, timeout_secs);
        let text = format!("preset = \"{PRESET}\"\nwidth = {WIDTH}\ncount = {ROWS}\n{}{}", mesh.keys, mesh.members);
        std::fs::write(path, text).unwrap();
    }
    let (a_csv, b_csv) = (dir.path().join("a.csv"), dir.path().join("w.csv"));
    write_csv(&a_csv, &rows);
    write_csv(&b_csv, std::slice::from_ref(&w));
    Net { _dir: dir, job, a_csv, b_csv, want }
}

/// Runs the server, B (`b_input`) and A (`a_input`) on `job`; all three must succeed and only A
/// print: returns A's standard output.
fn run_three(job: &Path, a_input: &Path, b_input: &Path) -> String {
    let job = p(job);
    let server = spawn(&["threshold", "server", "--job", job]);
    let b = spawn(&["threshold", "party", "--job", job, "--party", "2", "--input", p(b_input)]);
    let a = spawn(&["threshold", "party", "--job", job, "--party", "1", "--input", p(a_input)]);
    let (ok_a, out, err_a) = finish(a, Duration::from_secs(300));
    assert!(ok_a, "party A failed: {err_a}");
    let (ok_b, out_b, err_b) = finish(b, Duration::from_secs(60));
    assert!(ok_b && out_b.trim().is_empty(), "party B failed or printed: {err_b} {out_b}");
    let (ok_s, out_s, err_s) = finish(server, Duration::from_secs(60));
    assert!(ok_s && out_s.trim().is_empty(), "server failed or printed: {err_s} {out_s}");
    out
}

/// The networked inference on `job`: A alone prints the plaintext model's scores.
fn run_networked_inference(net: &Net, job: &Path) {
    let out = run_three(job, &net.a_csv, &net.b_csv);
    let got: Vec<f64> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(got.len(), ROWS);
    for (i, (g, e)) in got.iter().zip(&net.want).enumerate() {
        assert!((g - e).abs() < 1e-2, "row {i}: encrypted score {g}, plaintext {e}");
    }
}

#[test]
fn networked_secure_inference_over_tls() {
    let net = network_job(60);
    run_networked_inference(&net, &net.job);
}

/// The same inference with the three processes exchanging files in one directory, as sites
/// without a network link would (moving the files by courier).
#[test]
fn networked_secure_inference_over_a_mailbox() {
    let net = network_job(60);
    run_networked_inference(&net, &net.job.with_file_name("mailbox-job.toml"));
    let files = std::fs::read_dir(net.job.with_file_name("mailbox")).unwrap().count();
    assert!(files > 5, "only {files} files in the mailbox");
}

/// Starts the three processes, waits for B to report its connection, then applies `sig` to B:
/// A and the server must stop with an error within the timeout and print no result.
#[cfg(unix)]
fn peer_failure(sig: &str) -> String {
    // 10 s: room for three processes to start and link on a loaded machine, and still well
    // inside the 30 s in which A must give up.
    let net = network_job(10);
    let job = p(&net.job);
    let server = spawn(&["threshold", "server", "--job", job]);
    let mut b = spawn(&["threshold", "party", "--job", job, "--party", "2", "--input", p(&net.b_csv)]);
    let a = spawn(&["threshold", "party", "--job", job, "--party", "1", "--input", p(&net.a_csv)]);
    let _rest = await_stderr_line(&mut b, "] connected", Duration::from_secs(60), "B's connection");
    signal(&b, sig);
    let t = Instant::now();
    let (ok_a, out, err_a) = finish(a, Duration::from_secs(60));
    assert!(!ok_a && out.trim().is_empty(), "A printed a result: {out}");
    assert!(t.elapsed() < Duration::from_secs(30), "A took {:?} to give up", t.elapsed());
    let (ok_s, _, _) = finish(server, Duration::from_secs(60));
    assert!(!ok_s, "the server did not notice");
    signal(&b, "-KILL");
    err_a
}

#[cfg(unix)]
#[test]
fn a_stalled_party_makes_the_others_stop_within_the_timeout() {
    let err = peer_failure("-STOP");
    assert!(err.contains("timed out") && err.contains("party-b"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_disconnected_party_makes_the_others_stop() {
    let err = peer_failure("-KILL");
    assert!(err.contains("party-b") && (err.contains("disconnected") || err.contains("timed out") || err.contains("I/O error")), "{err}");
}

#[test]
fn trusted_third_party_mode_decrypts_the_same_scores() {
    let net = network_job(30);
    let dir = net.job.parent().unwrap().to_path_buf();
    let (job, keys) = (dir.join("exchange"), dir.join("ttp-keys"));
    std::fs::create_dir(&job).unwrap();
    std::fs::create_dir(&keys).unwrap();
    let session = dir.join("session.toml");
    ok(&["threshold", "init", "--parties", "2", "--preset", PRESET, "--out", p(&session)]);
    let width = WIDTH.to_string();
    let base = ["--session", p(&session), "--dir", p(&job), "--key-dir", p(&keys)];
    let with = |step: &str, extra: &[&str]| -> String {
        let mut args = vec!["threshold", step];
        args.extend(base);
        args.extend(extra);
        ok(&args)
    };
    with("ttp-keygen", &["--width", &width]);
    #[cfg(unix)]
    assert_eq!(mode(&keys.join("ttp.secret")), 0o600);
    let (a_ct, b_ct, score) = (job.join("a.ct"), job.join("b.ct"), job.join("score.ct"));
    with("encrypt", &["--input", p(&net.a_csv), "--width", &width, "--out", p(&a_ct)]);
    with("encrypt", &["--input", p(&net.b_csv), "--width", &width, "--replicate", "--out", p(&b_ct)]);
    with("evaluate", &["--a", p(&a_ct), "--b", p(&b_ct), "--width", &width, "--out", p(&score)]);
    let count = ROWS.to_string();
    let out = with("ttp-decrypt", &["--ct", p(&score), "--width", &width, "--count", &count, "--json"]);
    let got: Vec<f64> = serde_json::from_str(out.trim()).unwrap();
    for (i, (g, e)) in got.iter().zip(&net.want).enumerate() {
        assert!((g - e).abs() < 1e-3, "row {i}: {g} vs {e}");
    }
}

#[test]
fn secure_aggregation_statistics_reach_both_parties() {
    const F: usize = 6;
    const W: usize = 16;
    const PER_PARTY: usize = 30;
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/tabular/breast_cancer.csv");
    let (all, _) = veil_ml::data::breast_cancer_split(&data, 2 * PER_PARTY, 3).unwrap();
    let rows: Vec<Vec<f64>> = (0..2 * PER_PARTY).map(|i| all.x.row(i)[..F].iter().copied().chain([1.0]).collect()).collect();
    let n = rows.len() as f64;
    let mean: Vec<f64> = (0..F).map(|f| rows.iter().map(|r| r[f]).sum::<f64>() / n).collect();
    let cov = |f: usize, g: usize| rows.iter().map(|r| r[f] * r[g]).sum::<f64>() / n - mean[f] * mean[g];

    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("exchange");
    std::fs::create_dir(&job).unwrap();
    let keys = [dir.path().join("a-keys"), dir.path().join("b-keys")];
    for k in &keys {
        std::fs::create_dir(k).unwrap();
    }
    let session = dir.path().join("session.toml");
    ok(&["threshold", "init", "--parties", "2", "--preset", PRESET, "--out", p(&session)]);
    let (w, f) = (W.to_string(), F.to_string());
    let step = |name: &str, party: Option<usize>, extra: &[&str]| -> String {
        let keydir = p(&keys[party.unwrap_or(1).max(1) - 1]).to_string();
        let mut args: Vec<String> =
            ["threshold", name, "--session", p(&session), "--dir", p(&job), "--key-dir", &keydir].iter().map(|s| s.to_string()).collect();
        if let Some(i) = party {
            args.extend(["--party".to_string(), i.to_string()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        ok(&args.iter().map(|s| s.as_str()).collect::<Vec<_>>())
    };
    for i in [1, 2] {
        step("keygen-share", Some(i), &[]);
    }
    step("aggregate-pk", None, &[]);
    for s in ["relin-round1", "relin-round2"] {
        for i in [1, 2] {
            step(s, Some(i), &[]);
        }
    }
    for i in [1, 2] {
        step("rotation-share", Some(i), &["--width", &w, "--stats-features", &f]);
    }
    step("aggregate-eval-keys", None, &["--width", &w, "--stats-features", &f]);
    let mut cts = Vec::new();
    for (i, chunk) in rows.chunks(PER_PARTY).enumerate() {
        let csv = dir.path().join(format!("owner-{i}.csv"));
        write_csv(&csv, chunk);
        let ct = job.join(format!("owner-{i}.ct"));
        let offset = (i * PER_PARTY).to_string();
        step("encrypt", None, &["--input", p(&csv), "--width", &w, "--offset-blocks", &offset, "--out", p(&ct)]);
        cts.push(ct);
    }
    let stats = job.join("stats");
    step("aggregate-stats", None, &["--inputs", p(&cts[0]), p(&cts[1]), "--width", &w, "--features", &f, "--out", p(&stats)]);
    let shares = [job.join("shares-from-1"), job.join("shares-from-2")];
    for i in [1, 2] {
        step("stats-decrypt", Some(i), &["--stats", p(&stats), "--features", &f, "--out", p(&shares[i - 1])]);
    }
    for (me, other) in [(1, 2), (2, 1)] {
        let out = step("stats-merge", Some(me), &["--stats", p(&stats), "--shares", p(&shares[other - 1]), "--features", &f]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert!((v["count"].as_f64().unwrap() - n).abs() < 1e-3, "party {me}: count {}", v["count"]);
        for a in 0..F {
            assert!((v["mean"][a].as_f64().unwrap() - mean[a]).abs() < 1e-3, "party {me}: mean {a}");
            assert!((v["variance"][a].as_f64().unwrap() - cov(a, a)).abs() < 1e-3, "party {me}: variance {a}");
            for b in 0..F {
                assert!((v["covariance"][a][b].as_f64().unwrap() - cov(a, b)).abs() < 1e-3, "party {me}: cov {a},{b}");
            }
        }
    }
}

/// B's MLP (`data/models/breast_cancer_mlp.json`, see `data/models/README.md`), A's held-out
/// rows of its split, and what the model computes on them in the clear.
struct MlpCase {
    model_path: PathBuf,
    rows: Vec<Vec<f64>>,
    want: veil_ml::Matrix,
    classes: Vec<usize>,
    /// Each row's distance to another class ([`veil_ml::Model::decision_margins`]).
    margins: Vec<f64>,
}

fn mlp_case(count: usize) -> MlpCase {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let model_path = root.join("data/models/breast_cancer_mlp.json");
    let model = veil_ml::Model::load(&model_path).unwrap();
    let (_, held) = veil_ml::data::breast_cancer_split(&root.join("data/tabular/breast_cancer.csv"), 400, 1).unwrap();
    let x = held.x.slice_rows(0, count);
    let rows = (0..count).map(|i| x.row(i).to_vec()).collect();
    let want = model.forward(&x).unwrap();
    let (classes, margins) = (model.classes(&want), model.decision_margins(&want));
    MlpCase { model_path, rows, want, classes, margins }
}

/// Checks A's `{"outputs", "predictions"}` against the plaintext model.
fn check_mlp_outputs(case: &MlpCase, json: &str) {
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    let outputs = v["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), case.want.rows());
    let mut err = 0f64;
    for (r, row) in outputs.iter().enumerate() {
        for (k, o) in row.as_array().unwrap().iter().enumerate() {
            err = err.max((o.as_f64().unwrap() - case.want.get(r, k)).abs());
        }
    }
    assert!(err < 1e-3, "encrypted outputs differ from the plaintext model's by {err}");
    let got: Vec<usize> = v["predictions"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap() as usize).collect();
    assert_eq!(got.len(), case.classes.len());
    // A row closer to another class than the outputs' error could flip with the noise.
    for (r, ((g, w), m)) in got.iter().zip(&case.classes).zip(&case.margins).enumerate() {
        assert!(g == w || *m <= 2e-3, "row {r}: predicted {g}, the plaintext model {w} (margin {m})");
    }
}

/// Secure inference of an MLP on files at the secure preset: B encrypts its model (default
/// packing: diagonals, windows of 64 slots), A its 100 rows, the server evaluates, B partially
/// decrypts, A merges and decodes per-row outputs.
#[test]
fn mlp_secure_inference_on_files_at_the_secure_preset() {
    const SECURE: &str = "n16384_l6_sec128";
    let case = mlp_case(100);
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("exchange");
    let (key_a, key_b) = (dir.path().join("a-keys"), dir.path().join("b-keys"));
    for d in [&job, &key_a, &key_b] {
        std::fs::create_dir(d).unwrap();
    }
    let session = dir.path().join("session.toml");
    ok(&["threshold", "init", "--parties", "2", "--preset", SECURE, "--out", p(&session)]);
    let base = |keys: &Path| -> Vec<String> {
        ["--session", p(&session), "--dir", p(&job), "--key-dir", p(keys)].iter().map(|s| s.to_string()).collect()
    };
    let step = |name: &str, keys: &Path, extra: &[&str]| -> String {
        let mut args: Vec<String> = vec!["threshold".into(), name.into()];
        args.extend(base(keys));
        args.extend(extra.iter().map(|s| s.to_string()));
        ok(&args.iter().map(|s| s.as_str()).collect::<Vec<_>>())
    };
    for (party, keys) in [("1", &key_a), ("2", &key_b)] {
        step("keygen-share", keys, &["--party", party]);
    }
    step("aggregate-pk", &key_a, &[]);
    for s in ["relin-round1", "relin-round2"] {
        for (party, keys) in [("1", &key_a), ("2", &key_b)] {
            step(s, keys, &["--party", party]);
        }
    }
    for (party, keys) in [("1", &key_a), ("2", &key_b)] {
        step("rotation-share", keys, &["--party", party, "--width", "64"]);
    }
    step("aggregate-eval-keys", &key_a, &["--width", "64"]);

    let model_ct = job.join("model.enc");
    step("encrypt", &key_b, &["--model", p(&case.model_path), "--out", p(&model_ct)]);
    let a_csv = dir.path().join("rows.csv");
    write_csv(&a_csv, &case.rows);
    let a_ct = job.join("rows.ct");
    step("encrypt", &key_a, &["--input", p(&a_csv), "--for-model", p(&model_ct), "--out", p(&a_ct)]);
    let result = job.join("result.ct");
    step("evaluate", &key_a, &["--a", p(&a_ct), "--model", p(&model_ct), "--count", "100", "--out", p(&result)]);
    let b_share = job.join("b.share");
    step("partial-decrypt", &key_b, &["--party", "2", "--ct", p(&result), "--out", p(&b_share)]);
    let out = step(
        "merge",
        &key_a,
        &["--party", "1", "--ct", p(&result), "--shares", p(&b_share), "--model", p(&model_ct), "--count", "100", "--json"],
    );
    check_mlp_outputs(&case, &out);

    // Rows with a bias column (31 values) are refused, not silently mis-scored.
    let wide: Vec<Vec<f64>> = case.rows.iter().map(|r| r.iter().copied().chain([1.0]).collect()).collect();
    write_csv(&a_csv, &wide);
    let mut args: Vec<String> = vec!["threshold".into(), "encrypt".into()];
    args.extend(base(&key_a));
    args.extend(["--input", p(&a_csv), "--for-model", p(&model_ct), "--out", p(&a_ct)].iter().map(|s| s.to_string()));
    let o = veil(&args.iter().map(|s| s.as_str()).collect::<Vec<_>>(), Duration::from_secs(120));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("31 features, the model takes 30"), "{err}");
    // A truncated encrypted model is refused by the evaluator with a clear error.
    let bytes = std::fs::read(&model_ct).unwrap();
    std::fs::write(&model_ct, &bytes[..bytes.len() - 100]).unwrap();
    let mut args: Vec<String> = vec!["threshold".into(), "evaluate".into()];
    args.extend(base(&key_a));
    args.extend(["--a", p(&a_ct), "--model", p(&model_ct), "--count", "100", "--out", p(&result)].iter().map(|s| s.to_string()));
    let o = veil(&args.iter().map(|s| s.as_str()).collect::<Vec<_>>(), Duration::from_secs(120));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("encrypted model"), "{err}");
}

/// The same over mutually authenticated TLS: A, B and the server as separate processes, B
/// serving the MLP (`model = "mlp"` in the job) with the other packing (row sums, windows of
/// 32), at the secure preset.
#[test]
fn mlp_secure_inference_over_tls() {
    const COUNT: usize = 64;
    let case = mlp_case(COUNT);
    let dir = tempfile::tempdir().unwrap();
    let mesh = mesh_toml(dir.path(), false, 120);
    let job = dir.path().join("job.toml");
    let text = format!(
        "preset = \"n16384_l6_sec128\"\nwidth = 32\ncount = {COUNT}\nmodel = \"mlp\"\npacking = \"row-sum\"\n{}{}",
        mesh.keys, mesh.members
    );
    std::fs::write(&job, text).unwrap();
    let a_csv = dir.path().join("rows.csv");
    write_csv(&a_csv, &case.rows);
    let out = run_three(&job, &a_csv, &case.model_path);
    check_mlp_outputs(&case, &out);
}
