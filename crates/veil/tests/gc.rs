//! Two-process tests of `veil gc run` and `veil millionaires`: each party is a separate
//! `veil` process, linked by mutually authenticated TLS on 127.0.0.1. Every wait is bounded
//! and every child is killed if a test fails.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const VEIL: &str = env!("CARGO_BIN_EXE_veil");
const LIMIT: Duration = Duration::from_secs(60);

fn bristol(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/bristol").join(name).display().to_string()
}

/// A child process, killed on drop unless it finished.
struct Party {
    child: Child,
    stderr_lines: mpsc::Receiver<String>,
}

impl Drop for Party {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Finished {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Party {
    fn spawn(args: &[&str]) -> Party {
        let mut child = Command::new(VEIL).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start veil");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Party { child, stderr_lines: rx }
    }

    /// The address announced by a party started with `--listen 127.0.0.1:0`.
    fn listening_addr(&self) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.stderr_lines.recv_timeout(left).expect("the listening party announces its address in time");
            if let Some(addr) = line.strip_prefix("veil gc: listening on ") {
                return addr.trim().to_string();
            }
        }
    }

    fn finish(mut self, limit: Duration) -> Finished {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "a party did not finish within {limit:?} (killed)");
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_string(&mut stdout);
        }
        let mut stderr = String::new();
        // The reader thread ends the stream at end of file; the idle limit only guards against
        // a descendant that keeps the pipe open.
        while let Ok(line) = self.stderr_lines.recv_timeout(Duration::from_secs(10)) {
            stderr.push_str(&line);
            stderr.push('\n');
        }
        Finished { success: status.success(), stdout, stderr }
    }
}

fn pki() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    veil_transport::pki::create_local(dir.path(), &["garbler", "evaluator"]).expect("pki");
    let path = dir.path().display().to_string();
    (dir, path)
}

/// Starts the garbler (listening) and the evaluator (connecting) with their own arguments.
fn pair(common: &[&str], garbler: &[&str], evaluator: &[&str], certs: &str) -> (Party, Party) {
    let mut g: Vec<&str> = common.to_vec();
    g.extend(["--role", "garbler", "--listen", "127.0.0.1:0", "--certs", certs, "--timeout", "20"]);
    g.extend(garbler);
    let g = Party::spawn(&g);
    let addr = g.listening_addr();
    let mut e: Vec<&str> = common.to_vec();
    e.extend(["--role", "evaluator", "--connect", &addr, "--certs", certs, "--timeout", "20"]);
    e.extend(evaluator);
    let e = Party::spawn(&e);
    (g, e)
}

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).expect("json")).collect()
}

#[test]
fn millionaires_between_two_processes() {
    let (_dir, certs) = pki();
    for (a, b) in [(1_500_000u64, 2_000_000u64), (2_000_000, 1_500_000), (77, 77)] {
        let (a_s, b_s) = (a.to_string(), b.to_string());
        let (g, e) = pair(&["millionaires", "--bits", "32", "--json"], &["--amount", &a_s], &["--amount", &b_s], &certs);
        let (g, e) = (g.finish(LIMIT), e.finish(LIMIT));
        assert!(g.success && e.success, "garbler: {}\nevaluator: {}", g.stderr, e.stderr);
        for out in [&g.stdout, &e.stdout] {
            let v = &json_lines(out)[0];
            assert_eq!(v["evaluator_richer"], serde_json::Value::Bool(a < b), "{out}");
        }
        if a != b {
            for out in [&e.stdout, &e.stderr] {
                assert!(!mentions_number(out, a), "the garbler's amount must not reach the evaluator: {out}");
            }
            for out in [&g.stdout, &g.stderr] {
                assert!(!mentions_number(out, b), "the evaluator's amount must not reach the garbler: {out}");
            }
        }
    }
}

/// Whether `n` appears in `text` as a whole number: a maximal run of digits equal to it. A plain
/// substring test would also match inside the digits of a timing (`3.1500000000000004`).
fn mentions_number(text: &str, n: u64) -> bool {
    let n = n.to_string();
    text.split(|c: char| !c.is_ascii_digit()).any(|run| run == n)
}

#[test]
fn mentions_number_matches_whole_numbers_only() {
    assert!(mentions_number("amount 1500000 sent", 1_500_000));
    assert!(mentions_number("{\"a\":1500000}", 1_500_000));
    assert!(!mentions_number("{\"setup_ms\":3.1500000000000004}", 1_500_000));
    assert!(!mentions_number("15000001 bytes", 1_500_000));
}

