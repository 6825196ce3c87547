//! `veil bench gc`: garbling throughput, garble + evaluate between two processes over TLS on
//! loopback, IKNP correlated-OT throughput, AES-128 and millionaires latency after OT setup.
//!
//! The two-process cases start the garbler as a child process (`veil gc run` / `veil
//! millionaires` with `--repeat`) and run the evaluator in this process; per-execution times
//! are taken by the evaluator, after base-OT setup and after precomputing a pool of correlated
//! OTs for the evaluator's inputs (the EMP figures in `peers/gc` run IKNP for the inputs
//! inside each timed execution instead). `eval_and_gates_per_s` times batches of 100 AES
//! executions streamed back to back (one flight, as EMP's test streams 1000 AES blocks) and
//! reports the median over the batches. `bytes` lines count what the garbler sent in one
//! execution (frame headers included), as the EMP figures do; the evaluator sends its input
//! corrections and a 21-byte header besides.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use rand_core::{OsRng, RngCore};
use veil_channel::{ChannelConfig, Fingerprint};
use veil_gc::halfgates::{self, TableSink};
use veil_gc::values::from_u128;
use veil_gc::{Circuit, GcError, OutputTo, Program, Schedule};
use veil_ot::{Block, CotReceiver, CotSender, IknpConfig, TccrHash};
use veil_transport::{Identity, Listener};

use super::{Report, Timing};
use crate::cmd::gc::{
    bristol_path, open_link, read_listening_addr, run_party, session_fingerprint, LinkArgs, PartyReport, Role, SessionPlan,
};

const HALF_GATES_AES: &str = "scheme=half-gates,circuit=aes128";

struct NullSink(usize);

impl TableSink for NullSink {
    fn push(&mut self, tables: &[u8]) -> Result<(), GcError> {
        self.0 += tables.len();
        Ok(())
    }
}

pub fn run(report: &mut Report) -> anyhow::Result<()> {
    let quick = report.quick;
    let aes_path = bristol_path("aes_128.txt");
    let aes = Circuit::from_file(&aes_path).with_context(|| format!("the AES-128 circuit ({})", aes_path.display()))?;
    let pki = tempfile::tempdir()?;
    veil_transport::pki::create_local(pki.path(), &["garbler", "evaluator"])?;

    report.progress("garbling AES-128 (one core)");
    let rate = garble_rate(&aes, if quick { 20 } else { 400 }, if quick { 3 } else { 10 });
    report.value("garble_and_gates_per_s", HALF_GATES_AES, "gates/s", rate);

    report.progress("garble + evaluate AES-128, two processes over TLS");
    let (repeat, batch) = if quick { (3, 10) } else { (10, 100) };
    let program = Program::new(aes.clone(), 1)?;
    let r = two_process(pki.path(), "aes_128.txt", &program, OutputTo::Evaluator, repeat, batch, None)?;
    let mut rates: Vec<f64> = r.run_times.iter().map(|t| (batch * aes.num_and()) as f64 / t.as_secs_f64()).collect();
    rates.sort_by(|a, b| a.total_cmp(b));
    report.value("eval_and_gates_per_s", HALF_GATES_AES, "gates/s", rates[rates.len() / 2]);

    report.progress("IKNP correlated OT, two threads over TLS");
    let n = if quick { 1 << 18 } else { 1 << 22 };
    let rate = ot_rate(pki.path(), n, if quick { 3 } else { 10 })?;
    report.value("ot_ext_per_s", "n=2^22", "OT/s", rate);

    report.progress("AES-128 in 2PC (after OT setup)");
    let repeat = if quick { 12 } else { 60 };
    let program = Program::new(aes, 1)?;
    let r = two_process(pki.path(), "aes_128.txt", &program, OutputTo::Both, repeat, 1, None)?;
    report.timing("aes128_2pc", "circuit=aes_128", &Timing::from_samples(r.run_times[2..].to_vec()));
    report.value("aes128_2pc", "circuit=aes_128", "bytes", r.run_bytes_received as f64);

    report.progress("32-bit millionaires (after OT setup)");
    let repeat = if quick { 50 } else { 2000 };
    let program = veil_gc::millionaires::program(32)?;
    let r = two_process(pki.path(), "", &program, OutputTo::Both, repeat, 1, Some(32))?;
    report.timing("millionaires_2pc", "bits=32", &Timing::from_samples(r.run_times[repeat / 10..].to_vec()));
    report.value("millionaires_2pc", "bits=32", "bytes", r.run_bytes_received as f64);

    let lt64 = Program::new(Circuit::from_file(&bristol_path("lt64_signed_generated.txt"))?, 1)?;
    let r = two_process(pki.path(), "lt64_signed_generated.txt", &lt64, OutputTo::Both, repeat, 1, None)?;
    let params = "bits=64,circuit=lt64_signed_generated";
    report.timing("millionaires_2pc", params, &Timing::from_samples(r.run_times[repeat / 10..].to_vec()));
    report.value("millionaires_2pc", params, "bytes", r.run_bytes_received as f64);
    Ok(())
}

