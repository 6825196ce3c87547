//! Two-party tests over in-memory channels: known answers, garbled == plaintext, the
//! evaluator's view, tampering, truncation, wrong lengths and disconnects.

use std::path::PathBuf;
use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use veil_channel::{memory, Channel, ChannelConfig, ChannelError, LinkStats};

use crate::values::{format_hex, parse_value};
use crate::*;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/bristol").join(name)
}

fn load(name: &str) -> Circuit {
    Circuit::from_file(&data(name)).expect("circuit")
}

fn config() -> ChannelConfig {
    ChannelConfig::default().with_timeout(Duration::from_secs(20))
}

/// Runs executions of `program` on each `(garbler, evaluator)` input pair in one session.
fn run_session(program: &Program, runs: &[(Vec<bool>, Vec<bool>)], seed: u64) -> Vec<Vec<bool>> {
    run_session_with(IknpConfig::default(), program, runs, seed)
}

fn run_session_with(ot: IknpConfig, program: &Program, runs: &[(Vec<bool>, Vec<bool>)], seed: u64) -> Vec<Vec<bool>> {
    let (mut a, mut b) = memory::pair(config());
    let p = program.clone();
    let g_inputs: Vec<Vec<bool>> = runs.iter().map(|r| r.0.clone()).collect();
    let t = std::thread::spawn(move || {
        let mut g = Garbler::setup(&mut a, ot, &mut ChaCha20Rng::seed_from_u64(seed)).expect("garbler setup");
        g_inputs.iter().map(|x| g.run(&mut a, &p, x, OutputTo::Both).expect("garbler run")).collect::<Vec<_>>()
    });
    let mut e = Evaluator::setup(&mut b, ot, &mut ChaCha20Rng::seed_from_u64(seed + 1)).expect("evaluator setup");
    let outs: Vec<Vec<bool>> = runs.iter().map(|r| e.run(&mut b, program, &r.1, OutputTo::Both).expect("evaluator run")).collect();
    let g_outs = t.join().expect("garbler thread");
    for (g, e) in g_outs.iter().zip(&outs) {
        assert_eq!(g.as_ref(), Some(e), "both parties learn the same output");
    }
    outs
}

fn split_inputs(c: &Circuit, values: &[&str]) -> Vec<bool> {
    c.input_sizes().iter().zip(values).enumerate().flat_map(|(k, (n, v))| parse_value(v, *n, k).expect("value")).collect()
}

/// (file, inputs, expected output) from data/bristol/TEST_VECTORS.md.
const VECTORS: &[(&str, &[&str], &str)] = &[
    ("adder64.txt", &["0x2e84496e7857dd86", "0x940eee3cba6f875c"], "0xc29337ab32c764e2"),
    ("adder64.txt", &["0xffffffffffffffff", "0xffffffffffffffff"], "0xfffffffffffffffe"),
    ("adder64.txt", &["0x1", "0x1"], "0x0000000000000002"),
    ("sub64.txt", &["0xbffa07750a5d5bfe", "0xc30d0ea339a7ff57"], "0xfcecf8d1d0b55ca7"),
    ("sub64.txt", &["0x1", "0x1"], "0x0000000000000000"),
    ("mult64.txt", &["0x7b675e54437cfbc7", "0xe129131286111bad"], "0xea120224ac3b227b"),
    ("mult64.txt", &["0xffffffffffffffff", "0xffffffffffffffff"], "0x0000000000000001"),
    ("neg64.txt", &["0xcffecfa18fca024e"], "0x3001305e7035fdb2"),
    ("neg64.txt", &["0x1"], "0xffffffffffffffff"),
    ("zero_equal.txt", &["0x0"], "0x1"),
    ("zero_equal.txt", &["0x1"], "0x0"),
    ("aes_128.txt", &["0x000102030405060708090a0b0c0d0e0f", "0x00112233445566778899aabbccddeeff"], "0x69c4e0d86a7b0430d8cdb78070b4c55a"),
    ("aes_128.txt", &["0x0", "0x0"], "0x66e94bd4ef8a2c3b884cfa59ca342b2e"),
    ("aes_128.txt", &["0x2b7e151628aed2a6abf7158809cf4f3c", "0x6bc1bee22e409f96e93d7e117393172a"], "0x3ad77bb40d7a3660a89ecaf32466ef97"),
    ("aes_128.txt", &["0xffffffffffffffffffffffffffffffff", "0xffffffffffffffffffffffffffffffff"], "0xbcbf217cb280cf30b2517052193ab979"),
    ("lt32_unsigned_generated.txt", &["5", "5"], "0x0"),
    ("lt32_unsigned_generated.txt", &["0", "0xffffffff"], "0x1"),
    ("lt32_signed_generated.txt", &["0xffffffff", "0"], "0x1"),
    ("lt32_signed_generated.txt", &["0x7fffffff", "0x80000000"], "0x0"),
    ("lt64_unsigned_generated.txt", &["0x8000000000000000", "0x7fffffffffffffff"], "0x0"),
    ("lt64_signed_generated.txt", &["0x8000000000000000", "0x7fffffffffffffff"], "0x1"),
];