#[test]
fn aes_128_between_two_processes_gives_the_fips_197_ciphertext() {
    let (_dir, certs) = pki();
    let circuit = bristol("aes_128.txt");
    let (g, e) = pair(
        &["gc", "run", "--circuit", &circuit],
        &["--input", "0x000102030405060708090a0b0c0d0e0f"],
        &["--input", "0x00112233445566778899aabbccddeeff", "--repeat", "1"],
        &certs,
    );
    let (g, e) = (g.finish(LIMIT), e.finish(LIMIT));
    assert!(g.success && e.success, "garbler: {}\nevaluator: {}", g.stderr, e.stderr);
    assert!(g.stdout.contains("garbler: output 1: 0x69c4e0d86a7b0430d8cdb78070b4c55a"), "{}", g.stdout);
    assert!(e.stdout.contains("evaluator: output 1: 0x69c4e0d86a7b0430d8cdb78070b4c55a"), "{}", e.stdout);
}

#[test]
fn local_mode_runs_both_parties_with_one_command() {
    let p = Party::spawn(&[
        "gc",
        "run",
        "--circuit",
        &bristol("adder64.txt"),
        "--local",
        "--garbler-input",
        "5",
        "--evaluator-input",
        "-7",
        "--json",
        "--timeout",
        "20",
    ]);
    let f = p.finish(LIMIT);
    assert!(f.success, "{}", f.stderr);
    let lines = json_lines(&f.stdout);
    assert_eq!(lines.len(), 2);
    for v in lines {
        assert_eq!(v["outputs"][0], "0xfffffffffffffffe");
    }
}

#[test]
fn mismatched_circuits_fail_clearly_on_both_sides() {
    let (_dir, certs) = pki();
    let (g, e) = pair(
        &["gc", "run"],
        &["--circuit", &bristol("adder64.txt"), "--input", "1"],
        &["--circuit", &bristol("sub64.txt"), "--input", "1"],
        &certs,
    );
    let (g, e) = (g.finish(LIMIT), e.finish(LIMIT));
    assert!(!g.success && !e.success);
    assert!(g.stderr.contains("fingerprint") || e.stderr.contains("fingerprint"), "garbler: {}\nevaluator: {}", g.stderr, e.stderr);
    assert!(!g.stdout.contains("output") && !e.stdout.contains("output"));
}

#[test]
fn bad_inputs_are_refused_before_connecting() {
    let (_dir, certs) = pki();
    let circuit = bristol("adder64.txt");
    for bad in [vec!["--input", "0x1ffffffffffffffff"], vec!["--input", "12z"], vec![], vec!["--input", "1", "--input", "2"]] {
        let mut args = vec!["gc", "run", "--circuit", &circuit, "--role", "garbler", "--listen", "127.0.0.1:0", "--certs", &certs];
        args.extend(bad.iter());
        let f = Party::spawn(&args).finish(LIMIT);
        assert!(!f.success, "{bad:?} accepted");
        assert!(f.stderr.contains("input"), "{bad:?}: {}", f.stderr);
    }
    let f =
        Party::spawn(&["gc", "run", "--circuit", "/nonexistent/c.txt", "--role", "garbler", "--listen", "127.0.0.1:0", "--certs", &certs])
            .finish(LIMIT);
    assert!(!f.success && f.stderr.contains("/nonexistent/c.txt"), "{}", f.stderr);
}

#[test]
fn a_party_that_disappears_gives_an_error_not_a_hang() {
    let (_dir, certs) = pki();
    // The garbler is killed while the evaluator waits for its garbled tables.
    let circuit = bristol("sha256.txt");
    let (mut g, e) = pair(
        &["gc", "run", "--circuit", &circuit, "--repeat", "100000", "--garbler-groups", "2"],
        &["--input", "0x0", "--input", "0x0"],
        &[],
        &certs,
    );
    std::thread::sleep(Duration::from_millis(1500));
    g.child.kill().expect("kill the garbler");
    let e = e.finish(LIMIT);
    assert!(!e.success);
    // On a loaded machine the kill may come before the TLS handshake has finished.
    let lost = ["disconnected", "timed out", "I/O error", "handshake"];
    assert!(lost.iter().any(|w| e.stderr.contains(w)), "{}", e.stderr);
    assert!(!e.stdout.contains("output"), "{}", e.stdout);

    // Nobody connects: the listening party gives up after its timeout.
    let start = Instant::now();
    let f = Party::spawn(&[
        "millionaires", "--role", "garbler", "--listen", "127.0.0.1:0", "--certs", &certs, "--amount", "5", "--timeout", "1",
    ])
    .finish(LIMIT);
    assert!(!f.success && start.elapsed() < Duration::from_secs(20), "{}", f.stderr);
}
