#![allow(clippy::unwrap_used)]
//! `veil demo` end to end: the binary encrypts a slice of the Tennessee Eastman data, the
//! server side computes means, variances and a linear score, and the decrypted figures must
//! match the plaintext computation.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn run_veil(args: &[&str]) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn veil");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        match child.try_wait().expect("wait") {
            Some(_) => break,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                panic!("veil {args:?} did not finish in time");
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    let out = child.wait_with_output().expect("output");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn demo_matches_plaintext_statistics() {
    // Run from the crate directory: the data path falls back to the repository's data/.
    let (ok, stdout, stderr) = run_veil(&["demo", "--rows", "32", "--json"]);
    assert!(ok, "demo failed: {stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    let sensors = v["sensors"].as_array().expect("sensors");
    assert_eq!(sensors.len(), 52);
    for s in sensors {
        let (mean, err) = (s["mean"].as_f64().unwrap(), s["mean_abs_err"].as_f64().unwrap());
        assert!(err <= 1e-7 * mean.abs().max(1.0), "{s}");
        let (var, verr) = (s["variance"].as_f64().unwrap(), s["variance_abs_err"].as_f64().unwrap());
        assert!(verr <= 1e-3 * var + 1e-9, "{s}");
    }
    assert!(v["score"]["max_abs_err"].as_f64().unwrap() < 1e-4);
    assert_eq!(v["rows"].as_u64(), Some(32));
}

#[test]
fn demo_refuses_bad_options() {
    let (ok, _, stderr) = run_veil(&["demo", "--rows", "48"]);
    assert!(!ok && stderr.contains("power of two"), "{stderr}");
    let (ok, _, stderr) = run_veil(&["demo", "--preset", "toy"]);
    assert!(!ok && stderr.contains("unknown preset"), "{stderr}");
    let (ok, _, stderr) = run_veil(&["demo", "--data", "/nonexistent/tep.csv.gz"]);
    assert!(!ok && stderr.contains("/nonexistent/tep.csv.gz"), "{stderr}");
}
