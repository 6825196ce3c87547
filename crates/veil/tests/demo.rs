#![allow(clippy::unwrap_used)]
//! `veil demo` end to end: the secure-monitoring flow (operator, inspectorate and server over
//! loopback TLS, threshold CKKS) must give the inspectorate the scores and alarms of the
//! plaintext monitor; the single-key statistics mode must match the plaintext statistics.

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
    // Drain the pipes while waiting, so a large report cannot block the child.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).map(|_| s)
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).map(|_| s)
    });
    let deadline = Instant::now() + Duration::from_secs(600);
    let status = loop {
        match child.try_wait().expect("wait") {
            Some(status) => break status,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("veil {args:?} did not finish in time");
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    (status.success(), out.join().unwrap().unwrap(), err.join().unwrap().unwrap())
}

fn json(args: &[&str]) -> serde_json::Value {
    let (ok, stdout, stderr) = run_veil(args);
    assert!(ok, "veil {args:?} failed: {stderr}");
    serde_json::from_str(stdout.trim()).expect("one JSON object")
}

/// The inspectorate's decrypted scores equal the plaintext monitor's within the threshold
/// decryption error, and every alarm is the same.
///
/// The error is dominated by the operator's smudging noise (σ = 2^20 at scale 2^40: about
/// 3·10^-4 at most over 8192 slots, `veil_threshold::Smudging::expected_max_slot_error`),
/// absolute, plus a relative CKKS rounding error far below 10^-6 for large faulty scores.
fn check_monitor(v: &serde_json::Value, rows: usize) {
    let tolerance = |plain: f64| 2e-3 + 1e-6 * plain.abs();
    assert_eq!(v["mode"], "monitor");
    let samples = v["samples"].as_array().unwrap();
    assert_eq!(samples.len(), rows);
    let (limit_t2, limit_spe) = (v["limit_t2"].as_f64().unwrap(), v["limit_spe"].as_f64().unwrap());
    assert!(limit_t2 > 0.0 && limit_spe > 0.0);
    for s in samples {
        let (t2, t2p) = (s["t2"].as_f64().unwrap(), s["t2_plaintext"].as_f64().unwrap());
        let (spe, spep) = (s["spe"].as_f64().unwrap(), s["spe_plaintext"].as_f64().unwrap());
        assert!((t2 - t2p).abs() <= tolerance(t2p), "T² {s}");
        assert!((spe - spep).abs() <= tolerance(spep), "SPE {s}");
        assert_eq!(s["alarm_t2"].as_bool().unwrap(), t2p > limit_t2, "{s}");
        assert_eq!(s["alarm_spe"].as_bool().unwrap(), spep > limit_spe, "{s}");
    }
    // In the windows tested here no plaintext score lies closer than 7.8·10^-3 to its limit
    // (25 times the largest decryption error), so identical alarms is a deterministic check.
    assert_eq!(v["alarms_identical"], true);
    assert!(v["alarm_mismatches"].as_array().unwrap().is_empty());
    // Every role took part over its own TLS links: six directions carried bytes.
    let links = v["links"].as_array().unwrap();
    assert_eq!(links.iter().filter(|l| l["bytes"].as_u64().unwrap() > 0).count(), 6, "{links:?}");
}

#[test]
fn secure_monitor_matches_plaintext_monitor_on_a_fault() {
    // Insecure small ring (fast in CI): 176 samples = 160 normal + 16 after the onset of IDV(1).
    let v = json(&["demo", "--preset", "insecure_n2048_l4_dnum3", "--rows", "176", "--fault", "1", "--json"]);
    check_monitor(&v, 176);
    assert_eq!(v["normal"]["samples"], 160);
    assert_eq!(v["faulty"]["samples"], 16);
    assert_eq!((v["faulty"]["first_sample"].as_u64(), v["faulty"]["last_sample"].as_u64()), (Some(161), Some(176)));
    // The fault is caught; normal operation is flagged far less often (the test run's normal
    // stretch gives 17 of 160 false alarms, mostly SPE, as the plaintext monitor does).
    assert!(v["faulty"]["alarm_rate"].as_f64().unwrap() >= 0.5, "{}", v["faulty"]);
    assert!(v["normal"]["alarm_rate"].as_f64().unwrap() <= 0.2, "{}", v["normal"]);
    assert_eq!(v["secure"], false);
}

#[test]
fn secure_monitor_default_preset() {
    // The README's default path (n16384_l6_sec128), on two ciphertexts: 160 normal samples and
    // 32 after the onset of IDV(4), which SPE detects and T² mostly misses.
    let v = json(&["demo", "--rows", "192", "--fault", "4", "--json"]);
    assert_eq!(v["preset"], "n16384_l6_sec128");
    assert_eq!(v["secure"], true);
    check_monitor(&v, 192);
    assert!(v["faulty"]["spe_alarms"].as_u64().unwrap() >= 24, "{}", v["faulty"]);
}

#[test]
fn stats_mode_matches_plaintext_statistics() {
    let v = json(&["demo", "--mode", "stats", "--rows", "32", "--json"]);
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
    for (args, needle) in [
        (&["demo", "--rows", "0"][..], "--rows"),
        (&["demo", "--rows", "961"][..], "--rows"),
        (&["demo", "--rows", "481"][..], "480 samples of run 1, 481 requested"),
        (&["demo", "--fault", "22"][..], "--fault"),
        (&["demo", "--components", "0"][..], "--components"),
        (&["demo", "--timeout-secs", "0"][..], "--timeout-secs"),
        (&["demo", "--preset", "toy"][..], "unknown preset"),
        (&["demo", "--preset", "n8192_l2_sec128"][..], "levels"),
        (&["demo", "--data", "/nonexistent/tep"][..], "/nonexistent/tep"),
        (&["demo", "--mode", "stats", "--rows", "48"][..], "power of two"),
    ] {
        let (ok, _, stderr) = run_veil(args);
        assert!(!ok && stderr.contains(needle), "veil {args:?}: {stderr}");
    }
}

/// The children of `pid` whose command line contains `--role <role>` (Linux `/proc`).
#[cfg(target_os = "linux")]
fn role_children(pid: u32, role: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let (Ok(stat), Ok(cmdline)) = (std::fs::read_to_string(entry.path().join("stat")), std::fs::read(entry.path().join("cmdline")))
        else {
            continue;
        };
        // stat: "pid (comm) state ppid ..."; comm may contain spaces, so read after the last ')'.
        let ppid = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().nth(1)).and_then(|p| p.parse::<u32>().ok());
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        if ppid == Some(pid) && args.windows(2).any(|w| w[0] == b"--role" && w[1] == role.as_bytes()) {
            found.push(child);
        }
    }
    found
}