const SHA256_VECTORS: &[(&str, &str, &str)] = &[
    (
        "0x80000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "0x6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19",
        "0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ),
    (
        "0x61626380000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000018",
        "0x6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19",
        "0xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    ),
    ("0x0", "0x0", "0x7ca51614425c3ba8ce54dd2fc2020ae7b6e574d198136d0fae7e26ccbf0be7a6"),
];

#[test]
fn every_circuit_gives_its_known_answer_in_plaintext_and_garbled() {
    let mut by_file: std::collections::BTreeMap<&str, Vec<(Vec<bool>, &str)>> = Default::default();
    for (file, inputs, expected) in VECTORS {
        let c = load(file);
        let bits = split_inputs(&c, inputs);
        assert_eq!(format_hex(&c.eval_plain(&bits).expect("plain")), *expected, "{file} {inputs:?} in plaintext");
        by_file.entry(file).or_default().push((bits, expected));
    }
    for (file, cases) in by_file {
        let program = Program::new(load(file), 1).expect("program");
        let ng = program.garbler_bits();
        let runs: Vec<_> = cases.iter().map(|(bits, _)| (bits[..ng].to_vec(), bits[ng..].to_vec())).collect();
        let outs = run_session(&program, &runs, 7);
        for ((_, expected), out) in cases.iter().zip(outs) {
            assert_eq!(format_hex(&out), *expected, "{file} garbled");
        }
    }
}

#[test]
fn sha256_compression_gives_its_known_answers_in_plaintext_and_garbled() {
    let c = load("sha256.txt");
    let mut runs = Vec::new();
    for (block, chain, expected) in SHA256_VECTORS {
        let bits = split_inputs(&c, &[block, chain]);
        assert_eq!(format_hex(&c.eval_plain(&bits).expect("plain")), *expected);
        runs.push((bits[..512].to_vec(), bits[512..].to_vec()));
    }
    // One garbled run per ownership split (the block held by either party).
    let program = Program::new(c.clone(), 1).expect("program");
    let outs = run_session(&program, &runs[..2], 3);
    assert_eq!(format_hex(&outs[0]), SHA256_VECTORS[0].2);
    assert_eq!(format_hex(&outs[1]), SHA256_VECTORS[1].2);
    let all_evaluator = Program::new(c, 0).expect("program");
    let bits = split_inputs(all_evaluator.circuit(), &[SHA256_VECTORS[2].0, SHA256_VECTORS[2].1]);
    let outs = run_session(&all_evaluator, &[(vec![], bits)], 5);
    assert_eq!(format_hex(&outs[0]), SHA256_VECTORS[2].2);
}

#[test]
fn garbled_equals_plaintext_on_random_inputs_for_every_circuit() {
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let files = [
        "adder64.txt", "sub64.txt", "neg64.txt", "mult64.txt", "zero_equal.txt", "aes_128.txt", "lt32_unsigned_generated.txt",
        "lt32_signed_generated.txt", "lt64_unsigned_generated.txt", "lt64_signed_generated.txt",
    ];
    for file in files {
        let c = load(file);
        let groups = c.input_sizes().len();
        for garbler_groups in [0, 1, groups].into_iter().filter(|g| *g <= groups) {
            let program = Program::new(c.clone(), garbler_groups).expect("program");
            let ng = program.garbler_bits();
            let runs: Vec<(Vec<bool>, Vec<bool>)> = (0..4)
                .map(|_| {
                    let bits: Vec<bool> = (0..c.num_inputs()).map(|_| rng.next_u32() & 1 == 1).collect();
                    (bits[..ng].to_vec(), bits[ng..].to_vec())
                })
                .collect();
            let outs = run_session(&program, &runs, rng.next_u64());
            for ((g, e), out) in runs.iter().zip(outs) {
                let all: Vec<bool> = g.iter().chain(e).copied().collect();
                assert_eq!(out, c.eval_plain(&all).expect("plain"), "{file}, garbler owns {garbler_groups} groups");
            }
        }
    }
}

#[test]
fn garbling_with_kos_checked_ot_gives_the_same_answers() {
    let program = Program::new(load("aes_128.txt"), 1).expect("program");
    let c = program.circuit();
    let bits = split_inputs(c, &["0x2b7e151628aed2a6abf7158809cf4f3c", "0x6bc1bee22e409f96e93d7e117393172a"]);
    let outs = run_session_with(IknpConfig { kos_check: true }, &program, &[(bits[..128].to_vec(), bits[128..].to_vec())], 21);
    assert_eq!(format_hex(&outs[0]), "0x3ad77bb40d7a3660a89ecaf32466ef97");
}

#[test]
fn batched_executions_match_single_ones() {
    let program = Program::new(load("adder64.txt"), 1).expect("program");
    let pairs: Vec<(u128, u128)> = (0..5u128).map(|i| (i * 0x1234_5678_9abc, u64::MAX as u128 - i)).collect();
    let g_in: Vec<Vec<bool>> = pairs.iter().map(|(a, _)| values::from_u128(*a, 64)).collect();
    let e_in: Vec<Vec<bool>> = pairs.iter().map(|(_, b)| values::from_u128(*b, 64)).collect();
    let (mut a, mut b) = memory::pair(config());
    let p = program.clone();
    let t = std::thread::spawn(move || {
        let mut g = Garbler::setup(&mut a, IknpConfig::default(), &mut ChaCha20Rng::seed_from_u64(1)).expect("setup");
        let first = g.run_batch(&mut a, &p, &g_in, OutputTo::Both).expect("batch");
        let again = g.run_batch(&mut a, &p, &g_in[..2], OutputTo::Evaluator).expect("batch");
        (first, again)
    });
    let mut e = Evaluator::setup(&mut b, IknpConfig::default(), &mut ChaCha20Rng::seed_from_u64(2)).expect("setup");
    let outs = e.run_batch(&mut b, &program, &e_in, OutputTo::Both).expect("batch");
    let outs2 = e.run_batch(&mut b, &program, &e_in[..2], OutputTo::Evaluator).expect("batch");
    let (g_outs, g_none) = t.join().expect("thread");
    assert_eq!(g_outs.as_ref(), Some(&outs));
    assert!(g_none.is_none());
    for ((a, b), out) in pairs.iter().zip(&outs) {
        assert_eq!(values::to_u128(out), Some((a + b) & u64::MAX as u128));
    }
    assert_eq!(&outs2[..], &outs[..2]);
}

#[test]
fn millionaires_program_decides_who_is_richer() {
    let p = millionaires::program(32).expect("program");
    let pairs = [(0u128, 0u128), (1, 2), (2, 1), (u32::MAX as u128, 0), (123_456, 123_457), (77, 77)];
    let runs: Vec<_> = pairs.iter().map(|(a, b)| (values::from_u128(*a, 32), values::from_u128(*b, 32))).collect();
    let outs = run_session(&p, &runs, 9);
    for ((a, b), out) in pairs.iter().zip(outs) {
        assert_eq!(out, vec![a < b]);
    }
}

/// Rewrites one received message in place.
type Rewrite = Option<(usize, Box<dyn FnMut(&mut Vec<u8>) + Send>)>;

/// Wraps the evaluator's end: records every received message, and may rewrite one.
struct Tap<C> {
    inner: C,
    received: Vec<Vec<u8>>,
    rewrite: Rewrite,
}

impl<C: Channel> Channel for Tap<C> {
    fn send(&mut self, payload: &[u8]) -> Result<(), ChannelError> {
        self.inner.send(payload)
    }
    fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<(), ChannelError> {
        self.inner.recv_into(buf)?;
        let index = self.received.len();
        if let Some((at, f)) = self.rewrite.as_mut() {
            if *at == index {
                f(buf);
            }
        }
        self.received.push(buf.clone());
        Ok(())
    }
    fn flush(&mut self) -> Result<(), ChannelError> {
        self.inner.flush()
    }
    fn stats(&self) -> LinkStats {
        self.inner.stats()
    }
    fn peer(&self) -> &str {
        self.inner.peer()
    }
}

/// One session and one execution with a tap on the evaluator's side; returns the evaluator's
/// result and what it received during the execution (setup excluded).
fn tapped_run(
    program: &Program,
    g_input: Vec<bool>,
    e_input: Vec<bool>,
    seed: u64,
    rewrite: Rewrite,
) -> (Result<Vec<bool>, GcError>, Vec<Vec<u8>>) {
    let (mut a, b) = memory::pair(config().with_timeout(Duration::from_secs(5)));
    let p = program.clone();
    let t = std::thread::spawn(move || -> Result<(), GcError> {
        let mut g = Garbler::setup(&mut a, IknpConfig::default(), &mut ChaCha20Rng::seed_from_u64(seed))?;
        g.precompute(&mut a, p.evaluator_bits())?;
        g.run(&mut a, &p, &g_input, OutputTo::Evaluator)?;
        Ok(())
    });
    let mut tap = Tap { inner: b, received: Vec::new(), rewrite: None };
    let mut e = Evaluator::setup(&mut tap, IknpConfig::default(), &mut ChaCha20Rng::seed_from_u64(seed ^ 0xabcdef)).expect("setup");
    e.precompute(&mut tap, program.evaluator_bits()).expect("precompute");
    let setup_msgs = tap.received.len();
    tap.rewrite = rewrite.map(|(at, f)| (at + setup_msgs, f));
    let result = e.run(&mut tap, program, &e_input, OutputTo::Evaluator);
    drop(tap.inner);
    let _ = t.join();
    (result, tap.received[setup_msgs..].to_vec())
}

#[test]
fn evaluator_view_is_independent_of_the_garbler_input() {
    // The evaluator sees the garbler's active input labels (whose lsb are the permute bits
    // it uses) and the tables. Over many sessions, compare the distribution of those bits
    // when the garbler's input is all zeros versus all ones: a chi-square test of homogeneity
    // per bit position (1 degree of freedom), with a fixed seed. Threshold: 15.1, the 0.01%
    // quantile of χ²(1), Bonferroni-tight for the ~100 positions tested, so a correct
    // implementation fails with probability below 1%, while a leak of the input into the
    // permute bits (e.g. lsb(label) = input bit) gives χ² ≈ runs.
    let program = millionaires::program(8).expect("program");
    let runs = 200;
    let mut counts = [[0u32; 2]; 2 * 8 * 8 + 8];
    for party_input in [0usize, 1] {
        for r in 0..runs {
            let g = vec![party_input == 1; 8];
            let (res, view) = tapped_run(&program, g, vec![false; 8], 1000 + r as u64, None);
            res.expect("run");
            // view[0]: garbler input labels (8 × 16 bytes); view[1]: tables (8 × 32 bytes).
            let labels = &view[0];
            let tables = &view[1];
            let mut k = 0;
            for i in 0..8 {
                counts[k][party_input] += (labels[16 * i] & 1) as u32;
                k += 1;
            }
            for byte in tables.iter().step_by(2) {
                counts[k][party_input] += (byte & 1) as u32;
                k += 1;
            }
        }
    }
    for (pos, [c0, c1]) in counts.iter().enumerate() {
        let (c0, c1, n) = (*c0 as f64, *c1 as f64, runs as f64);
        let p = (c0 + c1) / (2.0 * n);
        if p == 0.0 || p == 1.0 {
            panic!("bit position {pos} is constant across runs: not random");
        }
        let expected = n * p;
        let expected_zero = n * (1.0 - p);
        let chi2 = (c0 - expected).powi(2) / expected
            + (c1 - expected).powi(2) / expected
            + ((n - c0) - expected_zero).powi(2) / expected_zero
            + ((n - c1) - expected_zero).powi(2) / expected_zero;
        assert!(chi2 < 15.1, "bit position {pos}: chi2 = {chi2:.2} (counts {c0} vs {c1} of {n})");
    }
}

#[test]
fn tampered_or_truncated_tables_are_detected_never_a_wrong_output() {
    let program = Program::new(load("lt32_unsigned_generated.txt"), 1).expect("program");
    let g = values::from_u128(10, 32);
    let e = values::from_u128(20, 32);
    let (ok, _) = tapped_run(&program, g.clone(), e.clone(), 1, None);
    assert_eq!(ok.expect("honest run"), vec![true]);
    // A flipped ciphertext that the evaluator's colour bits do not select is harmless; one it
    // uses must be detected. Either way the result is never a wrong output.
    let mut detected = 0;
    for byte in (0..32 * 32).step_by(8) {
        let (res, _) = tapped_run(&program, g.clone(), e.clone(), 2, Some((1, Box::new(move |m: &mut Vec<u8>| m[byte] ^= 0x40))));
        match res {
            Ok(out) => assert_eq!(out, vec![true], "flip at byte {byte} changed the output"),
            Err(GcError::InvalidOutputLabel { .. }) => detected += 1,
            Err(other) => panic!("flip at byte {byte}: unexpected {other:?}"),
        }
    }
    assert!(detected > 0, "no tampering was detected");
    let (res, _) = tapped_run(&program, g.clone(), e.clone(), 3, Some((1, Box::new(|m: &mut Vec<u8>| m.truncate(m.len() - 1)))));
    assert!(matches!(res, Err(GcError::TableLength { .. })), "{res:?}");
    let (res, _) = tapped_run(&program, g.clone(), e.clone(), 4, Some((2, Box::new(|m: &mut Vec<u8>| m[16 + 3] ^= 1))));
    assert!(matches!(res, Err(GcError::InvalidOutputLabel { .. })), "{res:?}");
    let (res, _) = tapped_run(&program, g.clone(), e.clone(), 5, Some((0, Box::new(|m: &mut Vec<u8>| m[0] ^= 0x80))));
    assert!(matches!(res, Err(GcError::InvalidOutputLabel { .. })), "tampered garbler input label: {res:?}");
    let (res, _) = tapped_run(&program, g, e, 6, Some((0, Box::new(|m: &mut Vec<u8>| m.push(0)))));
    assert!(matches!(res, Err(GcError::MessageLength { .. })), "{res:?}");
}

#[test]
fn wrong_lengths_mismatches_and_disconnects_are_typed_errors() {
    let program = millionaires::program(32).expect("program");
    // Wrong input length on either side: refused before anything is sent.
    let (mut a, mut b) = memory::pair(config());
    let t = std::thread::spawn(move || {
        let mut g = Garbler::setup(&mut a, IknpConfig::default(), &mut ChaCha20Rng::seed_from_u64(1)).expect("setup");
        let p = millionaires::program(32).expect("program");
        g.run(&mut a, &p, &[true; 31], OutputTo::Both)
    });
    let mut e = Evaluator::setup(&mut b, IknpConfig::default(), &mut ChaCha20Rng::seed_from_u64(2)).expect("setup");
    assert!(matches!(e.run(&mut b, &program, &[true; 33], OutputTo::Both), Err(GcError::InputLength { party: "evaluator", .. })));
    assert!(matches!(t.join().expect("thread"), Err(GcError::InputLength { party: "garbler", .. })));

    // Different circuits: the garbler refuses the session.
    let (mut a, mut b) = memory::pair(config());
    let t = std::thread::spawn(move || {
        let mut g = Garbler::setup(&mut a, IknpConfig::default(), &mut ChaCha20Rng::seed_from_u64(1)).expect("setup");
        let p = millionaires::program(16).expect("program");
        g.run(&mut a, &p, &[true; 16], OutputTo::Both)
    });
    let mut e = Evaluator::setup(&mut b, IknpConfig::default(), &mut ChaCha20Rng::seed_from_u64(2)).expect("setup");
    let _ = e.run(&mut b, &program, &[true; 32], OutputTo::Both);
    assert!(matches!(t.join().expect("thread"), Err(GcError::SessionMismatch { .. })));

    // The garbler disconnects in the middle of the table stream.
    let aes = Program::new(load("aes_128.txt"), 1).expect("program");
    let (mut a, b) = memory::pair(config());
    let t = std::thread::spawn(move || {
        let mut g = Garbler::setup(&mut a, IknpConfig::default(), &mut ChaCha20Rng::seed_from_u64(1)).expect("setup");
        let _header = a.recv().expect("header");
        let _u = a.recv().expect("ot matrix");
        let _d = a.recv().expect("d");
        a.send(&[0u8; 128 * 16]).expect("labels");
        a.send(&[0u8; halfgates::CHUNK_ANDS * 32]).expect("first chunk");
        drop(g.precompute(&mut a, 0));
        // `a` is dropped here: the link closes mid-stream.
    });
    let mut tap = Tap { inner: b, received: Vec::new(), rewrite: None };
    let mut e = Evaluator::setup(&mut tap, IknpConfig::default(), &mut ChaCha20Rng::seed_from_u64(2)).expect("setup");
    let res = e.run(&mut tap, &aes, &[false; 128], OutputTo::Both);
    t.join().expect("thread");
    assert!(matches!(res, Err(GcError::Channel(ChannelError::Disconnected { .. }))), "{res:?}");

    // A silent garbler: the evaluator times out instead of hanging.
    let (_a, b) = memory::pair(config().with_timeout(Duration::from_millis(200)));
    let mut tap = Tap { inner: b, received: Vec::new(), rewrite: None };
    assert!(matches!(
        Evaluator::setup(&mut tap, IknpConfig::default(), &mut ChaCha20Rng::seed_from_u64(2)),
        Err(GcError::Ot(veil_ot::OtError::Channel(ChannelError::Timeout { .. })))
    ));
}