/// AND gates garbled per second: the median over `samples` of `reps` garblings of `circuit`.
fn garble_rate(circuit: &Circuit, reps: usize, samples: usize) -> f64 {
    let schedule = Schedule::new(circuit);
    let hash = TccrHash::new();
    let mut labels = vec![Block::ZERO; schedule.num_slots()];
    for l in labels.iter_mut().take(circuit.num_inputs()) {
        *l = Block(((OsRng.next_u64() as u128) << 64) | OsRng.next_u64() as u128);
    }
    let delta = Block(((OsRng.next_u64() as u128) << 64) | OsRng.next_u64() as u128 | 1);
    let mut sink = NullSink(0);
    let mut gate = 0u64;
    let mut once = |sink: &mut NullSink, gate: &mut u64| {
        let _ = halfgates::garble(&schedule, &mut labels, delta, &hash, *gate, sink);
        *gate += schedule.num_and() as u64;
    };
    once(&mut sink, &mut gate);
    let mut rates: Vec<f64> = (0..samples)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                once(&mut sink, &mut gate);
            }
            (reps * schedule.num_and()) as f64 / t.elapsed().as_secs_f64()
        })
        .collect();
    std::hint::black_box(sink.0);
    rates.sort_by(|a, b| a.total_cmp(b));
    rates[rates.len() / 2]
}

/// Starts the garbler as a child process and runs the evaluator here.
fn two_process(
    pki: &std::path::Path,
    circuit_file: &str,
    program: &Program,
    reveal: OutputTo,
    repeat: usize,
    batch: usize,
    millionaires_bits: Option<usize>,
) -> anyhow::Result<PartyReport> {
    let exe = std::env::current_exe()?;
    let mut args: Vec<String> = match millionaires_bits {
        Some(bits) => vec!["millionaires".into(), "--bits".into(), bits.to_string(), "--amount".into(), "1234567".into()],
        None => {
            let mut a = vec!["gc".into(), "run".into(), "--circuit".into(), bristol_path(circuit_file).display().to_string()];
            a.extend(["--garbler-groups".into(), program.garbler_groups().to_string()]);
            let reveal_arg = if reveal == OutputTo::Both { "both" } else { "evaluator" };
            a.extend(["--reveal".into(), reveal_arg.into()]);
            for k in 0..program.garbler_groups() {
                a.extend(["--input".into(), format!("{}", 0x1234_5678 + k)]);
            }
            a
        }
    };
    args.extend([
        "--role".into(),
        "garbler".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--certs".into(),
        pki.display().to_string(),
        "--repeat".into(),
        repeat.to_string(),
        "--batch".into(),
        batch.to_string(),
        "--json".into(),
    ]);
    let mut child = Command::new(exe).args(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn()?;
    let result = (|| -> anyhow::Result<PartyReport> {
        let stderr = child.stderr.take().context("child stderr")?;
        let addr = read_listening_addr(stderr, Duration::from_secs(30))?;
        let link = LinkArgs {
            role: Some(Role::Evaluator),
            listen: None,
            connect: Some(addr),
            certs: Some(pki.to_path_buf()),
            name: None,
            peer: None,
            timeout: 30,
            kos: false,
            repeat,
            batch,
            json: false,
            local: false,
        };
        let plan = SessionPlan { reveal, kos: false, repeat, batch };
        let mut ch = open_link(&link, Role::Evaluator, session_fingerprint(program, plan))?;
        let inputs = from_u128(0x00c0_ffee_u128 * 0x1_0000_0001, program.evaluator_bits());
        run_party(&mut ch, Role::Evaluator, program, &inputs, plan)
    })();
    if result.is_err() {
        let _ = child.kill();
    }
    let status = child.wait()?;
    let report = result?;
    anyhow::ensure!(status.success(), "the garbler process failed ({status})");
    Ok(report)
}

/// Correlated OTs per second between two threads over TLS on loopback (median of `samples`).
fn ot_rate(pki: &std::path::Path, n: usize, samples: usize) -> anyhow::Result<f64> {
    let config = ChannelConfig::new(Fingerprint::derive("veil-bench gc ot", b"")).with_timeout(Duration::from_secs(60));
    let g_id = Identity::load(pki, "garbler")?;
    let e_id = Identity::load(pki, "evaluator")?;
    let listener = Listener::bind(SocketAddr::from(([127, 0, 0, 1], 0)), &g_id)?;
    let addr = listener.local_addr();
    let cfg = config.clone();
    let sender = std::thread::spawn(move || -> anyhow::Result<()> {
        let (mut ch, _) = listener.accept(cfg)?;
        let mut s = CotSender::setup(&mut ch, IknpConfig::default(), &mut OsRng)?;
        let mut q = Vec::new();
        for _ in 0..=samples {
            s.extend_into(&mut ch, n, &mut q)?;
            std::hint::black_box(&q);
        }
        Ok(())
    });
    let mut ch = veil_transport::connect(addr, "garbler", &e_id, config)?;
    let mut r = CotReceiver::setup(&mut ch, IknpConfig::default(), &mut OsRng)?;
    let (mut choices, mut t) = (Vec::new(), Vec::new());
    r.extend_random_into(&mut ch, n, &mut choices, &mut t)?;
    let mut rates = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        r.extend_random_into(&mut ch, n, &mut choices, &mut t)?;
        std::hint::black_box(&t);
        rates.push(n as f64 / start.elapsed().as_secs_f64());
    }
    sender.join().map_err(|_| anyhow::anyhow!("the OT sender thread panicked"))??;
    rates.sort_by(|a, b| a.total_cmp(b));
    Ok(rates[rates.len() / 2])
}