/// Each role is a process of its own: when the server process dies mid-run, the demo stops
/// the other two, prints no report and names the server in its error.
#[cfg(target_os = "linux")]
#[test]
fn a_role_process_that_dies_stops_the_demo() {
    let mut demo = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(["demo", "--rows", "192", "--json", "--timeout-secs", "30"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn veil demo");
    let pid = demo.id();
    // The server process lives from its start until the end of the run (over a second at this
    // preset): kill it as soon as it appears.
    let start = Instant::now();
    let server = loop {
        if let Some(&p) = role_children(pid, "server").first() {
            break p;
        }
        assert!(demo.try_wait().unwrap().is_none(), "the demo ended before its server process was seen");
        assert!(start.elapsed() < Duration::from_secs(60), "no server process within 60 s");
        std::thread::sleep(Duration::from_millis(2));
    };
    let others: Vec<u32> = ["operator", "inspectorate"].iter().flat_map(|r| role_children(pid, r)).collect();
    assert_eq!(others.len(), 2, "the operator and inspectorate processes start before the server");
    let killed = Command::new("kill").args(["-KILL", &server.to_string()]).status().unwrap();
    assert!(killed.success());
    let t = Instant::now();
    let out = demo.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success() && stdout.trim().is_empty(), "the demo reported without its server: {stdout}");
    assert!(stderr.contains("server process failed"), "{stderr}");
    assert!(t.elapsed() < Duration::from_secs(10), "the demo took {:?} to stop", t.elapsed());
    // The operator and the inspectorate were stopped (and reaped) with it.
    eprintln!("{stderr}");
    for p in others {
        assert!(!std::path::Path::new(&format!("/proc/{p}")).exists(), "role process {p} outlived the demo");
    }
}
